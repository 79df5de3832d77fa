//! [`Rosbag2Writer`]: a rosbag2 bag directory with one chunked, indexed MCAP file and `metadata.yaml`, laid out
//! as ROS 2 Jazzy's `ros2 bag record -s mcap` writes it.
//!
//! File layout: magic, Header (`ros2`), then the data section — a Schema and a Channel record when a topic is
//! added, and uncompressed Chunks of Message records (about [`DEFAULT_CHUNK_BYTES`] each, CRC-checked), each
//! followed by one MessageIndex record per channel it holds; at [`Rosbag2Writer::finish`] the `rosbag2`
//! Metadata record and DataEnd (with the data-section CRC), then the summary (Schemas, Channels, Statistics,
//! ChunkIndexes, MetadataIndex), SummaryOffsets, the Footer (with the summary CRC) and the magic.
//!
//! Durability: every chunk is written to the OS as soon as it is full (or on [`Rosbag2Writer::flush`]), and
//! dropping an unfinished writer finishes it. If the process is killed, the file keeps the magic, the Header,
//! the Schemas and Channels and every chunk written before the kill — what a linear reader (this crate's
//! reader, `mcap recover`, a streaming MCAP reader) reads — but has no summary, no footer and no
//! `metadata.yaml`, so indexed readers (`ros2 bag`, rosbags, Foxglove's seeking) do not open it until it is
//! rewritten (`mcap recover`) and re-indexed (`ros2 bag reindex`). Messages still in the unwritten chunk are lost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::chunk::PendingChunk;
use crate::mcap_write::{self, ChannelRecord, ChunkIndexRecord, SchemaRecord, StatisticsRecord, TimeRange};
use crate::metadata::{BagInformation, TopicInformation, TopicMetadata};
use crate::qos::parse_offered_qos;
use crate::records::{MAGIC, MESSAGE_ENCODING_CDR, PROFILE_ROS2, ROSBAG2_METADATA_NAME, SCHEMA_ENCODING_ROS2MSG};
use crate::sink::Sink;
use crate::summary::{encode_summary, SummaryParts};
use crate::{Rosbag2Error, TopicId};

/// The size a chunk's records reach before it is written, bytes (rosbag2's MCAP writer and rosbags use about
/// 1 MiB too). A message larger than this gets a chunk of its own.
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

/// The longest topic name, type name, definition or QoS text accepted, bytes (MCAP strings have a `u32`
/// length; this keeps every record far below it).
const MAX_TEXT_BYTES: usize = 16 << 20;

/// One topic of the bag.
struct Topic {
    record: ChannelRecord,
    type_name: String,
    /// The offered QoS as `metadata.yaml` holds it.
    offered_qos: serde_yaml::Value,
    next_sequence: u32,
    message_count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Finished,
    /// A write failed: the file may end in a partial record.
    Failed,
}

/// Writes a rosbag2 bag (MCAP storage) that `ros2 bag play/info`, Foxglove and `rosbags` open.
///
/// ```no_run
/// # fn main() -> Result<(), worldflow_rosbag2::Rosbag2Error> {
/// use worldflow_rosbag2::{QosProfile, Rosbag2Writer};
/// // run1/run1_0.mcap, and run1/metadata.yaml at finish
/// let mut bag = Rosbag2Writer::create(std::path::Path::new("run1"))?;
/// // The type's ros2msg definition: worldflow_ros2_msgs::Message::DEFINITION.
/// let definition = "builtin_interfaces/Time clock\n================...";
/// let qos = QosProfile::yaml(&[QosProfile::reliable(1)]);
/// let clock = bag.add_topic("/clock", "rosgraph_msgs/msg/Clock", definition, &qos)?;
/// // CDR of Clock { clock: 0.1 s }, encapsulation header first.
/// bag.write(clock, 100_000_000, &[0, 1, 0, 0, 0, 0, 0, 0, 0, 225, 245, 5])?;
/// bag.finish()?;
/// # Ok(()) }
/// ```
pub struct Rosbag2Writer {
    dir: PathBuf,
    file_name: String,
    sink: Sink,
    schemas: Vec<SchemaRecord>,
    /// Topic id `n` is `topics[n - 1]`.
    topics: Vec<Topic>,
    chunk: PendingChunk,
    chunk_bytes: usize,
    chunk_indexes: Vec<ChunkIndexRecord>,
    times: Option<TimeRange>,
    state: State,
}

