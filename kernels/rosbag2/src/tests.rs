//! Round trips through the writer and the reader, the files they leave, and the reader's errors on truncated,
//! corrupted and hand-made files.

use std::path::{Path, PathBuf};

use crate::mcap_write::{self, ChannelRecord, SchemaRecord};
use crate::records::MAGIC;
use crate::{read_bag, QosProfile, Rosbag2Error, Rosbag2Reader, Rosbag2Writer, TopicId};

/// A fresh, absent directory under the system temp dir.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("worldflow-rosbag2-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mcap_file(dir: &Path) -> PathBuf {
    let name = dir.file_name().unwrap().to_str().unwrap();
    dir.join(format!("{name}_0.mcap"))
}

/// A message as written: topic, log time (ns), payload.
type Written = (&'static str, u64, Vec<u8>);

/// A bag with three topics; `chunk_bytes` small enough to make several chunks. Returns the bag directory and
/// what was written, `(topic, log_time_ns, payload)` in write order.
fn sample_bag(name: &str, chunk_bytes: usize) -> (PathBuf, Vec<Written>) {
    let dir = fresh_dir(name);
    let mut w = Rosbag2Writer::create(&dir).unwrap().with_chunk_bytes(chunk_bytes);
    let qos = QosProfile::yaml(&[QosProfile::reliable(10)]);
    let clock = w.add_topic("/clock", "rosgraph_msgs/msg/Clock", "builtin_interfaces/Time clock\n", &qos).unwrap();
    let cmd = w.add_topic("/agent0/cmd_vel", "geometry_msgs/msg/Twist", "geometry_msgs/Vector3 linear\n", "").unwrap();
    let tf = w.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", "x", &QosProfile::yaml(&[QosProfile::latched(1)]));
    let tf = tf.unwrap();
    let mut written = Vec::new();
    let mut put = |w: &mut Rosbag2Writer, id: TopicId, topic: &'static str, t: u64, payload: Vec<u8>| {
        w.write(id, t, &payload).unwrap();
        written.push((topic, t, payload));
    };
    put(&mut w, tf, "/tf_static", 0, vec![0, 1, 0, 0, 42]);
    for i in 0..20u64 {
        put(&mut w, clock, "/clock", i * 100, vec![0, 1, 0, 0, i as u8, 7]);
        if i % 3 == 1 {
            // Logged "late": a command stamped with the previous tick's time, equal to that clock message.
            put(&mut w, cmd, "/agent0/cmd_vel", (i - 1) * 100, vec![0, 1, 0, 0, 0xc0 + i as u8]);
        }
    }
    w.finish().unwrap();
    (dir, written)
}

#[test]
fn round_trip_gives_every_message_in_log_time_order() {
    let (dir, written) = sample_bag("round-trip", 64);
    let messages = read_bag(&dir).unwrap();
    assert_eq!(messages.len(), written.len());
    // Expected: sorted by time, equal times in write order.
    let mut want = written.clone();
    want.sort_by_key(|(_, t, _)| *t);
    for (m, (topic, t, payload)) in messages.iter().zip(&want) {
        assert_eq!((m.topic.as_str(), m.log_time_ns, &m.cdr), (*topic, *t, payload));
    }
    let types: Vec<&str> = messages.iter().take(2).map(|m| m.type_name.as_str()).collect();
    assert_eq!(types, ["tf2_msgs/msg/TFMessage", "rosgraph_msgs/msg/Clock"]);
    // A command logged at the time of a clock message comes after it (it was written after it).
    let at_0: Vec<&str> = messages.iter().filter(|m| m.log_time_ns == 0).map(|m| m.topic.as_str()).collect();
    assert_eq!(at_0, ["/tf_static", "/clock", "/agent0/cmd_vel"]);
    // The .mcap file alone reads the same.
    assert_eq!(read_bag(&mcap_file(&dir)).unwrap(), messages);
}

