//! Errors of the VAE crate. Every variant names the file, tensor or field at fault.

use std::path::PathBuf;

/// One problem found while matching a checkpoint against the architecture.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightProblem {
    /// The architecture needs this tensor and the checkpoint lacks it.
    Missing { name: String, expected: Vec<usize> },
    /// The checkpoint has a tensor the architecture does not use.
    Unexpected { name: String, shape: Vec<usize> },
    /// Present with the wrong shape.
    MisShaped { name: String, expected: Vec<usize>, found: Vec<usize> },
    /// Present with a dtype we cannot read (only F32, F16, BF16 are read).
    BadDtype { name: String, dtype: String },
    /// Present with non-finite values.
    NonFinite { name: String },
}

impl std::fmt::Display for WeightProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { name, expected } => write!(f, "missing tensor `{name}` (expected shape {expected:?})"),
            Self::Unexpected { name, shape } => write!(f, "unexpected tensor `{name}` (shape {shape:?})"),
            Self::MisShaped { name, expected, found } => {
                write!(f, "tensor `{name}` has shape {found:?}, expected {expected:?}")
            }
            Self::BadDtype { name, dtype } => write!(f, "tensor `{name}` has dtype {dtype}, expected F32/F16/BF16"),
            Self::NonFinite { name } => write!(f, "tensor `{name}` contains NaN or infinite values"),
        }
    }
}

/// Errors of the VAE decoder.
#[derive(Debug, thiserror::Error)]
pub enum VaeError {
    #[error("config field `{field}`: {message}")]
    Config { field: String, message: String },
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path}: safetensors: {source}")]
    Safetensors { path: String, source: safetensors::SafeTensorError },
    #[error("{path}: invalid JSON config: {source}")]
    ConfigJson { path: String, source: serde_json::Error },
    #[error("weights {source_name} do not match the architecture ({} problems):\n  {}",
        problems.len(), problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
    Weights { source_name: String, problems: Vec<WeightProblem> },
    #[error("input `{name}`: {message}")]
    Input { name: String, message: String },
}

pub type Result<T> = std::result::Result<T, VaeError>;

pub(crate) fn input_err(name: &str, message: impl Into<String>) -> VaeError {
    VaeError::Input { name: name.to_owned(), message: message.into() }
}
