//! Times the blocked attention kernel alone (6 heads × 64, 1024 queries × 1024 keys) and the
//! naive reference's FLOP-equivalent GEMM rate for context.
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p worldflow-dit --example bench_attention
use std::time::Instant;
use worldflow_dit::*;

fn main() {
    let (n, heads, d) = (1024usize, 6usize, 64usize);
    let mut rng = Rng::new(1);
    let q = rng.normal_vec(n * heads * d, 1.0);
    let k = rng.normal_vec(n * heads * d, 1.0);
    let v = rng.normal_vec(n * heads * d, 1.0);
    let mut out = vec![0.0f32; n * heads * d];
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..30 {
        let t = Instant::now();
        let kv = PackedKv::pack(&[(&k, &v)], heads, d);
        let t1 = t.elapsed().as_secs_f64() * 1e3;
        attention(&q, n, &kv, None, &mut out);
        let t2 = t.elapsed().as_secs_f64() * 1e3;
        best = (best.0.min(t1), best.1.min(t2 - t1));
    }
    let gflop = 4.0 * (n * n * d * heads) as f64 / 1e9;
    println!(
        "pack {:.2} ms, attention {:.2} ms ({:.0} GFLOP/s), {} threads",
        best.0,
        best.1,
        gflop / best.1 * 1e3,
        rayon::current_num_threads()
    );
}
