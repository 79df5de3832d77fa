//! Products against a naive f64 reference, the micro-kernels against each other, determinism.

use crate::kernel::{tile, ATile, BTile, Init, TileDims, MR_MAX};
use crate::pack::{pack_a, Panels};
use crate::view::{Strided, StridedMut};
use crate::*;

fn naive(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|p| x[i * k + p] as f64 * w[j * k + p] as f64).sum();
        }
    }
    out
}

fn data(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0) * 0.5).collect()
}

fn check(m: usize, k: usize, n: usize) {
    let (x, w, bias) = (data(m * k, 1), data(n * k, 2), data(n, 3));
    let packed = PackedWt::pack(&w, n, k);
    assert_eq!(packed.unpack(), w);
    let want = naive(&x, m, k, &w, n);
    let close = |got: &[f32], want: &dyn Fn(usize) -> f64, what: &str| {
        for (i, g) in got.iter().enumerate() {
            let e = want(i);
            assert!(
                (*g as f64 - e).abs() <= 1e-5 * (1.0 + e.abs()) * (k as f64).sqrt(),
                "{what} m{m} k{k} n{n} at {i}: {g} vs {e}"
            );
        }
    };
    let mut out = vec![0.5f32; m * n];
    matmul_packed(&x, m, &packed, &mut out, Epilogue::Overwrite);
    close(&out, &|i| want[i], "overwrite");
    matmul_packed(&x, m, &packed, &mut out, Epilogue::Accumulate);
    close(&out, &|i| 2.0 * want[i], "accumulate");
    matmul_packed(&x, m, &packed, &mut out, Epilogue::Bias(&bias));
    close(&out, &|i| want[i] + bias[i % n] as f64, "bias");
    fn square(r: &mut [f32]) {
        r.iter_mut().for_each(|v| *v *= *v);
    }
    matmul_packed(&x, m, &packed, &mut out, Epilogue::BiasMap(&bias, square));
    close(&out, &|i| (want[i] + bias[i % n] as f64).powi(2), "bias+map");
}

