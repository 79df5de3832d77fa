//! Drone egos: a quadrotor as a point mass with limits that tracks a body-frame velocity set-point
//! ([`VelocityCommand`]: what a ROS 2 `cmd_vel` Twist carries; REP-103 x forward, y left, z up, yaw rate
//! positive = left).
//!
//! **State.** Base position (world, metres: the centre of the bottom of the body, like a car's base; the
//! town's ground is z = 0), world-frame velocity (m/s) and yaw (rad, counter-clockwise from world +x). The
//! pose has no roll or pitch: a camera on the drone stays level.
//!
//! **Dynamics, per tick of `dt`.** The set-point becomes a world velocity `v* = R_z(yaw)·(forward, left, up)`,
//! its horizontal speed clamped to `max_horizontal_speed_mps` and its vertical one to
//! `max_vertical_speed_mps`; the velocity moves towards `v*` by at most `max_accel_mps2 · dt` (one 3D step);
//! the base advances by the mean of the old and new velocities times `dt`; the yaw by the yaw rate, clamped
//! to `max_yaw_rate_rps`, times `dt`.
//!
//! **Phases** ([`DronePhase`]), decided by the commands alone (no extra message):
//! * `Landed` (on the ground, at rest): holds still; a command with `up_mps > 0` takes off.
//! * `TakingOff`: climbs straight up at `max(up_mps, TAKEOFF_SPEED_MPS)` (horizontal and yaw commands wait)
//!   until the base reaches the **altitude floor**, `floor_clearance_m` above the ground; then `Flying`.
//! * `Flying`: tracks the set-point between the floor and `ceiling_m` (the base is clamped there and the
//!   vertical velocity zeroed: limits, not collisions). At the floor, a command to descend (`up_mps < 0`)
//!   with horizontal speed and command below [`LAND_MAX_HORIZONTAL_MPS`] lands: `Landing`.
//! * `Landing`: descends straight down at `landing_speed_mps` to the ground, then `Landed`; `up_mps > 0`
//!   takes off again.
//!
//! **Collisions.** The motion of each tick is swept ([`crate::collision::sweep`]) against the static town
//! and the other bodies: at the first sub-step that would touch something the drone stops at the last free
//! position (velocity 0) and the step returns what it hit. It never flies through anything.
//!
//! Invariants: the state stays finite; bad commands and parameters are errors naming the field.

use glam::{Mat4, Quat, Vec2, Vec3};
use serde::{Deserialize, Serialize};
use worldflow_protocol::VelocityCommand;

use crate::collision::{sweep, Hit, Surroundings};
use crate::ego::{EgoError, EgoState};

/// Climb speed of a take-off asked for with a smaller (or no longer any) vertical speed, m/s.
pub const TAKEOFF_SPEED_MPS: f32 = 0.5;
/// Horizontal speed (and commanded speed) under which a descent at the floor becomes a landing, m/s.
pub const LAND_MAX_HORIZONTAL_MPS: f32 = 0.3;

/// Limits and size of a drone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DroneParams {
    pub max_accel_mps2: f32,
    pub max_horizontal_speed_mps: f32,
    pub max_vertical_speed_mps: f32,
    pub max_yaw_rate_rps: f32,
    /// Lowest base height above the ground while flying, metres.
    pub floor_clearance_m: f32,
    /// Highest base height above the ground, metres.
    pub ceiling_m: f32,
    /// Descent speed of a landing, m/s.
    pub landing_speed_mps: f32,
    /// Half of (length, width, height) of the body with its rotors, metres.
    pub half_extent_m: [f32; 3],
}

