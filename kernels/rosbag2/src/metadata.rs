//! `metadata.yaml`, the bag's table of contents that `ros2 bag info/play` and `rosbags` open first: rosbag2
//! metadata version 9 (Jazzy), storage `mcap`. The same map, without the top-level key, is also stored in the
//! MCAP file as the `rosbag2` Metadata record (`serialized_metadata`), as rosbag2 does.
//!
//! Times are the log times of the messages, ns (simulation time when the recorder logs simulation time).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Rosbag2Error;

/// The rosbag2 metadata version this crate writes (Jazzy's).
pub(crate) const METADATA_VERSION: u32 = 9;
/// The file name of the metadata in a bag directory.
pub(crate) const METADATA_FILE: &str = "metadata.yaml";

#[derive(Debug, Serialize, Deserialize)]
struct MetadataFile {
    rosbag2_bagfile_information: BagInformation,
}

/// A duration, ns.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Duration {
    pub(crate) nanoseconds: u64,
}

/// A point in time, ns.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct StartingTime {
    pub(crate) nanoseconds_since_epoch: u64,
}

/// One topic: its metadata and how many messages it has.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TopicInformation {
    pub(crate) topic_metadata: TopicMetadata,
    pub(crate) message_count: u64,
}

/// What rosbag2 needs to republish a topic.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TopicMetadata {
    pub(crate) name: String,
    /// `pkg/msg/Type`.
    #[serde(rename = "type")]
    pub(crate) type_name: String,
    /// `cdr`.
    pub(crate) serialization_format: String,
    /// A YAML sequence of QoS profiles (version 9; a YAML string in older versions).
    pub(crate) offered_qos_profiles: serde_yaml::Value,
    /// RIHS01 type hash; empty: not computed (players do not need it).
    pub(crate) type_description_hash: String,
}

/// One storage file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FileInformation {
    pub(crate) path: String,
    pub(crate) starting_time: StartingTime,
    pub(crate) duration: Duration,
    pub(crate) message_count: u64,
}

/// `rosbag2_bagfile_information`, in the key order rosbag2 writes.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BagInformation {
    pub(crate) version: u32,
    pub(crate) storage_identifier: String,
    pub(crate) duration: Duration,
    pub(crate) starting_time: StartingTime,
    pub(crate) message_count: u64,
    pub(crate) topics_with_message_count: Vec<TopicInformation>,
    pub(crate) compression_format: String,
    pub(crate) compression_mode: String,
    pub(crate) relative_file_paths: Vec<String>,
    pub(crate) files: Vec<FileInformation>,
    pub(crate) custom_data: BTreeMap<String, String>,
    pub(crate) ros_distro: String,
}

impl BagInformation {
    /// The metadata of an uncompressed one-file MCAP bag.
    pub(crate) fn new(file_name: String, topics: Vec<TopicInformation>, start_ns: u64, duration_ns: u64) -> Self {
        let message_count = topics.iter().map(|t| t.message_count).sum();
        let starting_time = StartingTime { nanoseconds_since_epoch: start_ns };
        let duration = Duration { nanoseconds: duration_ns };
        Self {
            version: METADATA_VERSION,
            storage_identifier: "mcap".to_owned(),
            duration,
            starting_time,
            message_count,
            topics_with_message_count: topics,
            compression_format: String::new(),
            compression_mode: String::new(),
            relative_file_paths: vec![file_name.clone()],
            files: vec![FileInformation { path: file_name, starting_time, duration, message_count }],
            custom_data: BTreeMap::new(),
            ros_distro: "jazzy".to_owned(),
        }
    }

    /// The map alone (the `serialized_metadata` of the MCAP `rosbag2` Metadata record).
    pub(crate) fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }

    /// Writes `dir/metadata.yaml` (through a temporary file renamed into place).
    pub(crate) fn write(self, dir: &Path) -> Result<(), Rosbag2Error> {
        let path = dir.join(METADATA_FILE);
        let text = serde_yaml::to_string(&MetadataFile { rosbag2_bagfile_information: self })
            .map_err(|source| Rosbag2Error::Yaml { path: path.clone(), source })?;
        let tmp = dir.join(format!("{METADATA_FILE}.tmp"));
        let io = |doing: &str, source| Rosbag2Error::Io { path: path.clone(), doing: doing.to_owned(), source };
        std::fs::write(&tmp, text).map_err(|e| io("write the metadata", e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io("move the metadata into place", e))
    }
}

/// The part of `metadata.yaml` a reader needs: the storage and its files.
#[derive(Debug, Deserialize)]
struct FilesOnly {
    rosbag2_bagfile_information: BagFiles,
}

#[derive(Debug, Deserialize)]
struct BagFiles {
    storage_identifier: String,
    relative_file_paths: Vec<String>,
}

/// The storage files `dir/metadata.yaml` lists, as paths in `dir` (only the file name of each entry is used:
/// older rosbag2 versions prefixed the bag directory).
pub(crate) fn bag_files(dir: &Path) -> Result<Vec<PathBuf>, Rosbag2Error> {
    let path = dir.join(METADATA_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| Rosbag2Error::Io {
        path: path.clone(),
        doing: "read the bag metadata".to_owned(),
        source,
    })?;
    let meta: FilesOnly =
        serde_yaml::from_str(&text).map_err(|source| Rosbag2Error::Yaml { path: path.clone(), source })?;
    let info = meta.rosbag2_bagfile_information;
    let bad = |what: String| Rosbag2Error::Metadata { path: path.clone(), what };
    if info.storage_identifier != "mcap" {
        return Err(bad(format!(
            "storage_identifier is `{}`: only `mcap` bags are read (convert with `ros2 bag convert`)",
            info.storage_identifier
        )));
    }
    if info.relative_file_paths.is_empty() {
        return Err(bad("relative_file_paths is empty: expected the bag's .mcap files".to_owned()));
    }
    info.relative_file_paths
        .iter()
        .map(|p| match Path::new(p).file_name() {
            Some(name) => Ok(dir.join(name)),
            None => Err(bad(format!("relative_file_paths entry `{p}` is not a file name"))),
        })
        .collect()
}
