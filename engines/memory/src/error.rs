//! Errors of the memory retriever; each names the pose or field at fault.

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MemoryError {
    #[error("config field `{field}`: {message}")]
    Config { field: String, message: String },
    #[error(transparent)]
    Pose(#[from] worldflow_protocol::geometry::GeometryError),
    #[error("query: {0}")]
    Query(String),
}

pub type Result<T> = std::result::Result<T, MemoryError>;
