//! Encoders of the MCAP records the writer emits, each appended to a byte buffer as
//! `opcode, u64 content length, content` (field order and widths as in the MCAP spec).
//!
//! Strings and maps carry a `u32` length: the writer keeps every string it is given far below 4 GiB
//! (checked where the values come in), so the lengths here always fit.

use std::collections::BTreeMap;

use crate::records::op;

/// A `u32` length prefix (callers keep lengths below 4 GiB; a larger one would saturate, never wrap).
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn put_u16(out: &mut Vec<u8>, x: u16) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, len_u32(s.len()));
    out.extend_from_slice(s.as_bytes());
}

/// A `Map<string, string>`: `u32` byte length, then `key, value` strings (in key order).
fn put_string_map(out: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    let len: usize = map.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    put_u32(out, len_u32(len));
    for (k, v) in map {
        put_str(out, k);
        put_str(out, v);
    }
}

/// Appends one record: its opcode, the content length (patched in once the content is written), the content.
fn record(out: &mut Vec<u8>, opcode: u8, content: impl FnOnce(&mut Vec<u8>)) {
    out.push(opcode);
    let len_at = out.len();
    put_u64(out, 0);
    content(out);
    let len = (out.len() - len_at - 8) as u64;
    out[len_at..len_at + 8].copy_from_slice(&len.to_le_bytes());
}

/// Header: `profile`, `library`.
pub(crate) fn header(out: &mut Vec<u8>, profile: &str, library: &str) {
    record(out, op::HEADER, |o| {
        put_str(o, profile);
        put_str(o, library);
    });
}

/// A schema, as written in the data and summary sections.
pub(crate) struct SchemaRecord {
    /// 1-based (0 means "no schema").
    pub(crate) id: u16,
    /// The ROS type name, `pkg/msg/Type`.
    pub(crate) name: String,
    /// `ros2msg`.
    pub(crate) encoding: &'static str,
    /// The `ros2msg` definition text.
    pub(crate) data: String,
}

/// Schema: `id: u16, name, encoding, data: Bytes`.
pub(crate) fn schema(out: &mut Vec<u8>, s: &SchemaRecord) {
    record(out, op::SCHEMA, |o| {
        put_u16(o, s.id);
        put_str(o, &s.name);
        put_str(o, s.encoding);
        put_str(o, &s.data);
    });
}

/// A channel (one topic), as written in the data and summary sections.
pub(crate) struct ChannelRecord {
    /// 1-based channel id (also the writer's `TopicId`).
    pub(crate) id: u16,
    pub(crate) schema_id: u16,
    pub(crate) topic: String,
    /// `cdr`.
    pub(crate) message_encoding: &'static str,
    /// rosbag2's keys: `offered_qos_profiles`, `topic_type_hash`.
    pub(crate) metadata: BTreeMap<String, String>,
}

/// Channel: `id: u16, schema_id: u16, topic, message_encoding, metadata: Map<string, string>`.
pub(crate) fn channel(out: &mut Vec<u8>, c: &ChannelRecord) {
    record(out, op::CHANNEL, |o| {
        put_u16(o, c.id);
        put_u16(o, c.schema_id);
        put_str(o, &c.topic);
        put_str(o, c.message_encoding);
        put_string_map(o, &c.metadata);
    });
}

/// Message: `channel_id: u16, sequence: u32, log_time: u64, publish_time: u64, data` (the rest).
pub(crate) fn message(out: &mut Vec<u8>, channel_id: u16, sequence: u32, log_time_ns: u64, data: &[u8]) {
    record(out, op::MESSAGE, |o| {
        put_u16(o, channel_id);
        put_u32(o, sequence);
        put_u64(o, log_time_ns);
        put_u64(o, log_time_ns); // publish_time = log_time
        o.extend_from_slice(data);
    });
}

/// The time range of a chunk's messages, ns (both 0 for a chunk without messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
}

