//! How a walker looks: a few volumetric blobs in its body frame (origin at the box centre, x forward, z up):
//! two legs (trousers, shoes), a torso and two arms (shirt), a head (skin) with hair. Colours come from the
//! body's appearance key, so a walker keeps its look for the whole run.
//!
//! Invariants: every blob's centre lies inside the body box of the given half extents; scales > 0; unit
//! rotations; no view dependence (band-1 SH zero).

use glam::{Quat, Vec3};
use worldflow_base::rng::{hash_keys, unit_f32};

use crate::appearance::{splat, Splat};

const SHIRTS: [[f32; 3]; 8] = [
    [0.80, 0.18, 0.16],
    [0.15, 0.32, 0.62],
    [0.92, 0.90, 0.86],
    [0.20, 0.50, 0.28],
    [0.95, 0.70, 0.15],
    [0.45, 0.25, 0.55],
    [0.12, 0.12, 0.14],
    [0.55, 0.62, 0.68],
];
const TROUSERS: [[f32; 3]; 4] = [[0.12, 0.14, 0.22], [0.25, 0.22, 0.18], [0.10, 0.10, 0.10], [0.45, 0.42, 0.38]];
const SKINS: [[f32; 3]; 4] = [[0.93, 0.78, 0.66], [0.80, 0.60, 0.46], [0.58, 0.40, 0.28], [0.38, 0.26, 0.18]];
const HAIR: [[f32; 3]; 3] = [[0.08, 0.06, 0.05], [0.35, 0.22, 0.12], [0.70, 0.62, 0.45]];

fn pick<const N: usize>(palette: &[[f32; 3]; N], h: u64) -> Vec3 {
    Vec3::from(palette[(h % N as u64) as usize])
}

/// The Gaussians of a walker of half extents `e` (depth, shoulder width, height) in its body frame.
pub fn pedestrian_template(e: Vec3, appearance_key: f32) -> Vec<Splat> {
    let key = (appearance_key.clamp(0.0, 1.0) * (1u64 << 24) as f32) as u64;
    let h = |k: u64| hash_keys(&[key, k]);
    let (shirt, trousers) = (pick(&SHIRTS, h(1)), pick(&TROUSERS, h(2)));
    let (skin, hair) = (pick(&SKINS, h(3)), pick(&HAIR, h(4)));
    let shade = 0.9 + 0.2 * unit_f32(h(5));
    // Heights as fractions of the full height, from the feet (−e.z) up.
    let z = |f: f32| -e.z + 2.0 * e.z * f;
    let height = 2.0 * e.z;
    let hip_y = 0.35 * e.y;
    let mut out = Vec::with_capacity(20);
    let mut blob = |mean: Vec3, scale: Vec3, rgb: Vec3| {
        out.push(splat(mean, scale, Quat::IDENTITY, 0.96, rgb * shade, Vec3::ZERO));
    };
    for side in [-1.0f32, 1.0] {
        // Legs: shoe, shin, thigh.
        blob(
            Vec3::new(0.25 * e.x, side * hip_y, z(0.03)),
            Vec3::new(0.45 * e.x, 0.2 * e.y, 0.025 * height),
            Vec3::splat(0.08),
        );
        for (f, s) in [(0.16, 0.11), (0.36, 0.11)] {
            blob(Vec3::new(0.0, side * hip_y, z(f)), Vec3::new(0.3 * e.x, 0.22 * e.y, s * height), trousers);
        }
        // Arms: upper and lower.
        for (f, s) in [(0.70, 0.08), (0.55, 0.08)] {
            blob(Vec3::new(0.0, side * 0.85 * e.y, z(f)), Vec3::new(0.22 * e.x, 0.13 * e.y, s * height), shirt * 0.92);
        }
        // Hands.
        blob(Vec3::new(0.05, side * 0.85 * e.y, z(0.45)), Vec3::splat(0.035), skin);
    }
    // Torso: hips and chest.
    for (f, s) in [(0.52, 0.08), (0.66, 0.09)] {
        blob(
            Vec3::new(0.0, 0.0, z(f)),
            Vec3::new(0.4 * e.x, 0.55 * e.y, s * height),
            if f < 0.55 { trousers } else { shirt },
        );
    }
    // Neck, head, hair.
    blob(Vec3::new(0.0, 0.0, z(0.80)), Vec3::new(0.03, 0.03, 0.03), skin);
    blob(Vec3::new(0.02, 0.0, z(0.88)), Vec3::new(0.085, 0.075, 0.1), skin);
    blob(Vec3::new(-0.02, 0.0, z(0.93)), Vec3::new(0.08, 0.075, 0.06), hair);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PEDESTRIAN_HALF_EXTENT_M;

    #[test]
    fn walker_blobs_stay_in_the_box_and_keys_change_the_look() {
        let e = PEDESTRIAN_HALF_EXTENT_M;
        let a = pedestrian_template(e, 0.1);
        assert!(a.len() >= 15 && a.len() <= 40, "{}", a.len());
        for s in &a {
            assert!((s.mean.abs() - e).max_element() <= 1e-6, "{}", s.mean);
            assert!(s.scale.min_element() > 0.0 && s.rotation.is_normalized());
        }
        let differs = (1..20).any(|k| pedestrian_template(e, k as f32 / 20.0) != a);
        assert!(differs, "appearance keys give different walkers");
    }
}
