//! A dense layer `y = x·Wᵀ + b` (PyTorch `Linear`) whose weight is either f32 packed for the GEMM or
//! int8 blocks ([`Q8Matrix`], after [`Linear::quantize`]).

use worldflow_gemm::{matmul_packed, Epilogue, PackedWt};

use crate::ops::{gelu_tanh_inplace, par_rows};
use crate::qmatmul::matmul_q8_wt;
use crate::quant::Q8Matrix;

/// How a [`Linear`] keeps its weight `[out_features, in_features]`.
#[derive(Clone, Debug)]
pub(crate) enum LinearWeight {
    /// f32, packed once for the GEMM.
    F32(PackedWt),
    /// Int8 Q8_0 blocks (`quant.rs`).
    Int8(Q8Matrix),
}

/// A dense layer: `weight` [out, in], `bias` [out] (empty = none).
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    weight: LinearWeight,
    bias: Vec<f32>,
    out_features: usize,
}

impl Linear {
    /// From a row-major `[out_features, in_features]` weight and a bias of `out_features` (or empty).
    pub(crate) fn new(weight: &[f32], bias: Vec<f32>, in_features: usize, out_features: usize) -> Self {
        assert!(bias.is_empty() || bias.len() == out_features, "Linear::new: bias length");
        let weight = LinearWeight::F32(PackedWt::pack(weight, out_features, in_features));
        Linear { weight, bias, out_features }
    }

    /// `out[rows, out] = x[rows, in] · Wᵀ + b`.
    pub(crate) fn forward(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        self.run(x, rows, out, false)
    }

    /// `out = gelu_tanh(x · Wᵀ + b)`, the activation applied in the GEMM's epilogue where it can be.
    pub(crate) fn forward_gelu(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        self.run(x, rows, out, true)
    }

    fn run(&self, x: &[f32], rows: usize, out: &mut [f32], gelu: bool) {
        let out = &mut out[..rows * self.out_features];
        // Whether the GEMM applied the GELU in its epilogue (f32 weights with a bias).
        let fused = match &self.weight {
            LinearWeight::F32(w) if self.bias.is_empty() => {
                matmul_packed(x, rows, w, out, Epilogue::Overwrite);
                false
            }
            LinearWeight::F32(w) if gelu => {
                matmul_packed(x, rows, w, out, Epilogue::BiasMap(&self.bias, gelu_tanh_inplace));
                true
            }
            LinearWeight::F32(w) => {
                matmul_packed(x, rows, w, out, Epilogue::Bias(&self.bias));
                false
            }
            LinearWeight::Int8(q) => {
                if self.bias.is_empty() {
                    out.fill(0.0);
                } else {
                    out.chunks_exact_mut(self.out_features).for_each(|r| r.copy_from_slice(&self.bias));
                }
                matmul_q8_wt(x, rows, q, out);
                false
            }
        };
        if gelu && !fused {
            par_rows(out, self.out_features, |_, r| gelu_tanh_inplace(r));
        }
    }

    /// Moves the weight to int8 blocks; keeps f32 when `in_features` is not a multiple of 32 (or a
    /// weight is not finite).
    pub(crate) fn quantize(&mut self) {
        if let LinearWeight::F32(w) = &self.weight {
            if let Some(q) = Q8Matrix::quantize(&w.unpack(), w.n, w.k) {
                self.weight = LinearWeight::Int8(q);
            }
        }
    }

    /// Bytes held by the weight and bias.
    pub(crate) fn bytes(&self) -> usize {
        let weight = match &self.weight {
            LinearWeight::F32(w) => w.bytes(),
            LinearWeight::Int8(q) => q.bytes(),
        };
        weight + 4 * self.bias.len()
    }

    pub(crate) fn forward_vec(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = vec![0.0; rows * self.out_features];
        self.forward(x, rows, &mut out);
        out
    }
}
