//! Matmul with Q8_0 weights: `out[m, n] += x[m, k] · Wᵀ`, `W` a [`Q8Matrix`] `[n, k]`. Two paths:
//!
//! - [`matmul_q8_panels`] (many rows): the weight rows are split into panels of about 256 KiB of
//!   f32 (at least two panels per thread); each rayon task dequantizes its panel into a reused f32
//!   buffer (cache-resident) and feeds it to the single-threaded packed GEMM (`worldflow-gemm`), writing its own
//!   columns of `out`. Only one panel per thread is ever expanded, so the model keeps 3.56× less
//!   weight memory. The result equals `matmul_wt` on the dequantized weights up to the GEMM's
//!   summation order.
//! - [`matmul_q8_int8`] (few rows, where reading the weights dominates): the activations are
//!   quantized per block of 32 too and every output is an int8 × int8 dot product (`q8dot.rs`).
//!
//! [`matmul_q8_wt`] picks the int8 path for at most [`INT8_DOT_MAX_ROWS`] rows.

use crate::q8dot::q8_rows_dot;
use crate::quant::Q8Matrix;
use rayon::prelude::*;
use worldflow_base::DisjointWriter;
use worldflow_gemm::{matmul_packed_serial, Epilogue, PackedWt, SharedMatMut};

/// f32 values of one dequantized panel (256 KiB).
const PANEL_VALUES: usize = 1 << 16;

/// Rows per panel for an `[n, k]` matrix on `threads` threads (a multiple of 16 unless `n` is smaller).
fn panel_rows(n: usize, k: usize, threads: usize) -> usize {
    let by_cache = (PANEL_VALUES / k.max(1)).max(16);
    let by_threads = n.div_ceil(2 * threads.max(1)).max(16);
    by_cache.min(by_threads).next_multiple_of(16).min(n)
}

/// Rows up to which [`matmul_q8_wt`] uses the int8 × int8 path (measured: `examples/bench_qmatmul.rs`).
pub const INT8_DOT_MAX_ROWS: usize = 8;

/// `out[m, n] += x[m, k] · Wᵀ` (the bias is expected in `out` already).
pub fn matmul_q8_wt(x: &[f32], m: usize, w: &Q8Matrix, out: &mut [f32]) {
    if m <= INT8_DOT_MAX_ROWS {
        matmul_q8_int8(x, m, w, out)
    } else {
        matmul_q8_panels(x, m, w, out)
    }
}

/// `out[m, n] += x[m, k] · Wᵀ` by int8 × int8 dot products, `x` quantized per block of 32.
pub fn matmul_q8_int8(x: &[f32], m: usize, w: &Q8Matrix, out: &mut [f32]) {
    let (n, k) = (w.rows, w.cols);
    assert!(x.len() >= m * k && out.len() >= m * n, "matmul_q8_int8: buffer sizes");
    if m == 0 || n == 0 {
        return;
    }
    let xq = Q8Matrix::quantize_activations(&x[..m * k], m, k);
    let threads = if 2 * m * n * k > 1_000_000 { rayon::current_num_threads() } else { 1 };
    let rows = n.div_ceil(4 * threads).next_multiple_of(4).min(n);
    let panel = |p: usize| {
        let (r0, r1) = (p * rows, ((p + 1) * rows).min(n));
        let mut buf = vec![0.0f32; m * (r1 - r0)];
        q8_rows_dot(&xq, w, r0, r1, &mut buf);
        (r0, r1, buf)
    };
    let panels = n.div_ceil(rows);
    let parts: Vec<(usize, usize, Vec<f32>)> =
        if threads == 1 { (0..panels).map(panel).collect() } else { (0..panels).into_par_iter().map(panel).collect() };
    for (r0, r1, buf) in parts {
        for (t, row) in buf.chunks_exact(r1 - r0).enumerate() {
            out[t * n + r0..t * n + r1].iter_mut().zip(row).for_each(|(o, v)| *o += v);
        }
    }
}