#[test]
fn packed_gemm_matches_naive() {
    // Edge rows (m % 6), partial panels (n % 16), k across KC blocks, and the parallel split: by
    // rows with `a` packed per task (n ≥ 128) or read in place, by columns with `a` packed once.
    // (`strided_matmul_matches_naive` covers row tasks sharing copied panels of b.)
    for &(m, k, n) in &[
        (1, 1, 1),
        (7, 5, 3),
        (13, 300, 40),
        (6, 256, 16),
        (100, 257, 33),
        (256, 64, 160),
        (37, 513, 48),
        (13, 520, 300),
    ] {
        check(m, k, n);
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("pool");
    pool.install(|| check(200, 384, 200));
}

#[test]
fn strided_matmul_matches_naive() {
    // c[m × n] at column offset 3 of a wider matrix; a, b row strides larger than k, n.
    for &(m, k, n) in
        &[(1, 1, 1), (7, 9, 21), (20, 300, 35), (130, 70, 64), (64, 520, 100), (20, 300, 400), (200, 600, 90)]
    {
        let (lda, ldb, ldc) = (k + 5, n + 7, n + 11);
        let a = data(m * lda, 6);
        let b = data(k * ldb, 7);
        let before = data(m * ldc, 8);
        let w: Vec<f32> = (0..n * k).map(|i| b[(i % k) * ldb + i / k]).collect(); // bᵀ as [n, k]
        let x: Vec<f32> = (0..m * k).map(|i| a[(i / k) * lda + i % k]).collect();
        let want = naive(&x, m, k, &w, n);
        for accumulate in [true, false] {
            let mut got = before.clone();
            matmul(
                MatMut::new(&mut got[3..], m, n, ldc),
                MatRef::new(&a, m, k, lda),
                MatRef::new(&b, k, n, ldb),
                accumulate,
            );
            for i in 0..m {
                for j in 0..ldc {
                    let (g, old) = (got[i * ldc + j] as f64, before[i * ldc + j] as f64);
                    let e = if j < 3 || j >= 3 + n {
                        old
                    } else {
                        want[i * n + j - 3] + if accumulate { old } else { 0.0 }
                    };
                    assert!(
                        (g - e).abs() <= 1e-5 * (1.0 + e.abs()) * (k as f64).sqrt(),
                        "m{m} k{k} n{n} ({i}, {j}): {g} vs {e}"
                    );
                }
            }
        }
    }
}

#[test]
fn image_row_blocks_match_naive() {
    // Blocks of image rows, as a conv's taps: width 7 (pitch 10), whose panels straddle image rows
    // and are copied; widths 16 and 32 (pitch 18, 35), whose panels are read in place, `k` cut at
    // block ends and at KC (300-row blocks), on 1 and 3 threads (the larger product splits).
    for (m, width, pitch, h, rows, nblocks, in_place) in
        [(13, 7, 10, 9, 2, 2, false), (30, 16, 18, 8, 5, 3, true), (40, 32, 35, 6, 300, 3, true)]
    {
        let n = width * h;
        let plane = pitch * h + 3;
        let src = data((nblocks * rows + 1) * plane, 12);
        let blocks: Vec<RowBlock> = (0..nblocks)
            .map(|bi| RowBlock::image(&src[bi * rows * plane + 1 + bi..], plane, rows, width, pitch))
            .collect();
        assert_eq!(Panels::Rows { blocks: &blocks, n }.in_place(), in_place);
        let k = rows * nblocks;
        let b_at = |p: usize, c: usize| {
            let blk = &blocks[p / rows];
            blk.data[(p % rows) * plane + (c / width) * pitch + c % width]
        };
        let a = data(m * k, 13);
        let w: Vec<f32> = (0..n * k).map(|i| b_at(i % k, i / k)).collect(); // bᵀ as [n, k]
        let want = naive(&a, m, k, &w, n);
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            let mut got = vec![0.0f32; m * n];
            pool.install(|| matmul_rows(MatMut::dense(&mut got, m, n), MatRef::dense(&a, m, k), &blocks, false));
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*g as f64 - e).abs() <= 1e-5 * (1.0 + e.abs()) * (k as f64).sqrt(),
                    "width {width}, {threads} threads, at {i}: {g} vs {e}"
                );
            }
        }
    }
}

/// Where a test tile reads `b` [kc × width] (rows `ld` apart): one panel, or two side by side.
fn b_tile(b: &[f32], ld: usize, width: usize) -> BTile {
    let ptr = b.as_ptr();
    BTile { ptr, next: if width > NR { ptr.wrapping_add(NR) } else { std::ptr::null() }, ld }
}

/// Tile widths a kernel takes: one panel, and two for a wide kernel.
fn widths(kernel: MicroKernel) -> Vec<usize> {
    (1..=kernel.panels()).map(|p| p * NR).collect()
}

