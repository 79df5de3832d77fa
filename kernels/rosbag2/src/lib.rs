//! rosbag2 bags in MCAP storage, the layout ROS 2 Jazzy's `ros2 bag record -s mcap` writes: a directory with
//! `<name>_0.mcap` and `metadata.yaml`, which Foxglove, `ros2 bag play/info` and the Python `rosbags` open.
//!
//! * [`Rosbag2Writer`] writes one: a Schema (`ros2msg` definition) and a Channel (with the offered QoS) per
//!   topic, CDR Message records in uncompressed, CRC-checked chunks with their message indexes, and at the end
//!   the summary (chunk indexes, statistics), the footer and `metadata.yaml` (version 9).
//! * [`Rosbag2Reader`] / [`read_bag`] read one back — ours, and rosbag2's own as long as their chunks are not
//!   compressed — in log-time order, checking the records and CRCs on the way.
//!
//! The MCAP records are written and parsed by hand from the specification (<https://mcap.dev/spec>); the
//! files are checked against two independent readers, `rosbags` and the MCAP authors' Python `mcap`
//! (`tests/rosbags_reads_our_bag.rs`).
//!
//! Times are ns: the writer logs each message with the time it is given (worldflow records simulation
//! time), which is also its MCAP publish time.

mod bag;
mod chunk;
mod error;
mod mcap_read;
mod mcap_write;
mod metadata;
mod qos;
mod reader;
mod records;
mod scan;
mod sink;
mod summary;
#[cfg(test)]
mod tests;
mod writer;

pub use bag::{Bag, BagMessage, BagTopic};
pub use error::Rosbag2Error;
pub use qos::{QosDurability, QosHistory, QosProfile, QosReliability};
pub use reader::{read_bag, Rosbag2Reader};
pub use writer::{Rosbag2Writer, DEFAULT_CHUNK_BYTES};

/// A topic of a [`Rosbag2Writer`] (its MCAP channel id), returned by [`Rosbag2Writer::add_topic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicId(u16);
