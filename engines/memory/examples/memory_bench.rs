//! Per-chunk retrieval cost vs history length (10² … 10⁵ latents), indexed vs Monte-Carlo reference.
//!
//! Trajectory: a serpentine ("lawnmower") over a growing field — rows 200 units long, 6 apart, 1 unit
//! per latent, heading along the row, so every row revisits the views of its neighbours (the local
//! density of cameras is bounded, the history is not). For each history length the next chunks' 4 poses
//! are queried; the reported time is the mean per chunk over `CHUNKS` chunks.
//!
//! Run: `cargo run --release -p worldflow-memory --example memory_bench [max_mc_history]`

use std::time::Instant;

use glam::{Mat4, Vec3, Vec4};
use worldflow_memory::{MemoryConfig, MemoryRetriever};

const CHUNKS: usize = 8;

fn pose(pos: Vec3, yaw: f32) -> Mat4 {
    let fwd = Vec3::new(yaw.cos(), yaw.sin(), 0.0);
    let right = Vec3::new(yaw.sin(), -yaw.cos(), 0.0);
    let down = fwd.cross(right);
    Mat4::from_cols(right.extend(0.0), down.extend(0.0), fwd.extend(0.0), Vec4::new(pos.x, pos.y, pos.z, 1.0))
}

fn lawnmower(i: usize) -> Mat4 {
    let row_len = 200;
    let (row, t) = (i / row_len, (i % row_len) as f32);
    let forward = row % 2 == 0;
    let x = if forward { t } else { row_len as f32 - t };
    let yaw = if forward { 0.0 } else { std::f32::consts::PI };
    // A gentle weave so headings differ within a row.
    pose(Vec3::new(x, 6.0 * row as f32 + (t * 0.2).sin(), 1.5), yaw + 0.3 * (t * 0.05).sin())
}

fn main() {
    let max_mc: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    println!("| history (latents) | indexed ms/chunk | near latents/query | Monte-Carlo ms/chunk | same selection |");
    println!("|---:|---:|---:|---:|:---:|");
    for n in [100usize, 1_000, 10_000, 100_000] {
        let mut r = MemoryRetriever::new(MemoryConfig::default()).unwrap();
        for i in 0..n {
            r.push(lawnmower(i)).unwrap();
        }
        let mut fast_secs = 0.0;
        let mut mc_secs = 0.0;
        let mut same = true;
        let mut near = 0usize;
        for c in 0..CHUNKS {
            let q: Vec<Mat4> = (0..4).map(|j| lawnmower(n + 4 * c + j)).collect();
            let t0 = Instant::now();
            let fast = r.select(&q).unwrap();
            fast_secs += t0.elapsed().as_secs_f64();
            near += (0..n).filter(|&i| r.position(i).unwrap().distance(q[0].w_axis.truncate()) <= 16.0).count();
            if n <= max_mc {
                let t0 = Instant::now();
                let mc = r.select_monte_carlo(&q).unwrap();
                mc_secs += t0.elapsed().as_secs_f64();
                same &= mc == fast;
            }
            for p in &q {
                r.push(*p).unwrap();
            }
        }
        let mc = if n <= max_mc { format!("{:.1}", 1e3 * mc_secs / CHUNKS as f64) } else { "—".into() };
        let same = if n <= max_mc {
            if same {
                "yes"
            } else {
                "NO"
            }
        } else {
            "—"
        };
        println!("| {n} | {:.2} | {} | {mc} | {same} |", 1e3 * fast_secs / CHUNKS as f64, near / CHUNKS);
    }
}