impl Default for DroneParams {
    fn default() -> Self {
        Self {
            max_accel_mps2: 4.0,
            max_horizontal_speed_mps: 8.0,
            max_vertical_speed_mps: 3.0,
            max_yaw_rate_rps: 2.0,
            floor_clearance_m: 1.0,
            ceiling_m: 120.0,
            landing_speed_mps: 0.5,
            half_extent_m: [0.35, 0.35, 0.1],
        }
    }
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

impl DroneParams {
    pub fn validate(&self) -> Result<(), EgoError> {
        check("max_accel_mps2", self.max_accel_mps2, 0.1, 50.0)?;
        check("max_horizontal_speed_mps", self.max_horizontal_speed_mps, 0.1, 50.0)?;
        check("max_vertical_speed_mps", self.max_vertical_speed_mps, 0.1, 20.0)?;
        check("max_yaw_rate_rps", self.max_yaw_rate_rps, 0.1, 20.0)?;
        check("floor_clearance_m", self.floor_clearance_m, 0.1, 100.0)?;
        check("ceiling_m", self.ceiling_m, self.floor_clearance_m, crate::bounds::MAX_ALTITUDE_M)?;
        check("landing_speed_mps", self.landing_speed_mps, 0.05, self.max_vertical_speed_mps)?;
        for (k, v) in self.half_extent_m.iter().enumerate() {
            check(&format!("half_extent_m[{k}]"), *v, 0.02, 5.0)?;
        }
        Ok(())
    }

    /// Half extents of the clearance box: the horizontal half-diagonal (any yaw fits) and the half height.
    pub fn clearance_half_m(&self) -> Vec3 {
        let [x, y, z] = self.half_extent_m;
        Vec3::new(x.hypot(y), x.hypot(y), z)
    }
}

/// Where a drone is in its flight (see the module header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DronePhase {
    Landed,
    TakingOff,
    Flying,
    Landing,
}

/// A quadrotor ego.
#[derive(Debug, Clone, PartialEq)]
pub struct DroneEgo {
    params: DroneParams,
    position_m: Vec3,
    velocity_mps: Vec3,
    yaw_rad: f32,
    phase: DronePhase,
}

