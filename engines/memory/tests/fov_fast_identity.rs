//! `FovSample::sim` (ball tree + cosine test with margins) must equal the per-point published predicate
//! (`sim_pointwise`, the previous fast path) bit for bit, on random cameras and on the hard cases:
//! sample points exactly on a yaw/pitch/range boundary, cameras on or straight above a sample point,
//! cameras a hair away from the current one.

use std::f32::consts::{FRAC_PI_2, PI};

use glam::Vec3;
use worldflow_memory::{FovConfig, FovSample, RelativeCamera};

/// Deterministic uniform numbers in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / (1u64 << 24) as f32
    }

    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
}

fn cam(position: Vec3, yaw: f32, pitch: f32) -> RelativeCamera {
    RelativeCamera { position, yaw, pitch }
}

fn assert_same(s: &FovSample, c: &RelativeCamera, what: &str) -> f32 {
    let (fast, slow) = (s.sim(c), s.sim_pointwise(c));
    assert_eq!(fast.to_bits(), slow.to_bits(), "{what}: {c:?}: fast {fast} pointwise {slow}");
    fast
}

/// Points of the sample inside the current view (origin, yaw = pitch = 0), recomputed from the public
/// sample with the published angles.
fn in_view(s: &FovSample) -> Vec<Vec3> {
    let cfg = s.config();
    let (hy, hp) = (cfg.half_yaw_deg.to_radians(), cfg.half_pitch_deg.to_radians());
    s.points()
        .iter()
        .copied()
        .filter(|p| p.x.atan2(p.z).abs() < hy && p.y.atan2((p.x * p.x + p.z * p.z).sqrt()).abs() < hp)
        .collect()
}

#[test]
fn random_cameras_match_pointwise() {
    for cfg in [FovConfig::default(), FovConfig { half_yaw_deg: 60.0, half_pitch_deg: 45.0, ..Default::default() }] {
        let s = FovSample::new(&cfg).unwrap();
        let mut rng = Lcg(7);
        let mut nonzero = 0;
        for i in 0..4000 {
            // Positions in a box around the current view (some beyond the 16-unit cull), any direction.
            let p = Vec3::new(rng.range(-12.0, 12.0), rng.range(-6.0, 6.0), rng.range(-8.0, 17.0));
            let c = cam(p, rng.range(-PI, PI), rng.range(-FRAC_PI_2, FRAC_PI_2));
            nonzero += usize::from(assert_same(&s, &c, &format!("random {i}")) > 0.0);
        }
        assert!(nonzero > 300, "too few overlapping cameras: {nonzero}");
    }
}

#[test]
fn boundary_points_match_pointwise() {
    let s = FovSample::new(&FovConfig::default()).unwrap();
    let cfg = s.config();
    let (hy, hp) = (cfg.half_yaw_deg.to_radians(), cfg.half_pitch_deg.to_radians());
    let pts = in_view(&s);
    let mut rng = Lcg(11);
    for i in 0..600 {
        let target = pts[(rng.next() * pts.len() as f32) as usize % pts.len()];
        let position = Vec3::new(rng.range(-3.0, 3.0), rng.range(-2.0, 2.0), rng.range(-3.0, 3.0));
        let d = target - position;
        let (yaw_p, pitch_p) = (d.x.atan2(d.z), d.y.atan2((d.x * d.x + d.z * d.z).sqrt()));
        let side = if i % 2 == 0 { 1.0 } else { -1.0 };
        // The target on the yaw edge (± one f32 step), on the pitch edge, and both.
        for nudge in [-1e-7f32, 0.0, 1e-7] {
            let on_yaw = cam(position, yaw_p - side * hy + nudge, pitch_p * 0.5);
            let on_pitch = cam(position, yaw_p, pitch_p - side * hp + nudge);
            let on_both = cam(position, yaw_p + side * hy + nudge, pitch_p + side * hp);
            for c in [on_yaw, on_pitch, on_both] {
                assert_same(&s, &c, &format!("boundary {i}"));
            }
        }
        // The target on the range sphere: the camera exactly `radius` (f32) behind it.
        let dir = Vec3::new(rng.range(-1.0, 1.0), rng.range(-0.3, 0.3), rng.range(0.2, 1.0)).normalize();
        let c = cam(target - dir * cfg.radius, dir.x.atan2(dir.z), dir.y.atan2(dir.x.hypot(dir.z)));
        assert_same(&s, &c, &format!("range edge {i}"));
    }
}

#[test]
fn degenerate_cameras_match_pointwise() {
    let s = FovSample::new(&FovConfig::default()).unwrap();
    let pts = in_view(&s);
    let mut rng = Lcg(3);
    for (i, p) in pts.iter().enumerate().step_by(7) {
        let (yaw, pitch) = (rng.range(-PI, PI), rng.range(-FRAC_PI_2, FRAC_PI_2));
        // On the point (d = 0), straight below/above it (horizontal d = 0), a hair beside it.
        for offset in [Vec3::ZERO, Vec3::new(0.0, 1.0, 0.0), Vec3::new(0.0, -2.5, 0.0), Vec3::new(1e-7, 0.0, -1e-7)] {
            assert_same(&s, &cam(*p + offset, yaw, pitch), &format!("degenerate {i}"));
        }
    }
    // The current camera itself and tiny turns of it: every in-view point sits near a boundary.
    for t in [0.0f32, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, -1e-6, -1e-4] {
        for c in [cam(Vec3::ZERO, t, 0.0), cam(Vec3::ZERO, 0.0, t), cam(Vec3::new(t, t, t), t, -t)] {
            assert_same(&s, &c, &format!("near-current {t}"));
        }
    }
    assert_eq!(s.sim(&RelativeCamera::ORIGIN), 1.0);
    // Straight up / down and facing backwards across ±π.
    for c in [cam(Vec3::ZERO, 0.0, FRAC_PI_2), cam(Vec3::ZERO, 0.0, -FRAC_PI_2), cam(Vec3::new(0.0, 0.0, 6.0), PI, 0.0)]
    {
        assert_same(&s, &c, "axis");
    }
}
