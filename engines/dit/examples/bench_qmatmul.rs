//! Times one linear layer's matmul `x[m, k] · Wᵀ` (W `[n, k]`) three ways — f32 GEMM on the weight
//! packed once (as `Linear` holds it), int8 weights
//! dequantized per panel into the GEMM, int8 × int8 dot products — for growing row counts `m`;
//! picks `INT8_DOT_MAX_ROWS`.
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p worldflow-dit --example bench_qmatmul
use std::time::Instant;
use worldflow_dit::*;
use worldflow_gemm::{matmul_packed, Epilogue, PackedWt};

/// Median wall time of `f` in ms over `reps` runs after one warm-up.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    let mut rng = Rng::new(1);
    for (n, k) in [(1536usize, 384usize), (384, 1536)] {
        let w = rng.normal_vec(n * k, 0.05);
        let q = Q8Matrix::quantize(&w, n, k).expect("quantizable");
        let packed = PackedWt::pack(&w, n, k);
        println!("W [{n}, {k}] ({} threads): ms per matmul, median", rayon::current_num_threads());
        println!("{:>6} {:>10} {:>12} {:>12}", "m", "f32 gemm", "int8 panels", "int8 x int8");
        for m in [1usize, 4, 8, 16, 32, 64, 256, 1024] {
            let x = rng.normal_vec(m * k, 1.0);
            let mut out = vec![0.0f32; m * n];
            let reps = if m >= 256 { 9 } else { 41 };
            let a = median_ms(reps, || matmul_packed(&x, m, &packed, &mut out, Epilogue::Accumulate));
            let b = median_ms(reps, || matmul_q8_panels(&x, m, &q, &mut out));
            let c = median_ms(reps, || matmul_q8_int8(&x, m, &q, &mut out));
            println!("{m:>6} {a:>10.3} {b:>12.3} {c:>12.3}");
        }
    }
}