/// Chunk: `message_start_time, message_end_time, uncompressed_size: u64, uncompressed_crc: u32,
/// compression: String (empty: none), records: u64-length Bytes`.
pub(crate) fn chunk(out: &mut Vec<u8>, times: TimeRange, records: &[u8], crc: u32) {
    record(out, op::CHUNK, |o| {
        put_u64(o, times.start_ns);
        put_u64(o, times.end_ns);
        put_u64(o, records.len() as u64);
        put_u32(o, crc);
        put_str(o, "");
        put_u64(o, records.len() as u64);
        o.extend_from_slice(records);
    });
}

/// MessageIndex: `channel_id: u16, records: Array<(log_time: u64, offset: u64)>` (offsets into the chunk's
/// uncompressed records, in log-time order).
pub(crate) fn message_index(out: &mut Vec<u8>, channel_id: u16, entries: &[(u64, u64)]) {
    record(out, op::MESSAGE_INDEX, |o| {
        put_u16(o, channel_id);
        put_u32(o, len_u32(entries.len() * 16));
        for &(log_time_ns, offset) in entries {
            put_u64(o, log_time_ns);
            put_u64(o, offset);
        }
    });
}

/// Where a chunk and its message indexes are, for the summary's ChunkIndex record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkIndexRecord {
    pub(crate) times: TimeRange,
    /// File offset of the Chunk record.
    pub(crate) chunk_start_offset: u64,
    /// Length of the Chunk record, opcode and length prefix included.
    pub(crate) chunk_length: u64,
    /// Channel id → file offset of its MessageIndex record after the chunk.
    pub(crate) message_index_offsets: BTreeMap<u16, u64>,
    /// Length of all the chunk's MessageIndex records together.
    pub(crate) message_index_length: u64,
    /// The chunk's records, bytes (stored uncompressed: compressed size = uncompressed size).
    pub(crate) records_size: u64,
}

/// ChunkIndex: `message_start_time, message_end_time, chunk_start_offset, chunk_length: u64,
/// message_index_offsets: Map<u16, u64>, message_index_length: u64, compression, compressed_size,
/// uncompressed_size: u64`.
pub(crate) fn chunk_index(out: &mut Vec<u8>, c: &ChunkIndexRecord) {
    record(out, op::CHUNK_INDEX, |o| {
        put_u64(o, c.times.start_ns);
        put_u64(o, c.times.end_ns);
        put_u64(o, c.chunk_start_offset);
        put_u64(o, c.chunk_length);
        put_u32(o, len_u32(c.message_index_offsets.len() * 10));
        for (&channel_id, &offset) in &c.message_index_offsets {
            put_u16(o, channel_id);
            put_u64(o, offset);
        }
        put_u64(o, c.message_index_length);
        put_str(o, "");
        put_u64(o, c.records_size);
        put_u64(o, c.records_size);
    });
}

/// The counts of the summary's Statistics record.
pub(crate) struct StatisticsRecord {
    pub(crate) message_count: u64,
    pub(crate) schema_count: u16,
    pub(crate) channel_count: u32,
    pub(crate) metadata_count: u32,
    pub(crate) chunk_count: u32,
    pub(crate) times: TimeRange,
    /// Channel id → messages (every channel, zero counts included).
    pub(crate) channel_message_counts: BTreeMap<u16, u64>,
}

/// Statistics: `message_count: u64, schema_count: u16, channel_count, attachment_count, metadata_count,
/// chunk_count: u32, message_start_time, message_end_time: u64, channel_message_counts: Map<u16, u64>`.
pub(crate) fn statistics(out: &mut Vec<u8>, s: &StatisticsRecord) {
    record(out, op::STATISTICS, |o| {
        put_u64(o, s.message_count);
        put_u16(o, s.schema_count);
        put_u32(o, s.channel_count);
        put_u32(o, 0); // attachments
        put_u32(o, s.metadata_count);
        put_u32(o, s.chunk_count);
        put_u64(o, s.times.start_ns);
        put_u64(o, s.times.end_ns);
        put_u32(o, len_u32(s.channel_message_counts.len() * 10));
        for (&channel_id, &count) in &s.channel_message_counts {
            put_u16(o, channel_id);
            put_u64(o, count);
        }
    });
}

