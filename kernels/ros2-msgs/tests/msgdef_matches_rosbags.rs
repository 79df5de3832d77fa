//! The `ros2msg` definition of every message type (`Message::DEFINITION`, what a rosbag2 MCAP schema
//! carries) equals the one rosbags' ROS 2 Jazzy typestore generates, and parses back to the typestore's
//! fields (`tests/msgdef_reference.py`, run with the venv `scripts/setup.sh` installs into `.cache/py`).
//!
//! Without the venv, a structural check still runs: every nested type a definition uses has exactly one
//! `MSG:` section, and nothing else has one.

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
use worldflow_ros2_msgs::Message;

fn entry<T: Message>() -> (&'static str, &'static str) {
    (T::TYPE_NAME, T::DEFINITION)
}

/// Every message type of the crate: (type name, definition).
fn definitions() -> Vec<(&'static str, &'static str)> {
    vec![
        entry::<Time>(),
        entry::<Header>(),
        entry::<Image>(),
        entry::<RegionOfInterest>(),
        entry::<CameraInfo>(),
        entry::<Vector3>(),
        entry::<Point>(),
        entry::<Quaternion>(),
        entry::<Pose>(),
        entry::<PoseWithCovariance>(),
        entry::<Twist>(),
        entry::<TwistWithCovariance>(),
        entry::<Transform>(),
        entry::<TransformStamped>(),
        entry::<Odometry>(),
        entry::<TFMessage>(),
        entry::<Clock>(),
        entry::<AckermannDrive>(),
        entry::<AckermannDriveStamped>(),
    ]
}

/// The message types named by the field lines of `section` (`pkg/Type name`, `pkg/Type[] name`, ...), in
/// order; primitive types have no `/`.
fn field_types(section: &str) -> Vec<&str> {
    section
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|ty| ty.split('[').next().unwrap_or(ty))
        .filter(|ty| ty.contains('/'))
        .collect()
}

#[test]
fn definitions_have_one_msg_section_per_nested_type() {
    let separator = format!("{}\nMSG: ", "=".repeat(80));
    for (type_name, definition) in definitions() {
        assert!(definition.ends_with('\n') && !definition.contains("\n\n"), "{type_name}: {definition:?}");
        let mut sections = definition.split(separator.as_str());
        let root = sections.next().unwrap_or_default();
        let mut defined = Vec::new();
        let mut pending: Vec<&str> = field_types(root);
        for section in sections {
            let (name, fields) = section.split_once('\n').unwrap_or_else(|| panic!("{type_name}: {section:?}"));
            defined.push(name);
            pending.extend(field_types(fields));
        }
        // The order (depth-first, first use) is checked against rosbags below; here: the same set, each once.
        let mut used: Vec<&str> = pending.clone();
        used.sort_unstable();
        used.dedup();
        let mut names = defined.clone();
        names.sort_unstable();
        assert_eq!(names.len(), defined.len(), "{type_name}: a type has two MSG: sections");
        assert_eq!(names, used, "{type_name}: MSG: sections differ from the types the fields use");
        let short = type_name.replace("/msg/", "/");
        assert!(!defined.contains(&short.as_str()), "{type_name} includes itself");
    }
    assert_eq!(definitions().len(), 19, "one entry per message type");
}

#[test]
fn definitions_match_rosbags_jazzy_typestore() {
    let Some(python) = worldflow_testkit::project_python("rosbags") else { return };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ros2-msgs");
    std::fs::create_dir_all(&dir).unwrap();
    let cases_path = dir.join("msgdef_cases.json");
    let cases: Vec<Value> =
        definitions().into_iter().map(|(ty, definition)| json!({ "type": ty, "definition": definition })).collect();
    std::fs::write(&cases_path, serde_json::to_string_pretty(&cases).unwrap()).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/msgdef_reference.py");
    worldflow_testkit::run_python_check(
        &python,
        &script,
        &[cases_path.as_os_str()],
        "rosbags disagrees with our definitions",
    );
    println!("rosbags proof ran: {} definitions identical to the rosbags Jazzy typestore", cases.len());
}
