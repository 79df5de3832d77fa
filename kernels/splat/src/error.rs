//! The crate's error type. Every message names the file (or input) and the field, property or vertex.

#[derive(Debug, thiserror::Error)]
pub enum SplatError {
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: cannot write: {source}")]
    Write { path: String, source: std::io::Error },
    /// A malformed file; `message` says what was expected and what was found, and where.
    #[error("{path}: {message}")]
    Format { path: String, message: String },
    /// A `.npz` whose zip structure is malformed or unsupported; `what` names the entry at fault.
    #[error("{path}: {what}: {source}")]
    Zip { path: String, what: String, source: zip::result::ZipError },
    /// Input that cannot be rendered (inconsistent array lengths, invalid camera).
    #[error("invalid {what}: {message}")]
    InvalidInput { what: &'static str, message: String },
}

impl SplatError {
    pub(crate) fn format(path: &str, message: impl Into<String>) -> Self {
        SplatError::Format { path: path.to_owned(), message: message.into() }
    }
}