#[test]
fn reading_some_topics_still_counts_all() {
    let (dir, _) = sample_bag("filter", 1 << 20);
    let reader = Rosbag2Reader::open(&dir).unwrap();
    assert_eq!(reader.files(), [mcap_file(&dir)]);
    let bag = reader.read(|topic| topic == "/agent0/cmd_vel").unwrap();
    assert_eq!(bag.messages.len(), 7);
    assert!(bag.messages.iter().all(|m| m.topic == "/agent0/cmd_vel" && m.type_name == "geometry_msgs/msg/Twist"));
    let counts: Vec<(&str, u64)> = bag.topics.iter().map(|t| (t.name.as_str(), t.message_count)).collect();
    assert_eq!(counts, [("/clock", 20), ("/agent0/cmd_vel", 7), ("/tf_static", 1)]);
}

#[test]
fn metadata_yaml_is_rosbag2_version_9() {
    let (dir, _) = sample_bag("metadata", 64);
    let text = std::fs::read_to_string(dir.join("metadata.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let info = &yaml["rosbag2_bagfile_information"];
    assert_eq!(info["version"].as_u64(), Some(9));
    assert_eq!(info["storage_identifier"].as_str(), Some("mcap"));
    assert_eq!(info["message_count"].as_u64(), Some(28));
    assert_eq!(info["starting_time"]["nanoseconds_since_epoch"].as_u64(), Some(0));
    assert_eq!(info["duration"]["nanoseconds"].as_u64(), Some(1900));
    assert_eq!(info["relative_file_paths"][0].as_str(), mcap_file(&dir).file_name().unwrap().to_str());
    assert_eq!(info["files"][0]["message_count"].as_u64(), Some(28));
    let topics = info["topics_with_message_count"].as_sequence().unwrap();
    assert_eq!(topics.len(), 3);
    let clock = &topics[0];
    assert_eq!(clock["message_count"].as_u64(), Some(20));
    assert_eq!(clock["topic_metadata"]["type"].as_str(), Some("rosgraph_msgs/msg/Clock"));
    assert_eq!(clock["topic_metadata"]["serialization_format"].as_str(), Some("cdr"));
    assert_eq!(clock["topic_metadata"]["offered_qos_profiles"][0]["reliability"].as_str(), Some("reliable"));
    assert_eq!(topics[1]["topic_metadata"]["offered_qos_profiles"].as_sequence().map(Vec::len), Some(0));
    assert_eq!(topics[2]["topic_metadata"]["offered_qos_profiles"][0]["durability"].as_str(), Some("transient_local"));
}

#[test]
fn empty_bags_read_as_empty() {
    let dir = fresh_dir("empty-no-topics");
    Rosbag2Writer::create(&dir).unwrap().finish().unwrap();
    assert!(read_bag(&dir).unwrap().is_empty());

    let dir = fresh_dir("empty-one-topic");
    let mut w = Rosbag2Writer::create(&dir).unwrap();
    w.add_topic("/clock", "rosgraph_msgs/msg/Clock", "builtin_interfaces/Time clock\n", "").unwrap();
    w.finish().unwrap();
    let bag = Rosbag2Reader::open(&dir).unwrap().read(|_| true).unwrap();
    assert!(bag.messages.is_empty());
    assert_eq!(bag.topics.len(), 1);
    assert_eq!(bag.topics[0].message_count, 0);
    let text = std::fs::read_to_string(dir.join("metadata.yaml")).unwrap();
    assert!(text.contains("message_count: 0"), "{text}");
}

#[test]
fn dropping_an_unfinished_writer_finishes_it() {
    let dir = fresh_dir("drop");
    {
        let mut w = Rosbag2Writer::create(&dir).unwrap();
        let id = w.add_topic("/clock", "rosgraph_msgs/msg/Clock", "builtin_interfaces/Time clock\n", "").unwrap();
        w.write(id, 5, &[0, 1, 0, 0, 9]).unwrap();
    }
    assert!(dir.join("metadata.yaml").exists());
    let messages = read_bag(&dir).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].log_time_ns, 5);
}

