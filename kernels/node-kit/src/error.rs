//! The settings error: every message names the setting (and its value, when it has one).

/// A boxed error that can cross threads: what a parser's or loader's error becomes as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a setting could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    /// The value does not parse, or is out of range.
    #[error("setting {name}=`{value}`: expected {expected}")]
    Invalid {
        name: String,
        value: String,
        /// What a valid value looks like (`a non-negative integer`, `1..179 degrees`).
        expected: String,
        /// The parser's own error, when it has one.
        #[source]
        source: Option<BoxError>,
    },
    /// The value names a file that does not exist.
    #[error("setting {name}=`{value}`: no such file (expected {expected})")]
    NoSuchFile { name: String, value: String, expected: String },
    /// The value parsed, but what it names could not be used (a config file that does not load, …).
    #[error("setting {name}=`{value}`")]
    Rejected {
        name: String,
        value: String,
        #[source]
        source: BoxError,
    },
    /// A setting another setting needs is unset.
    #[error("setting {name} is unset: {why}")]
    Missing { name: String, why: String },
    /// The value is not valid Unicode.
    #[error("setting {name}: the value is not valid Unicode")]
    NotUnicode { name: String },
    /// The node read a name that is not in its declared settings: a bug in the node.
    #[error(
        "setting {name} is read but not declared in the node's SETTINGS (a bug: declare it there and in the launcher's catalogue)"
    )]
    Undeclared { name: String },
}

impl SettingError {
    /// An [`SettingError::Invalid`] without a source: for checks a node makes on a parsed value.
    pub fn invalid(name: &str, value: impl Into<String>, expected: impl Into<String>) -> Self {
        Self::Invalid { name: name.into(), value: value.into(), expected: expected.into(), source: None }
    }

    /// A [`SettingError::Rejected`]: the value's target failed to load for `source`.
    pub fn rejected(name: &str, value: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Rejected { name: name.into(), value: value.into(), source: source.into() }
    }

    /// The name of the setting the error is about.
    pub fn name(&self) -> &str {
        match self {
            Self::Invalid { name, .. }
            | Self::NoSuchFile { name, .. }
            | Self::Rejected { name, .. }
            | Self::Missing { name, .. }
            | Self::NotUnicode { name }
            | Self::Undeclared { name } => name,
        }
    }
}
