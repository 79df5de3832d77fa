//! The CDR bytes of every message type equal those of an independent implementation: the ROS 2 Jazzy
//! typestore of the Python `rosbags` package (installed by `scripts/setup.sh` into `.cache/py`).
//!
//! The values are chosen to exercise alignment (odd-length strings and byte payloads before 4- and 8-byte
//! fields), signs and every field being non-zero, so a swapped field order or a missing padding shows.

use std::path::Path;

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
use worldflow_ros2_msgs::{from_cdr, to_cdr, Message};

fn header(sec: i32, frame_id: &str) -> Header {
    Header { stamp: Time { sec, nanosec: 123_456_789 }, frame_id: frame_id.to_owned() }
}

fn covariance(scale: f64) -> [f64; 36] {
    std::array::from_fn(|i| scale * (i as f64 + 1.0) * if i % 2 == 0 { 1.0 } else { -1.0 })
}

fn pose() -> Pose {
    Pose {
        position: Point { x: 12.5, y: -3.25, z: 0.125 },
        orientation: Quaternion { x: 0.1, y: -0.2, z: 0.3, w: 0.927_361_849_549_570_4 },
    }
}

fn twist() -> Twist {
    Twist { linear: Vector3 { x: 4.5, y: -0.5, z: 0.01 }, angular: Vector3 { x: -0.02, y: 0.03, z: -0.7 } }
}

fn transform_stamped(child: &str, parent: &str) -> TransformStamped {
    TransformStamped {
        header: header(-5, parent),
        child_frame_id: child.to_owned(),
        transform: Transform {
            translation: Vector3 { x: 1.5, y: -2.0, z: 3.25 },
            rotation: Quaternion { x: -0.5, y: 0.5, z: -0.5, w: 0.5 },
        },
    }
}

fn image(width: u32, height: u32, frame_id: &str) -> Image {
    let step = 3 * width;
    Image {
        header: header(1_700_000_001, frame_id),
        height,
        width,
        encoding: "rgb8".to_owned(),
        is_bigendian: 1,
        step,
        data: (0..step * height).map(|i| (i * 7 + 3) as u8).collect(),
    }
}

fn camera_info(distortion_model: &str, d: Vec<f64>) -> CameraInfo {
    CameraInfo {
        header: header(42, "agent0/front_optical"),
        height: 361,
        width: 641,
        distortion_model: distortion_model.to_owned(),
        d,
        k: [320.5, 0.0, 320.25, 0.0, 321.5, 180.75, 0.0, 0.0, 1.0],
        r: [1.0, -0.0, 0.5, 0.25, 1.0, -0.125, 0.0, 0.0625, 1.0],
        p: [320.5, 0.0, 320.25, -7.5, 0.0, 321.5, 180.75, 0.0, 0.0, 0.0, 1.0, 0.0],
        binning_x: 2,
        binning_y: 3,
        roi: RegionOfInterest { x_offset: 5, y_offset: 6, height: 70, width: 80, do_rectify: true },
    }
}

/// A value's entry in the cases file, and its round trip through our own decoder.
fn case<T: Message + PartialEq + std::fmt::Debug>(value: &T) -> Value {
    let bytes = to_cdr(value).unwrap_or_else(|e| panic!("{}: {e}", T::TYPE_NAME));
    let back: T = from_cdr(&bytes).unwrap_or_else(|e| panic!("{}: {e}", T::TYPE_NAME));
    assert_eq!(&back, value, "{} does not round-trip", T::TYPE_NAME);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    json!({ "type": T::TYPE_NAME, "value": value, "cdr_hex": hex })
}

/// One or two non-trivial values of every message type (each also round-tripped by `case`).
fn cases() -> Vec<Value> {
    let odom = Odometry {
        header: header(17, "map"),
        child_frame_id: "agent0/base_link".to_owned(),
        pose: PoseWithCovariance { pose: pose(), covariance: covariance(0.01) },
        twist: TwistWithCovariance { twist: twist(), covariance: covariance(-0.5) },
    };
    let drive = AckermannDrive {
        steering_angle: -0.35,
        steering_angle_velocity: 0.5,
        speed: 8.25,
        acceleration: -1.5,
        jerk: 0.75,
    };
    vec![
        case(&Time { sec: -3, nanosec: 999_999_999 }),
        case(&header(1, "map")),
        case(&header(-1, "agent12/base_link")),
        case(&image(3, 1, "a")),
        case(&image(5, 3, "agent0/front_optical")),
        case(&RegionOfInterest { x_offset: 1, y_offset: 2, height: 3, width: 4, do_rectify: true }),
        case(&camera_info("plumb_bob", vec![-0.25, 0.125, 0.001, -0.002, 0.03])),
        case(&camera_info("rational_polynomial", vec![0.5; 8])),
        case(&Vector3 { x: 1.0, y: -2.0, z: 3.5 }),
        case(&Point { x: -1.0, y: 2.0, z: -3.5 }),
        case(&pose().orientation),
        case(&pose()),
        case(&PoseWithCovariance { pose: pose(), covariance: covariance(1.0) }),
        case(&twist()),
        case(&TwistWithCovariance { twist: twist(), covariance: covariance(2.0) }),
        case(&transform_stamped("x", "map").transform),
        case(&transform_stamped("agent0/base_link", "map")),
        case(&transform_stamped("cam", "agent0/base_link")),
        case(&odom),
        case(&Odometry { header: header(0, "odom"), child_frame_id: "b".to_owned(), ..odom.clone() }),
        case(&TFMessage {
            transforms: vec![transform_stamped("agent0/base_link", "map"), transform_stamped("a", "agent0/base_link")],
        }),
        case(&TFMessage { transforms: vec![] }),
        case(&Clock { clock: Time { sec: 12, nanosec: 50_000_001 } }),
        case(&drive),
        case(&AckermannDriveStamped { header: header(9, "agent0/base_link"), drive }),
        case(&AckermannDriveStamped { header: header(9, "car"), drive }),
    ]
}

#[test]
fn every_type_round_trips() {
    let cases = cases();
    let types: std::collections::BTreeSet<&str> = cases.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types.len(), 19, "one case or more per message type: {types:?}");
}

#[test]
fn cdr_bytes_match_rosbags_jazzy_typestore() {
    let Some(python) = worldflow_testkit::project_python("rosbags") else { return };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ros2-msgs");
    std::fs::create_dir_all(&dir).unwrap();
    let cases_path = dir.join("cdr_cases.json");
    let cases = cases();
    std::fs::write(&cases_path, serde_json::to_string_pretty(&cases).unwrap()).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cdr_reference.py");
    worldflow_testkit::run_python_check(&python, &script, &[cases_path.as_os_str()], "rosbags disagrees with our CDR");
    println!("rosbags proof ran: {} cases byte-identical to the rosbags Jazzy typestore", cases.len());
}