/// `out[m, n] += x[m, k] · Wᵀ` by f32 GEMM on weight panels dequantized on the fly.
pub fn matmul_q8_panels(x: &[f32], m: usize, w: &Q8Matrix, out: &mut [f32]) {
    let (n, k) = (w.rows, w.cols);
    assert!(x.len() >= m * k && out.len() >= m * n, "matmul_q8_panels: buffer sizes");
    if m == 0 || n == 0 {
        return;
    }
    let threads = if 2 * m * n * k > 4_000_000 { rayon::current_num_threads() } else { 1 };
    let rows = panel_rows(n, k, threads);
    let dst = DisjointWriter::new(&mut out[..m * n]);
    let panel = |(buf, packed): &mut (Vec<f32>, PackedWt), p: usize| {
        let (r0, r1) = (p * rows, ((p + 1) * rows).min(n));
        buf.resize((r1 - r0) * k, 0.0);
        w.dequantize_rows(r0, r1, buf);
        packed.pack_from(buf, r1 - r0, k);
        // Rows 0..m × columns r0..r1 of `out` (row stride n).
        let block = SharedMatMut::new(dst, r0, m, r1 - r0, n);
        // SAFETY: panels have disjoint column ranges, so no other task touches this block.
        unsafe { matmul_packed_serial(x, packed, block, Epilogue::Accumulate) }
    };
    let panels = n.div_ceil(rows);
    if threads == 1 {
        let mut bufs = Default::default();
        (0..panels).for_each(|p| panel(&mut bufs, p));
    } else {
        (0..panels).into_par_iter().for_each_init(Default::default, panel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::matmul_wt;
    use crate::weights::Rng;

    #[test]
    fn equals_f32_matmul_on_dequantized_weights() {
        let mut rng = Rng::new(3);
        for (m, n, k) in [(1, 40, 64), (37, 300, 96), (130, 1152, 384)] {
            let x = rng.normal_vec(m * k, 1.0);
            let w = Q8Matrix::quantize(&rng.normal_vec(n * k, 0.1), n, k).expect("quantizable");
            let bias = rng.normal_vec(m * n, 1.0);
            let (mut got, mut want) = (bias.clone(), bias);
            matmul_q8_panels(&x, m, &w, &mut got);
            matmul_wt(&x, m, k, &w.dequantize(), n, &mut want, true);
            let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let err = got.iter().zip(&want).fold(0.0f32, |a, (p, q)| a.max((p - q).abs()));
            assert!(err <= 1e-5 * scale, "m {m} n {n} k {k}: max err {err} (scale {scale})");
        }
    }

    #[test]
    fn int8_path_is_close_to_the_panel_path_and_deterministic() {
        let mut rng = Rng::new(4);
        for (m, n, k) in [(1, 40, 64), (5, 300, 96), (16, 1152, 384), (3, 7, 32)] {
            let x = rng.normal_vec(m * k, 1.0);
            let w = Q8Matrix::quantize(&rng.normal_vec(n * k, 0.1), n, k).expect("quantizable");
            let (mut a, mut b, mut c) = (vec![0.0f32; m * n], vec![0.0f32; m * n], vec![0.0f32; m * n]);
            matmul_q8_int8(&x, m, &w, &mut a);
            matmul_q8_int8(&x, m, &w, &mut c);
            matmul_q8_panels(&x, m, &w, &mut b);
            assert_eq!(a, c);
            let rms = (b.iter().map(|v| v * v).sum::<f32>() / b.len() as f32).sqrt();
            let err = a.iter().zip(&b).fold(0.0f32, |e, (p, q)| e.max((p - q).abs()));
            // Activation rounding: ≤ scale/2 per value, ~1% of the output RMS at most here.
            assert!(err > 0.0 && err < 0.03 * rms, "m {m} n {n} k {k}: {err} vs RMS {rms}");
        }
    }

    #[test]
    fn panels_cover_every_row() {
        for (n, k, t) in [(1, 32, 1), (15, 64, 2), (1152, 384, 2), (8960, 1536, 16), (64, 8960, 4)] {
            let r = panel_rows(n, k, t);
            assert!(r >= 1 && r <= n, "n {n} k {k} t {t}: {r}");
            assert!(n.div_ceil(r) * r >= n);
        }
    }
}
