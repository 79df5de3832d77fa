//! The one error type of the crate: every variant names the file (or topic) and what was expected.

use std::path::PathBuf;

/// What went wrong writing or reading a bag.
#[derive(Debug, thiserror::Error)]
pub enum Rosbag2Error {
    /// A file-system operation failed.
    #[error("{}: cannot {doing}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, e.g. `write the chunk at byte 1234`.
        doing: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A path that cannot be a bag (or a bag file) here.
    #[error("{}: {expected}", path.display())]
    BadPath {
        /// The path given.
        path: PathBuf,
        /// What was expected of it.
        expected: &'static str,
    },
    /// The MCAP bytes are not what the format (or a rosbag2 bag) requires.
    #[error("{} at byte {offset}: {what}", path.display())]
    Format {
        /// The `.mcap` file.
        path: PathBuf,
        /// Byte offset from the start of the file where the problem is (the record or field).
        offset: u64,
        /// What was found and what was expected.
        what: String,
    },
    /// A chunk is compressed: only uncompressed chunks are read.
    #[error(
        "{} at byte {offset}: zstd/lz4 chunk compression is not supported (this chunk is `{compression}`); \
         decompress the bag first, e.g. `mcap compress --compression none` or `ros2 bag convert`",
        path.display()
    )]
    CompressedChunk {
        /// The `.mcap` file.
        path: PathBuf,
        /// Byte offset of the Chunk record.
        offset: u64,
        /// The chunk's compression, e.g. `zstd`.
        compression: String,
    },
    /// `metadata.yaml` is not a rosbag2 bag's metadata that this crate reads.
    #[error("{}: {what}", path.display())]
    Metadata {
        /// The `metadata.yaml` file.
        path: PathBuf,
        /// What was expected.
        what: String,
    },
    /// `metadata.yaml` is not YAML of the expected shape.
    #[error("{}: not a rosbag2 metadata file", path.display())]
    Yaml {
        /// The `metadata.yaml` file.
        path: PathBuf,
        /// The parser's error (line and column).
        #[source]
        source: serde_yaml::Error,
    },
    /// A topic cannot be added or written as asked.
    #[error("topic {topic}: {what}")]
    Topic {
        /// The topic name (or the topic id, when no topic has it).
        topic: String,
        /// What was expected.
        what: String,
    },
    /// An earlier write failed, so the file may end in a partial record; the writer accepts nothing more.
    #[error("{}: the writer failed earlier and accepts no more messages", path.display())]
    WriterFailed {
        /// The `.mcap` file.
        path: PathBuf,
    },
}
