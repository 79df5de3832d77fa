//! `geometry_msgs`: vectors, poses, velocities and transforms (metres, radians, seconds; REP-103).

use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;

use crate::msgdef::{ros2msg_definition, MsgText};
use crate::std_msgs::{Header, HEADER_MSG};
use crate::Message;

/// `geometry_msgs/msg/Vector3`: a free vector (a velocity, a translation).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Vector3 {
    /// x component.
    pub x: f64,
    /// y component.
    pub y: f64,
    /// z component.
    pub z: f64,
}

impl Message for Vector3 {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/Vector3";
    const DEFINITION: &'static str = ros2msg_definition!(VECTOR3_MSG);
}

/// The `.msg` fields of [`Vector3`].
pub(crate) const VECTOR3_MSG: MsgText =
    MsgText { name: "geometry_msgs/Vector3", fields: concat!("float64 x\n", "float64 y\n", "float64 z\n"), uses: &[] };

/// `geometry_msgs/msg/Point`: a position, metres.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    /// x, metres.
    pub x: f64,
    /// y, metres.
    pub y: f64,
    /// z, metres.
    pub z: f64,
}

impl Message for Point {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/Point";
    const DEFINITION: &'static str = ros2msg_definition!(POINT_MSG);
}

/// The `.msg` fields of [`Point`].
pub(crate) const POINT_MSG: MsgText =
    MsgText { name: "geometry_msgs/Point", fields: concat!("float64 x\n", "float64 y\n", "float64 z\n"), uses: &[] };

/// `geometry_msgs/msg/Quaternion`: an orientation, `x, y, z, w` (w last, the scalar part); the default is the
/// identity (`w = 1`), as in ROS 2.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quaternion {
    /// Vector part x.
    pub x: f64,
    /// Vector part y.
    pub y: f64,
    /// Vector part z.
    pub z: f64,
    /// Scalar part.
    pub w: f64,
}

impl Default for Quaternion {
    fn default() -> Self {
        Self { x: 0.0, y: 0.0, z: 0.0, w: 1.0 }
    }
}

impl Message for Quaternion {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/Quaternion";
    const DEFINITION: &'static str = ros2msg_definition!(QUATERNION_MSG);
}

/// The `.msg` fields of [`Quaternion`].
pub(crate) const QUATERNION_MSG: MsgText = MsgText {
    name: "geometry_msgs/Quaternion",
    fields: concat!("float64 x\n", "float64 y\n", "float64 z\n", "float64 w\n"),
    uses: &[],
};

/// `geometry_msgs/msg/Pose`: position and orientation in free space.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Pose {
    /// Position, metres.
    pub position: Point,
    /// Orientation (unit quaternion).
    pub orientation: Quaternion,
}

impl Message for Pose {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/Pose";
    const DEFINITION: &'static str = ros2msg_definition!(POSE_MSG);
}

/// The `.msg` fields of [`Pose`].
pub(crate) const POSE_MSG: MsgText = MsgText {
    name: "geometry_msgs/Pose",
    fields: concat!("geometry_msgs/Point position\n", "geometry_msgs/Quaternion orientation\n"),
    uses: &[&POINT_MSG, &QUATERNION_MSG],
};

/// `geometry_msgs/msg/PoseWithCovariance`: a pose with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoseWithCovariance {
    /// The pose.
    pub pose: Pose,
    /// Row-major 6×6 covariance over (x, y, z, rotation about X, about Y, about Z); a fixed array, no length
    /// prefix in CDR.
    #[serde(with = "BigArray")]
    pub covariance: [f64; 36],
}

impl Default for PoseWithCovariance {
    fn default() -> Self {
        Self { pose: Pose::default(), covariance: [0.0; 36] }
    }
}

impl Message for PoseWithCovariance {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/PoseWithCovariance";
    const DEFINITION: &'static str = ros2msg_definition!(POSE_WITH_COVARIANCE_MSG);
}

