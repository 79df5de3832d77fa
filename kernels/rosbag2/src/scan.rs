//! The reading of one `.mcap` file front to back: the records of the data section (Schemas, Channels,
//! Messages, Chunks and what they hold), DataEnd, then the summary (skipped, but hashed), the Footer and the
//! closing magic. A file that ends at a record boundary before DataEnd is an unfinished one: what it holds is
//! read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::bag::{Bag, BagMessage, BagTopic};
use crate::mcap_read::{format_error, Fields, McapSource, RawRecord};
use crate::records::{op, op_name, FOOTER_CONTENT_LEN, MAGIC, MESSAGE_ENCODING_CDR, RECORD_PREFIX_LEN};
use crate::Rosbag2Error;

/// A channel of the file being read.
struct Channel {
    topic: String,
    /// Index in `Bag::topics`.
    topic_index: usize,
    keep: bool,
}

/// The reading of one file.
pub(crate) struct FileScan<'a, K: Fn(&str) -> bool> {
    src: McapSource,
    keep: &'a K,
    bag: &'a mut Bag,
    /// Schema id → type name.
    schemas: HashMap<u16, String>,
    channels: HashMap<u16, Channel>,
}

impl<'a, K: Fn(&str) -> bool> FileScan<'a, K> {
    pub(crate) fn new(path: &Path, keep: &'a K, bag: &'a mut Bag) -> Result<Self, Rosbag2Error> {
        Ok(Self { src: McapSource::open(path)?, keep, bag, schemas: HashMap::new(), channels: HashMap::new() })
    }

    fn path(&self) -> PathBuf {
        self.src.path().to_owned()
    }

    pub(crate) fn run(mut self) -> Result<(), Rosbag2Error> {
        self.magic("opening")?;
        if self.src.remaining() == 0 {
            return Err(format_error(&self.path(), 8, "the file ends after the magic: expected a Header".to_owned()));
        }
        let header = self.src.record()?;
        if header.opcode != op::HEADER {
            let what = format!("expected a Header record first, found {}", op_name(header.opcode));
            return Err(format_error(&self.path(), header.offset, what));
        }
        // The data section, up to DataEnd (or the end of an unfinished file).
        loop {
            if self.src.remaining() == 0 {
                return Ok(()); // an unfinished file: every complete record has been read
            }
            let crc_before = self.src.crc().finalize();
            let record = self.src.record()?;
            match record.opcode {
                op::SCHEMA | op::CHANNEL | op::MESSAGE => {
                    self.data_record(record.opcode, &record.content, record.offset + RECORD_PREFIX_LEN)?
                }
                op::CHUNK => self.chunk(&record)?,
                op::DATA_END => {
                    self.data_end(&record, crc_before)?;
                    break;
                }
                op::HEADER | op::FOOTER => {
                    let what = format!(
                        "unexpected {} record in the data section (expected DataEnd first)",
                        op_name(record.opcode)
                    );
                    return Err(format_error(&self.path(), record.offset, what));
                }
                _ => {} // indexes, attachments, metadata: not needed
            }
        }
        self.summary_and_footer()
    }

    fn magic(&mut self, which: &str) -> Result<(), Rosbag2Error> {
        let at = self.src.offset();
        let found = self.src.read(MAGIC.len() as u64, &|| format!("the {which} magic"))?;
        if found != MAGIC {
            let hex: Vec<String> = found.iter().map(|b| format!("{b:02X}")).collect();
            let what = format!("bad {which} magic {}: expected 89 4D 43 41 50 30 0D 0A (an MCAP file)", hex.join(" "));
            return Err(format_error(&self.path(), at, what));
        }
        Ok(())
    }

    fn data_end(&self, record: &RawRecord, crc_before: u32) -> Result<(), Rosbag2Error> {
        let path = self.path();
        let mut f = Fields::new(&path, op::DATA_END, &record.content, record.offset + RECORD_PREFIX_LEN);
        let stored = f.u32("data_section_crc")?;
        if stored != 0 && stored != crc_before {
            let what = format!(
                "bad data-section CRC: DataEnd says 0x{stored:08x}, the bytes before it hash to 0x{crc_before:08x}"
            );
            return Err(format_error(&path, record.offset, what));
        }
        Ok(())
    }

