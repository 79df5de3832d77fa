//! Ego agents: a kinematic bicycle (car) driven by throttle/steer/brake and a free camera driven by pose
//! deltas (a drone, driven by velocity set-points, is [`crate::drone`]; [`crate::Ego`] is any of them). All
//! produce `world_from_base` poses; base frame: x forward, y left, z up, origin on the ground
//! under the body centre (the free camera's origin is wherever it flies).
//!
//! Bicycle model (rear-axle reference, integrated exactly for constant steer over a tick):
//! `ẋ = v cos ψ, ẏ = v sin ψ, ψ̇ = v tan δ / L`, `v̇ = throttle·a_max − brake·b_max − c_drag·v`, `v ∈ [0, v_max]`
//! (no reverse). The yaw ψ is counter-clockwise from world +x (left-positive, z up), so a positive wheel angle
//! δ turns left.
//!
//! **Steering sign.** Controls are [`VehicleControl`] of `worldflow-protocol` (CARLA convention: `steer`
//! −1 full left ..= +1 full right), so the wheel angle is `δ = −steer · max_steer`: positive steer turns
//! right (the yaw decreases and the car moves to −y of its heading), negative steer turns left.
//!
//! Invariants: poses stay rigid and finite; bad controls are errors naming the field.

use glam::{Mat4, Quat, Vec2, Vec3};
use serde::{Deserialize, Serialize};
pub use worldflow_protocol::VehicleControl;

