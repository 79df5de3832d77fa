//! The MCAP constants both the writer and the reader use (MCAP format version 0, <https://mcap.dev/spec>).
//!
//! An MCAP file is the magic, then records `opcode: u8, content_length: u64, content`, then the magic again.
//! All integers are little-endian; a `String` or `Bytes` field is a `u32` length then the bytes (the chunk's
//! records field has a `u64` length); a `Map` is a `u32` byte length then its key/value pairs.

/// The 8 bytes an MCAP file starts and ends with: `\x89MCAP0\r\n`.
pub(crate) const MAGIC: [u8; 8] = [0x89, b'M', b'C', b'A', b'P', b'0', b'\r', b'\n'];

/// Opcodes of the records worldflow writes or reads.
pub(crate) mod op {
    pub(crate) const HEADER: u8 = 0x01;
    pub(crate) const FOOTER: u8 = 0x02;
    pub(crate) const SCHEMA: u8 = 0x03;
    pub(crate) const CHANNEL: u8 = 0x04;
    pub(crate) const MESSAGE: u8 = 0x05;
    pub(crate) const CHUNK: u8 = 0x06;
    pub(crate) const MESSAGE_INDEX: u8 = 0x07;
    pub(crate) const CHUNK_INDEX: u8 = 0x08;
    pub(crate) const STATISTICS: u8 = 0x0B;
    pub(crate) const METADATA: u8 = 0x0C;
    pub(crate) const METADATA_INDEX: u8 = 0x0D;
    pub(crate) const SUMMARY_OFFSET: u8 = 0x0E;
    pub(crate) const DATA_END: u8 = 0x0F;
}

/// The name of an opcode, for error messages.
pub(crate) fn op_name(opcode: u8) -> &'static str {
    match opcode {
        op::HEADER => "Header",
        op::FOOTER => "Footer",
        op::SCHEMA => "Schema",
        op::CHANNEL => "Channel",
        op::MESSAGE => "Message",
        op::CHUNK => "Chunk",
        op::MESSAGE_INDEX => "MessageIndex",
        op::CHUNK_INDEX => "ChunkIndex",
        0x09 => "Attachment",
        0x0A => "AttachmentIndex",
        op::STATISTICS => "Statistics",
        op::METADATA => "Metadata",
        op::METADATA_INDEX => "MetadataIndex",
        op::SUMMARY_OFFSET => "SummaryOffset",
        op::DATA_END => "DataEnd",
        _ => "unknown",
    }
}

/// Bytes before a record's content: the opcode and the `u64` content length.
pub(crate) const RECORD_PREFIX_LEN: u64 = 9;

/// The content length of a Footer: `summary_start: u64, summary_offset_start: u64, summary_crc: u32`.
pub(crate) const FOOTER_CONTENT_LEN: u64 = 20;

/// The MCAP profile of a rosbag2 file (Header.profile).
pub(crate) const PROFILE_ROS2: &str = "ros2";
/// The schema encoding of ROS 2 `.msg` definitions.
pub(crate) const SCHEMA_ENCODING_ROS2MSG: &str = "ros2msg";
/// The message encoding of ROS 2 CDR payloads.
pub(crate) const MESSAGE_ENCODING_CDR: &str = "cdr";
/// The name of the Metadata record in which rosbag2 keeps the bag's metadata (as in `metadata.yaml`).
pub(crate) const ROSBAG2_METADATA_NAME: &str = "rosbag2";
