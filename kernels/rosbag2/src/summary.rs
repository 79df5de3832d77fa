//! The end of a finished MCAP file, after DataEnd: the summary section (one group of records per opcode:
//! Schemas, Channels, Statistics, ChunkIndexes, MetadataIndex), the summary offset section (where each group
//! starts), the Footer with the CRC of both sections, and the closing magic.

use crate::mcap_write::{self, ChannelRecord, ChunkIndexRecord, SchemaRecord, StatisticsRecord};
use crate::records::{op, MAGIC};

/// What the summary indexes.
pub(crate) struct SummaryParts<'a> {
    pub(crate) schemas: &'a [SchemaRecord],
    pub(crate) channels: Vec<&'a ChannelRecord>,
    pub(crate) statistics: StatisticsRecord,
    pub(crate) chunk_indexes: &'a [ChunkIndexRecord],
    /// The encoded MetadataIndex records (empty: none).
    pub(crate) metadata_index: &'a [u8],
}

/// Encodes the summary, the summary offsets, the Footer and the magic, to be written at file offset
/// `summary_start` (right after DataEnd).
pub(crate) fn encode_summary(summary_start: u64, parts: &SummaryParts<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut groups = Vec::new();
    let mut group = |out: &mut Vec<u8>, opcode: u8, encode: &dyn Fn(&mut Vec<u8>)| {
        let start = out.len();
        encode(out);
        if out.len() > start {
            groups.push((opcode, summary_start + start as u64, (out.len() - start) as u64));
        }
    };
    group(&mut out, op::SCHEMA, &|o| parts.schemas.iter().for_each(|s| mcap_write::schema(o, s)));
    group(&mut out, op::CHANNEL, &|o| parts.channels.iter().for_each(|c| mcap_write::channel(o, c)));
    group(&mut out, op::STATISTICS, &|o| mcap_write::statistics(o, &parts.statistics));
    group(&mut out, op::CHUNK_INDEX, &|o| parts.chunk_indexes.iter().for_each(|c| mcap_write::chunk_index(o, c)));
    group(&mut out, op::METADATA_INDEX, &|o| o.extend_from_slice(parts.metadata_index));

    let summary_offset_start = summary_start + out.len() as u64;
    for (opcode, start, length) in groups {
        mcap_write::summary_offset(&mut out, opcode, start, length);
    }
    mcap_write::footer_without_crc(&mut out, summary_start, summary_offset_start);
    let summary_crc = crc32fast::hash(&out);
    mcap_write::footer_crc(&mut out, summary_crc);
    out.extend_from_slice(&MAGIC);
    out
}