#[test]
fn every_kernel_agrees_with_naive() {
    // Every available kernel (AVX-512, AVX2 + FMA or NEON, portable), every row count up to its
    // `mr`, a in place and packed, one and two panels, full and partial columns, each init.
    let (kc, lda, ldb) = (37, 40, 2 * NR);
    let a = data(MR_MAX * lda, 9);
    let b = data(kc * ldb, 10);
    let bias = data(2 * NR, 11);
    for kernel in MicroKernel::available() {
        let mr = kernel.mr();
        for rows in 1..=mr {
            let mut packed = Vec::new();
            pack_a(MatRef::new(&a, mr, lda, lda), 0, rows, 0, kc, mr, &mut packed);
            for width in widths(kernel) {
                for cols in [width, width - 11, width - NR + 1] {
                    for (init, base) in [(Init::Zero, 0.0), (Init::Dest, 0.25), (Init::Bias(bias.as_ptr()), 0.0)] {
                        for (ai, at) in
                            [ATile::Rows(Strided { ptr: a.as_ptr(), ld: lda }), ATile::Packed(packed.as_ptr())]
                                .into_iter()
                                .enumerate()
                        {
                            let mut c = vec![0.25f32; MR_MAX * ldb];
                            let cs = StridedMut { ptr: c.as_mut_ptr(), ld: ldb };
                            // SAFETY: a is 12 × 40 (or one packed micro-panel of 37 steps), b 37 × 32,
                            // c 12 × 32.
                            unsafe { tile(kernel, TileDims { rows, cols, kc }, at, b_tile(&b, ldb, width), cs, init) };
                            for r in 0..MR_MAX {
                                for j in 0..ldb {
                                    let got = c[r * ldb + j] as f64;
                                    let want = if r >= rows || j >= cols {
                                        0.25
                                    } else {
                                        let dot: f64 =
                                            (0..kc).map(|p| a[r * lda + p] as f64 * b[p * ldb + j] as f64).sum();
                                        let start = if matches!(init, Init::Bias(_)) { bias[j] as f64 } else { base };
                                        start + dot
                                    };
                                    assert!(
                                        (got - want).abs() < 1e-5,
                                        "rows {rows} cols {cols} {kernel:?} a #{ai} ({r}, {j}): {got} vs {want}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn detected_kernel_is_the_fastest_one_the_cpu_has() {
    let kernel = MicroKernel::detect();
    let all = MicroKernel::available();
    assert_eq!(*all.last().expect("portable"), MicroKernel::portable());
    assert!(all.contains(&kernel));
    if std::env::var(worldflow_base::cpu::ISA_ENV).is_err() {
        assert_eq!(kernel, all[0]);
        assert_eq!(kernel.is_avx512(), worldflow_base::cpu::has_avx512f());
        assert_eq!(kernel.is_avx2_fma(), worldflow_base::cpu::has_avx2_fma() && !kernel.is_avx512());
        assert_eq!(kernel.is_neon(), worldflow_base::cpu::has_neon());
        // NEON is part of every ARMv8-A core (and of qemu's default CPU).
        assert_eq!(kernel.is_neon(), cfg!(target_arch = "aarch64"));
    }
    for k in &all {
        assert_eq!(k.is_fused(), k.is_avx512() || k.is_avx2_fma() || k.is_neon());
        assert!(k.mr() <= MR_MAX && (k.mr() == MR || k.is_avx512()));
    }
    assert!(!MicroKernel::portable().is_fused());
}

#[test]
fn simd_kernels_equal_fused_scalar_loop_bit_for_bit() {
    // The SIMD kernels fuse each step, in `k` order from `init`: exactly `f32::mul_add` in a loop.
    // Every SIMD kernel the CPU has, every row count, a in place and packed, one and two panels
    // (partial too), each init, k across odd lengths.
    let (kc, lda, ldb) = (53, 60, 2 * NR);
    let a = data(MR_MAX * lda, 17);
    let b = data(kc * ldb, 18);
    let bias = data(2 * NR, 19);
    let dest = data(MR_MAX * ldb, 20);
    let fused: Vec<MicroKernel> = MicroKernel::available().into_iter().filter(|k| k.is_fused()).collect();
    if fused.is_empty() {
        eprintln!("no SIMD micro-kernel on this CPU: nothing to compare");
    }
    for kernel in fused {
        let mr = kernel.mr();
        for rows in 1..=mr {
            let mut packed = Vec::new();
            pack_a(MatRef::new(&a, mr, lda, lda), 0, rows, 0, kc, mr, &mut packed);
            for width in widths(kernel) {
                for cols in [width, width - 3] {
                    for init in [Init::Zero, Init::Dest, Init::Bias(bias.as_ptr())] {
                        for at in [ATile::Rows(Strided { ptr: a.as_ptr(), ld: lda }), ATile::Packed(packed.as_ptr())] {
                            let mut c = dest.clone();
                            let cs = StridedMut { ptr: c.as_mut_ptr(), ld: ldb };
                            // SAFETY: a is 12 × 60 (or one packed micro-panel of 53 steps), b 53 × 32,
                            // c 12 × 32.
                            unsafe { tile(kernel, TileDims { rows, cols, kc }, at, b_tile(&b, ldb, width), cs, init) };
                            for r in 0..MR_MAX {
                                for j in 0..ldb {
                                    let want = if r >= rows || j >= cols {
                                        dest[r * ldb + j]
                                    } else {
                                        let start = match init {
                                            Init::Zero => 0.0,
                                            Init::Dest => dest[r * ldb + j],
                                            Init::Bias(_) => bias[j],
                                        };
                                        (0..kc).fold(start, |acc, p| a[r * lda + p].mul_add(b[p * ldb + j], acc))
                                    };
                                    let got = c[r * ldb + j];
                                    assert_eq!(
                                        got.to_bits(),
                                        want.to_bits(),
                                        "rows {rows} cols {cols} {kernel:?} ({r}, {j}): {got} vs {want}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn wide_strips_give_the_same_bits_on_every_fused_kernel() {
    // `micro_tiles` over 5 panels (two pairs and a lone one on AVX-512) and rows in tiles of each
    // kernel's `mr`: every fused kernel gives the same bits, close to the f64 product.
    let (m, k, n) = (100, 300, 80);
    let (x, w) = (data(m * k, 21), data(n * k, 22));
    let wt: Vec<f32> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect(); // wᵀ as [k, n]
    let want = naive(&x, m, k, &w, n);
    let mut first: Option<Vec<f32>> = None;
    for kernel in MicroKernel::available().into_iter().filter(|k| k.is_fused()) {
        let mut out = vec![0.0f32; m * n];
        micro_tiles(kernel, MatRef::dense(&x, m, k), MatRef::dense(&wt, k, n), MatMut::dense(&mut out, m, n), false);
        for (i, (g, e)) in out.iter().zip(&want).enumerate() {
            assert!((*g as f64 - e).abs() <= 1e-4, "{kernel:?} at {i}: {g} vs {e}");
        }
        match &first {
            None => first = Some(out),
            Some(f) => assert!(f.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "{kernel:?} differs"),
        }
    }
}

#[test]
fn micro_tile_strips_match_naive() {
    // 13 rows (full tiles and a short one for mr 6 and 12), a and c with row strides beyond their
    // widths; every available kernel.
    let (rows, kc, lda, ldc) = (13, 45, 50, 20);
    let (a, b) = (data(rows * lda, 14), data(kc * NR, 15));
    for (kernel, accumulate) in MicroKernel::available().into_iter().flat_map(|k| [(k, false), (k, true)]) {
        let mut c = data(rows * ldc, 16);
        let before = c.clone();
        let view = MatMut::new(&mut c, rows, NR, ldc);
        micro_tiles(kernel, MatRef::new(&a, rows, kc, lda), MatRef::dense(&b, kc, NR), view, accumulate);
        for r in 0..rows {
            for j in 0..ldc {
                let (got, old) = (c[r * ldc + j] as f64, before[r * ldc + j] as f64);
                let want = if j >= NR {
                    old
                } else {
                    let dot: f64 = (0..kc).map(|p| a[r * lda + p] as f64 * b[p * NR + j] as f64).sum();
                    dot + if accumulate { old } else { 0.0 }
                };
                assert!((got - want).abs() < 1e-5, "{kernel:?} accumulate {accumulate} ({r}, {j}): {got} vs {want}");
            }
        }
    }
}

#[test]
fn result_does_not_depend_on_thread_count() {
    let (m, k, n) = (300, 520, 96);
    let (x, w) = (data(m * k, 4), data(n * k, 5));
    let packed = PackedWt::pack(&w, n, k);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let mut out = vec![0.0; m * n];
        pool.install(|| matmul_packed(&x, m, &packed, &mut out, Epilogue::Overwrite));
        out
    };
    assert_eq!(run(1), run(4));
}
