//! FOV relevance of WorldPlay's spatial memory (world-models.md §2), Monte-Carlo as published.
//!
//! Everything happens in the frame of the *current* (query) camera, OpenCV axes (x right, y down,
//! z forward):
//! * a fixed seeded sample of `n_points` points uniform in the ball of radius `radius` around the
//!   current camera: `r = radius·u^{1/3}`, direction uniform on the sphere;
//! * a camera at position `c` whose forward axis has yaw `atan2(f.x, f.z)` and pitch
//!   `atan2(f.y, √(f.x² + f.z²))` sees point `p` if, with `d = p − c`, `|wrap(yaw(d) − yaw)| < half_yaw`
//!   and `|wrap(pitch(d) − pitch)| < half_pitch` (wrap to (−π, π]); a *historical* camera also needs
//!   `|d| < radius` (strict, as published). Roll is ignored; the current camera is at the origin with yaw = pitch = 0;
//! * `sim(cur, hist) = |in_cur ∩ in_hist| / |in_cur|`.
//!
//! Since the current camera is the origin of this frame, `in_cur` is the same subset of the sample for
//! every query: [`FovSample`] precomputes it once. The exact reference ([`FovSample::sim_monte_carlo`])
//! re-tests all points; the fast path ([`FovSample::sim`]) tests only that subset, with the *same*
//! predicate wherever a cheaper cosine test ([`crate::view_count`]) cannot certify the answer, so both
//! give bit-identical similarities. A historical camera farther
//! than `2·radius` from the current one has `sim = 0` exactly (no point is within `radius` of both).

use glam::{Mat4, Vec3};
use serde::{Deserialize, Serialize};

use crate::error::{MemoryError, Result};
use crate::point_tree::PointTree;
use crate::view_count::ViewBounds;
use worldflow_base::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FovConfig {
    /// Radius of the point ball and of the historical-camera range test, in world units (WorldPlay: 8).
    pub radius: f32,
    /// Half field of view in yaw, degrees (WorldPlay: 30, a 60° field).
    pub half_yaw_deg: f32,
    /// Half field of view in pitch, degrees (WorldPlay: 17.5, a 35° field).
    pub half_pitch_deg: f32,
    /// Monte-Carlo points (WorldPlay: 50,000).
    pub n_points: usize,
    /// Seed of the point sample.
    pub seed: u64,
}

impl Default for FovConfig {
    fn default() -> Self {
        Self { radius: 8.0, half_yaw_deg: 30.0, half_pitch_deg: 17.5, n_points: 50_000, seed: 0x05EE_DF0F }
    }
}

impl FovConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: String| Err(MemoryError::Config { field: field.into(), message });
        if !(self.radius.is_finite() && self.radius > 0.0) {
            return bad("fov.radius", format!("must be positive and finite, found {}", self.radius));
        }
        for (f, v, max) in
            [("fov.half_yaw_deg", self.half_yaw_deg, 90.0), ("fov.half_pitch_deg", self.half_pitch_deg, 90.0)]
        {
            if !(v.is_finite() && v > 0.0 && v < max) {
                return bad(f, format!("must be in (0, {max}), found {v}"));
            }
        }
        if self.n_points == 0 {
            return bad("fov.n_points", "must be positive".into());
        }
        Ok(())
    }
}

/// Wraps an angle difference to (−π, π].
#[inline]
pub fn wrap_angle(a: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    let mut d = a % TAU;
    if d > PI {
        d -= TAU;
    } else if d <= -PI {
        d += TAU;
    }
    d
}

#[inline]
fn yaw_pitch(d: Vec3) -> (f32, f32) {
    (d.x.atan2(d.z), d.y.atan2((d.x * d.x + d.z * d.z).sqrt()))
}

/// A camera seen from the current camera: position and forward yaw/pitch in the current frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelativeCamera {
    pub position: Vec3,
    pub yaw: f32,
    pub pitch: f32,
}

impl RelativeCamera {
    /// `hist` expressed in the frame of `cur` (both `world_from_camera`, rigid).
    pub fn new(cur_world_from_camera: &Mat4, hist_world_from_camera: &Mat4) -> Self {
        let cur_from_hist = worldflow_protocol::rigid_inverse(cur_world_from_camera) * *hist_world_from_camera;
        let forward = cur_from_hist.z_axis.truncate();
        let (yaw, pitch) = yaw_pitch(forward);
        Self { position: cur_from_hist.w_axis.truncate(), yaw, pitch }
    }

    /// The current camera itself.
    pub const ORIGIN: Self = Self { position: Vec3::ZERO, yaw: 0.0, pitch: 0.0 };
}

/// The in-view predicate shared by the reference and the fast path (so they agree bit for bit).
#[derive(Debug, Clone, Copy)]
struct ViewTest {
    half_yaw: f32,
    half_pitch: f32,
    radius_sq: f32,
}

