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
    /// A Gaussian set that breaks its invariants.
    #[error("invalid Gaussians: {0}")]
    InvalidGaussians(#[from] worldflow_protocol::GaussiansError),
    /// A camera that cannot be rendered from.
    #[error("invalid camera: {0}")]
    InvalidCamera(#[from] worldflow_protocol::GeometryError),
    /// Input that cannot be rendered (inconsistent point/colour counts, bad render options, too many Gaussians).
    #[error("invalid {what}: {message}")]
    InvalidInput { what: &'static str, message: String },
}

impl SplatError {
    pub(crate) fn format(path: &str, message: impl Into<String>) -> Self {
        SplatError::Format { path: path.to_owned(), message: message.into() }
    }
}
