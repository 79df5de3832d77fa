//! The dual action representation (WorldPlay): discrete keys ↔ continuous camera poses ↔ the 81-way label.
//!
//! Camera axes are OpenCV (x right, y down, z forward). Keys move the camera in its own frame:
//! `w`/`s` ±z, `d`/`a` ±x by `step_m`; `right`/`left` yaw about camera y (towards ±x), `up`/`down` pitch about
//! camera x (towards −y, the top of the image) by `step_rad`. So `c2w_i = c2w_{i−1} · [R_rel | t_rel]`.
//!
//! Label of a pose pair (thresholds from reference/world-models.md §2): `rel = c2w_{i−1}⁻¹ · c2w_i`;
//! translation class from the angle of `t_rel` to +z (< 60° forward, > 120° back) and to +x
//! (< 60° right, > 120° left) when |t| > 1e-4; rotation class from the xyz Euler angles of `R_rel`
//! (y > 0.05° yaw right, y < −0.05° yaw left; x > 0.05° pitch up, x < −0.05° pitch down). Each class is
//! 0..8 from its one-hot pair {none 0, a 1, b 2, c 3, d 4, a+c 5, a+d 6, b+c 7, b+d 8};
//! label = 9 · translation + rotation.

use glam::{Mat3, Mat4, Vec3};
use worldflow_protocol::{rigid_inverse, Keys};

/// Default translation per tick (WorldPlay: 0.08 units per latent).
pub const DEFAULT_STEP_M: f32 = 0.08;
/// Default rotation per tick (3°).
pub const DEFAULT_STEP_DEG: f32 = 3.0;

#[derive(Debug, Clone, Copy)]
pub struct KeyStep {
    pub step_m: f32,
    pub step_rad: f32,
}

impl Default for KeyStep {
    fn default() -> Self {
        Self { step_m: DEFAULT_STEP_M, step_rad: DEFAULT_STEP_DEG.to_radians() }
    }
}

/// The relative motion (`prev_camera_from_camera`) of one tick holding `keys`.
pub fn relative_motion(keys: Keys, step: KeyStep) -> Mat4 {
    let axis = |pos: Keys, neg: Keys| (keys.contains(pos) as i32 - keys.contains(neg) as i32) as f32;
    let t = Vec3::new(axis(Keys::D, Keys::A), 0.0, axis(Keys::W, Keys::S)) * step.step_m;
    let yaw = axis(Keys::RIGHT, Keys::LEFT) * step.step_rad;
    let pitch = axis(Keys::UP, Keys::DOWN) * step.step_rad;
    // Extrinsic xyz (R = Ry(yaw)·Rx(pitch)), so the label's Euler extraction returns (pitch, yaw) back.
    let r = Mat3::from_rotation_y(yaw) * Mat3::from_rotation_x(pitch);
    Mat4::from_cols(r.x_axis.extend(0.0), r.y_axis.extend(0.0), r.z_axis.extend(0.0), t.extend(1.0))
}

/// Applies one tick of `keys` to a camera pose.
pub fn apply_keys(world_from_camera: Mat4, keys: Keys, step: KeyStep) -> Mat4 {
    world_from_camera * relative_motion(keys, step)
}

/// xyz Euler angles (extrinsic: R = Rz(c)·Ry(b)·Rx(a)), returned as (a, b, c) in radians.
pub fn euler_xyz(r: Mat3) -> Vec3 {
    // Row-major element access: r.col(j)[i] = R[i][j].
    let m = |i: usize, j: usize| r.col(j)[i];
    let b = (-m(2, 0)).clamp(-1.0, 1.0).asin();
    let a = m(2, 1).atan2(m(2, 2));
    let c = m(1, 0).atan2(m(0, 0));
    Vec3::new(a, b, c)
}

fn pair_class(a: bool, b: bool, c: bool, d: bool) -> u8 {
    let first = if a {
        1
    } else if b {
        2
    } else {
        0
    };
    let second = if c {
        1
    } else if d {
        2
    } else {
        0
    };
    match (first, second) {
        (0, 0) => 0,
        (1, 0) => 1,
        (2, 0) => 2,
        (0, 1) => 3,
        (0, 2) => 4,
        (1, 1) => 5,
        (1, 2) => 6,
        (2, 1) => 7,
        _ => 8,
    }
}

