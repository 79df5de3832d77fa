//! Times one chunk step of the `small` configuration as graphs/worldplay.yml runs it (hidden 384, 6 heads,
//! 4 layers, text 64, actions + PRoPE cameras, latent 8×12): one denoising forward of a 4-latent chunk
//! with 8 memory latents rebuilt in front of it (block-causal groups [8, 4], reframed RoPE times), i.e.
//! 12 latent frames = 288 tokens. Writes `config.json`, weights and a `model check` input file (with the
//! output as `out`) to a folder for `reference/bench_chunk.py`, which runs the same forward in PyTorch.
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p worldflow-dit --example bench_chunk -- /tmp/dit_chunk
use std::time::Instant;
use worldflow_dit::*;

const MEMORY: usize = 8;
const CHUNK: usize = 4;

fn main() -> Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp/dit_chunk".into()));
    std::fs::create_dir_all(&dir).map_err(|source| DitError::Io { path: dir.clone(), source })?;
    let cfg = Config { action_classes: Some(81), camera_attention: true, ..Config::small() };
    let json = serde_json::to_string_pretty(&cfg).expect("a config serialises");
    std::fs::write(dir.join("config.json"), json).map_err(|source| DitError::Io { path: dir.clone(), source })?;
    // Non-zero control branches (as trained), so the PRoPE and action paths cost what they cost.
    let weights = random_weights(&cfg, 42, 0.05);
    save_safetensors(&dir.join("weights.safetensors"), &weights)?;
    let model = WanModel::from_tensors(&cfg, weights)?;

    let (frames, height, width) = (MEMORY + CHUNK, 8usize, 12usize);
    let mut rng = Rng::new(7);
    let mut io = TensorMap::new();
    io.insert(
        "x".into(),
        Tensor::new(vec![cfg.in_dim, frames, height, width], rng.normal_vec(cfg.in_dim * frames * height * width, 1.0)),
    );
    // Memory latents are clean (t = 0); the chunk is mid-denoising.
    let t: Vec<f32> = (0..frames).map(|f| if f < MEMORY { 0.0 } else { 750.0 }).collect();
    io.insert("t".into(), Tensor::new(vec![frames], t));
    io.insert(
        "context".into(),
        Tensor::new(vec![cfg.text_len, cfg.text_dim], rng.normal_vec(cfg.text_len * cfg.text_dim, 1.0)),
    );
    io.insert("actions".into(), Tensor::new(vec![frames], (0..frames).map(|f| (f * 7 % 81) as f32).collect()));
    let mut c2w = Vec::with_capacity(frames * 16);
    for f in 0..frames {
        let (s, c) = (0.1 * f as f32).sin_cos();
        c2w.extend_from_slice(&[
            c,
            0.0,
            s,
            0.3 * f as f32,
            0.0,
            1.0,
            0.0,
            0.0,
            -s,
            0.0,
            c,
            0.1 * f as f32,
            0.0,
            0.0,
            0.0,
            1.0,
        ]);
    }
    io.insert("c2w".into(), Tensor::new(vec![frames, 4, 4], c2w));
    io.insert(
        "intrinsics".into(),
        Tensor::new(vec![frames, 4], (0..frames).flat_map(|_| [6.0, 6.0, 6.0, 4.0]).collect()),
    );
    // Reframed times: memory clips from far back, then the chunk right after the newest memory latent.
    let rope_time: Vec<f32> = [0, 1, 2, 3, 20, 21, 22, 23, 24, 25, 26, 27].map(|v| v as f32).to_vec();
    io.insert("rope_time".into(), Tensor::new(vec![frames], rope_time));
    io.insert("groups".into(), Tensor::new(vec![2], vec![MEMORY as f32, CHUNK as f32]));

    let parsed = CheckInputs::parse(&cfg, &io, "bench_chunk inputs")?;
    let text = model.encode_text(&io["context"].data, parsed.context_rows)?;
    let req = SeqRequest {
        latents: &io["x"].data,
        frames,
        height,
        width,
        conds: &parsed.conds,
        rope_time: &parsed.rope_time,
        groups: parsed.groups.as_deref(),
    };
    let (out, _) = model.forward_seq(&req, &text, None, false, None)?;
    // `BENCH_ROUNDS` (default 20) timed rounds after 3 warm-up rounds.
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20).max(1);
    let mut wall_ms = Vec::with_capacity(rounds);
    for round in 0..rounds + 3 {
        let t0 = Instant::now();
        let (again, _) = model.forward_seq(&req, &text, None, false, None)?;
        if round >= 3 {
            wall_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        assert_eq!(again, out, "the forward is deterministic");
    }
    io.insert("out".into(), Tensor::new(vec![cfg.out_dim, frames, height, width], out));
    save_safetensors(&dir.join("io.safetensors"), &io)?;
    wall_ms.sort_by(f64::total_cmp);
    println!(
        "worldflow-dit chunk step (small, {} tokens, {} threads): median {:.2} ms, min {:.2} ms over {rounds} rounds",
        frames * (height / 2) * (width / 2),
        rayon::current_num_threads(),
        wall_ms[rounds / 2],
        wall_ms[0]
    );
    Ok(())
}
