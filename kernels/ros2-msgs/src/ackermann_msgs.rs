//! `ackermann_msgs`: driving commands for car-like vehicles.

use serde::{Deserialize, Serialize};

use crate::msgdef::{ros2msg_definition, MsgText};
use crate::std_msgs::{Header, HEADER_MSG};
use crate::Message;

/// `ackermann_msgs/msg/AckermannDrive`: a driving command for a car with Ackermann (front-wheel) steering.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AckermannDrive {
    /// Desired yaw of a virtual wheel at the centre of the front axle, radians; positive = left.
    pub steering_angle: f32,
    /// Desired rate of change of `steering_angle`, rad/s (0 = as fast as possible).
    pub steering_angle_velocity: f32,
    /// Desired forward speed, m/s (negative = reverse), at the centre of the rear axle.
    pub speed: f32,
    /// Desired acceleration magnitude, m/s² (0 = as fast as possible).
    pub acceleration: f32,
    /// Desired jerk magnitude, m/s³ (0 = as fast as possible).
    pub jerk: f32,
}

impl Message for AckermannDrive {
    const TYPE_NAME: &'static str = "ackermann_msgs/msg/AckermannDrive";
    const DEFINITION: &'static str = ros2msg_definition!(ACKERMANN_DRIVE_MSG);
}

/// The `.msg` fields of [`AckermannDrive`].
pub(crate) const ACKERMANN_DRIVE_MSG: MsgText = MsgText {
    name: "ackermann_msgs/AckermannDrive",
    fields: concat!(
        "float32 steering_angle\n",
        "float32 steering_angle_velocity\n",
        "float32 speed\n",
        "float32 acceleration\n",
        "float32 jerk\n"
    ),
    uses: &[],
};

/// `ackermann_msgs/msg/AckermannDriveStamped`: an [`AckermannDrive`] with a header.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AckermannDriveStamped {
    /// Time of the command; `frame_id` usually the vehicle's base frame.
    pub header: Header,
    /// The command.
    pub drive: AckermannDrive,
}

impl Message for AckermannDriveStamped {
    const TYPE_NAME: &'static str = "ackermann_msgs/msg/AckermannDriveStamped";
    const DEFINITION: &'static str = ros2msg_definition!(ACKERMANN_DRIVE_STAMPED_MSG);
}

/// The `.msg` fields of [`AckermannDriveStamped`].
pub(crate) const ACKERMANN_DRIVE_STAMPED_MSG: MsgText = MsgText {
    name: "ackermann_msgs/AckermannDriveStamped",
    fields: concat!("std_msgs/Header header\n", "ackermann_msgs/AckermannDrive drive\n"),
    uses: &[&HEADER_MSG, &ACKERMANN_DRIVE_MSG],
};