impl Rosbag2Writer {
    /// Creates the bag directory `dir` (which must not exist, or be empty) and `<dir name>_0.mcap` in it,
    /// starting with the magic and the Header record.
    pub fn create(dir: &Path) -> Result<Self, Rosbag2Error> {
        let bad = |expected| Rosbag2Error::BadPath { path: dir.to_owned(), expected };
        let io = |doing: &str, source| Rosbag2Error::Io { path: dir.to_owned(), doing: doing.to_owned(), source };
        let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
            return Err(bad("expected a bag directory path ending in a UTF-8 name (the file is <name>_0.mcap)"));
        };
        if dir.exists() {
            if !dir.is_dir() {
                return Err(bad("exists and is not a directory: expected a new bag directory"));
            }
            let mut entries = std::fs::read_dir(dir).map_err(|e| io("list the bag directory", e))?;
            if entries.next().is_some() {
                return Err(bad("the bag directory exists and is not empty: expected a new (or empty) directory"));
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| io("create the bag directory", e))?;
        let file_name = format!("{name}_0.mcap");
        let mut sink = Sink::create_new(&dir.join(&file_name))?;
        let mut start = MAGIC.to_vec();
        mcap_write::header(&mut start, PROFILE_ROS2, concat!("worldflow-rosbag2 ", env!("CARGO_PKG_VERSION")));
        sink.write(&start, "the magic and Header")?;
        Ok(Self {
            dir: dir.to_owned(),
            file_name,
            sink,
            schemas: Vec::new(),
            topics: Vec::new(),
            chunk: PendingChunk::default(),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            chunk_indexes: Vec::new(),
            times: None,
            state: State::Open,
        })
    }

    /// Sets the size a chunk's records reach before it is written (default [`DEFAULT_CHUNK_BYTES`]): smaller
    /// chunks lose less when the process is killed, larger ones index less.
    pub fn with_chunk_bytes(mut self, chunk_bytes: usize) -> Self {
        self.chunk_bytes = chunk_bytes.max(1);
        self
    }

    /// The `.mcap` file being written.
    pub fn mcap_path(&self) -> &Path {
        self.sink.path()
    }

