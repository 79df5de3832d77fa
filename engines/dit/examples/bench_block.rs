//! Times one DiT block (hidden 384, 6 heads, FFN 1536, 1024 tokens = 4 frames × 16×16, text 512)
//! and writes weights, inputs and output to a folder for `reference/bench_block.py`.
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

    let mut times = Vec::new();
    let mut cpu0 = 0.0;
    for i in 0..25 {
        if i == 5 {
            cpu0 = process_cpu_secs();
        }
        let mut x = x0.clone();
        let t = Instant::now();
        model.bench_block(0, &mut x, frames, grid, timestep, &text)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let cpu_ms = (process_cpu_secs() - cpu0) * 1e3 / 20.0;
    times.drain(..5);
    times.sort_by(f64::total_cmp);
    println!(
        "worldflow-dit block (dim 384, 6 heads, 1024 tokens, text 512, {} threads): median {:.2} ms, min {:.2} ms, CPU time {:.2} ms/block",
        rayon::current_num_threads(),
        times[times.len() / 2],
        times[0],
        cpu_ms
    );
    Ok(())
}

/// User + system CPU time of this process (all threads), from /proc/self/stat (Linux; 0 elsewhere).
fn process_cpu_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(rest) = s.rsplit(')').next() else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
