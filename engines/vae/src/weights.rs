//! Weight sources: a safetensors checkpoint (upstream or diffusers key names), or seeded random weights.
//!
//! Loading never stops at the first problem: every missing, mis-shaped, badly typed or unexpected tensor
//! is collected and reported together in one [`VaeError::Weights`]. Keys of the encoder half of a full
//! `WanVAE_` checkpoint (`encoder.*`, `conv1.*`) are accepted and ignored.

use std::collections::BTreeSet;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Result, VaeError, WeightProblem};
use crate::rng::standard_normal;
use worldflow_base::SplitMix64;

/// Prefixes of checkpoint keys that belong to the encoder and are ignored by the decoder: `encoder.*`
/// and the quant conv (`conv1.*` upstream, `quant_conv.*` in diffusers; `post_quant_conv.*` is read).
const IGNORED_PREFIXES: [&str; 3] = ["encoder.", "conv1.", "quant_conv."];

enum Source<'a> {
    File { st: SafeTensors<'a>, used: BTreeSet<String> },
    Random { rng: SplitMix64, std: f64 },
}

pub(crate) struct WeightLoader<'a> {
    source: Source<'a>,
    source_name: String,
    problems: Vec<WeightProblem>,
}

impl<'a> WeightLoader<'a> {
    pub(crate) fn from_safetensors(bytes: &'a [u8], source_name: &str) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|source| VaeError::Safetensors { path: source_name.to_owned(), source })?;
        Ok(Self {
            source: Source::File { st, used: BTreeSet::new() },
            source_name: source_name.to_owned(),
            problems: vec![],
        })
    }

    /// Random weights: N(0, std²) for conv weights and biases, `1 + 0.1·N(0, 1)` for norm scales.
    pub(crate) fn random(seed: u64, std: f64) -> Self {
        Self {
            source: Source::Random { rng: SplitMix64::new(seed), std },
            source_name: format!("random(seed={seed})"),
            problems: vec![],
        }
    }

    /// Reads tensor `name` with exactly `shape`; on any problem records it and returns zeros so that
    /// loading continues and all problems are reported at once.
    pub(crate) fn get(&mut self, name: &str, shape: &[usize]) -> Vec<f32> {
        let numel: usize = shape.iter().product();
        match &mut self.source {
            Source::Random { rng, std } => {
                if name.ends_with(".gamma") {
                    (0..numel).map(|_| (1.0 + 0.1 * standard_normal(rng)) as f32).collect()
                } else {
                    let s = *std;
                    (0..numel).map(|_| (s * standard_normal(rng)) as f32).collect()
                }
            }
            Source::File { st, used } => {
                let view = match st.tensor(name) {
                    Ok(v) => v,
                    Err(_) => {
                        self.problems.push(WeightProblem::Missing { name: name.into(), expected: shape.to_vec() });
                        return vec![0.0; numel];
                    }
                };
                used.insert(name.to_owned());
                if view.shape() != shape {
                    self.problems.push(WeightProblem::MisShaped {
                        name: name.into(),
                        expected: shape.to_vec(),
                        found: view.shape().to_vec(),
                    });
                    return vec![0.0; numel];
                }
                let data = view.data();
                let values: Vec<f32> = match view.dtype() {
                    Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                    Dtype::F16 => {
                        data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
                    }
                    Dtype::BF16 => {
                        data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
                    }
                    other => {
                        self.problems.push(WeightProblem::BadDtype { name: name.into(), dtype: format!("{other:?}") });
                        return vec![0.0; numel];
                    }
                };
                if values.iter().any(|v| !v.is_finite()) {
                    self.problems.push(WeightProblem::NonFinite { name: name.into() });
                }
                values
            }
        }
    }

    /// Reports every collected problem, plus checkpoint tensors that nothing read.
    pub(crate) fn finish(mut self) -> Result<()> {
        if let Source::File { st, used } = &self.source {
            let mut names: Vec<&str> = st.names();
            names.sort_unstable();
            for name in names {
                if used.contains(name) || IGNORED_PREFIXES.iter().any(|p| name.starts_with(p)) {
                    continue;
                }
                let shape = st.tensor(name).map(|v| v.shape().to_vec()).unwrap_or_default();
                self.problems.push(WeightProblem::Unexpected { name: name.into(), shape });
            }
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(VaeError::Weights { source_name: self.source_name, problems: self.problems })
        }
    }
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| VaeError::Io { path: path.to_path_buf(), source })
}
