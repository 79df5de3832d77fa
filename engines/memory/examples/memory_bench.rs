//! Per-chunk retrieval cost vs history length (10² … 10⁵ latents), indexed vs Monte-Carlo reference.
//!
//! Trajectory: a serpentine ("lawnmower") over a growing field — rows 200 units long, 6 apart, 1 unit
//! per latent, heading along the row, so every row revisits the views of its neighbours (the local
//! density of cameras is bounded, the history is not). For each history length the next chunks' 4 poses
//! are queried; the reported times are the mean, median and maximum per chunk over `CHUNKS` chunks (the
//! median resists a preemption on a loaded machine). The Monte-Carlo reference runs on the first
//! `MC_CHUNKS` of them (it is ~10⁵ times slower) and must select the same.
//!
//! Run: `cargo run --release -p worldflow-memory --example memory_bench [max_mc_history [units_per_latent]]`
//! (`units_per_latent` < 1 packs the same rows with more cameras, e.g. 0.08 as in WorldPlay's
//! trajectories; default 1). Single-thread figures: `RAYON_NUM_THREADS=1`.

use std::time::Instant;

use glam::{Mat4, Vec3, Vec4};
use worldflow_memory::{MemoryConfig, MemoryRetriever};

const CHUNKS: usize = 32;
const MC_CHUNKS: usize = 8;

fn pose(pos: Vec3, yaw: f32) -> Mat4 {
    let fwd = Vec3::new(yaw.cos(), yaw.sin(), 0.0);
    let right = Vec3::new(yaw.sin(), -yaw.cos(), 0.0);
    let down = fwd.cross(right);
    Mat4::from_cols(right.extend(0.0), down.extend(0.0), fwd.extend(0.0), Vec4::new(pos.x, pos.y, pos.z, 1.0))
}

/// Latent `i` of the serpentine, `step` world units per latent.
fn lawnmower(i: usize, step: f32) -> Mat4 {
    let row_len = (200.0 / step).round() as usize;
    let (row, t) = (i / row_len, (i % row_len) as f32 * step);
    let forward = row % 2 == 0;
    let x = if forward { t } else { 200.0 - t };
    let yaw = if forward { 0.0 } else { std::f32::consts::PI };
    // A gentle weave so headings differ within a row.
    pose(Vec3::new(x, 6.0 * row as f32 + (t * 0.2).sin(), 1.5), yaw + 0.3 * (t * 0.05).sin())
}

fn main() {
    let arg = |i: usize| std::env::args().nth(i);
    let max_mc: usize = arg(1).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let step: f32 = arg(2).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let header = "| history (latents) | indexed ms/chunk mean | median | max | near latents/query \
                  | Monte-Carlo ms/chunk | same selection |";
    println!("{header}");
    println!("|---:|---:|---:|---:|---:|---:|:---:|");
    for n in [100usize, 1_000, 10_000, 100_000] {
        let mut r = MemoryRetriever::new(MemoryConfig::default()).unwrap();
        for i in 0..n {
            r.push(lawnmower(i, step)).unwrap();
        }
        // Untimed warm-up: starts rayon's thread pool and faults in the retriever's data.
        r.select(&[lawnmower(n, step)]).unwrap();
        let mut fast_ms = Vec::with_capacity(CHUNKS);
        let mut mc_secs = 0.0;
        let mut same = true;
        let mut near = 0usize;
        for c in 0..CHUNKS {
            let q: Vec<Mat4> = (0..4).map(|j| lawnmower(n + 4 * c + j, step)).collect();
            let t0 = Instant::now();
            let fast = r.select(&q).unwrap();
            fast_ms.push(1e3 * t0.elapsed().as_secs_f64());
            near += (0..n).filter(|&i| r.position(i).unwrap().distance(q[0].w_axis.truncate()) <= 16.0).count();
            if n <= max_mc && c < MC_CHUNKS {
                let t0 = Instant::now();
                let mc = r.select_monte_carlo(&q).unwrap();
                mc_secs += t0.elapsed().as_secs_f64();
                same &= mc == fast;
            }
            for p in &q {
                r.push(*p).unwrap();
            }
        }
        let mc = if n <= max_mc { format!("{:.1}", 1e3 * mc_secs / MC_CHUNKS as f64) } else { "—".into() };
        let same = if n <= max_mc {
            if same {
                "yes"
            } else {
                "NO"
            }
        } else {
            "—"
        };
        let mean = fast_ms.iter().sum::<f64>() / CHUNKS as f64;
        fast_ms.sort_by(f64::total_cmp);
        let (median, max) = (fast_ms[CHUNKS / 2], fast_ms[CHUNKS - 1]);
        println!("| {n} | {mean:.3} | {median:.3} | {max:.3} | {} | {mc} | {same} |", near / CHUNKS);
    }
}