impl ViewTest {
    #[inline]
    fn sees(&self, cam: &RelativeCamera, p: Vec3, check_range: bool) -> bool {
        let d = p - cam.position;
        if check_range && d.length_squared() >= self.radius_sq {
            return false;
        }
        let (yaw, pitch) = yaw_pitch(d);
        wrap_angle(yaw - cam.yaw).abs() < self.half_yaw && wrap_angle(pitch - cam.pitch).abs() < self.half_pitch
    }
}

/// The seeded point sample and its in-current-view subset.
#[derive(Debug, Clone)]
pub struct FovSample {
    cfg: FovConfig,
    test: ViewTest,
    /// All points, current-camera frame.
    points: Vec<Vec3>,
    /// The points the current camera sees (a subset of `points`, same order).
    in_current: Vec<Vec3>,
    /// `in_current` in a ball tree, for the fast count of [`Self::sim`].
    in_current_tree: PointTree,
}

impl FovSample {
    pub fn new(cfg: &FovConfig) -> Result<Self> {
        cfg.validate()?;
        let mut rng = SplitMix64::new(cfg.seed);
        let points: Vec<Vec3> = (0..cfg.n_points)
            .map(|_| {
                let r = cfg.radius as f64 * rng.next_f64().cbrt();
                let z = 1.0 - 2.0 * rng.next_f64();
                let phi = std::f64::consts::TAU * rng.next_f64();
                let s = (1.0 - z * z).max(0.0).sqrt();
                Vec3::new((r * s * phi.cos()) as f32, (r * s * phi.sin()) as f32, (r * z) as f32)
            })
            .collect();
        let test = ViewTest {
            half_yaw: cfg.half_yaw_deg.to_radians(),
            half_pitch: cfg.half_pitch_deg.to_radians(),
            radius_sq: cfg.radius * cfg.radius,
        };
        let in_current: Vec<Vec3> =
            points.iter().copied().filter(|p| test.sees(&RelativeCamera::ORIGIN, *p, false)).collect();
        let in_current_tree = PointTree::new(&in_current);
        Ok(Self { cfg: cfg.clone(), test, points, in_current, in_current_tree })
    }

    pub fn config(&self) -> &FovConfig {
        &self.cfg
    }

    /// The whole sample, current-camera frame (in draw order).
    pub fn points(&self) -> &[Vec3] {
        &self.points
    }

    /// Points in the current view (≈ 5% of the sample for a 60° × 35° field).
    pub fn in_current_count(&self) -> usize {
        self.in_current.len()
    }

    /// The reference: tests all `n_points` points for both cameras, exactly as published.
    pub fn sim_monte_carlo(&self, hist: &RelativeCamera) -> f32 {
        let (mut cur, mut both) = (0usize, 0usize);
        for p in &self.points {
            if self.test.sees(&RelativeCamera::ORIGIN, *p, false) {
                cur += 1;
                if self.test.sees(hist, *p, true) {
                    both += 1;
                }
            }
        }
        if cur == 0 {
            0.0
        } else {
            both as f32 / cur as f32
        }
    }

    /// Historical cameras farther than this from the current one have `sim = 0` exactly: `2·radius`
    /// plus a hair of margin for f32 rounding of the range test.
    pub fn cull_distance(&self) -> f32 {
        2.0 * self.cfg.radius * (1.0 + 1e-4)
    }

    /// Fast path, identical result: range cull, then only the in-current subset, counted through a ball
    /// tree whose balls are settled whole when certainly inside or outside the historical view, and
    /// per point by [`ViewBounds`] otherwise (products instead of two `atan2`; the published predicate
    /// decides the ≈ 0.05 % of points within 1e-4 rad of a boundary), so the count is the published count.
    pub fn sim(&self, hist: &RelativeCamera) -> f32 {
        let n = self.in_current.len();
        if n == 0 || hist.position.length() > self.cull_distance() {
            return 0.0;
        }
        let t = &self.test;
        let both = match ViewBounds::new(hist.position, hist.yaw, hist.pitch, t.half_yaw, t.half_pitch, t.radius_sq) {
            Some(bounds) => self.in_current_tree.count_seen(&bounds, &|p| t.sees(hist, p, true)),
            None => self.in_current.iter().filter(|p| t.sees(hist, **p, true)).count(),
        };
        both as f32 / n as f32
    }

