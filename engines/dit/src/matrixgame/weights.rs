//! Taking the named tensors of a `CausalWanModel.state_dict()` (official key names, one safetensors
//! file, f32/f16/bf16 through the crate's reader) with every shape checked, and what is left over
//! reported, so a wrong checkpoint fails naming the key.

use crate::error::{DitError, Result};
use crate::linear::Linear;
use crate::tensor::TensorMap;

/// The tensors not taken yet, and where they came from (for errors).
pub(crate) struct Weights {
    tensors: TensorMap,
    origin: String,
}

fn mismatch(msg: String) -> DitError {
    DitError::WeightMismatch(msg)
}

impl Weights {
    pub(crate) fn new(tensors: TensorMap, origin: &str) -> Self {
        Weights { tensors, origin: origin.to_owned() }
    }

    /// The shape of `name`, without taking it.
    pub(crate) fn shape(&self, name: &str) -> Result<Vec<usize>> {
        self.tensors
            .get(name)
            .map(|t| t.shape.clone())
            .ok_or_else(|| mismatch(format!("{}: tensor `{name}` is missing", self.origin)))
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Takes `name`, which must have exactly `shape`.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| mismatch(format!("{}: tensor `{name}` is missing", self.origin)))?;
        if t.shape != shape {
            return Err(mismatch(format!(
                "{}: tensor `{name}` has shape {:?}, expected {shape:?}",
                self.origin, t.shape
            )));
        }
        Ok(t.data)
    }

    /// A Linear `{name}.weight` [out, in] with `{name}.bias` [out] when `bias` (its absence is an error
    /// then, and its presence one otherwise).
    pub(crate) fn linear(&mut self, name: &str, in_features: usize, out_features: usize, bias: bool) -> Result<Linear> {
        let w = self.take(&format!("{name}.weight"), &[out_features, in_features])?;
        let b = if bias {
            self.take(&format!("{name}.bias"), &[out_features])?
        } else {
            if self.has(&format!("{name}.bias")) {
                return Err(mismatch(format!("{}: `{name}.bias` present but the config says no bias", self.origin)));
            }
            Vec::new()
        };
        Ok(Linear::new(&w, b, in_features, out_features))
    }

    /// A LayerNorm's `{name}.weight`, `{name}.bias` [width].
    pub(crate) fn norm(&mut self, name: &str, width: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.take(&format!("{name}.weight"), &[width])?, self.take(&format!("{name}.bias"), &[width])?))
    }

    /// Drops `name` if present (parameters the official forward never reads).
    pub(crate) fn discard(&mut self, name: &str) {
        self.tensors.remove(name);
    }

    /// Fails when tensors were left over (a strict load, as `load_state_dict(strict=True)`).
    pub(crate) fn finish(self) -> Result<()> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.tensors.keys().map(String::as_str).take(8).collect();
        Err(mismatch(format!(
            "{}: {} tensors the config does not use, e.g. {}",
            self.origin,
            self.tensors.len(),
            names.join(", ")
        )))
    }
}
