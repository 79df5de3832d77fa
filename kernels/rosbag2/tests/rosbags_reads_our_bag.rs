//! A bag written by `Rosbag2Writer`, with one topic per message type the ROS 2 bridge records, is read by two
//! independent implementations (`tests/rosbag_reference.py`, in the venv `scripts/setup.sh` installs into
//! `.cache/py`):
//!
//! * `rosbags` (`rosbags.rosbag2.Reader`, which opens `metadata.yaml` first, as `ros2 bag` does): topics,
//!   types, counts, log times and every field value, decoded with the Jazzy typestore and again with the types
//!   the bag's own schemas define;
//! * the MCAP authors' `mcap` reader: the records with CRC validation (chunks and data section), the summary
//!   (statistics, schemas, channels with their QoS metadata, chunk indexes), the summary CRC, and every
//!   message's channel, sequence, log and publish time and bytes, in file order and in log-time order.
//!
//! Our own reader reads the same bag back too (no Python needed).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use worldflow_ros2_msgs::ackermann_msgs::{AckermannDrive, AckermannDriveStamped};
use worldflow_ros2_msgs::builtin_interfaces::Time;
use worldflow_ros2_msgs::geometry_msgs::{
    Point, Pose, PoseWithCovariance, Quaternion, Transform, TransformStamped, Twist, TwistWithCovariance, Vector3,
};
use worldflow_ros2_msgs::nav_msgs::Odometry;
use worldflow_ros2_msgs::rosgraph_msgs::Clock;
use worldflow_ros2_msgs::sensor_msgs::{CameraInfo, Image, RegionOfInterest};
use worldflow_ros2_msgs::std_msgs::Header;
use worldflow_ros2_msgs::tf2_msgs::TFMessage;
use worldflow_ros2_msgs::{to_cdr, Message};
use worldflow_rosbag2::{read_bag, QosProfile, Rosbag2Writer, TopicId};

const TICKS: u64 = 6;
const START_NS: u64 = 1_000_000_000;
const DT_NS: u64 = 100_000_000;

fn time(ns: u64) -> Time {
    Time { sec: (ns / 1_000_000_000) as i32, nanosec: (ns % 1_000_000_000) as u32 }
}

fn header(ns: u64, frame_id: &str) -> Header {
    Header { stamp: time(ns), frame_id: frame_id.to_owned() }
}

fn transform(child: &str, parent: &str, ns: u64, x: f64) -> TransformStamped {
    TransformStamped {
        header: header(ns, parent),
        child_frame_id: child.to_owned(),
        transform: Transform {
            translation: Vector3 { x, y: -2.5, z: 0.125 },
            rotation: Quaternion { x: 0.0, y: 0.0, z: 0.382_683_432_365_089_8, w: 0.923_879_532_511_286_7 },
        },
    }
}

/// Writes the bag's topics and messages, and lists them (in write order) for the Python check.
struct Recording {
    writer: Rosbag2Writer,
    topics: Vec<Value>,
    messages: Vec<Value>,
}

impl Recording {
    fn topic<T: Message>(&mut self, name: &str, qos: &[QosProfile]) -> (TopicId, String) {
        let qos_yaml = QosProfile::yaml(qos);
        let id = self.writer.add_topic(name, T::TYPE_NAME, T::DEFINITION, &qos_yaml).unwrap();
        self.topics.push(json!({ "topic": name, "type": T::TYPE_NAME, "definition": T::DEFINITION, "qos": qos_yaml }));
        (id, name.to_owned())
    }

    fn write<T: Message + Serialize>(&mut self, topic: &(TopicId, String), log_time_ns: u64, value: &T) {
        let cdr = to_cdr(value).unwrap();
        self.writer.write(topic.0, log_time_ns, &cdr).unwrap();
        let hex: String = cdr.iter().map(|b| format!("{b:02x}")).collect();
        self.messages.push(json!({
            "topic": topic.1, "type": T::TYPE_NAME, "log_time_ns": log_time_ns, "value": value, "cdr_hex": hex,
        }));
    }
}