    /// After DataEnd: the summary (indexes of what was read: skipped), then the Footer and the closing magic.
    fn summary_and_footer(&mut self) -> Result<(), Rosbag2Error> {
        let summary_start = self.src.offset();
        let mut summary_crc = crc32fast::Hasher::new();
        loop {
            if self.src.remaining() == 0 {
                let what = "the file ends before the Footer (truncated summary section)".to_owned();
                return Err(format_error(&self.path(), self.src.offset(), what));
            }
            let record = self.src.record()?;
            if record.opcode != op::FOOTER {
                summary_crc.update(&[record.opcode]);
                summary_crc.update(&(record.content.len() as u64).to_le_bytes());
                summary_crc.update(&record.content);
                continue;
            }
            let path = self.path();
            let mut f = Fields::new(&path, op::FOOTER, &record.content, record.offset + RECORD_PREFIX_LEN);
            let stated_start = f.u64("summary_start")?;
            let _summary_offset_start = f.u64("summary_offset_start")?;
            let stored_crc = f.u32("summary_crc")?;
            if stated_start != 0 && stated_start != summary_start {
                let what =
                    format!("Footer summary_start is {stated_start}, expected {summary_start} (right after DataEnd)");
                return Err(format_error(&path, record.offset, what));
            }
            if stated_start != 0 && stored_crc != 0 {
                summary_crc.update(&[op::FOOTER]);
                summary_crc.update(&FOOTER_CONTENT_LEN.to_le_bytes());
                summary_crc.update(&record.content[..16]);
                let computed = summary_crc.finalize();
                if computed != stored_crc {
                    let what = format!(
                        "bad summary CRC: the Footer says 0x{stored_crc:08x}, the summary hashes to 0x{computed:08x}"
                    );
                    return Err(format_error(&path, record.offset, what));
                }
            }
            self.magic("closing")?;
            if self.src.remaining() > 0 {
                let what =
                    format!("{} bytes follow the closing magic: expected the end of the file", self.src.remaining());
                return Err(format_error(&path, self.src.offset(), what));
            }
            return Ok(());
        }
    }

    /// A Chunk: checked, then its records read as if they were in the data section.
    fn chunk(&mut self, record: &RawRecord) -> Result<(), Rosbag2Error> {
        let path = self.path();
        let mut f = Fields::new(&path, op::CHUNK, &record.content, record.offset + RECORD_PREFIX_LEN);
        let _message_start_time = f.u64("message_start_time")?;
        let _message_end_time = f.u64("message_end_time")?;
        let uncompressed_size = f.u64("uncompressed_size")?;
        let stored_crc = f.u32("uncompressed_crc")?;
        let compression = f.string("compression")?;
        if !compression.is_empty() {
            return Err(Rosbag2Error::CompressedChunk { path, offset: record.offset, compression });
        }
        let records_offset = f.offset() + 8;
        let records = f.long_bytes("records")?;
        if records.len() as u64 != uncompressed_size {
            let what = format!(
                "uncompressed_size is {uncompressed_size} but the (uncompressed) records are {} bytes",
                records.len()
            );
            return Err(format_error(&path, record.offset, format!("Chunk record: {what}")));
        }
        if stored_crc != 0 {
            let computed = crc32fast::hash(records);
            if computed != stored_crc {
                let what =
                    format!("bad chunk CRC: the Chunk says 0x{stored_crc:08x}, its records hash to 0x{computed:08x}");
                return Err(format_error(&path, record.offset, what));
            }
        }
        let mut at = 0usize;
        while at < records.len() {
            let offset = records_offset + at as u64;
            let left = records.len() - at;
            if left < RECORD_PREFIX_LEN as usize {
                let what =
                    format!("truncated record inside the chunk: {left} bytes left, expected an opcode and a length");
                return Err(format_error(&path, offset, what));
            }
            let opcode = records[at];
            let mut len_bytes = [0u8; 8];
            len_bytes.copy_from_slice(&records[at + 1..at + 9]);
            let len = u64::from_le_bytes(len_bytes);
            if len > (left - 9) as u64 {
                let what = format!(
                    "truncated {} record inside the chunk: its length is {len} bytes, the chunk has {} left",
                    op_name(opcode),
                    left - 9
                );
                return Err(format_error(&path, offset, what));
            }
            let content = &records[at + 9..at + 9 + len as usize];
            match opcode {
                op::SCHEMA | op::CHANNEL | op::MESSAGE => {
                    self.data_record(opcode, content, offset + RECORD_PREFIX_LEN)?
                }
                _ => {
                    let what = format!(
                        "a {} record inside a chunk: expected only Schema, Channel and Message records",
                        op_name(opcode)
                    );
                    return Err(format_error(&path, offset, what));
                }
            }
            at += 9 + len as usize;
        }
        Ok(())
    }

