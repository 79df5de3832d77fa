//! Int8 × int8 dot products of Q8_0 rows (weights and activations both in blocks of 32 with one
//! f32 scale each): AVX2 (`maddubs`/`madd`) on x86_64, NEON (`smull`/`saddlp`/`addp`) on aarch64, and
//! a portable fallback; all three give identical bits.
//!
//! Definition (every path computes exactly this): for rows `x` (activations) and `w` (weights),
//! block `b`, lane `l` in 0..8:
//! - `p[l] = Σ_{i=4l}^{4l+3} xq[32b+i] · wq[32b+i]` (exact i32; |p| ≤ 4·127²);
//! - `acc[l] = acc[l] + (p[l] as f32) · (xs[b] · ws[b])` (f32 multiply, then add; no FMA);
//! - `dot = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7))`.
//!
//! The integer sums `p[l]` are exact in every path (any association order gives the same i32), and
//! the f32 steps are the same operations in the same order, hence the identical bits.
//!
//! AVX2: `maddubs(|x|, sign(w, x))` gives the pair sums `x·w` in i16 (no saturation: values
//! are within ±127, so a pair is at most 2·127² = 32258), `madd` with ones widens to the 8 i32
//! lanes above. NEON (`q8dot::neon`): widening products in i16, pairwise widening adds to i32 pairs,
//! pairwise adds to the 8 lanes. A tile of 2 activation rows × 4 weight rows shares every load.

use crate::quant::{Q8Matrix, Q8_BLOCK};

#[cfg(target_arch = "aarch64")]
mod neon;

/// Activation rows per tile and weight rows per tile.
const MR: usize = 2;
const NR: usize = 4;

/// `out[t][j] = dot(x row t0 + t, w row r0 + j)` for a tile; `out` is `[tm][tn]` row-major.
fn tile_portable(x: &Q8Matrix, t0: usize, tm: usize, w: &Q8Matrix, r0: usize, tn: usize, out: &mut [f32]) {
    let (k, nb) = (x.cols, x.cols / Q8_BLOCK);
    for t in 0..tm {
        let (xq, xs) = (&x.qs[(t0 + t) * k..(t0 + t + 1) * k], &x.scales[(t0 + t) * nb..(t0 + t + 1) * nb]);
        for j in 0..tn {
            let (wq, ws) = (&w.qs[(r0 + j) * k..(r0 + j + 1) * k], &w.scales[(r0 + j) * nb..(r0 + j + 1) * nb]);
            let mut acc = [0.0f32; 8];
            for b in 0..nb {
                let d = xs[b] * ws[b];
                for (l, a) in acc.iter_mut().enumerate() {
                    let i = b * Q8_BLOCK + 4 * l;
                    let p: i32 = (i..i + 4).map(|i| xq[i] as i32 * wq[i] as i32).sum();
                    *a += p as f32 * d;
                }
            }
            out[t * tn + j] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Q8Matrix, Q8_BLOCK};
    use std::arch::x86_64::*;

    /// Horizontal sum in the order of the module docs.
    #[target_feature(enable = "avx2")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); // a_l + a_{l+4}
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s)); // (s0 + s2, s1 + s3)
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    /// The tile of [`super::tile_portable`] with `TM × TN` fixed (all rows in range).
    ///
    /// # Safety
    /// AVX2 must be available; rows `t0..t0+TM` of `x` and `r0..r0+TN` of `w` must exist, and
    /// `x.cols == w.cols` (a multiple of 32).
    #[target_feature(enable = "avx2")]
    pub unsafe fn tile<const TM: usize, const TN: usize>(
        x: &Q8Matrix,
        t0: usize,
        w: &Q8Matrix,
        r0: usize,
        out: &mut [f32],
    ) {
        // SAFETY: the caller's contract (see above) bounds every pointer offset.
        unsafe {
            let (k, nb) = (x.cols, x.cols / Q8_BLOCK);
            let ones = _mm256_set1_epi16(1);
            let mut acc = [[_mm256_setzero_ps(); TN]; TM];
            // Plain loops, no closures: closures would not inherit the AVX2 target feature.
            let (mut xq, mut xs) = ([std::ptr::null::<i8>(); TM], [std::ptr::null::<f32>(); TM]);
            for t in 0..TM {
                xq[t] = x.qs.as_ptr().add((t0 + t) * k);
                xs[t] = x.scales.as_ptr().add((t0 + t) * nb);
            }
            let (mut wq, mut ws) = ([std::ptr::null::<i8>(); TN], [std::ptr::null::<f32>(); TN]);
            for j in 0..TN {
                wq[j] = w.qs.as_ptr().add((r0 + j) * k);
                ws[j] = w.scales.as_ptr().add((r0 + j) * nb);
            }
            let (mut xv, mut ax) = ([_mm256_setzero_si256(); TM], [_mm256_setzero_si256(); TM]);
            for b in 0..nb {
                for t in 0..TM {
                    xv[t] = _mm256_loadu_si256(xq[t].add(b * Q8_BLOCK) as *const __m256i);
                    ax[t] = _mm256_abs_epi8(xv[t]);
                }
                for j in 0..TN {
                    let wv = _mm256_loadu_si256(wq[j].add(b * Q8_BLOCK) as *const __m256i);
                    let wsb = *ws[j].add(b);
                    for t in 0..TM {
                        let pairs = _mm256_maddubs_epi16(ax[t], _mm256_sign_epi8(wv, xv[t]));
                        let p = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
                        let d = _mm256_set1_ps(*xs[t].add(b) * wsb);
                        acc[t][j] = _mm256_add_ps(acc[t][j], _mm256_mul_ps(p, d));
                    }
                }
            }
            for t in 0..TM {
                for j in 0..TN {
                    out[t * TN + j] = hsum(acc[t][j]);
                }
            }
        }
    }
}