    /// Adds a topic: its ROS type name (`pkg/msg/Type`), the type's `ros2msg` definition (e.g.
    /// `worldflow_ros2_msgs::Message::DEFINITION`) and the publisher's offered QoS as rosbag2 writes it (see
    /// [`crate::QosProfile::yaml`]; empty: none). Writes a Schema record (once per type) and a Channel record.
    pub fn add_topic(
        &mut self,
        name: &str,
        type_name: &str,
        definition: &str,
        offered_qos_yaml: &str,
    ) -> Result<TopicId, Rosbag2Error> {
        self.check_open()?;
        let bad = |what: String| Rosbag2Error::Topic { topic: name.to_owned(), what };
        if name.is_empty() {
            return Err(bad("the topic name is empty: expected e.g. /clock".to_owned()));
        }
        for (field, text) in
            [("name", name), ("type", type_name), ("definition", definition), ("QoS", offered_qos_yaml)]
        {
            if text.len() > MAX_TEXT_BYTES {
                return Err(bad(format!("the {field} is {} bytes: expected at most {MAX_TEXT_BYTES}", text.len())));
            }
        }
        if let Some(i) = self.topics.iter().position(|t| t.record.topic == name) {
            return Err(bad(format!("already added (topic id {})", i + 1)));
        }
        let offered_qos = parse_offered_qos(name, offered_qos_yaml)?;
        let mut records = Vec::new();
        let schema_id = match self.schemas.iter().find(|s| s.name == type_name) {
            Some(s) if s.data == definition => s.id,
            Some(_) => {
                return Err(bad(format!("type {type_name} was added before with a different definition")));
            }
            None => {
                let id = u16::try_from(self.schemas.len() + 1)
                    .map_err(|_| bad("too many message types: MCAP has at most 65535 schemas".to_owned()))?;
                let schema = SchemaRecord {
                    id,
                    name: type_name.to_owned(),
                    encoding: SCHEMA_ENCODING_ROS2MSG,
                    data: definition.to_owned(),
                };
                mcap_write::schema(&mut records, &schema);
                self.schemas.push(schema);
                id
            }
        };
        let id = u16::try_from(self.topics.len() + 1)
            .map_err(|_| bad("too many topics: MCAP has at most 65535 channels".to_owned()))?;
        let record = ChannelRecord {
            id,
            schema_id,
            topic: name.to_owned(),
            message_encoding: MESSAGE_ENCODING_CDR,
            metadata: BTreeMap::from([
                ("offered_qos_profiles".to_owned(), offered_qos_yaml.to_owned()),
                ("topic_type_hash".to_owned(), String::new()),
            ]),
        };
        mcap_write::channel(&mut records, &record);
        self.write_or_fail(&records, "the Schema and Channel records")?;
        self.topics.push(Topic {
            record,
            type_name: type_name.to_owned(),
            offered_qos,
            next_sequence: 0,
            message_count: 0,
        });
        Ok(TopicId(id))
    }

    /// Logs one message: `cdr` is the serialized message (encapsulation header included, as
    /// `worldflow_ros2_msgs::to_cdr` makes it), `log_time_ns` its log time (also its publish time). Messages
    /// may come in any time order; readers sort them. The chunk is written when it is full.
    pub fn write(&mut self, topic: TopicId, log_time_ns: u64, cdr: &[u8]) -> Result<(), Rosbag2Error> {
        self.check_open()?;
        let Some(t) = usize::from(topic.0).checked_sub(1).and_then(|i| self.topics.get_mut(i)) else {
            return Err(Rosbag2Error::Topic {
                topic: format!("id {}", topic.0),
                what: "unknown topic id: not added to this writer".to_owned(),
            });
        };
        self.chunk.push_message(t.record.id, t.next_sequence, log_time_ns, cdr);
        t.next_sequence = t.next_sequence.wrapping_add(1);
        t.message_count += 1;
        self.times = Some(match self.times {
            None => TimeRange { start_ns: log_time_ns, end_ns: log_time_ns },
            Some(r) => TimeRange { start_ns: r.start_ns.min(log_time_ns), end_ns: r.end_ns.max(log_time_ns) },
        });
        if self.chunk.len_bytes() >= self.chunk_bytes {
            self.write_chunk()?;
        }
        Ok(())
    }

    /// Writes the pending messages now, as a (smaller) chunk: after this they survive the process being
    /// killed. Does nothing when no message is pending.
    pub fn flush(&mut self) -> Result<(), Rosbag2Error> {
        self.check_open()?;
        if !self.chunk.is_empty() {
            self.write_chunk()?;
        }
        Ok(())
    }

    /// Writes the pending chunk, the summary and the footer, syncs the file and writes `metadata.yaml`.
    pub fn finish(mut self) -> Result<(), Rosbag2Error> {
        self.finish_in_place()
    }

    fn check_open(&self) -> Result<(), Rosbag2Error> {
        match self.state {
            State::Open => Ok(()),
            State::Failed | State::Finished => Err(Rosbag2Error::WriterFailed { path: self.sink.path().to_owned() }),
        }
    }