    /// A Schema, Channel or Message record whose content starts at file offset `base`.
    fn data_record(&mut self, opcode: u8, content: &[u8], base: u64) -> Result<(), Rosbag2Error> {
        let path = self.path();
        let mut f = Fields::new(&path, opcode, content, base);
        match opcode {
            op::SCHEMA => {
                let id = f.u16("id")?;
                let name = f.string("name")?;
                if id == 0 {
                    return Err(f.error("id 0 is reserved (no schema): expected an id from 1".to_owned()));
                }
                match self.schemas.get(&id) {
                    Some(known) if *known != name => {
                        Err(f.error(format!("schema id {id} was `{known}` and is redefined as `{name}`")))
                    }
                    _ => {
                        self.schemas.insert(id, name);
                        Ok(())
                    }
                }
            }
            op::CHANNEL => self.channel(&mut f),
            _ => {
                let channel_id = f.u16("channel_id")?;
                let _sequence = f.u32("sequence")?;
                let log_time_ns = f.u64("log_time")?;
                let _publish_time = f.u64("publish_time")?;
                let Some(channel) = self.channels.get(&channel_id) else {
                    return Err(format_error(
                        &path,
                        base,
                        format!(
                            "Message record: unknown channel id {channel_id} (no Channel record before it defines it)"
                        ),
                    ));
                };
                let topic = &mut self.bag.topics[channel.topic_index];
                topic.message_count += 1;
                if channel.keep {
                    self.bag.messages.push(BagMessage {
                        topic: channel.topic.clone(),
                        type_name: topic.type_name.clone(),
                        log_time_ns,
                        cdr: f.rest().to_vec(),
                    });
                }
                Ok(())
            }
        }
    }

    fn channel(&mut self, f: &mut Fields<'_>) -> Result<(), Rosbag2Error> {
        let id = f.u16("id")?;
        let schema_id = f.u16("schema_id")?;
        let topic = f.string("topic")?;
        let encoding = f.string("message_encoding")?;
        let _metadata = f.string_map("metadata")?;
        if encoding != MESSAGE_ENCODING_CDR {
            return Err(f.error(format!("topic {topic} has message encoding `{encoding}`: expected `cdr` (ROS 2)")));
        }
        let Some(type_name) = self.schemas.get(&schema_id) else {
            return Err(f.error(format!(
                "topic {topic} refers to schema id {schema_id}, which no Schema record before it defines \
                 (a rosbag2 channel has a ros2msg schema)"
            )));
        };
        if let Some(known) = self.channels.get(&id) {
            if known.topic != topic {
                return Err(f.error(format!("channel id {id} was topic {} and is redefined as {topic}", known.topic)));
            }
            return Ok(());
        }
        let topic_index = match self.bag.topics.iter().position(|t| t.name == topic) {
            Some(i) if self.bag.topics[i].type_name != *type_name => {
                return Err(f.error(format!(
                    "topic {topic} has type {type_name} here and {} in an earlier file or channel",
                    self.bag.topics[i].type_name
                )));
            }
            Some(i) => i,
            None => {
                self.bag.topics.push(BagTopic { name: topic.clone(), type_name: type_name.clone(), message_count: 0 });
                self.bag.topics.len() - 1
            }
        };
        let keep = (self.keep)(&topic);
        self.channels.insert(id, Channel { topic, topic_index, keep });
        Ok(())
    }
}
