//! Times ONE full-size layer of HY-WorldPlay's WAN-path transformer (`Config::worldplay_wan()`:
//! Wan2.2-TI2V-5B shape, dim 3072, 24 heads × 128, FFN 14336, text 4096, actions + PRoPE, with
//! `num_layers = 1`) on the 704×1280 latent grid (44×80 latents, 22×40 = 880 tokens a latent frame),
//! seeded random weights (std 0.02), 512 text tokens. Each timed call is `WanModel::worldplay_chunk`:
//! patch embedding, time/action embedding, the one block, head (the embeddings and head cost < 1 % of
//! a layer; the prompt's cross-attention K/V is computed once, outside the timing). F = 1, 2 (and 4
//! when F = 2 takes < 30 s) latent frames with full attention, median of 3 after a warm-up; then the
//! pipeline's two calls at this one layer: a denoising step (the 4-latent chunk attending to a 16-latent
//! memory: 3520 queries over 17600 keys, median of 3 after a warm-up) and the memory pass (16 latents,
//! 14080 tokens, recording K/V; one run).
//!
//! A pipeline chunk of the 30-layer model = one memory pass + 4 denoising steps, extrapolated as the
//! measured one-layer times × 30 (the layers are identical in cost; embeddings and head < 1 %). Also
//! printed: a fit `t = a·N + b·N·K` (N query tokens, K key tokens: a = dense layers, cross-attention and
//! elementwise work per token; b = self-attention of the RoPE and PRoPE branches) over every call, and
//! the FLOPs of each call.
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p worldflow-dit --example worldplay_layer_bench
use std::time::Instant;
use worldflow_dit::*;

const GRID: (usize, usize) = (44, 80);
const LAYERS: usize = 30;
const MEMORY_LATENTS: usize = 16;
const CHUNK_LATENTS: usize = 4;
const STEPS: usize = 4;