/// The bridge's topics for agent 0, `TICKS` ticks of them, and two kinds of command.
fn record(dir: &Path) -> Recording {
    // Small chunks: the bag has many, and the 64×48 image is larger than one.
    let writer = Rosbag2Writer::create(dir).unwrap().with_chunk_bytes(1024);
    let mut r = Recording { writer, topics: Vec::new(), messages: Vec::new() };
    let clock = r.topic::<Clock>("/clock", &[QosProfile::reliable(1)]);
    let image = r.topic::<Image>("/agent0/camera/front/image_raw", &[QosProfile::best_effort(5)]);
    let info = r.topic::<CameraInfo>("/agent0/camera/front/camera_info", &[QosProfile::best_effort(5)]);
    let odom = r.topic::<Odometry>("/agent0/odom", &[QosProfile::reliable(10)]);
    let tf = r.topic::<TFMessage>("/tf", &[QosProfile::reliable(100)]);
    let tf_static = r.topic::<TFMessage>("/tf_static", &[QosProfile::latched(1)]);
    let cmd_vel = r.topic::<Twist>("/agent0/cmd_vel", &[QosProfile::reliable(10)]);
    let ackermann = r.topic::<AckermannDriveStamped>("/agent0/ackermann_cmd", &[QosProfile::reliable(10)]);

    r.write(
        &tf_static,
        START_NS,
        &TFMessage { transforms: vec![transform("agent0/camera_front_optical", "agent0/base_link", START_NS, 1.5)] },
    );
    for tick in 0..TICKS {
        let ns = START_NS + tick * DT_NS;
        r.write(&clock, ns, &Clock { clock: time(ns) });
        let (width, height) = if tick == 2 { (64, 48) } else { (5, 3) };
        let data = (0..3 * width * height).map(|i| (i * 7 + tick as u32) as u8).collect();
        let frame = "agent0/camera_front_optical";
        r.write(
            &image,
            ns,
            &Image {
                header: header(ns, frame),
                height,
                width,
                encoding: "rgb8".to_owned(),
                is_bigendian: 0,
                step: 3 * width,
                data,
            },
        );
        r.write(
            &info,
            ns,
            &CameraInfo {
                header: header(ns, frame),
                height,
                width,
                distortion_model: "plumb_bob".to_owned(),
                d: vec![0.0, -0.125, 0.0, 0.001, 0.0],
                k: [40.5, 0.0, 2.0, 0.0, 40.25, 1.0, 0.0, 0.0, 1.0],
                r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                p: [40.5, 0.0, 2.0, 0.0, 0.0, 40.25, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                binning_x: 0,
                binning_y: 0,
                roi: RegionOfInterest { x_offset: 0, y_offset: 0, height: 0, width: 0, do_rectify: tick % 2 == 1 },
            },
        );
        let x = 0.5 * tick as f64;
        r.write(
            &odom,
            ns,
            &Odometry {
                header: header(ns, "map"),
                child_frame_id: "agent0/base_link".to_owned(),
                pose: PoseWithCovariance {
                    pose: Pose { position: Point { x, y: -1.0, z: 0.0 }, orientation: Quaternion::default() },
                    covariance: std::array::from_fn(|i| if i % 7 == 0 { 0.01 } else { 0.0 }),
                },
                twist: TwistWithCovariance {
                    twist: Twist {
                        linear: Vector3 { x: 5.0, y: 0.0, z: 0.0 },
                        angular: Vector3 { x: 0.0, y: 0.0, z: -0.25 },
                    },
                    covariance: std::array::from_fn(|i| if i % 7 == 0 { 0.1 } else { 0.0 }),
                },
            },
        );
        r.write(&tf, ns, &TFMessage { transforms: vec![transform("agent0/base_link", "map", ns, x)] });
        // Commands are logged with the time of the latest tick published when they arrived.
        if tick == 1 || tick == 3 {
            let twist = Twist {
                linear: Vector3 { x: 2.0 + tick as f64, y: 0.0, z: 0.0 },
                angular: Vector3 { x: 0.0, y: 0.0, z: 0.3 },
            };
            r.write(&cmd_vel, ns, &twist);
        }
        if tick == 4 {
            let drive = AckermannDrive {
                steering_angle: -0.35,
                steering_angle_velocity: 0.0,
                speed: 8.25,
                acceleration: 0.0,
                jerk: 0.0,
            };
            r.write(&ackermann, ns, &AckermannDriveStamped { header: header(ns, "agent0/base_link"), drive });
        }
    }
    r
}

fn bag_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rosbag2").join("bridge_topics");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    dir
}

#[test]
fn rosbags_and_mcap_read_our_bag() {
    let dir = bag_dir();
    let Recording { writer, topics, messages } = record(&dir);
    let mcap_path = writer.mcap_path().to_owned();
    writer.finish().unwrap();

    // Our reader first: every message, in log-time order, bytes intact.
    let read = read_bag(&dir).unwrap();
    assert_eq!(read.len(), messages.len());
    let mut want: Vec<&Value> = messages.iter().collect();
    want.sort_by_key(|m| m["log_time_ns"].as_u64().unwrap());
    for (got, want) in read.iter().zip(want) {
        assert_eq!(got.topic, want["topic"].as_str().unwrap());
        assert_eq!(got.type_name, want["type"].as_str().unwrap());
        assert_eq!(got.log_time_ns, want["log_time_ns"].as_u64().unwrap());
        let hex: String = got.cdr.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want["cdr_hex"].as_str().unwrap());
    }

    let Some(python) = worldflow_testkit::project_python("rosbags, mcap") else { return };
    let expected_path = dir.with_extension("expected.json");
    let expected = json!({ "bag_dir": dir, "mcap_path": mcap_path, "topics": topics, "messages": messages });
    std::fs::write(&expected_path, serde_json::to_string_pretty(&expected).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rosbag_reference.py");
    worldflow_testkit::run_python_check(
        &python,
        &script,
        &[expected_path.as_os_str()],
        "rosbags or mcap disagree with our bag",
    );
    println!("rosbags and mcap proof ran: {} messages on {} topics read back as written", messages.len(), topics.len());
}