    /// Writes `bytes`; a failure leaves the writer failed (the file may end in a partial record).
    fn write_or_fail(&mut self, bytes: &[u8], what: &str) -> Result<(), Rosbag2Error> {
        let result = self.sink.write(bytes, what);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn write_chunk(&mut self) -> Result<(), Rosbag2Error> {
        let mut bytes = Vec::with_capacity(self.chunk.len_bytes() + 1024);
        let index = self.chunk.take_encoded(self.sink.position(), &mut bytes);
        self.write_or_fail(&bytes, "a chunk")?;
        self.chunk_indexes.push(index);
        Ok(())
    }

    fn finish_in_place(&mut self) -> Result<(), Rosbag2Error> {
        self.check_open()?;
        // From here on a failure is not retried (by `Drop`): the file may already hold part of the summary.
        self.state = State::Finished;
        if !self.chunk.is_empty() {
            self.write_chunk()?;
        }
        let times = self.times.unwrap_or(TimeRange { start_ns: 0, end_ns: 0 });
        let info = self.bag_information(times);

        // The end of the data section: the rosbag2 Metadata record, then DataEnd with the CRC of all before it.
        let mut data_tail = Vec::new();
        let metadata_offset = self.sink.position();
        let mut metadata_index = Vec::new();
        if let Ok(yaml) = info.to_yaml() {
            if yaml.len() <= MAX_TEXT_BYTES {
                let map = BTreeMap::from([("serialized_metadata".to_owned(), yaml)]);
                mcap_write::metadata(&mut data_tail, ROSBAG2_METADATA_NAME, &map);
                mcap_write::metadata_index(
                    &mut metadata_index,
                    metadata_offset,
                    data_tail.len() as u64,
                    ROSBAG2_METADATA_NAME,
                );
            }
        }
        let data_crc = {
            let mut crc = self.sink.crc();
            crc.update(&data_tail);
            crc.finalize()
        };
        mcap_write::data_end(&mut data_tail, data_crc);
        self.write_or_fail(&data_tail, "the data section end")?;

        let summary_start = self.sink.position();
        let parts = SummaryParts {
            schemas: &self.schemas,
            channels: self.topics.iter().map(|t| &t.record).collect(),
            statistics: StatisticsRecord {
                message_count: self.topics.iter().map(|t| t.message_count).sum(),
                // add_topic keeps both counts within u16 (MCAP ids).
                schema_count: u16::try_from(self.schemas.len()).unwrap_or(u16::MAX),
                channel_count: u32::try_from(self.topics.len()).unwrap_or(u32::MAX),
                metadata_count: u32::from(!metadata_index.is_empty()),
                chunk_count: u32::try_from(self.chunk_indexes.len()).unwrap_or(u32::MAX),
                times,
                channel_message_counts: self.topics.iter().map(|t| (t.record.id, t.message_count)).collect(),
            },
            chunk_indexes: &self.chunk_indexes,
            metadata_index: &metadata_index,
        };
        let summary = encode_summary(summary_start, &parts);
        self.write_or_fail(&summary, "the summary and footer")?;
        self.sink.sync()?;
        info.write(&self.dir)
    }

    fn bag_information(&self, times: TimeRange) -> BagInformation {
        let topics = self
            .topics
            .iter()
            .map(|t| TopicInformation {
                topic_metadata: TopicMetadata {
                    name: t.record.topic.clone(),
                    type_name: t.type_name.clone(),
                    serialization_format: MESSAGE_ENCODING_CDR.to_owned(),
                    offered_qos_profiles: t.offered_qos.clone(),
                    type_description_hash: String::new(),
                },
                message_count: t.message_count,
            })
            .collect();
        BagInformation::new(self.file_name.clone(), topics, times.start_ns, times.end_ns - times.start_ns)
    }
}

impl Drop for Rosbag2Writer {
    /// Finishes a writer that was not finished (errors are ignored: call [`Rosbag2Writer::finish`] to see them).
    fn drop(&mut self) {
        if self.state == State::Open {
            let _ = self.finish_in_place();
        }
    }
}