#[test]
fn a_killed_writer_leaves_its_complete_chunks_readable() {
    let dir = fresh_dir("killed");
    let mut w = Rosbag2Writer::create(&dir).unwrap().with_chunk_bytes(40);
    let id = w.add_topic("/clock", "rosgraph_msgs/msg/Clock", "builtin_interfaces/Time clock\n", "").unwrap();
    for t in 0..10 {
        w.write(id, t, &[0, 1, 0, 0, t as u8, 0, 0, 0, 0, 0, 0, 0]).unwrap(); // 43-byte records: a chunk each
    }
    w.write(id, 10, &[0, 1, 0, 0]).unwrap(); // a 35-byte record: still pending
                                             // While the writer is alive the file is what a killed process leaves: no summary, footer nor metadata.yaml.
    let snapshot = dir.with_extension("snapshot.mcap");
    std::fs::copy(w.mcap_path(), &snapshot).unwrap();
    assert!(!dir.join("metadata.yaml").exists());
    let messages = read_bag(&snapshot).unwrap();
    assert_eq!(messages.iter().map(|m| m.log_time_ns).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    // The directory itself (no metadata.yaml: its .mcap files) reads the same.
    assert_eq!(read_bag(&dir).unwrap(), messages);
    w.flush().unwrap();
    assert_eq!(read_bag(&dir).unwrap().len(), 11, "flush writes the pending message");
    w.finish().unwrap();
    assert_eq!(read_bag(&dir).unwrap().len(), 11);
    let _ = std::fs::remove_file(snapshot);
}

#[test]
fn every_truncation_is_an_error_or_a_prefix_never_a_panic() {
    let (dir, written) = sample_bag("truncate", 64);
    let bytes = std::fs::read(mcap_file(&dir)).unwrap();
    let cut_path = dir.join("cut.mcap");
    let mut complete_prefixes = 0;
    for len in 0..bytes.len() {
        std::fs::write(&cut_path, &bytes[..len]).unwrap();
        match read_bag(&cut_path) {
            // Only a cut at a record boundary of the data section reads, and then as a prefix of the messages.
            Ok(messages) => {
                complete_prefixes += 1;
                assert!(messages.len() <= written.len(), "cut at {len}");
            }
            Err(Rosbag2Error::Format { path, offset, what }) => {
                assert_eq!(path, cut_path);
                assert!(offset <= len as u64, "cut at {len}: offset {offset}: {what}");
            }
            Err(e) => panic!("cut at {len}: {e}"),
        }
    }
    assert!(complete_prefixes > 5, "the data section has several record boundaries");

    // A cut inside a chunk names the chunk record's offset and length.
    let first_chunk = find_opcode(&bytes, 0x06);
    std::fs::write(&cut_path, &bytes[..first_chunk + 20]).unwrap();
    let e = read_bag(&cut_path).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "at byte {}: truncated: the Chunk record (opcode 0x06) at byte {first_chunk}",
            first_chunk + 9
        )),
        "{e}"
    );
    // A file cut inside its footer says the summary or footer is truncated.
    std::fs::write(&cut_path, &bytes[..bytes.len() - 10]).unwrap();
    let e = read_bag(&cut_path).unwrap_err().to_string();
    assert!(e.contains("truncated: the Footer record"), "{e}");
    std::fs::write(&cut_path, &bytes[..3]).unwrap();
    let e = read_bag(&cut_path).unwrap_err().to_string();
    assert!(e.ends_with("at byte 0: truncated: the opening magic needs 8 bytes, the file has 3 left"), "{e}");
}

/// Offset of the first record with `opcode` after the magic (walking the top-level records).
fn find_opcode(bytes: &[u8], opcode: u8) -> usize {
    let mut at = MAGIC.len();
    while bytes[at] != opcode {
        at += 9 + u64::from_le_bytes(bytes[at + 1..at + 9].try_into().unwrap()) as usize;
    }
    at
}