/// The 81-way label of the motion from `prev` to `cur` (both `world_from_camera`).
pub fn pose_label(prev: &Mat4, cur: &Mat4) -> u8 {
    let rel = rigid_inverse(prev) * *cur;
    let t = rel.w_axis.truncate();
    let (mut fwd, mut back, mut right, mut left) = (false, false, false, false);
    let norm = t.length();
    if norm > 1e-4 {
        let angle_z = (t.z / norm).clamp(-1.0, 1.0).acos().to_degrees();
        let angle_x = (t.x / norm).clamp(-1.0, 1.0).acos().to_degrees();
        fwd = angle_z < 60.0;
        back = angle_z > 120.0;
        right = angle_x < 60.0;
        left = angle_x > 120.0;
    }
    let e = euler_xyz(Mat3::from_mat4(rel));
    let thr = 0.05f32.to_radians();
    let translation = pair_class(fwd, back, right, left);
    let rotation = pair_class(e.y > thr, e.y < -thr, e.x > thr, e.x < -thr);
    9 * translation + rotation
}

/// The key set a label stands for (its inverse on the 81 classes).
pub fn label_keys(label: u8) -> Keys {
    let decode = |class: u8, a: Keys, b: Keys, c: Keys, d: Keys| match class {
        1 => a,
        2 => b,
        3 => c,
        4 => d,
        5 => a.union(c),
        6 => a.union(d),
        7 => b.union(c),
        8 => b.union(d),
        _ => Keys::NONE,
    };
    decode(label / 9, Keys::W, Keys::S, Keys::D, Keys::A).union(decode(
        label % 9,
        Keys::RIGHT,
        Keys::LEFT,
        Keys::UP,
        Keys::DOWN,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Mat4, b: Mat4) -> bool {
        (a - b).to_cols_array().iter().all(|v| v.abs() < 1e-5)
    }

    #[test]
    fn forward_moves_along_camera_z() {
        let c2w = apply_keys(Mat4::IDENTITY, Keys::W, KeyStep::default());
        assert!(close(c2w, Mat4::from_translation(Vec3::new(0.0, 0.0, 0.08))));
        assert_eq!(pose_label(&Mat4::IDENTITY, &c2w), 9);
    }

    #[test]
    fn hand_computed_labels() {
        let s = KeyStep::default();
        let cases = [
            (Keys::NONE, 0),
            (Keys::S, 18),
            (Keys::D, 27),
            (Keys::A, 36),
            (Keys::RIGHT, 1),
            (Keys::LEFT, 2),
            (Keys::UP, 3),
            (Keys::DOWN, 4),
            (Keys::W.union(Keys::D), 45),
            (Keys::S.union(Keys::A).union(Keys::LEFT).union(Keys::DOWN), 9 * 8 + 8),
        ];
        for (keys, label) in cases {
            let start = Mat4::from_rotation_translation(glam::Quat::from_rotation_z(0.7), Vec3::new(3.0, -1.0, 2.0));
            assert_eq!(pose_label(&start, &apply_keys(start, keys, s)), label, "{keys:?}");
        }
    }

    #[test]
    fn yaw_right_turns_forward_towards_plus_x() {
        let r = relative_motion(Keys::RIGHT, KeyStep { step_m: 0.0, step_rad: 0.5 });
        let fwd = r.transform_vector3(Vec3::Z);
        assert!(fwd.x > 0.4 && fwd.z > 0.8, "{fwd}");
        let up = relative_motion(Keys::UP, KeyStep { step_m: 0.0, step_rad: 0.5 }).transform_vector3(Vec3::Z);
        assert!(up.y < -0.4, "pitch up looks towards −y (image top): {up}");
    }

    #[test]
    fn every_label_round_trips_through_keys_and_poses() {
        // Property over all 81 classes and many start poses: label → keys → pose → label is the identity.
        let s = KeyStep::default();
        let mut rng = worldflow_base::SplitMix64::new(81);
        for label in 0..81u8 {
            for _ in 0..20 {
                let mut f = || rng.range_f32(-3.0, 3.0);
                let euler = (f(), f(), f());
                let start = Mat4::from_rotation_translation(
                    glam::Quat::from_euler(glam::EulerRot::XYZ, euler.0, euler.1, euler.2),
                    Vec3::new(f(), f(), f()),
                );
                let keys = label_keys(label);
                assert_eq!(pose_label(&start, &apply_keys(start, keys, s)), label, "label {label} keys {keys:?}");
            }
        }
    }
}
