//! Times one DiT block (hidden 384, 6 heads, FFN 1536, 1024 tokens = 4 frames × 16×16, text 512)
//! with f32 and with int8 (Q8_0) weights in the same run, prints the int8 output error, and
//! writes weights, inputs and the f32 output to a folder for `reference/bench_block.py`.
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p worldflow-dit --example bench_block -- /tmp/dit_bench
use std::time::Instant;
use worldflow_dit::*;

fn main() -> Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp/dit_bench".into()));
    std::fs::create_dir_all(&dir).map_err(|source| DitError::Io { path: dir.clone(), source })?;
    let cfg = Config { num_layers: 1, text_len: 512, ..Config::small() };
    let weights = random_weights(&cfg, 42, 0.05);
    save_safetensors(&dir.join("weights.safetensors"), &weights)?;
    let model = WanModel::from_tensors(&cfg, weights)?;
    let (frames, grid) = (4usize, (16usize, 16usize));
    let n = frames * grid.0 * grid.1;
    let mut rng = Rng::new(7);
    let x0 = rng.normal_vec(n * cfg.dim, 1.0);
    let ctx = rng.normal_vec(cfg.text_len * cfg.text_dim, 1.0);
    let text = model.encode_text(&ctx, cfg.text_len)?;
    let timestep = 500.0;
    let mut x = x0.clone();
    model.bench_block(0, &mut x, frames, grid, timestep, &text)?;
    let mut io = TensorMap::new();
    io.insert("x".into(), Tensor::new(vec![n, cfg.dim], x0.clone()));
    io.insert("context".into(), Tensor::new(vec![cfg.text_len, cfg.text_dim], ctx));
    io.insert("t".into(), Tensor::new(vec![1], vec![timestep]));
    io.insert("out".into(), Tensor::new(vec![n, cfg.dim], x));
    save_safetensors(&dir.join("io.safetensors"), &io)?;

    let int8 =
        WanModel::from_tensors_with(&cfg, load_safetensors(&dir.join("weights.safetensors"))?, WeightFormat::Int8)?;
    let mut x8 = x0.clone();
    int8.bench_block(0, &mut x8, frames, grid, timestep, &text)?;
    let f32_out = &io["out"].data;
    let rms = (f32_out.iter().map(|v| v * v).sum::<f32>() / f32_out.len() as f32).sqrt();
    let max_abs = x8.iter().zip(f32_out).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let rms_err = (x8.iter().zip(f32_out).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / f32_out.len() as f32).sqrt();

    // f32 and int8 interleaved, 5 warm-up rounds then 20 timed rounds each.
    let (mut f32_stats, mut int8_stats) = (Stats::default(), Stats::default());
    for i in 0..25 {
        for (m, stats) in [(&model, &mut f32_stats), (&int8, &mut int8_stats)] {
            let mut x = x0.clone();
            let (cpu, t) = (process_cpu_secs(), Instant::now());
            m.bench_block(0, &mut x, frames, grid, timestep, &text)?;
            if i >= 5 {
                stats.wall_ms.push(t.elapsed().as_secs_f64() * 1e3);
                stats.cpu_ms += (process_cpu_secs() - cpu) * 1e3 / 20.0;
            }
        }
    }
    let threads = rayon::current_num_threads();
    for (name, m, stats) in [("f32 ", &model, &mut f32_stats), ("int8", &int8, &mut int8_stats)] {
        stats.wall_ms.sort_by(f64::total_cmp);
        println!(
            "worldflow-dit block {name} (dim 384, 6 heads, 1024 tokens, text 512, {threads} threads): median {:.2} ms, min {:.2} ms, CPU time {:.2} ms/block, block linear weights {:.2} MB",
            stats.wall_ms[stats.wall_ms.len() / 2],
            stats.wall_ms[0],
            stats.cpu_ms,
            m.block_linear_bytes() as f64 / 1e6
        );
    }
    println!(
        "int8 vs f32 block output: max abs diff / RMS {:.2e}, RMS diff / RMS {:.2e}",
        max_abs / rms,
        rms_err / rms
    );
    Ok(())
}

#[derive(Default)]
struct Stats {
    wall_ms: Vec<f64>,
    cpu_ms: f64,
}

/// User + system CPU time of this process (all threads), from /proc/self/stat (Linux; 0 elsewhere).
fn process_cpu_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(rest) = s.rsplit(')').next() else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