#[test]
fn corrupted_bytes_are_caught_by_the_crcs_and_the_magic() {
    let (dir, _) = sample_bag("corrupt", 64);
    let bytes = std::fs::read(mcap_file(&dir)).unwrap();
    let path = dir.join("bad.mcap");

    let mut bad = bytes.clone();
    let chunk = find_opcode(&bytes, 0x06);
    let last = chunk + 9 + u64::from_le_bytes(bytes[chunk + 1..chunk + 9].try_into().unwrap()) as usize - 1;
    bad[last] ^= 0xff; // the last payload byte of the first chunk
    std::fs::write(&path, &bad).unwrap();
    let e = read_bag(&path).unwrap_err().to_string();
    assert!(e.contains(&format!("at byte {chunk}: bad chunk CRC")), "{e}");

    let mut bad = bytes.clone();
    bad[1] = b'X';
    std::fs::write(&path, &bad).unwrap();
    let e = read_bag(&path).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "at byte 0: bad opening magic 89 58 43 41 50 30 0D 0A: expected 89 4D 43 41 50 30 0D 0A (an MCAP file)"
        ),
        "{e}"
    );

    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 9] ^= 1; // the last byte of the summary CRC
    std::fs::write(&path, &bad).unwrap();
    let e = read_bag(&path).unwrap_err().to_string();
    assert!(e.contains("bad summary CRC"), "{e}");

    let mut bad = bytes.clone();
    let data_end = find_opcode(&bytes, 0x0f);
    bad[data_end + 9] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    let e = read_bag(&path).unwrap_err().to_string();
    assert!(e.contains(&format!("at byte {data_end}: bad data-section CRC")), "{e}");

    let mut long = bytes.clone();
    long.push(0);
    std::fs::write(&path, &long).unwrap();
    let e = read_bag(&path).unwrap_err().to_string();
    assert!(e.contains("1 bytes follow the closing magic"), "{e}");
}

/// The start of a hand-made file: magic, Header, one Schema (id 1) and one Channel (id 1, `/c`, encoding).
fn hand_made_start(encoding: &'static str) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    mcap_write::header(&mut out, "ros2", "test");
    let schema =
        SchemaRecord { id: 1, name: "std_msgs/msg/Empty".to_owned(), encoding: "ros2msg", data: String::new() };
    mcap_write::schema(&mut out, &schema);
    let channel = ChannelRecord {
        id: 1,
        schema_id: 1,
        topic: "/c".to_owned(),
        message_encoding: encoding,
        metadata: Default::default(),
    };
    mcap_write::channel(&mut out, &channel);
    out
}

#[test]
fn hand_made_files_name_what_is_wrong() {
    let dir = fresh_dir("hand-made");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.mcap");
    let read_err = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        read_bag(&path).unwrap_err()
    };

    let mut bytes = hand_made_start("cdr");
    let message_at = bytes.len();
    mcap_write::message(&mut bytes, 9, 0, 1, &[0, 1, 0, 0]);
    let e = read_err(&bytes).to_string();
    assert!(e.contains(&format!("at byte {}: Message record: unknown channel id 9", message_at + 9)), "{e}");

    let e = read_err(&hand_made_start("json")).to_string();
    assert!(e.contains("topic /c has message encoding `json`: expected `cdr`"), "{e}");

    // A zstd chunk (its content need not be valid: the compression is refused first).
    let mut bytes = hand_made_start("cdr");
    let chunk_at = bytes.len() as u64;
    let mut content = Vec::new();
    for x in [0u64, 0, 4] {
        content.extend_from_slice(&x.to_le_bytes());
    }
    content.extend_from_slice(&0u32.to_le_bytes());
    content.extend_from_slice(&4u32.to_le_bytes());
    content.extend_from_slice(b"zstd");
    content.extend_from_slice(&4u64.to_le_bytes());
    content.extend_from_slice(&[1, 2, 3, 4]);
    bytes.push(0x06);
    bytes.extend_from_slice(&(content.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&content);
    let e = read_err(&bytes);
    assert!(
        matches!(&e, Rosbag2Error::CompressedChunk { offset, compression, .. } if *offset == chunk_at && compression == "zstd")
    );
    assert!(e.to_string().contains("zstd/lz4 chunk compression is not supported"), "{e}");

    let mut bytes = MAGIC.to_vec();
    mcap_write::data_end(&mut bytes, 0);
    let e = read_err(&bytes).to_string();
    assert!(e.ends_with("at byte 8: expected a Header record first, found DataEnd"), "{e}");

    let e = read_err(&[]).to_string();
    assert!(e.contains("truncated: the opening magic needs 8 bytes, the file has 0 left"), "{e}");
}

