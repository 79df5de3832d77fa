//! The one error type of every decoder in [`crate::arrow_io`].

/// A boxed error from a message's own check (e.g. [`crate::VehicleControl::validate`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Error decoding a message from its Arrow or metadata form: names the message (`action`, `frame`, …),
/// the field (or metadata parameter; `<root>` for the array itself, `<payload>` for a raw payload) and
/// what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The field is absent.
    #[error("{message}: field `{field}` missing")]
    Missing { message: &'static str, field: String },
    /// The field is present but of the wrong type, shape, length or range; `expected` says what was
    /// expected and, where known, what was found.
    #[error("{message}: field `{field}`: expected {expected}")]
    Unexpected { message: &'static str, field: String, expected: String },
    /// The field decoded, but its value fails the message's own check.
    #[error("{message}: field `{field}`: {source}")]
    Invalid {
        message: &'static str,
        field: String,
        #[source]
        source: BoxError,
    },
}

impl DecodeError {
    /// The message being decoded.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Missing { message, .. } | Self::Unexpected { message, .. } | Self::Invalid { message, .. } => message,
        }
    }

    /// The field at fault.
    pub fn field(&self) -> &str {
        match self {
            Self::Missing { field, .. } | Self::Unexpected { field, .. } | Self::Invalid { field, .. } => field,
        }
    }
}

/// [`DecodeError::Unexpected`].
pub(crate) fn unexpected(message: &'static str, field: &str, expected: impl Into<String>) -> DecodeError {
    DecodeError::Unexpected { message, field: field.to_owned(), expected: expected.into() }
}

/// [`DecodeError::Missing`].
pub(crate) fn missing(message: &'static str, field: &str) -> DecodeError {
    DecodeError::Missing { message, field: field.to_owned() }
}

/// [`DecodeError::Invalid`].
pub(crate) fn invalid(message: &'static str, field: &str, source: impl Into<BoxError>) -> DecodeError {
    DecodeError::Invalid { message, field: field.to_owned(), source: source.into() }
}
