//! `ackermann_msgs`: driving commands for car-like vehicles.

use serde::{Deserialize, Serialize};

use crate::std_msgs::Header;
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
}

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
}