#[test]
fn writer_refuses_what_a_bag_cannot_hold() {
    let dir = fresh_dir("refuse");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("other"), "x").unwrap();
    let e = Rosbag2Writer::create(&dir).err().unwrap().to_string();
    assert!(e.ends_with(": the bag directory exists and is not empty: expected a new (or empty) directory"), "{e}");

    let dir = fresh_dir("refuse-topics");
    let mut w = Rosbag2Writer::create(&dir).unwrap();
    let a = w.add_topic("/a", "pkg/msg/A", "int32 x\n", "").unwrap();
    let e = w.add_topic("/a", "pkg/msg/A", "int32 x\n", "").unwrap_err();
    assert_eq!(e.to_string(), "topic /a: already added (topic id 1)");
    let e = w.add_topic("/b", "pkg/msg/A", "int32 y\n", "").unwrap_err();
    assert_eq!(e.to_string(), "topic /b: type pkg/msg/A was added before with a different definition");
    let e = w.add_topic("/b", "pkg/msg/B", "int32 y\n", "depth: 1").unwrap_err();
    assert!(e.to_string().starts_with("topic /b: offered QoS YAML is not a sequence"), "{e}");
    let b = w.add_topic("/b", "pkg/msg/A", "int32 x\n", "").unwrap(); // same type, same schema
    assert_ne!(a, b);

    let other_dir = fresh_dir("refuse-other");
    let mut other = Rosbag2Writer::create(&other_dir).unwrap();
    for name in ["/x", "/y", "/z"] {
        other.add_topic(name, "pkg/msg/A", "", "").unwrap();
    }
    let foreign = other.add_topic("/w", "pkg/msg/A", "", "").unwrap();
    let e = w.write(foreign, 0, &[]).unwrap_err();
    assert_eq!(e.to_string(), "topic id 4: unknown topic id: not added to this writer");
    w.finish().unwrap();
    let bag = Rosbag2Reader::open(&dir).unwrap().read(|_| true).unwrap();
    assert_eq!(bag.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["/a", "/b"]);
}

#[test]
fn bad_paths_are_named() {
    let dir = fresh_dir("absent");
    let e = read_bag(&dir).unwrap_err().to_string();
    assert!(e.ends_with("does not exist: expected a rosbag2 bag directory or an .mcap file"), "{e}");
    std::fs::create_dir_all(&dir).unwrap();
    let e = read_bag(&dir).unwrap_err().to_string();
    assert!(e.ends_with("has neither metadata.yaml nor .mcap files: expected a rosbag2 bag directory"), "{e}");
    std::fs::write(
        dir.join("metadata.yaml"),
        "rosbag2_bagfile_information:\n  storage_identifier: sqlite3\n  relative_file_paths: [a.db3]\n",
    )
    .unwrap();
    let e = read_bag(&dir).unwrap_err().to_string();
    assert!(e.ends_with("metadata.yaml: storage_identifier is `sqlite3`: only `mcap` bags are read (convert with `ros2 bag convert`)"), "{e}");
    std::fs::write(dir.join("metadata.yaml"), "just text").unwrap();
    let e = read_bag(&dir).unwrap_err().to_string();
    assert!(e.ends_with("metadata.yaml: not a rosbag2 metadata file"), "{e}");
}
