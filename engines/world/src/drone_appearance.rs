//! How a drone looks: a small dark body with two coloured marker lights (green at the front, red at the back)
//! on four dark arms, and four pale, slightly translucent rotor discs at the arm tips, in its body frame
//! (origin at the box centre, x forward, z up). The marker colour's shade comes from the appearance key.
//!
//! Invariants: every Gaussian's centre lies inside the body box of the given half extents; scales > 0; unit
//! rotations; no view dependence (band-1 SH zero).

use glam::{Quat, Vec3};

use crate::appearance::{splat, Splat};

/// The Gaussians of a drone of half extents `e` (arm tip to arm tip, rotors included) in its body frame.
pub fn drone_template(e: Vec3, appearance_key: f32) -> Vec<Splat> {
    let dark = Vec3::splat(0.08);
    let body = Vec3::new(0.4 * e.x, 0.3 * e.y, 0.45 * e.z);
    let mut out = Vec::with_capacity(24);
    // Body: a flattened blob, and a slightly lighter top plate.
    out.push(splat(Vec3::ZERO, body, Quat::IDENTITY, 0.99, dark, Vec3::ZERO));
    out.push(splat(
        Vec3::Z * 0.4 * e.z,
        body * Vec3::new(0.8, 0.8, 0.3),
        Quat::IDENTITY,
        0.95,
        Vec3::splat(0.2),
        Vec3::ZERO,
    ));
    // Arms (an X) with the rotor discs at their tips.
    let tip = 0.7 * e.truncate();
    let rotor_r = 0.3 * e.x.min(e.y);
    for (sx, sy) in [(1.0f32, 1.0f32), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
        let dir = Vec3::new(sx * tip.x, sy * tip.y, 0.0);
        let arm = Quat::from_rotation_z(dir.y.atan2(dir.x));
        out.push(splat(0.5 * dir, Vec3::new(0.5 * dir.length(), 0.06 * e.y, 0.15 * e.z), arm, 0.99, dark, Vec3::ZERO));
        let hub = dir + Vec3::Z * 0.5 * e.z;
        out.push(splat(
            hub,
            Vec3::new(rotor_r, rotor_r, 0.04 * e.z),
            Quat::IDENTITY,
            0.6,
            Vec3::splat(0.75),
            Vec3::ZERO,
        ));
        out.push(splat(hub, Vec3::splat(0.2 * rotor_r), Quat::IDENTITY, 0.99, dark, Vec3::ZERO));
    }
    // Marker lights: green at the front, red at the back (navigation-light convention).
    let shade = 0.8 + 0.2 * appearance_key.clamp(0.0, 1.0);
    for (x, rgb) in [(0.42 * e.x, Vec3::new(0.1, 0.9, 0.2)), (-0.42 * e.x, Vec3::new(0.95, 0.1, 0.1))] {
        out.push(splat(Vec3::new(x, 0.0, 0.0), Vec3::splat(0.08 * e.x), Quat::IDENTITY, 0.99, rgb * shade, Vec3::ZERO));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drone_stays_in_its_box_with_a_body_and_four_rotors() {
        let e = Vec3::new(0.35, 0.35, 0.1);
        let t = drone_template(e, 0.3);
        assert_eq!(t.len(), 2 + 4 * 3 + 2);
        for s in &t {
            assert!((s.mean.abs() - e).max_element() <= 1e-6, "{}", s.mean);
            assert!(s.scale.min_element() > 0.0 && s.rotation.is_normalized() && s.opacity > 0.0);
        }
        let rotors = t.iter().filter(|s| s.opacity < 0.9 && s.mean.z > 0.0).count();
        assert_eq!(rotors, 4);
    }
}