/// Which tile kernel [`q8_rows_dot`] runs: a SIMD one only where the CPU has its features.
#[derive(Clone, Copy)]
enum TilePath {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl TilePath {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx2() {
            return TilePath::Avx2;
        }
        #[cfg(target_arch = "aarch64")]
        if crate::simd::has_neon() {
            return TilePath::Neon;
        }
        TilePath::Portable
    }
}

/// `$m::tile::<TM, TN>` for a tile of `tm × tn` into `out` (`[tm][tn]` order): the full tile and a
/// one-row tile as such, other edge tiles one weight row at a time (few shapes to compile).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! fixed_tiles {
    ($m:ident, $x:expr, $t0:expr, $tm:expr, $w:expr, $j0:expr, $tn:expr, $out:expr) => {{
        let (x, t0, tm, w, j0, tn, out): (&Q8Matrix, usize, usize, &Q8Matrix, usize, usize, &mut [f32]) =
            ($x, $t0, $tm, $w, $j0, $tn, $out);
        match (tm, tn) {
            (MR, NR) => $m::tile::<MR, NR>(x, t0, w, j0, out),
            (1, NR) => $m::tile::<1, NR>(x, t0, w, j0, out),
            _ => {
                // Edge tile: one weight row at a time, results into [tm][tn] order.
                for j in 0..tn {
                    let mut col = [0.0f32; MR];
                    for t in 0..tm {
                        $m::tile::<1, 1>(x, t0 + t, w, j0 + j, &mut col[t..t + 1]);
                    }
                    (0..tm).for_each(|t| out[t * tn + j] = col[t]);
                }
            }
        }
    }};
}

/// `out[t·(r1 − r0) + r − r0] += dot(x row t, w row r)` for every activation row `t` and weight
/// rows `r0..r1` (`out` is `[x.rows, r1 − r0]`); `x` and `w` share `cols`.
pub fn q8_rows_dot(x: &Q8Matrix, w: &Q8Matrix, r0: usize, r1: usize, out: &mut [f32]) {
    assert!(x.cols == w.cols && r0 <= r1 && r1 <= w.rows && out.len() >= x.rows * (r1 - r0), "q8_rows_dot: shapes");
    let n = r1 - r0;
    let path = TilePath::detect();
    let mut tile = [0.0f32; MR * NR];
    for t0 in (0..x.rows).step_by(MR) {
        let tm = MR.min(x.rows - t0);
        for j0 in (r0..r1).step_by(NR) {
            let tn = NR.min(r1 - j0);
            match path {
                // SAFETY: AVX2 checked; rows t0..t0+tm and j0..j0+tn exist; shapes asserted above.
                #[cfg(target_arch = "x86_64")]
                TilePath::Avx2 => unsafe { fixed_tiles!(avx2, x, t0, tm, w, j0, tn, &mut tile) },
                // SAFETY: NEON checked; rows and shapes as above.
                #[cfg(target_arch = "aarch64")]
                TilePath::Neon => unsafe { fixed_tiles!(neon, x, t0, tm, w, j0, tn, &mut tile) },
                TilePath::Portable => tile_portable(x, t0, tm, w, j0, tn, &mut tile),
            }
            for t in 0..tm {
                for j in 0..tn {
                    out[(t0 + t) * n + j0 - r0 + j] += tile[t * tn + j];
                }
            }
        }
    }
}

