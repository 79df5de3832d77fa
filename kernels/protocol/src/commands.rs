//! What a controller sends an ego, one type per control level: [`VehicleControl`] (pedals and steering, CARLA
//! convention), [`VelocityCommand`] (a body-frame velocity set-point, what a ROS 2 `cmd_vel` Twist carries)
//! and [`AckermannCommand`] (speed and wheel angle, `ackermann_msgs/AckermannDrive`).
//!
//! Signs: `VehicleControl::steer` is positive to the **right** (CARLA); yaw rates and wheel angles are
//! positive to the **left** (REP-103: counter-clockwise seen from above, about z up). Whatever maps one onto
//! the other flips the sign, and says so.

use serde::{Deserialize, Serialize};

/// The largest speed a command may ask for, m/s (any faster is a bad input, not a set-point).
pub const MAX_COMMAND_SPEED_MPS: f32 = 100.0;
/// The largest yaw rate a command may ask for, rad/s (two turns a second).
pub const MAX_COMMAND_YAW_RATE_RPS: f32 = 4.0 * std::f32::consts::PI;
/// The largest wheel angle an Ackermann command may ask for, rad (just under 90°).
pub const MAX_STEERING_ANGLE_RAD: f32 = 1.5;

/// A command field out of its range (or not finite); names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: expected {expected}, found {found}")]
pub struct CommandError {
    /// The field, e.g. `throttle` or `yaw_rate_rps`.
    pub field: &'static str,
    /// The accepted range, e.g. `0..=1`.
    pub expected: &'static str,
    pub found: f32,
}

/// Checks `(field, value, lo, hi, expected)` rows: each value finite and in `lo..=hi`.
fn check_fields(rows: &[(&'static str, f32, f32, f32, &'static str)]) -> Result<(), CommandError> {
    for &(field, found, lo, hi, expected) in rows {
        if !(found.is_finite() && (lo..=hi).contains(&found)) {
            return Err(CommandError { field, expected, found });
        }
    }
    Ok(())
}

/// Vehicle controls as a driving stack sends them (CARLA convention). The one vehicle-control type of
/// worldflow: the sensors' drive scripts, the keyboard mapping and the world's bicycle model all use it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct VehicleControl {
    /// 0..=1.
    pub throttle: f32,
    /// Steering, −1 (full left) ..= 1 (full right): **positive steers right** (clockwise seen from above,
    /// the yaw decreases), as in CARLA. The bicycle model of `worldflow-world` maps `steer` to the wheel
    /// angle `δ = −steer · max_steer` of its left-positive yaw convention.
    pub steer: f32,
    /// 0..=1.
    pub brake: f32,
}

impl VehicleControl {
    /// Checks every field is finite and in range: throttle and brake in 0..=1, steer in −1..=1.
    pub fn validate(&self) -> Result<(), CommandError> {
        check_fields(&[
            ("throttle", self.throttle, 0.0, 1.0, "0..=1"),
            ("steer", self.steer, -1.0, 1.0, "-1..=1"),
            ("brake", self.brake, 0.0, 1.0, "0..=1"),
        ])
    }
}

/// A velocity set-point in the ego's body frame (REP-103: x forward, y left, z up), held for one tick: what
/// a ROS 2 `geometry_msgs/Twist` on `cmd_vel` asks for. Cars follow `forward_mps` (no reverse: a negative
/// speed stops them) and `yaw_rate_rps`; free cameras and drones follow all four.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct VelocityCommand {
    /// Forward speed, m/s (`linear.x`).
    pub forward_mps: f32,
    /// Sideways speed, m/s, positive = left (`linear.y`).
    pub left_mps: f32,
    /// Vertical speed, m/s, positive = up (`linear.z`).
    pub up_mps: f32,
    /// Yaw rate, rad/s, **positive = turn left** (`angular.z`).
    pub yaw_rate_rps: f32,
}

impl VelocityCommand {
    /// Checks every field is finite, speeds within ±[`MAX_COMMAND_SPEED_MPS`] and the yaw rate within
    /// ±[`MAX_COMMAND_YAW_RATE_RPS`].
    pub fn validate(&self) -> Result<(), CommandError> {
        let (v, w) = (MAX_COMMAND_SPEED_MPS, MAX_COMMAND_YAW_RATE_RPS);
        check_fields(&[
            ("forward_mps", self.forward_mps, -v, v, "-100..=100 m/s"),
            ("left_mps", self.left_mps, -v, v, "-100..=100 m/s"),
            ("up_mps", self.up_mps, -v, v, "-100..=100 m/s"),
            ("yaw_rate_rps", self.yaw_rate_rps, -w, w, "-4π..=4π rad/s"),
        ])
    }
}

/// A speed and front-wheel-angle set-point for a car (`ackermann_msgs/AckermannDrive`), held for one tick.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AckermannCommand {
    /// Forward speed, m/s (no reverse: a negative speed stops the car).
    pub speed_mps: f32,
    /// Front wheel angle, rad, **positive = left** (REP-103); the car clamps it to its steering limit.
    pub steering_angle_rad: f32,
}

impl AckermannCommand {
    /// Checks both fields are finite, the speed within ±[`MAX_COMMAND_SPEED_MPS`] and the angle within
    /// ±[`MAX_STEERING_ANGLE_RAD`].
    pub fn validate(&self) -> Result<(), CommandError> {
        let (v, a) = (MAX_COMMAND_SPEED_MPS, MAX_STEERING_ANGLE_RAD);
        check_fields(&[
            ("speed_mps", self.speed_mps, -v, v, "-100..=100 m/s"),
            ("steering_angle_rad", self.steering_angle_rad, -a, a, "-1.5..=1.5 rad"),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_field_out_of_range() {
        assert_eq!(VehicleControl { throttle: 1.0, steer: -1.0, brake: 0.0 }.validate(), Ok(()));
        let err = VehicleControl { throttle: 0.0, steer: 1.5, brake: 0.0 }.validate().unwrap_err();
        assert_eq!(err.field, "steer");
        assert_eq!(err.to_string(), "steer: expected -1..=1, found 1.5");
        let err = VehicleControl { throttle: f32::NAN, steer: 0.0, brake: 0.0 }.validate().unwrap_err();
        assert_eq!(err.field, "throttle");
        let err = VehicleControl { throttle: 0.0, steer: 0.0, brake: -0.1 }.validate().unwrap_err();
        assert_eq!(err.field, "brake");
    }

    #[test]
    fn set_points_are_checked() {
        let ok = VelocityCommand { forward_mps: 3.0, left_mps: 0.0, up_mps: -1.0, yaw_rate_rps: -0.5 };
        assert_eq!(ok.validate(), Ok(()));
        let e = VelocityCommand { yaw_rate_rps: f32::INFINITY, ..ok }.validate().unwrap_err();
        assert_eq!(e.field, "yaw_rate_rps");
        let e = VelocityCommand { forward_mps: 1e3, ..ok }.validate().unwrap_err();
        assert_eq!(e.to_string(), "forward_mps: expected -100..=100 m/s, found 1000");
        assert_eq!(AckermannCommand { speed_mps: 5.0, steering_angle_rad: 0.3 }.validate(), Ok(()));
        let e = AckermannCommand { speed_mps: f32::NAN, steering_angle_rad: 0.0 }.validate().unwrap_err();
        assert_eq!(e.field, "speed_mps");
        let e = AckermannCommand { speed_mps: 1.0, steering_angle_rad: 2.0 }.validate().unwrap_err();
        assert_eq!(e.field, "steering_angle_rad");
    }
}