    /// The previous fast path: range cull, then the published predicate on every in-current point (two
    /// `atan2` each). Equal to [`Self::sim`] and [`Self::sim_monte_carlo`]; kept as the check of `sim`.
    pub fn sim_pointwise(&self, hist: &RelativeCamera) -> f32 {
        let n = self.in_current.len();
        if n == 0 || hist.position.length() > self.cull_distance() {
            return 0.0;
        }
        let both = self.in_current.iter().filter(|p| self.test.sees(hist, **p, true)).count();
        both as f32 / n as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn cam(pos: Vec3, yaw_deg: f32) -> Mat4 {
        // OpenCV camera in a world where −y is up: yaw about the y axis.
        Mat4::from_translation(pos) * Mat4::from_rotation_y(yaw_deg.to_radians())
    }

    #[test]
    fn wrap_is_half_open() {
        assert!((wrap_angle(PI) - PI).abs() < 1e-6);
        assert!((wrap_angle(-PI) - PI).abs() < 1e-6);
        assert!((wrap_angle(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-6);
        assert!((wrap_angle(179f32.to_radians() - (-179f32).to_radians()) + 2f32.to_radians()).abs() < 1e-5);
    }

    #[test]
    fn similarity_basics_and_agreement() {
        let s = FovSample::new(&FovConfig { n_points: 20_000, ..Default::default() }).unwrap();
        let cur = cam(Vec3::ZERO, 0.0);
        let same = RelativeCamera::new(&cur, &cur);
        assert_eq!(s.sim(&same), 1.0);
        assert_eq!(s.sim_monte_carlo(&same), 1.0);
        // Facing backwards from the same spot: disjoint views.
        let back = RelativeCamera::new(&cur, &cam(Vec3::ZERO, 180.0));
        assert_eq!(s.sim(&back), 0.0);
        // Too far away: nothing within range of both.
        let far = RelativeCamera::new(&cur, &cam(Vec3::new(0.0, 0.0, 16.5), 0.0));
        assert_eq!(s.sim(&far), 0.0);
        assert_eq!(s.sim_monte_carlo(&far), 0.0);
        // Partial overlaps decrease with the yaw offset and agree exactly with the reference.
        let mut last = 1.0;
        for yaw in [10.0, 20.0, 40.0] {
            let h = RelativeCamera::new(&cur, &cam(Vec3::new(0.5, 0.0, -1.0), yaw));
            let (a, b) = (s.sim(&h), s.sim_monte_carlo(&h));
            assert_eq!(a, b);
            assert!(a < last && a > 0.0, "yaw {yaw}: {a}");
            last = a;
        }
        // Yaw wrap: current looks along yaw 179°, history along −179° (2° apart across ±180°).
        let cur2 = cam(Vec3::ZERO, 179.0);
        let h = RelativeCamera::new(&cur2, &cam(Vec3::ZERO, -179.0));
        assert!(s.sim(&h) > 0.8, "{}", s.sim(&h));
    }

    #[test]
    fn facing_cameras_need_the_yaw_wrap() {
        // A historical camera 6 ahead looking back (yaw ≈ ±180°): the points between the cameras are seen
        // by both, symmetrically in x. Without wrapping, one side (yaw(d) near −180°) would be lost.
        let s = FovSample::new(&FovConfig::default()).unwrap();
        let h = RelativeCamera::new(&cam(Vec3::ZERO, 0.0), &cam(Vec3::new(0.0, 0.0, 6.0), 180.0));
        assert!((h.yaw.abs() - PI).abs() < 1e-5);
        let (mut left, mut right) = (0, 0);
        for p in &s.in_current {
            if s.test.sees(&h, *p, true) {
                if p.x < 0.0 {
                    left += 1
                } else {
                    right += 1
                }
            }
        }
        assert!(left > 100 && right > 100, "left {left} right {right}");
        assert!((left as f32 - right as f32).abs() < 0.2 * (left + right) as f32, "left {left} right {right}");
    }

    #[test]
    fn fast_count_rarely_needs_the_published_predicate() {
        // The margin band must stay thin: on overlapping cameras the published predicate (two `atan2`)
        // decides only a small fraction of the in-view points, and the count equals the per-point one.
        let s = FovSample::new(&FovConfig::default()).unwrap();
        let t = &s.test;
        let (exact_calls, mut points) = (std::cell::Cell::new(0usize), 0usize);
        for i in 0..400 {
            let f = i as f32;
            let hist = RelativeCamera {
                position: Vec3::new((f * 0.37).sin() * 4.0, (f * 0.11).sin(), (f * 0.23).cos() * 4.0),
                yaw: (f * 0.71).sin() * 0.8,
                pitch: (f * 0.53).sin() * 0.3,
            };
            let bounds =
                ViewBounds::new(hist.position, hist.yaw, hist.pitch, t.half_yaw, t.half_pitch, t.radius_sq).unwrap();
            let fast = s.in_current_tree.count_seen(&bounds, &|p| {
                exact_calls.set(exact_calls.get() + 1);
                t.sees(&hist, p, true)
            });
            assert_eq!(fast, s.in_current.iter().filter(|p| t.sees(&hist, **p, true)).count());
            points += s.in_current_count();
        }
        let frac = exact_calls.get() as f64 / points as f64;
        assert!(frac < 2e-3, "{frac}");
    }

    #[test]
    fn in_view_fraction_matches_solid_angle() {
        let s = FovSample::new(&FovConfig::default()).unwrap();
        // Solid angle of the yaw/pitch box: Δyaw · 2 sin(half_pitch) over 4π.
        let frac = (60f64.to_radians() * 2.0 * 17.5f64.to_radians().sin()) / (4.0 * std::f64::consts::PI);
        let got = s.in_current_count() as f64 / 50_000.0;
        assert!((got - frac).abs() < 0.003, "{got} vs {frac}");
    }
}
