//! Int8 weight quantization, block layout of GGML's Q8_0 (with an f32 scale).
//!
//! Layout of a quantized `[rows, cols]` matrix (PyTorch `Linear.weight` order: one row per output
//! feature, `cols` = input features, `cols % 32 == 0`):
//! - `qs: Vec<i8>` `[rows, cols]` row-major, values in −127..=127 (−128 never occurs);
//! - `scales: Vec<f32>` `[rows, cols / 32]` row-major: one scale per block of 32 consecutive input
//!   weights of an output row;
//! - `w[r][c] ≈ qs[r·cols + c] · scales[r·(cols/32) + c/32]`.
//!
//! A block is quantized symmetrically: `scale = max|w| / 127`, `q = round(w / scale)` (ties away
//! from zero), so `|w − q·scale| ≤ scale / 2` for every weight; an all-zero block has scale 0 and
//! q = 0. Storage: 32 + 4 bytes per 32 weights instead of 128 (3.56× smaller).

use crate::error::ParseWeightFormatError;
use crate::simd::simd_fn;

/// Weights per quantization block.
pub const Q8_BLOCK: usize = 32;

/// Largest quantized magnitude.
const Q8_MAX: f32 = 127.0;

/// How a model keeps its large matmul weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightFormat {
    /// Full-precision f32 (default).
    #[default]
    F32,
    /// Int8 Q8_0-style blocks (see the module docs) for every block linear layer.
    Int8,
}

impl std::str::FromStr for WeightFormat {
    type Err = ParseWeightFormatError;
    fn from_str(s: &str) -> Result<Self, ParseWeightFormatError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" => Ok(WeightFormat::F32),
            "int8" | "q8" | "q8_0" => Ok(WeightFormat::Int8),
            other => Err(ParseWeightFormatError { given: other.to_owned() }),
        }
    }
}

impl std::fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WeightFormat::F32 => "f32",
            WeightFormat::Int8 => "int8",
        })
    }
}

/// Quantizes one block: writes `q` (same length as `w`) and returns the scale.
/// A non-finite input gives q = 0 and a NaN scale, so it propagates through products.
pub fn quantize_block(w: &[f32], q: &mut [i8]) -> f32 {
    let amax = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if amax == 0.0 || !amax.is_finite() || w.iter().any(|v| v.is_nan()) {
        q.iter_mut().for_each(|v| *v = 0);
        return if amax == 0.0 && !w.iter().any(|v| v.is_nan()) { 0.0 } else { f32::NAN };
    }
    let scale = amax / Q8_MAX;
    for (qi, &wi) in q.iter_mut().zip(w) {
        *qi = (wi / scale).round().clamp(-Q8_MAX, Q8_MAX) as i8;
    }
    scale
}

/// A `[rows, cols]` weight matrix in the Q8_0 block layout of the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Q8Matrix {
    pub rows: usize,
    pub cols: usize,
    pub qs: Vec<i8>,
    pub scales: Vec<f32>,
}

impl Q8Matrix {
    /// Quantizes `w` `[rows, cols]`. `None` when `cols` is not a multiple of 32, the sizes do not
    /// match, or a weight is not finite (such a layer stays f32).
    pub fn quantize(w: &[f32], rows: usize, cols: usize) -> Option<Self> {
        if cols == 0 || !cols.is_multiple_of(Q8_BLOCK) || w.len() != rows * cols || w.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut qs = vec![0i8; w.len()];
        let scales = w
            .chunks_exact(Q8_BLOCK)
            .zip(qs.chunks_exact_mut(Q8_BLOCK))
            .map(|(wb, qb)| quantize_block(wb, qb))
            .collect();
        Some(Q8Matrix { rows, cols, qs, scales })
    }

