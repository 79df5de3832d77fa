//! The chunk being filled: Message records in memory, with the per-channel message index the reader seeks
//! with. When full it is encoded as one Chunk record (uncompressed, with the CRC of its records) followed by
//! one MessageIndex record per channel it holds, and a ChunkIndex entry for the summary.

use std::collections::BTreeMap;

use crate::mcap_write::{self, ChunkIndexRecord, TimeRange};

/// Message records not yet written to the file.
#[derive(Default)]
pub(crate) struct PendingChunk {
    /// The chunk's records (Message records), as they will be stored.
    records: Vec<u8>,
    times: Option<TimeRange>,
    /// Channel id → `(log_time_ns, offset of the Message record in `records`)`.
    index: BTreeMap<u16, Vec<(u64, u64)>>,
}

impl PendingChunk {
    /// Appends a Message record.
    pub(crate) fn push_message(&mut self, channel_id: u16, sequence: u32, log_time_ns: u64, cdr: &[u8]) {
        let offset = self.records.len() as u64;
        mcap_write::message(&mut self.records, channel_id, sequence, log_time_ns, cdr);
        self.index.entry(channel_id).or_default().push((log_time_ns, offset));
        self.times = Some(match self.times {
            None => TimeRange { start_ns: log_time_ns, end_ns: log_time_ns },
            Some(t) => TimeRange { start_ns: t.start_ns.min(log_time_ns), end_ns: t.end_ns.max(log_time_ns) },
        });
    }

    /// Bytes of records so far.
    pub(crate) fn len_bytes(&self) -> usize {
        self.records.len()
    }

    /// Whether no message is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Encodes the Chunk record and its MessageIndex records into `out`, which will be written at file offset
    /// `file_offset`; returns the chunk's summary entry and leaves the chunk empty.
    pub(crate) fn take_encoded(&mut self, file_offset: u64, out: &mut Vec<u8>) -> ChunkIndexRecord {
        let pending = std::mem::take(self);
        let times = pending.times.unwrap_or(TimeRange { start_ns: 0, end_ns: 0 });
        let crc = crc32fast::hash(&pending.records);
        let start = out.len();
        mcap_write::chunk(out, times, &pending.records, crc);
        let chunk_length = (out.len() - start) as u64;
        let mut message_index_offsets = BTreeMap::new();
        for (channel_id, mut entries) in pending.index {
            // Sorted by log time (stable: equal times keep their order in the chunk).
            entries.sort_by_key(|&(log_time_ns, _)| log_time_ns);
            message_index_offsets.insert(channel_id, file_offset + (out.len() - start) as u64);
            mcap_write::message_index(out, channel_id, &entries);
        }
        ChunkIndexRecord {
            times,
            chunk_start_offset: file_offset,
            chunk_length,
            message_index_offsets,
            message_index_length: (out.len() - start) as u64 - chunk_length,
            records_size: pending.records.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::RECORD_PREFIX_LEN;

    /// Bytes of a Chunk record before its records: prefix, 3 × u64, u32, empty compression string, u64.
    const CHUNK_HEADER_LEN: u64 = RECORD_PREFIX_LEN + 8 + 8 + 8 + 4 + 4 + 8;

    #[test]
    fn chunk_index_points_at_the_chunk_and_its_message_indexes() {
        let mut chunk = PendingChunk::default();
        chunk.push_message(2, 0, 50, &[1, 2, 3]);
        chunk.push_message(1, 0, 40, &[4]);
        chunk.push_message(2, 1, 30, &[5, 6]);
        assert!(!chunk.is_empty());
        let records_len = chunk.len_bytes() as u64;
        let mut out = vec![0xee; 10]; // bytes already in the buffer before the chunk
        let index = chunk.take_encoded(1000, &mut out);
        assert!(chunk.is_empty());
        assert_eq!(index.times, TimeRange { start_ns: 30, end_ns: 50 });
        assert_eq!(index.chunk_start_offset, 1000);
        assert_eq!(index.chunk_length, CHUNK_HEADER_LEN + records_len);
        assert_eq!(index.records_size, records_len);
        // One MessageIndex per channel, in channel order, right after the chunk.
        let first = 1000 + index.chunk_length;
        assert_eq!(index.message_index_offsets, BTreeMap::from([(1, first), (2, first + 9 + 2 + 4 + 16)]));
        assert_eq!(index.message_index_length, (9 + 2 + 4 + 16) + (9 + 2 + 4 + 32));
        assert_eq!(out.len() as u64, 10 + index.chunk_length + index.message_index_length);
        // Channel 2's entries are sorted by log time: (30, offset of its 2nd message) first.
        let at = (10 + index.chunk_length + 31 + 15) as usize;
        assert_eq!(u64::from_le_bytes(out[at..at + 8].try_into().unwrap()), 30);
    }
}
