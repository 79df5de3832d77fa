//! Scripted "out-and-back" loop trajectories for the revisit consistency evaluation.
//!
//! The outward pass drives a straight segment then an arc (constant speed, one pose per `step_m`); the
//! return pass goes back along exactly the same path, backwards, so that every return pose equals an
//! outward pose (orientation included) and frames can be compared pairwise. Poses are `world_from_base`
//! (x forward, y left, z up); put a [`crate::Rig`] on them for cameras.

use glam::{Mat4, Quat, Vec2, Vec3};
use serde::{Deserialize, Serialize};

/// The outward path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopSpec {
    pub start_x_m: f32,
    pub start_y_m: f32,
    #[serde(default)]
    pub start_z_m: f32,
    pub start_yaw_deg: f32,
    pub straight_m: f32,
    /// Arc after the straight part; 0° = none. Positive = left.
    #[serde(default)]
    pub turn_deg: f32,
    #[serde(default = "default_radius")]
    pub turn_radius_m: f32,
    /// Distance between consecutive poses, metres.
    pub step_m: f32,
}

fn default_radius() -> f32 {
    10.0
}

/// Poses of the whole loop and the (outward, return) index pairs at equal poses.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopTrajectory {
    pub poses: Vec<Mat4>,
    /// Number of outward poses; the turnaround pose is `poses[outward_len − 1]`.
    pub outward_len: usize,
    /// `(i, j)`: `poses[i] == poses[j]`, `i` outward, `j` on the way back.
    pub pairs: Vec<(usize, usize)>,
}

/// A [`LoopSpec`] that does not describe a loop; names the bad field (`loop` when it is all of them).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct LoopError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> LoopError {
    LoopError { field, message: message.into() }
}

/// Builds an out-and-back trajectory; errors name the bad field.
pub fn out_and_back(spec: &LoopSpec) -> Result<LoopTrajectory, LoopError> {
    let finite = [
        spec.start_x_m,
        spec.start_y_m,
        spec.start_z_m,
        spec.start_yaw_deg,
        spec.straight_m,
        spec.turn_deg,
        spec.turn_radius_m,
        spec.step_m,
    ];
    if finite.iter().any(|v| !v.is_finite()) {
        return Err(bad("loop", "all fields must be finite numbers"));
    }
    if spec.straight_m < 0.0 {
        return Err(bad("straight_m", format!("expected ≥ 0, found {}", spec.straight_m)));
    }
    if spec.turn_deg.abs() > 360.0 {
        return Err(bad("turn_deg", format!("expected degrees in [−360, 360], found {}", spec.turn_deg)));
    }
    if spec.turn_deg != 0.0 && spec.turn_radius_m <= 0.1 {
        return Err(bad("turn_radius_m", format!("expected > 0.1 m, found {}", spec.turn_radius_m)));
    }
    let arc_m = spec.turn_deg.to_radians().abs() * spec.turn_radius_m;
    let total = spec.straight_m + arc_m;
    if spec.step_m <= 0.0 || total / spec.step_m > 100_000.0 {
        return Err(bad("step_m", format!("expected > 0 with at most 100000 poses, found {}", spec.step_m)));
    }
    if total <= 0.0 {
        return Err(bad("straight_m/turn_deg", "the outward path has zero length"));
    }
    let n = (total / spec.step_m).floor() as usize + 1;
    let yaw0 = spec.start_yaw_deg.to_radians();
    let start = Vec2::new(spec.start_x_m, spec.start_y_m);
    let h0 = Vec2::from_angle(yaw0);
    let sign = spec.turn_deg.signum();
    let pose_at = |s: f32| -> Mat4 {
        let (p, yaw) = if s <= spec.straight_m {
            (start + h0 * s, yaw0)
        } else {
            let a = (s - spec.straight_m) / spec.turn_radius_m; // arc angle so far
            let centre = start + h0 * spec.straight_m + h0.perp() * (sign * spec.turn_radius_m);
            let from_centre = -h0.perp() * (sign * spec.turn_radius_m);
            (centre + Vec2::from_angle(sign * a).rotate(from_centre), yaw0 + sign * a)
        };
        Mat4::from_rotation_translation(Quat::from_rotation_z(yaw), Vec3::new(p.x, p.y, spec.start_z_m))
    };
    let mut poses: Vec<Mat4> = (0..n).map(|i| pose_at(i as f32 * spec.step_m)).collect();
    let back: Vec<Mat4> = poses[..n - 1].iter().rev().copied().collect();
    poses.extend(back);
    let pairs = (0..n - 1).map(|j| (n - 2 - j, n + j)).collect();
    Ok(LoopTrajectory { poses, outward_len: n, pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_pass_revisits_outward_poses_exactly() {
        let spec = LoopSpec {
            start_x_m: 5.0,
            start_y_m: 20.0,
            start_z_m: 0.0,
            start_yaw_deg: 90.0,
            straight_m: 30.0,
            turn_deg: 90.0,
            turn_radius_m: 8.0,
            step_m: 0.5,
        };
        let t = out_and_back(&spec).unwrap();
        assert_eq!(t.poses.len(), 2 * t.outward_len - 1);
        assert_eq!(t.pairs.len(), t.outward_len - 1);
        for &(i, j) in &t.pairs {
            assert!(i < t.outward_len && j >= t.outward_len);
            assert_eq!(t.poses[i], t.poses[j]);
        }
        // Consecutive poses are step_m apart and the last pose is back at the start.
        for w in t.poses.windows(2) {
            let d = (w[1].w_axis - w[0].w_axis).truncate().length();
            assert!((d - 0.5).abs() < 1e-3, "{d}");
        }
        assert_eq!(t.poses[0], *t.poses.last().unwrap());
        // After the left turn the heading is west (yaw 180°).
        let turn = t.poses[t.outward_len - 1];
        assert!(turn.x_axis.x < -0.99, "{}", turn.x_axis);
    }

    #[test]
    fn bad_specs_name_fields() {
        let mut spec = LoopSpec {
            start_x_m: 0.0,
            start_y_m: 0.0,
            start_z_m: 0.0,
            start_yaw_deg: 0.0,
            straight_m: 10.0,
            turn_deg: 0.0,
            turn_radius_m: 10.0,
            step_m: 0.0,
        };
        assert!(out_and_back(&spec).unwrap_err().to_string().starts_with("step_m"));
        spec.step_m = 1.0;
        spec.straight_m = -1.0;
        assert!(out_and_back(&spec).unwrap_err().to_string().starts_with("straight_m"));
    }
}