/// Metadata: `name, metadata: Map<string, string>`.
pub(crate) fn metadata(out: &mut Vec<u8>, name: &str, map: &BTreeMap<String, String>) {
    record(out, op::METADATA, |o| {
        put_str(o, name);
        put_string_map(o, map);
    });
}

/// MetadataIndex: `offset, length: u64` (of the Metadata record, prefix included), `name`.
pub(crate) fn metadata_index(out: &mut Vec<u8>, offset: u64, length: u64, name: &str) {
    record(out, op::METADATA_INDEX, |o| {
        put_u64(o, offset);
        put_u64(o, length);
        put_str(o, name);
    });
}

/// SummaryOffset: `group_opcode: u8, group_start, group_length: u64` (one per group of summary records).
pub(crate) fn summary_offset(out: &mut Vec<u8>, group_opcode: u8, group_start: u64, group_length: u64) {
    record(out, op::SUMMARY_OFFSET, |o| {
        o.push(group_opcode);
        put_u64(o, group_start);
        put_u64(o, group_length);
    });
}

/// DataEnd: `data_section_crc: u32` (CRC-32 of every byte before this record, the leading magic included).
pub(crate) fn data_end(out: &mut Vec<u8>, data_section_crc: u32) {
    record(out, op::DATA_END, |o| put_u32(o, data_section_crc));
}

/// The Footer up to (not including) its CRC: opcode, length 20, `summary_start`, `summary_offset_start`.
/// The summary CRC covers the summary sections and these bytes; [`footer_crc`] appends it.
pub(crate) fn footer_without_crc(out: &mut Vec<u8>, summary_start: u64, summary_offset_start: u64) {
    out.push(op::FOOTER);
    put_u64(out, crate::records::FOOTER_CONTENT_LEN);
    put_u64(out, summary_start);
    put_u64(out, summary_offset_start);
}

/// The Footer's last field, `summary_crc: u32`.
pub(crate) fn footer_crc(out: &mut Vec<u8>, summary_crc: u32) {
    put_u32(out, summary_crc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_opcode_length_content() {
        let mut out = Vec::new();
        header(&mut out, "ros2", "x");
        #[rustfmt::skip]
        let want = [
            op::HEADER, 13, 0, 0, 0, 0, 0, 0, 0,
            4, 0, 0, 0, b'r', b'o', b's', b'2',
            1, 0, 0, 0, b'x',
        ];
        assert_eq!(out, want);

        let mut out = Vec::new();
        message(&mut out, 0x0102, 7, 0x1122, &[0xaa, 0xbb]);
        assert_eq!(out[0], op::MESSAGE);
        assert_eq!(u64::from_le_bytes(out[1..9].try_into().unwrap()), 2 + 4 + 8 + 8 + 2);
        assert_eq!(&out[9..11], [0x02, 0x01]);
        assert_eq!(&out[11..15], 7u32.to_le_bytes());
        assert_eq!(&out[15..23], 0x1122u64.to_le_bytes());
        assert_eq!(&out[23..31], 0x1122u64.to_le_bytes(), "publish_time = log_time");
        assert_eq!(&out[31..], [0xaa, 0xbb]);
    }

    #[test]
    fn maps_carry_their_byte_length() {
        let mut out = Vec::new();
        let map = BTreeMap::from([("k".to_owned(), "vv".to_owned())]);
        put_string_map(&mut out, &map);
        assert_eq!(out, [11, 0, 0, 0, 1, 0, 0, 0, b'k', 2, 0, 0, 0, b'v', b'v']);
    }
}