/// The `.msg` fields of [`PoseWithCovariance`].
pub(crate) const POSE_WITH_COVARIANCE_MSG: MsgText = MsgText {
    name: "geometry_msgs/PoseWithCovariance",
    fields: concat!("geometry_msgs/Pose pose\n", "float64[36] covariance\n"),
    uses: &[&POSE_MSG],
};

/// `geometry_msgs/msg/Twist`: a velocity, usually in a body frame (x forward, y left, z up).
///
/// As a command on `cmd_vel`: `linear.x` forward speed, m/s; `angular.z` yaw rate, rad/s, positive = turn
/// left (REP-103).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Twist {
    /// Linear velocity, m/s.
    pub linear: Vector3,
    /// Angular velocity, rad/s (right-handed: `z` > 0 is counter-clockwise seen from above, i.e. left).
    pub angular: Vector3,
}

impl Message for Twist {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/Twist";
    const DEFINITION: &'static str = ros2msg_definition!(TWIST_MSG);
}

/// The `.msg` fields of [`Twist`].
pub(crate) const TWIST_MSG: MsgText = MsgText {
    name: "geometry_msgs/Twist",
    fields: concat!("geometry_msgs/Vector3 linear\n", "geometry_msgs/Vector3 angular\n"),
    uses: &[&VECTOR3_MSG],
};

/// `geometry_msgs/msg/TwistWithCovariance`: a velocity with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TwistWithCovariance {
    /// The velocity.
    pub twist: Twist,
    /// Row-major 6×6 covariance over (vx, vy, vz, wx, wy, wz); a fixed array, no length prefix in CDR.
    #[serde(with = "BigArray")]
    pub covariance: [f64; 36],
}

impl Default for TwistWithCovariance {
    fn default() -> Self {
        Self { twist: Twist::default(), covariance: [0.0; 36] }
    }
}

impl Message for TwistWithCovariance {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/TwistWithCovariance";
    const DEFINITION: &'static str = ros2msg_definition!(TWIST_WITH_COVARIANCE_MSG);
}

/// The `.msg` fields of [`TwistWithCovariance`].
pub(crate) const TWIST_WITH_COVARIANCE_MSG: MsgText = MsgText {
    name: "geometry_msgs/TwistWithCovariance",
    fields: concat!("geometry_msgs/Twist twist\n", "float64[36] covariance\n"),
    uses: &[&TWIST_MSG],
};

/// `geometry_msgs/msg/Transform`: a rigid transform (rotate, then translate).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Transform {
    /// Translation, metres.
    pub translation: Vector3,
    /// Rotation (unit quaternion).
    pub rotation: Quaternion,
}

impl Message for Transform {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/Transform";
    const DEFINITION: &'static str = ros2msg_definition!(TRANSFORM_MSG);
}

/// The `.msg` fields of [`Transform`].
pub(crate) const TRANSFORM_MSG: MsgText = MsgText {
    name: "geometry_msgs/Transform",
    fields: concat!("geometry_msgs/Vector3 translation\n", "geometry_msgs/Quaternion rotation\n"),
    uses: &[&VECTOR3_MSG, &QUATERNION_MSG],
};

/// `geometry_msgs/msg/TransformStamped`: the pose of frame `child_frame_id` in frame `header.frame_id`
/// (it maps points from the child frame into the parent frame).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TransformStamped {
    /// `stamp`: time of the transform; `frame_id`: the parent frame.
    pub header: Header,
    /// The child frame.
    pub child_frame_id: String,
    /// Child-to-parent transform.
    pub transform: Transform,
}

impl Message for TransformStamped {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/TransformStamped";
    const DEFINITION: &'static str = ros2msg_definition!(TRANSFORM_STAMPED_MSG);
}

/// The `.msg` fields of [`TransformStamped`].
pub(crate) const TRANSFORM_STAMPED_MSG: MsgText = MsgText {
    name: "geometry_msgs/TransformStamped",
    fields: concat!("std_msgs/Header header\n", "string child_frame_id\n", "geometry_msgs/Transform transform\n"),
    uses: &[&HEADER_MSG, &TRANSFORM_MSG],
};