    /// Quantizes activations `x` `[rows, cols]` row by row in the same blocks (`cols % 32 == 0`,
    /// checked by the caller). Non-finite values give non-finite scales, so they propagate.
    pub fn quantize_activations(x: &[f32], rows: usize, cols: usize) -> Self {
        debug_assert!(cols.is_multiple_of(Q8_BLOCK) && x.len() == rows * cols);
        let mut qs = vec![0i8; x.len()];
        let scales = x
            .chunks_exact(Q8_BLOCK)
            .zip(qs.chunks_exact_mut(Q8_BLOCK))
            .map(|(xb, qb)| quantize_block(xb, qb))
            .collect();
        Q8Matrix { rows, cols, qs, scales }
    }

    /// Blocks per row.
    pub fn blocks_per_row(&self) -> usize {
        self.cols / Q8_BLOCK
    }

    /// Dequantizes rows `r0..r1` into `out` (`(r1 − r0) · cols` values, row-major).
    pub fn dequantize_rows(&self, r0: usize, r1: usize, out: &mut [f32]) {
        let (a, b) = (r0 * self.cols, r1 * self.cols);
        let s = &self.scales[r0 * self.blocks_per_row()..r1 * self.blocks_per_row()];
        dequantize_blocks(&self.qs[a..b], s, &mut out[..b - a]);
    }

    /// The whole matrix as f32.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.rows * self.cols];
        self.dequantize_rows(0, self.rows, &mut out);
        out
    }

    /// Bytes held (int8 values + f32 scales).
    pub fn bytes(&self) -> usize {
        self.qs.len() + 4 * self.scales.len()
    }
}

simd_fn! {
    /// `out[i] = qs[i] · scales[i / 32]`.
    fn dequantize_blocks(qs: &[i8], scales: &[f32], out: &mut [f32]) {
        for ((qb, ob), &s) in qs.chunks_exact(Q8_BLOCK).zip(out.chunks_exact_mut(Q8_BLOCK)).zip(scales) {
            for i in 0..Q8_BLOCK {
                ob[i] = qb[i] as f32 * s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::Rng;

    #[test]
    fn round_trip_error_is_at_most_half_a_step_per_block() {
        let (rows, cols) = (7, 96);
        let mut rng = Rng::new(11);
        let mut w = rng.normal_vec(rows * cols, 0.3);
        w[5] = 4.0; // an outlier only widens its own block
        w[cols..cols + Q8_BLOCK].iter_mut().for_each(|v| *v = 0.0); // an all-zero block
        let q = Q8Matrix::quantize(&w, rows, cols).expect("quantizable");
        assert_eq!((q.qs.len(), q.scales.len()), (rows * cols, rows * cols / Q8_BLOCK));
        let back = q.dequantize();
        for (b, (wb, db)) in w.chunks_exact(Q8_BLOCK).zip(back.chunks_exact(Q8_BLOCK)).enumerate() {
            let scale = q.scales[b];
            let amax = wb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert_eq!(scale, amax / 127.0, "block {b}");
            for (x, y) in wb.iter().zip(db) {
                assert!((x - y).abs() <= 0.5 * scale * (1.0 + 1e-5), "block {b}: {x} vs {y} (scale {scale})");
            }
        }
        assert!(back[cols..cols + Q8_BLOCK].iter().all(|&v| v == 0.0));
        assert!(q.qs.iter().all(|&v| v != i8::MIN));
        // The block's largest magnitude maps to ±127 exactly.
        assert_eq!(q.qs[5], 127);
    }

    #[test]
    fn unquantizable_shapes_and_values_are_refused() {
        assert!(Q8Matrix::quantize(&[0.5; 40], 2, 20).is_none());
        assert!(Q8Matrix::quantize(&[0.5; 64], 1, 32).is_none());
        let mut w = vec![0.5; 32];
        w[3] = f32::NAN;
        assert!(Q8Matrix::quantize(&w, 1, 32).is_none());
        assert_eq!("INT8".parse::<WeightFormat>(), Ok(WeightFormat::Int8));
        assert!("int4".parse::<WeightFormat>().unwrap_err().to_string().contains("int4"));
    }
}