/// The state of one ego agent as the Director sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EgoState {
    /// Index of the ego in the scenario's `egos` (each at most once per step; an ego without a state keeps
    /// its last pose, at rest).
    pub index: u32,
    /// Base frame: x forward, y left, z up; origin on the ground under the centre of the ego.
    pub world_from_base: Mat4,
    pub speed_mps: f32,
    /// Half of (length, width, height) of the ego's body, metres (a car: about (2.25, 0.9, 0.75)).
    pub half_extent_m: Vec3,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EgoError {
    /// A vehicle control out of range (names the field: `throttle`, `steer`, `brake`).
    #[error(transparent)]
    Control(#[from] worldflow_protocol::CommandError),
    #[error("{field}: expected {expected}, found {found}")]
    OutOfRange { field: String, expected: String, found: f32 },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

fn check(field: &str, v: f32, lo: f32, hi: f32) -> Result<(), EgoError> {
    if !(v.is_finite() && v >= lo && v <= hi) {
        return Err(EgoError::OutOfRange {
            field: field.into(),
            expected: format!("a value in [{lo}, {hi}]"),
            found: v,
        });
    }
    Ok(())
}

/// Bicycle model parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BicycleParams {
    pub wheelbase_m: f32,
    pub max_steer_deg: f32,
    pub max_accel_mps2: f32,
    pub max_brake_mps2: f32,
    pub max_speed_mps: f32,
    /// Linear drag (rolling resistance), 1/s.
    pub drag_per_sec: f32,
    /// Half of (length, width, height), metres.
    pub half_extent_m: [f32; 3],
}

impl Default for BicycleParams {
    fn default() -> Self {
        Self {
            wheelbase_m: 2.7,
            max_steer_deg: 35.0,
            max_accel_mps2: 3.0,
            max_brake_mps2: 8.0,
            max_speed_mps: 30.0,
            drag_per_sec: 0.02,
            half_extent_m: [2.25, 0.9, 0.75],
        }
    }
}

impl BicycleParams {
    pub fn validate(&self) -> Result<(), EgoError> {
        check("wheelbase_m", self.wheelbase_m, 0.5, 20.0)?;
        check("max_steer_deg", self.max_steer_deg, 1.0, 80.0)?;
        check("max_accel_mps2", self.max_accel_mps2, 0.1, 20.0)?;
        check("max_brake_mps2", self.max_brake_mps2, 0.1, 30.0)?;
        check("max_speed_mps", self.max_speed_mps, 0.1, 100.0)?;
        check("drag_per_sec", self.drag_per_sec, 0.0, 10.0)?;
        for (k, v) in self.half_extent_m.iter().enumerate() {
            check(&format!("half_extent_m[{k}]"), *v, 0.05, 20.0)?;
        }
        Ok(())
    }
}

fn check_dt(dt_secs: f32) -> Result<(), EgoError> {
    if !(dt_secs.is_finite() && dt_secs > 0.0 && dt_secs <= 1.0) {
        return Err(EgoError::OutOfRange {
            field: "dt_secs".into(),
            expected: "a tick in (0, 1] seconds".into(),
            found: dt_secs,
        });
    }
    Ok(())
}

/// A car ego (kinematic bicycle).
#[derive(Debug, Clone, PartialEq)]
pub struct BicycleEgo {
    params: BicycleParams,
    /// Rear-axle position on the ground, metres.
    rear_axle_m: Vec2,
    yaw_rad: f32,
    speed_mps: f32,
}

impl BicycleEgo {
    /// A car whose base (body centre, on the ground) is at `(x, y)` with heading `yaw_rad`, at rest.
    pub fn new(params: BicycleParams, x_m: f32, y_m: f32, yaw_rad: f32) -> Result<Self, EgoError> {
        params.validate()?;
        for (field, v) in [("x_m", x_m), ("y_m", y_m), ("yaw_rad", yaw_rad)] {
            check(field, v, -1e6, 1e6)?;
        }
        let heading = Vec2::from_angle(yaw_rad);
        let rear_axle_m = Vec2::new(x_m, y_m) - heading * (0.5 * params.wheelbase_m);
        Ok(Self { params, rear_axle_m, yaw_rad, speed_mps: 0.0 })
    }

    pub fn params(&self) -> &BicycleParams {
        &self.params
    }

    pub fn speed_mps(&self) -> f32 {
        self.speed_mps
    }

    pub fn set_speed_mps(&mut self, speed_mps: f32) -> Result<(), EgoError> {
        check("speed_mps", speed_mps, 0.0, self.params.max_speed_mps)?;
        self.speed_mps = speed_mps;
        Ok(())
    }

    pub fn yaw_rad(&self) -> f32 {
        self.yaw_rad
    }

    /// Advances by `dt_secs` under `control`; returns the new `world_from_base`.
    pub fn step(&mut self, control: &VehicleControl, dt_secs: f32) -> Result<Mat4, EgoError> {
        control.validate()?;
        check_dt(dt_secs)?;
        let p = &self.params;
        let accel =
            control.throttle * p.max_accel_mps2 - control.brake * p.max_brake_mps2 - p.drag_per_sec * self.speed_mps;
        let v0 = self.speed_mps;
        let v1 = (v0 + accel * dt_secs).clamp(0.0, p.max_speed_mps);
        let distance = 0.5 * (v0 + v1) * dt_secs;
        // CARLA's positive steer is a right turn: a negative (clockwise) wheel angle in this left-positive model.
        let delta = -control.steer * p.max_steer_deg.to_radians();
        let curvature = delta.tan() / p.wheelbase_m;
        let dyaw = distance * curvature;
        let heading = Vec2::from_angle(self.yaw_rad);
        let moved = if dyaw.abs() < 1e-6 {
            heading * distance
        } else {
            // Exact arc of radius 1/curvature.
            let r = 1.0 / curvature;
            Vec2::new(r * dyaw.sin(), r * (1.0 - dyaw.cos())).rotate(heading)
        };
        self.rear_axle_m += moved;
        self.yaw_rad =
            (self.yaw_rad + dyaw + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI;
        self.speed_mps = v1;
        Ok(self.world_from_base())
    }

    /// Moves the car so that its base (body centre on the ground) is at `centre_m`, heading kept, at rest.
    pub fn place_base(&mut self, centre_m: Vec2) {
        let heading = Vec2::from_angle(self.yaw_rad);
        self.rear_axle_m = centre_m - heading * (0.5 * self.params.wheelbase_m);
        self.speed_mps = 0.0;
    }

    pub fn world_from_base(&self) -> Mat4 {
        let heading = Vec2::from_angle(self.yaw_rad);
        let centre = self.rear_axle_m + heading * (0.5 * self.params.wheelbase_m);
        Mat4::from_rotation_translation(Quat::from_rotation_z(self.yaw_rad), centre.extend(0.0))
    }

    /// The state the Director needs.
    pub fn state(&self, index: u32) -> EgoState {
        EgoState {
            index,
            world_from_base: self.world_from_base(),
            speed_mps: self.speed_mps,
            half_extent_m: Vec3::from(self.params.half_extent_m),
        }
    }
}

/// A pose change of a free camera, in its own (yaw-only) frame: forward/left/up metres, yaw/pitch degrees.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoseDelta {
    pub forward_m: f32,
    pub left_m: f32,
    pub up_m: f32,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
}

/// A free-flying camera base (no roll; pitch limited to ±89°).
#[derive(Debug, Clone, PartialEq)]
pub struct FreeCameraEgo {
    position_m: Vec3,
    yaw_rad: f32,
    pitch_rad: f32,
}

const MAX_PITCH_RAD: f32 = 89.0 * std::f32::consts::PI / 180.0;

impl FreeCameraEgo {
    pub fn new(position_m: Vec3, yaw_rad: f32) -> Result<Self, EgoError> {
        if !position_m.is_finite() || !yaw_rad.is_finite() {
            return Err(EgoError::Invalid {
                field: "position_m/yaw_rad".into(),
                message: "expected finite values".into(),
            });
        }
        Ok(Self { position_m, yaw_rad, pitch_rad: 0.0 })
    }

    /// Applies a delta: rotate (yaw, then pitch, clamped), then translate in the new yaw frame (up = world z).
    pub fn apply(&mut self, delta: &PoseDelta) -> Result<Mat4, EgoError> {
        for (field, v) in [
            ("forward_m", delta.forward_m),
            ("left_m", delta.left_m),
            ("up_m", delta.up_m),
            ("yaw_deg", delta.yaw_deg),
            ("pitch_deg", delta.pitch_deg),
        ] {
            check(field, v, -1000.0, 1000.0)?;
        }
        self.yaw_rad = (self.yaw_rad + delta.yaw_deg.to_radians() + std::f32::consts::PI)
            .rem_euclid(std::f32::consts::TAU)
            - std::f32::consts::PI;
        self.pitch_rad = (self.pitch_rad + delta.pitch_deg.to_radians()).clamp(-MAX_PITCH_RAD, MAX_PITCH_RAD);
        let heading = Vec2::from_angle(self.yaw_rad);
        let left = heading.perp();
        self.position_m += (heading * delta.forward_m + left * delta.left_m).extend(delta.up_m);
        Ok(self.world_from_base())
    }

    /// Moves the camera base to `position_m`, orientation kept.
    pub fn place(&mut self, position_m: Vec3) {
        self.position_m = position_m;
    }

    pub fn world_from_base(&self) -> Mat4 {
        // Pitch up (positive) tilts base x towards +z: a rotation about base y by −pitch.
        let rot = Quat::from_rotation_z(self.yaw_rad) * Quat::from_rotation_y(-self.pitch_rad);
        Mat4::from_rotation_translation(rot, self.position_m)
    }

    pub fn state(&self, index: u32) -> EgoState {
        EgoState { index, world_from_base: self.world_from_base(), speed_mps: 0.0, half_extent_m: Vec3::splat(0.3) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn straight(ego: &mut BicycleEgo, control: VehicleControl, ticks: usize) -> Mat4 {
        let mut pose = ego.world_from_base();
        for _ in 0..ticks {
            pose = ego.step(&control, 0.05).unwrap();
        }
        pose
    }

    #[test]
    fn throttle_accelerates_along_heading_and_brake_stops() {
        let mut ego = BicycleEgo::new(BicycleParams::default(), 10.0, 20.0, std::f32::consts::FRAC_PI_2).unwrap();
        let pose = straight(&mut ego, VehicleControl { throttle: 1.0, steer: 0.0, brake: 0.0 }, 40);
        let v = ego.speed_mps();
        assert!(v > 5.0 && v < 6.1, "{v}"); // ≈ 3 m/s² for 2 s minus drag
        let p = pose.w_axis.truncate();
        assert!((p.x - 10.0).abs() < 1e-3 && p.y > 25.0, "{p}"); // moved north only
        straight(&mut ego, VehicleControl { throttle: 0.0, steer: 0.0, brake: 1.0 }, 40);
        assert_eq!(ego.speed_mps(), 0.0);
    }

    #[test]
    fn constant_steer_drives_a_circle_of_the_bicycle_radius() {
        let params = BicycleParams::default();
        let mut ego = BicycleEgo::new(params.clone(), 0.0, 0.0, 0.0).unwrap();
        ego.set_speed_mps(5.0).unwrap();
        let control = VehicleControl { throttle: 0.0, steer: 0.5, brake: 0.0 };
        // Positive steer turns right: the rear axle traces a circle of radius L / tan |δ| around a fixed
        // centre to its right (−y of the heading +x).
        let r = params.wheelbase_m / (0.5 * params.max_steer_deg.to_radians()).tan();
        let rear = |e: &BicycleEgo| {
            let m = e.world_from_base();
            m.w_axis.truncate().truncate() - m.x_axis.truncate().truncate() * (0.5 * params.wheelbase_m)
        };
        let centre = rear(&ego) - Vec2::Y * r;
        ego.params.drag_per_sec = 0.0;
        for _ in 0..200 {
            ego.step(&control, 0.05).unwrap();
            assert!((rear(&ego).distance(centre) - r).abs() < 1e-3);
        }
        assert!(ego.yaw_rad() != 0.0);
    }

    /// Yaw change and lateral displacement (left of the start heading, metres) after `ticks` of `steer`.
    fn turn(steer: f32, ticks: usize) -> (f32, f32) {
        let yaw0 = 0.3;
        let mut ego = BicycleEgo::new(BicycleParams::default(), 10.0, 20.0, yaw0).unwrap();
        ego.set_speed_mps(5.0).unwrap();
        let start = ego.world_from_base();
        let control = VehicleControl { throttle: 0.2, steer, brake: 0.0 };
        let mut pose = start;
        for _ in 0..ticks {
            pose = ego.step(&control, 0.05).unwrap();
        }
        let moved = (pose.w_axis - start.w_axis).truncate().truncate();
        (ego.yaw_rad() - yaw0, moved.dot(start.y_axis.truncate().truncate()))
    }

    #[test]
    fn positive_steer_turns_right_and_negative_steer_left() {
        // CARLA convention (see the module header): positive steer = right = clockwise = yaw decreases.
        let (dyaw, left_m) = turn(0.5, 10);
        assert!(dyaw < -0.1, "yaw change {dyaw}");
        assert!(left_m < -0.1, "moved {left_m} m to the left of the heading (expected to the right)");
        let (dyaw, left_m) = turn(-0.5, 10);
        assert!(dyaw > 0.1 && left_m > 0.1, "steer −0.5: yaw change {dyaw}, {left_m} m left");
        let (dyaw, left_m) = turn(0.0, 10);
        assert!(dyaw.abs() < 1e-6 && left_m.abs() < 1e-4, "straight: {dyaw}, {left_m}");
    }

    #[test]
    fn bad_controls_name_the_field() {
        let mut ego = BicycleEgo::new(BicycleParams::default(), 0.0, 0.0, 0.0).unwrap();
        let err = ego.step(&VehicleControl { throttle: 1.5, steer: 0.0, brake: 0.0 }, 0.05).unwrap_err();
        assert!(err.to_string().starts_with("throttle"), "{err}");
        let err = ego.step(&VehicleControl { throttle: 0.0, steer: f32::NAN, brake: 0.0 }, 0.05).unwrap_err();
        assert!(err.to_string().starts_with("steer"), "{err}");
        let err = ego.step(&VehicleControl::default(), -1.0).unwrap_err();
        assert!(err.to_string().starts_with("dt_secs"), "{err}");
    }

    #[test]
    fn free_camera_moves_in_its_yaw_frame_and_pitch_is_clamped() {
        let mut cam = FreeCameraEgo::new(Vec3::new(1.0, 2.0, 10.0), 0.0).unwrap();
        let pose = cam.apply(&PoseDelta { yaw_deg: 90.0, forward_m: 2.0, ..Default::default() }).unwrap();
        assert!((pose.w_axis.truncate() - Vec3::new(1.0, 4.0, 10.0)).length() < 1e-5);
        let pose = cam.apply(&PoseDelta { pitch_deg: 500.0, ..Default::default() }).unwrap();
        worldflow_protocol::validate_rigid(&pose, "pose").unwrap();
        assert!(pose.x_axis.z > 0.99); // looking (almost) straight up, never past it
    }
}