/// The portable path alone (tests compare it with the dispatching one).
#[cfg(test)]
fn q8_rows_dot_portable(x: &Q8Matrix, w: &Q8Matrix, out: &mut [f32]) {
    assert!(x.cols == w.cols && out.len() >= x.rows * w.rows, "q8_rows_dot_portable: shapes");
    let mut tile = [0.0f32; 1];
    for t in 0..x.rows {
        for r in 0..w.rows {
            tile_portable(x, t, 1, w, r, 1, &mut tile);
            out[t * w.rows + r] += tile[0];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::Rng;

    #[test]
    fn non_finite_activations_propagate() {
        let mut xv = vec![0.5f32; 64];
        xv[40] = f32::NAN;
        let x = Q8Matrix::quantize_activations(&xv, 1, 64);
        let w = Q8Matrix::quantize(&[0.25; 128], 2, 64).expect("quantizable");
        let mut out = vec![0.0f32; 2];
        q8_rows_dot(&x, &w, 0, 2, &mut out);
        assert!(out.iter().all(|v| v.is_nan()), "{out:?}");
    }

    #[test]
    fn simd_and_portable_give_identical_bits() {
        let mut rng = Rng::new(5);
        for (m, n, k) in [(1, 5, 32), (3, 9, 64), (8, 36, 384), (5, 7, 1536)] {
            let x = Q8Matrix::quantize_activations(&rng.normal_vec(m * k, 2.0), m, k);
            let w = Q8Matrix::quantize(&rng.normal_vec(n * k, 0.1), n, k).expect("quantizable");
            let bias = rng.normal_vec(m * n, 1.0);
            let (mut a, mut b) = (bias.clone(), bias);
            q8_rows_dot(&x, &w, 0, n, &mut a);
            q8_rows_dot_portable(&x, &w, &mut b);
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "m {m} n {n} k {k}");
            // A sub-range of weight rows lands in its own [m, r1 − r0] buffer.
            let (r0, r1) = (1, n.min(6));
            let mut part = vec![0.0f32; m * (r1 - r0)];
            q8_rows_dot(&x, &w, r0, r1, &mut part);
            let mut full = vec![0.0f32; m * n];
            q8_rows_dot_portable(&x, &w, &mut full);
            for t in 0..m {
                for r in r0..r1 {
                    assert_eq!(part[t * (r1 - r0) + r - r0].to_bits(), full[t * n + r].to_bits());
                }
            }
        }
    }

    #[test]
    fn detected_path_is_the_simd_one_where_the_cpu_has_it() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(matches!(TilePath::detect(), TilePath::Avx2), crate::simd::has_avx2());
        #[cfg(target_arch = "aarch64")]
        assert!(matches!(TilePath::detect(), TilePath::Neon), "NEON is part of every ARMv8-A core");
    }

    #[test]
    fn extreme_values_give_exact_sums() {
        // ±127 everywhere: the largest products and pair sums the format allows (no intermediate
        // integer step may saturate). With unit scales every f32 step is exact (sums < 2^24), so the
        // dot is the integer dot product, on every path.
        let (m, n, k) = (3, 6, 96);
        let q = |i: usize, period: usize| if i.is_multiple_of(period) { -127i8 } else { 127 };
        let x = Q8Matrix { rows: m, cols: k, qs: (0..m * k).map(|i| q(i, 3)).collect(), scales: vec![1.0; m * k / 32] };
        let w = Q8Matrix { rows: n, cols: k, qs: (0..n * k).map(|i| q(i, 5)).collect(), scales: vec![1.0; n * k / 32] };
        let mut got = vec![0.0f32; m * n];
        q8_rows_dot(&x, &w, 0, n, &mut got);
        for t in 0..m {
            for r in 0..n {
                let want: i32 = (0..k).map(|i| x.qs[t * k + i] as i32 * w.qs[r * k + i] as i32).sum();
                assert_eq!(got[t * n + r], want as f32, "{t},{r}");
            }
        }
    }

    #[test]
    fn dot_matches_the_dequantized_product() {
        let mut rng = Rng::new(6);
        let (m, n, k) = (3, 6, 128);
        let mut xv = rng.normal_vec(m * k, 1.0);
        xv[7] = -127.0 * 3.0; // a block whose extreme value is negative
        let x = Q8Matrix::quantize_activations(&xv, m, k);
        let w = Q8Matrix::quantize(&rng.normal_vec(n * k, 0.2), n, k).expect("quantizable");
        let (xd, wd) = (x.dequantize(), w.dequantize());
        let mut out = vec![0.0f32; m * n];
        q8_rows_dot(&x, &w, 0, n, &mut out);
        for t in 0..m {
            for r in 0..n {
                let want: f64 = (0..k).map(|i| xd[t * k + i] as f64 * wd[r * k + i] as f64).sum();
                assert!(
                    (out[t * n + r] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{t},{r}: {} vs {want}",
                    out[t * n + r]
                );
            }
        }
    }
}
