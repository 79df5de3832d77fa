//! Errors of the DiT engine. Every variant names the file, tensor or field at fault.

use std::path::PathBuf;

/// Anything that can go wrong loading, validating or running a DiT.
#[derive(Debug, thiserror::Error)]
pub enum DitError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("parsing config {path}: {source}")]
    Config { path: PathBuf, source: serde_json::Error },
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    #[error("safetensors file {path}: {source}")]
    Safetensors { path: String, source: safetensors::SafeTensorError },
    #[error("safetensors file {path}: tensor `{name}`: data size does not match shape {shape:?}")]
    TensorSize { path: String, name: String, shape: Vec<usize> },
    #[error("tensor `{name}` in {path}: unsupported dtype {dtype} (expected F32, F16 or BF16)")]
    Dtype { path: String, name: String, dtype: String },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("weights do not match the config:\n{0}")]
    WeightMismatch(String),
    #[error("input `{name}`: {message}")]
    BadInput { name: String, message: String },
    /// A device backend failed (no driver, out of memory, a kernel error, …): the backend's own error,
    /// its message and cause chain unchanged.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// A weight format name that is neither `f32` nor `int8` ([`crate::WeightFormat`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("weight format `{given}`: expected `f32` or `int8`")]
pub struct ParseWeightFormatError {
    pub given: String,
}

pub type Result<T> = std::result::Result<T, DitError>;

pub(crate) fn bad_input(name: &str, message: impl Into<String>) -> DitError {
    DitError::BadInput { name: name.to_owned(), message: message.into() }
}
