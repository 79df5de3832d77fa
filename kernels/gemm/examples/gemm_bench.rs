//! GEMM throughput: each micro-kernel the CPU has, alone on L1-resident operands (the machine's FMA
//! peak, one thread), then whole products of the DiT's and the VAE's shapes on 1 and 2 threads (best
//! of 10) with the detected kernel (`WORLDFLOW_ISA=avx2` etc. to pick another).
//!
//!     cargo run --release -p worldflow-gemm --example gemm_bench
use std::time::Instant;
use worldflow_gemm::{
    matmul_packed, matmul_rows, micro_tiles, Epilogue, MatMut, MatRef, MicroKernel, PackedWt, RowBlock,
};

fn gflops(flop: f64, secs: f64) -> f64 {
    flop / secs / 1e9
}

fn best_secs(rounds: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    for kernel in MicroKernel::available() {
        // One tile of the kernel's shape (mr rows × its panels of 16), k 256.
        let (mr, nr) = (kernel.mr(), 16 * kernel.panels());
        let (a, b, mut c) = (vec![0.5f32; mr * 256], vec![0.25f32; 256 * nr], vec![0.0f32; mr * nr]);
        let reps = 400_000 / kernel.panels();
        let secs = best_secs(3, || {
            for _ in 0..reps {
                let (a, b) = (MatRef::dense(&a, mr, 256), MatRef::dense(&b, 256, nr));
                micro_tiles(kernel, a, b, MatMut::dense(&mut c, mr, nr), true);
            }
        });
        println!(
            "micro-kernel {:>8} {mr}×{nr}, k 256, operands in L1, 1 thread: {:.1} GFLOP/s",
            kernel.name(),
            gflops(2.0 * (mr * nr * 256 * reps) as f64, secs)
        );
    }
    println!("products with the {} kernel:", MicroKernel::detect().name());
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
        for (what, m, k, n) in
            [("DiT FFN up", 1024, 384, 1536), ("DiT FFN down", 1024, 1536, 384), ("DiT q/k/v/o", 1024, 384, 384)]
        {
            let x = vec![0.1f32; m * k];
            let w = PackedWt::pack(&vec![0.01f32; n * k], n, k);
            let mut out = vec![0.0f32; m * n];
            let secs = best_secs(10, || pool.install(|| matmul_packed(&x, m, &w, &mut out, Epilogue::Overwrite)));
            println!(
                "{what:>14} {m}×{k}×{n}, {threads} thread(s): {:.1} GFLOP/s",
                gflops(2.0 * (m * n * k) as f64, secs)
            );
        }
        // A VAE 3×3×3 conv, 96 → 96 channels at 64×96: 27 taps as shifted views of 3 padded frames.
        let (cin, cout, h, w) = (96usize, 96usize, 64usize, 96usize);
        let (wp, plane) = (w + 2, (h + 2) * (w + 2) + 2);
        let frames: Vec<Vec<f32>> = (0..3).map(|_| vec![0.1f32; cin * plane]).collect();
        let weights = vec![0.01f32; cout * 27 * cin];
        let n = h * w;
        let mut out = vec![0.0f32; cout * n];
        let blocks: Vec<RowBlock> = (0..27)
            .map(|tap| RowBlock::image(&frames[tap / 9][(tap / 3 % 3) * wp + tap % 3..], plane, cin, w, wp))
            .collect();
        let secs = best_secs(10, || {
            pool.install(|| {
                matmul_rows(MatMut::dense(&mut out, cout, n), MatRef::dense(&weights, cout, 27 * cin), &blocks, false)
            })
        });
        println!(
            "{:>14} {cout}×{}×{n}, {threads} thread(s): {:.1} GFLOP/s",
            "VAE conv 3³",
            27 * cin,
            gflops(2.0 * (cout * n * 27 * cin) as f64, secs)
        );
    }
}