fn main() -> Result<()> {
    let full = Config::worldplay_wan();
    let cfg = Config { num_layers: 1, ..full.clone() };
    let params = |c: &Config, layer_only: bool| -> usize {
        expected_shapes(c)
            .iter()
            .filter(|(n, _)| !layer_only || n.starts_with("blocks.0."))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    };
    let (layer_params, model_params) = (params(&cfg, true), params(&full, false));
    let t0 = Instant::now();
    let model = WanModel::from_tensors(&cfg, random_weights(&cfg, 42, 0.02))?;
    println!("weights built and packed in {:.1} s", t0.elapsed().as_secs_f64());
    let mut rng = Rng::new(7);
    let text_rows = cfg.text_len;
    let text = model.encode_text(&rng.normal_vec(text_rows * cfg.text_dim, 1.0), text_rows)?;
    let [_, ph, pw] = cfg.patch_size;
    let tpf = (GRID.0 / ph) * (GRID.1 / pw);
    let threads = rayon::current_num_threads();

    let mut rows: Vec<(usize, usize, Timing)> = Vec::new(); // (query tokens, key tokens, timing)
    for frames in [1usize, 2, 4] {
        if frames == 4 && rows.last().is_some_and(|r| r.2.median_s >= 30.0) {
            println!("F = 4 skipped: F = 2 took {:.1} s", rows[1].2.median_s);
            break;
        }
        let call = Call::new(&cfg, &mut rng, frames, 0, tpf)?;
        let timing = time_runs(1, 3, || model.worldplay_chunk(&call.req(), &text, None).map(|_| ()))?;
        println!(
            "F = {frames} ({} tokens): median {:.2} s (runs {:?} s), CPU {:.2} s a run",
            frames * tpf,
            timing.median_s,
            timing.runs_s.iter().map(|s| (s * 100.0).round() / 100.0).collect::<Vec<_>>(),
            timing.cpu_s
        );
        rows.push((frames * tpf, frames * tpf, timing));
    }

    // The pipeline's two calls at one layer, measured directly. A denoising step: the 4-latent chunk at
    // RoPE times 16..20 attending to a 16-latent memory (K/V of random values: the cost does not depend
    // on them). The memory pass: 16 latents recording their K/V (one run; the calls above warmed up).
    let (mem_n, chunk_n) = (MEMORY_LATENTS * tpf, CHUNK_LATENTS * tpf);
    let chunk_k = (MEMORY_LATENTS + CHUNK_LATENTS) * tpf;
    let memory = {
        let mut r = || rng.normal_vec(mem_n * cfg.dim, 1.0);
        WorldPlayKv { tokens: mem_n, layers: vec![LayerKv { k: r(), v: r(), cam_k: r(), cam_v: r() }] }
    };
    let chunk = Call::new(&cfg, &mut rng, CHUNK_LATENTS, mem_n, tpf)?;
    let step = time_runs(1, 3, || model.worldplay_chunk(&chunk.req(), &text, Some(&memory)).map(|_| ()))?;
    println!(
        "step: F = {CHUNK_LATENTS} over {chunk_k} keys: median {:.2} s (runs {:?} s), CPU {:.2} s a run",
        step.median_s,
        step.runs_s.iter().map(|s| (s * 100.0).round() / 100.0).collect::<Vec<_>>(),
        step.cpu_s
    );
    drop(memory);
    let mem_call = Call::new(&cfg, &mut rng, MEMORY_LATENTS, 0, tpf)?;
    let mem_pass = time_runs(0, 1, || model.worldplay_memory(&mem_call.req(), &text).map(drop))?;
    println!("memory pass: F = {MEMORY_LATENTS} ({mem_n} tokens, recording K/V): {:.2} s (one run)", mem_pass.median_s);
    let all: Vec<(usize, usize, f64)> = rows
        .iter()
        .map(|(n, k, t)| (*n, *k, t.median_s))
        .chain([(chunk_n, chunk_k, step.median_s), (mem_n, mem_n, mem_pass.median_s)])
        .collect();

    // Fit t = a·N + b·N·K over every measured call (least squares through the origin, two unknowns).
    let (mut s11, mut s12, mut s22, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(n, k, t) in &all {
        let (x1, x2) = (n as f64, (n * k) as f64);
        (s11, s12, s22, y1, y2) = (s11 + x1 * x1, s12 + x1 * x2, s22 + x2 * x2, y1 + x1 * t, y2 + x2 * t);
    }
    let det = s11 * s22 - s12 * s12;
    let (a, b) = ((y1 * s22 - y2 * s12) / det, (s11 * y2 - s12 * y1) / det);
    let model_t = |n: usize, k: usize| a * n as f64 + b * (n * k) as f64;

    // FLOPs of one layer for N queries over K keys (multiply-add = 2).
    let (d, f) = (cfg.dim as f64, cfg.ffn_dim as f64);
    let dense_per_token = 2.0 * (7.0 * d * d + 2.0 * d * f) + 4.0 * d * text_rows as f64; // q k v o prope_o, cross q o, FFN; cross-attn
    let attn_per_pair = 2.0 * 4.0 * d; // two branches (RoPE, PRoPE), QKᵀ and PV
    let flops = |n: usize, k: usize| dense_per_token * n as f64 + attn_per_pair * (n * k) as f64;
    let rate = all.iter().map(|&(n, k, _)| flops(n, k)).sum::<f64>() / all.iter().map(|r| r.2).sum::<f64>();

    println!();
    println!("| one layer (dim 3072, FFN 14336, {threads} threads) | query tokens | key tokens | median s | GFLOP | GFLOP/s | fit s |");
    println!("|---|---|---|---|---|---|---|");
    let names = ["F = 1", "F = 2", "F = 4"];
    for (i, &(n, k, t)) in all.iter().enumerate() {
        let name = if i == all.len() - 1 {
            "memory pass, F = 16 (1 run)"
        } else if i == all.len() - 2 {
            "step: F = 4 after 16 memory latents"
        } else {
            names[i]
        };
        let g = flops(n, k) / 1e9;
        println!("| {name} | {n} | {k} | {t:.2} | {g:.0} | {:.0} | {:.2} |", g / t, model_t(n, k));
    }
    println!();
    println!("fit: t = a·N + b·N·K, a = {:.3} ms/token, b = {:.1} ns/(query·key)", a * 1e3, b * 1e9);
    println!(
        "FLOP model: {:.0} MFLOP/token dense + {:.1} kFLOP/(query·key) attention; mean rate {:.0} GFLOP/s",
        dense_per_token / 1e6,
        attn_per_pair / 1e3,
        rate / 1e9
    );
    let (direct_mem, direct_steps) = (LAYERS as f64 * mem_pass.median_s, (LAYERS * STEPS) as f64 * step.median_s);
    let (flop_mem, flop_steps) =
        (LAYERS as f64 * flops(mem_n, mem_n), (LAYERS * STEPS) as f64 * flops(chunk_n, chunk_k));
    println!();
    println!("| pipeline chunk, {LAYERS} layers | measured layer × {LAYERS} (s) | TFLOP |");
    println!("|---|---|---|");
    println!("| memory pass: {MEMORY_LATENTS} latents, {mem_n} tokens | {direct_mem:.0} | {:.1} |", flop_mem / 1e12);
    println!(
        "| {STEPS} steps: {CHUNK_LATENTS} latents over {chunk_k} keys | {direct_steps:.0} | {:.1} |",
        flop_steps / 1e12
    );
    println!(
        "| chunk total ({} video frames) | {:.0} | {:.1} |",
        CHUNK_LATENTS * 4,
        direct_mem + direct_steps,
        (flop_mem + flop_steps) / 1e12
    );
    println!();
    let gb = |p: usize, bytes: usize| (p * bytes) as f64 / 1e9;
    println!(
        "weights: one layer {:.1} M parameters = {:.2} GB f32; whole model ({LAYERS} layers + embeddings/head) {:.2} B parameters = {:.1} GB f32, {:.1} GB BF16",
        layer_params as f64 / 1e6,
        gb(layer_params, 4),
        model_params as f64 / 1e9,
        gb(model_params, 4),
        gb(model_params, 2)
    );
    println!("peak RSS of this process: {:.2} GB", peak_rss_kb() as f64 / 1e6);
    Ok(())
}

/// One call's inputs: random latents, 500 for every timestep, action 0, identity cameras with
/// WorldPlay's normalised intrinsics, RoPE token range starting at `start`.
struct Call {
    latents: Vec<f32>,
    frames: usize,
    conds: Vec<FrameCond>,
    rope_time: Vec<usize>,
}

impl Call {
    fn new(cfg: &Config, rng: &mut Rng, frames: usize, start: usize, tpf: usize) -> Result<Self> {
        let latents = rng.normal_vec(cfg.in_dim * frames * GRID.0 * GRID.1, 1.0);
        let eye: Mat4 = std::array::from_fn(|i| std::array::from_fn(|j| if i == j { 1.0 } else { 0.0 }));
        let k = [[0.5051, 0.0, 0.5], [0.0, 0.8979, 0.5], [0.0, 0.0, 1.0]];
        let conds = worldplay_conds(&vec![500.0; frames], &vec![0; frames], &vec![eye; frames], &vec![k; frames])?;
        let rope_time = rope_time_from_tokens(start, start + frames * tpf, tpf, frames)?;
        Ok(Call { latents, frames, conds, rope_time })
    }

    fn req(&self) -> SeqRequest<'_> {
        SeqRequest {
            latents: &self.latents,
            frames: self.frames,
            height: GRID.0,
            width: GRID.1,
            conds: &self.conds,
            rope_time: &self.rope_time,
            groups: None,
        }
    }
}

struct Timing {
    median_s: f64,
    runs_s: Vec<f64>,
    /// Process CPU time per timed run.
    cpu_s: f64,
}

/// `warm_up` untimed calls, then `runs` (≥ 1) timed calls.
fn time_runs(warm_up: usize, runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    for _ in 0..warm_up {
        f()?;
    }
    let runs = runs.max(1);
    let cpu0 = process_cpu_secs();
    let mut runs_s = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        runs_s.push(t.elapsed().as_secs_f64());
    }
    let cpu_s = (process_cpu_secs() - cpu0) / runs as f64;
    let mut sorted = runs_s.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Timing { median_s: sorted[runs / 2], runs_s, cpu_s })
}

/// User + system CPU time of this process (all threads), from /proc/self/stat (Linux; 0 elsewhere).
fn process_cpu_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(rest) = s.rsplit(')').next() else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set (VmHWM) of this process in kB, from /proc/self/status (Linux; 0 elsewhere).
fn peak_rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