fn wrap_angle(a: f32) -> f32 {
    (a + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI
}

/// `v` with its length clamped to `max`.
fn clamp_len2(v: Vec2, max: f32) -> Vec2 {
    v.clamp_length_max(max)
}

impl DroneEgo {
    /// A drone at rest with its base at `position_m`: `Landed` on the ground (z = 0), else `Flying`, which
    /// needs the base at the altitude floor or above.
    pub fn new(params: DroneParams, position_m: Vec3, yaw_rad: f32) -> Result<Self, EgoError> {
        params.validate()?;
        for (field, v) in [("x_m", position_m.x), ("y_m", position_m.y), ("yaw_rad", yaw_rad)] {
            check(field, v, -1e6, 1e6)?;
        }
        check("z_m", position_m.z, 0.0, params.ceiling_m)?;
        let phase = if position_m.z == 0.0 { DronePhase::Landed } else { DronePhase::Flying };
        if phase == DronePhase::Flying && position_m.z < params.floor_clearance_m {
            return Err(EgoError::Invalid {
                field: "z_m".into(),
                message: format!(
                    "a drone starts landed (0) or flying at least floor_clearance_m = {} m up, found {}",
                    params.floor_clearance_m, position_m.z
                ),
            });
        }
        Ok(Self { params, position_m, velocity_mps: Vec3::ZERO, yaw_rad: wrap_angle(yaw_rad), phase })
    }

    /// A drone seen at `position_m` / `yaw_rad` (e.g. its last reported pose), velocity unknown (0): `Landed` on
    /// the ground, `TakingOff` below the altitude floor, else `Flying`. What a controller that only sees poses
    /// knows of it.
    pub fn observed(params: DroneParams, position_m: Vec3, yaw_rad: f32) -> Self {
        let phase = match position_m.z {
            z if z <= 0.0 => DronePhase::Landed,
            z if z < params.floor_clearance_m => DronePhase::TakingOff,
            _ => DronePhase::Flying,
        };
        Self { params, position_m, velocity_mps: Vec3::ZERO, yaw_rad: wrap_angle(yaw_rad), phase }
    }

    pub fn params(&self) -> &DroneParams {
        &self.params
    }

    pub fn phase(&self) -> DronePhase {
        self.phase
    }

    /// Base position, world frame, metres.
    pub fn position_m(&self) -> Vec3 {
        self.position_m
    }

    /// World-frame velocity, m/s.
    pub fn velocity_mps(&self) -> Vec3 {
        self.velocity_mps
    }

    pub fn yaw_rad(&self) -> f32 {
        self.yaw_rad
    }

    /// Moves the base to `position_m` and stops (the world boundary's clamp).
    pub fn place(&mut self, position_m: Vec3) {
        self.position_m = position_m;
        self.velocity_mps = Vec3::ZERO;
    }

    /// Advances by `dt_secs` towards the set-point `cmd`; returns what stopped the drone, if anything did.
    pub fn step(
        &mut self,
        cmd: &VelocityCommand,
        dt_secs: f32,
        around: &Surroundings,
    ) -> Result<Option<Hit>, EgoError> {
        cmd.validate()?;
        check("dt_secs", dt_secs, 1e-6, crate::director::MAX_DT_SECS)?;
        let p = self.params.clone();
        let floor = p.floor_clearance_m;
        // Phase changes that the command asks for, before moving.
        let horizontal_cmd = Vec2::new(cmd.forward_mps, cmd.left_mps).length();
        self.phase = match self.phase {
            DronePhase::Landed if cmd.up_mps > 0.0 => DronePhase::TakingOff,
            DronePhase::Landing if cmd.up_mps > 0.0 => DronePhase::TakingOff,
            DronePhase::Flying
                if self.position_m.z <= floor + 1e-3
                    && cmd.up_mps < 0.0
                    && horizontal_cmd < LAND_MAX_HORIZONTAL_MPS
                    && self.velocity_mps.truncate().length() < LAND_MAX_HORIZONTAL_MPS =>
            {
                DronePhase::Landing
            }
            other => other,
        };
        let (target, yaw_rate) = match self.phase {
            DronePhase::Landed => {
                self.velocity_mps = Vec3::ZERO;
                return Ok(None);
            }
            DronePhase::TakingOff => (Vec3::Z * cmd.up_mps.max(TAKEOFF_SPEED_MPS).min(p.max_vertical_speed_mps), 0.0),
            DronePhase::Landing => (Vec3::NEG_Z * p.landing_speed_mps, 0.0),
            DronePhase::Flying => {
                let horizontal = Vec2::from_angle(self.yaw_rad).rotate(Vec2::new(cmd.forward_mps, cmd.left_mps));
                let horizontal = clamp_len2(horizontal, p.max_horizontal_speed_mps);
                let up = cmd.up_mps.clamp(-p.max_vertical_speed_mps, p.max_vertical_speed_mps);
                (horizontal.extend(up), cmd.yaw_rate_rps.clamp(-p.max_yaw_rate_rps, p.max_yaw_rate_rps))
            }
        };
        let v0 = self.velocity_mps;
        let v1 = v0 + (target - v0).clamp_length_max(p.max_accel_mps2 * dt_secs);
        let mut to = self.position_m + 0.5 * (v0 + v1) * dt_secs;
        let mut v1 = v1;
        // Altitude limits: the floor while flying, the ground while taking off or landing, the ceiling.
        let lowest = if self.phase == DronePhase::Flying { floor } else { 0.0 };
        if to.z < lowest {
            to.z = lowest;
            v1.z = v1.z.max(0.0);
        }
        if to.z > p.ceiling_m {
            to.z = p.ceiling_m;
            v1.z = v1.z.min(0.0);
        }
        let half = p.clearance_half_m();
        let centre = |base: Vec3| base + Vec3::Z * half.z;
        let swept = sweep(centre(self.position_m), centre(to), half, around);
        self.yaw_rad = wrap_angle(self.yaw_rad + yaw_rate * dt_secs);
        if let Some(hit) = swept.hit {
            self.position_m = swept.reached_m - Vec3::Z * half.z;
            self.velocity_mps = Vec3::ZERO;
            return Ok(Some(hit));
        }
        self.position_m = to;
        self.velocity_mps = v1;
        match self.phase {
            DronePhase::TakingOff if to.z >= floor => self.phase = DronePhase::Flying,
            DronePhase::Landing if to.z <= 0.0 => {
                self.phase = DronePhase::Landed;
                self.velocity_mps = Vec3::ZERO;
            }
            _ => {}
        }
        Ok(None)
    }

    /// `world_from_base`: yaw only.
    pub fn world_from_base(&self) -> Mat4 {
        Mat4::from_rotation_translation(Quat::from_rotation_z(self.yaw_rad), self.position_m)
    }

    pub fn state(&self, index: u32) -> EgoState {
        EgoState {
            index,
            world_from_base: self.world_from_base(),
            speed_mps: self.velocity_mps.length(),
            half_extent_m: Vec3::from(self.params.half_extent_m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{GridSpec, SemanticClass, SemanticGrid};
    use glam::UVec3;

    const DT: f32 = 0.1;

    fn up(v: f32) -> VelocityCommand {
        VelocityCommand { up_mps: v, ..Default::default() }
    }

    fn run(d: &mut DroneEgo, cmd: VelocityCommand, ticks: usize) {
        for _ in 0..ticks {
            assert_eq!(d.step(&cmd, DT, &Surroundings::default()).unwrap(), None);
        }
    }

    #[test]
    fn take_off_hover_and_land_by_commands() {
        let mut d = DroneEgo::new(DroneParams::default(), Vec3::new(5.0, 5.0, 0.0), 0.0).unwrap();
        run(&mut d, VelocityCommand { forward_mps: 3.0, ..Default::default() }, 10);
        assert_eq!((d.phase(), d.position_m()), (DronePhase::Landed, Vec3::new(5.0, 5.0, 0.0)), "no sliding");
        // Take-off climbs straight up, even with a horizontal command, to the floor.
        run(&mut d, VelocityCommand { forward_mps: 3.0, up_mps: 2.0, ..Default::default() }, 3);
        assert_eq!(d.phase(), DronePhase::TakingOff);
        assert_eq!(d.position_m().truncate(), Vec2::new(5.0, 5.0));
        run(&mut d, up(2.0), 20);
        assert_eq!(d.phase(), DronePhase::Flying);
        assert!(d.position_m().z > 3.0, "{}", d.position_m());
        // Hover holds the altitude once the velocity has decayed (acceleration-limited).
        run(&mut d, up(0.0), 10);
        let z = d.position_m().z;
        run(&mut d, up(0.0), 10);
        assert!((d.position_m().z - z).abs() < 1e-4);
        // Descending stops at the floor, then lands and stays landed.
        let mut ticks = 0;
        while d.phase() == DronePhase::Flying && ticks < 100 {
            run(&mut d, up(-3.0), 1);
            ticks += 1;
            assert!(d.position_m().z >= 1.0 || d.phase() == DronePhase::Landing, "the floor holds while flying");
        }
        assert_eq!(d.phase(), DronePhase::Landing, "at {}", d.position_m());
        run(&mut d, up(-3.0), 40);
        assert_eq!((d.phase(), d.position_m().z, d.velocity_mps()), (DronePhase::Landed, 0.0, Vec3::ZERO));
    }

    #[test]
    fn limits_hold_speed_acceleration_yaw_rate_floor_and_ceiling() {
        let p = DroneParams { ceiling_m: 20.0, ..DroneParams::default() };
        let mut d = DroneEgo::new(p.clone(), Vec3::new(0.0, 0.0, 10.0), 0.0).unwrap();
        let fast = VelocityCommand { forward_mps: 50.0, left_mps: 50.0, up_mps: 50.0, yaw_rate_rps: 10.0 };
        let mut v_prev = Vec3::ZERO;
        for _ in 0..100 {
            let yaw0 = d.yaw_rad();
            d.step(&fast, DT, &Surroundings::default()).unwrap();
            let v = d.velocity_mps();
            // (Reaching the ceiling stops the climb at once: a limit, not a manoeuvre.)
            let limit = if d.position_m().z < 20.0 { p.max_accel_mps2 * DT } else { p.max_vertical_speed_mps };
            assert!((v - v_prev).length() <= limit + 1e-4, "acceleration limit");
            assert!(v.truncate().length() <= p.max_horizontal_speed_mps + 1e-4);
            assert!(v.z <= p.max_vertical_speed_mps + 1e-4);
            assert!(wrap_angle(d.yaw_rad() - yaw0).abs() <= p.max_yaw_rate_rps * DT + 1e-5);
            assert!(d.position_m().z <= 20.0);
            v_prev = v;
        }
        assert_eq!(d.position_m().z, 20.0, "at the ceiling");
        let mut d = DroneEgo::new(p, Vec3::new(0.0, 0.0, 3.0), 0.0).unwrap();
        run(&mut d, VelocityCommand { forward_mps: 2.0, up_mps: -3.0, ..Default::default() }, 40);
        assert_eq!((d.phase(), d.position_m().z), (DronePhase::Flying, 1.0), "the floor holds while moving");
    }

    #[test]
    fn body_frame_commands_follow_rep_103() {
        // Facing +y (yaw 90°): forward is +y, left is −x, a positive yaw rate turns left (yaw grows).
        let mut d = DroneEgo::new(DroneParams::default(), Vec3::new(50.0, 50.0, 10.0), 90f32.to_radians()).unwrap();
        run(&mut d, VelocityCommand { forward_mps: 1.0, left_mps: 1.0, ..Default::default() }, 30);
        let moved = d.position_m() - Vec3::new(50.0, 50.0, 10.0);
        assert!(moved.y > 1.0 && moved.x < -1.0 && moved.z.abs() < 1e-5, "{moved}");
        let yaw0 = d.yaw_rad();
        run(&mut d, VelocityCommand { yaw_rate_rps: 0.5, ..Default::default() }, 2);
        assert!((d.yaw_rad() - yaw0 - 0.1).abs() < 1e-5);
    }

    #[test]
    fn a_fast_drone_stops_at_a_wall_and_reports_it() {
        let spec = GridSpec::new(Vec3::new(0.0, 0.0, -1.0), 1.0, UVec3::new(40, 10, 10)).unwrap();
        let mut g = SemanticGrid::new_empty(spec);
        for j in 0..10 {
            for k in 1..10 {
                g.set(UVec3::new(20, j, k), SemanticClass::Building);
            }
        }
        let around = Surroundings { grid: Some(&g), bodies: &[] };
        let mut d = DroneEgo::new(DroneParams::default(), Vec3::new(10.0, 5.0, 4.0), 0.0).unwrap();
        let go = VelocityCommand { forward_mps: 8.0, ..Default::default() };
        let mut hits = Vec::new();
        for _ in 0..60 {
            hits.extend(d.step(&go, 1.0, &around).unwrap());
            let x = d.position_m().x + d.params().clearance_half_m().x;
            assert!(x <= 20.0, "never into the wall: {}", d.position_m());
        }
        assert_eq!(hits[0], Hit::Static { class: SemanticClass::Building });
        assert!(d.position_m().x > 19.0 - 0.5, "stopped just before it: {}", d.position_m());
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let e = DroneEgo::new(DroneParams::default(), Vec3::new(0.0, 0.0, 0.5), 0.0).unwrap_err();
        assert!(e.to_string().starts_with("z_m: a drone starts landed"), "{e}");
        let e = DroneEgo::new(DroneParams { max_accel_mps2: 0.0, ..Default::default() }, Vec3::ZERO, 0.0).unwrap_err();
        assert!(e.to_string().starts_with("max_accel_mps2"), "{e}");
        let mut d = DroneEgo::new(DroneParams::default(), Vec3::ZERO, 0.0).unwrap();
        let e = d.step(&up(f32::NAN), DT, &Surroundings::default()).unwrap_err();
        assert!(e.to_string().starts_with("up_mps"), "{e}");
    }
}
