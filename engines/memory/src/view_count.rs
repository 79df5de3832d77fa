//! Counting the sample points a historical camera sees, without an `atan2` per point.
//!
//! The published predicate ([`crate::fov`]) compares angles: with `d = p − c`,
//! `|wrap(atan2(d.x, d.z) − yaw)| < half_yaw`, `|wrap(atan2(d.y, h) − pitch)| < half_pitch` (`h = |d.xz|`)
//! and `|d|² < radius²`. Two `atan2` per point were most of a retrieval's time (perf on `memory_bench`
//! before this module: `atanf`/`atan2f` 57 % of all samples, set-up included).
//!
//! The same tests in cosine form need only products: for an angle difference `θ` and a half field `a`
//! (`0 < a < 90°`), `|wrap(θ)| < a ⇔ cos θ > cos a`, and
//! * yaw: `cos θ = (d.z·cos yaw + d.x·sin yaw) / h =: A / h`,
//! * pitch: `cos θ = (h·cos pitch + d.y·sin pitch) / |d| =: B / |d|`.
//!
//! Floating-point rounding makes the cosine form and the `atan2` form disagree for points *on* a
//! boundary, so the cosine form is only trusted with a margin: a test counts as certainly passed
//! (failed) when `cos θ` exceeds `cos a + MARGIN` (is below `cos a − MARGIN`). Since `|cos u − cos v| ≤
//! |u − v|`, the true angle is then at least `MARGIN` = 1e-4 rad inside (outside) the field, while the
//! published f32 evaluation is off by at most a few 1e-7 rad (`atan2f`, one subtraction, the `f32` τ in
//! `wrap`) and the cosine evaluation here by a few 1e-7 relative: both sides agree with the exact answer
//! there. Points inside the 1e-4 band (≈ 0.05 % of them, see the test in `fov.rs`), and degenerate
//! directions (`h ≈ 0`, where `atan2(±0, ±0)` decides), go to the published predicate itself. The count
//! is therefore exactly the published count, and the per-point work is branch-free arithmetic that the
//! compiler vectorises over the structure-of-arrays layout of [`PointsSoa`].

use glam::Vec3;

/// Width of the "cannot tell" band, in radians of angle (cosine units) and relative `radius²`.
const MARGIN: f32 = 1e-4;
/// Horizontal extents `|d.xz|²` below this (world units²) leave the yaw to the published predicate.
const MIN_HORIZONTAL_SQ: f32 = 1e-12;

/// Points as three coordinate arrays (vectorisation-friendly), same order as the source slice.
#[derive(Debug, Clone, Default)]
pub(crate) struct PointsSoa {
    x: Vec<f32>,
    y: Vec<f32>,
    z: Vec<f32>,
}

impl PointsSoa {
    /// The points in the given order.
    pub(crate) fn new(points: &[Vec3]) -> Self {
        Self {
            x: points.iter().map(|p| p.x).collect(),
            y: points.iter().map(|p| p.y).collect(),
            z: points.iter().map(|p| p.z).collect(),
        }
    }
}

/// A historical camera's view test in cosine form with the certainty margins (see the module doc).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViewBounds {
    position: Vec3,
    cos_yaw: f32,
    sin_yaw: f32,
    cos_pitch: f32,
    sin_pitch: f32,
    /// `(cos half_yaw ± MARGIN)²`: `A² / h²` above `yaw_in_sq` passes for sure, below `yaw_out_sq` fails.
    yaw_in_sq: f32,
    yaw_out_sq: f32,
    pitch_in_sq: f32,
    pitch_out_sq: f32,
    /// `radius² · (1 ∓ MARGIN)`: `|d|²` below `range_in_sq` passes for sure, above `range_out_sq` fails.
    range_in_sq: f32,
    range_out_sq: f32,
    /// cos/sin of the half fields, for the ball bounds ([`Self::classify_ball`]).
    cos_half_yaw: f32,
    sin_half_yaw: f32,
    cos_half_pitch: f32,
    sin_half_pitch: f32,
}

/// What a bounding ball of points tells about all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BallVerdict {
    AllSeen,
    NoneSeen,
    Mixed,
}

/// Certainty of one point: seen for sure, or not decided (neither implies not seen for sure).
#[derive(Debug, Clone, Copy)]
struct Verdict {
    seen: bool,
    undecided: bool,
}

impl ViewBounds {
    /// Camera at `position` (current frame) looking along `yaw_rad`/`pitch_rad`, fields `half_*_rad`, range
    /// `radius_sq` (world units²). `None` when a half field is within 2·MARGIN of 90° (the cosine margin
    /// would reach 0 and the sign argument below would no longer hold): callers then test every point.
    pub(crate) fn new(
        position: Vec3,
        yaw_rad: f32,
        pitch_rad: f32,
        half_yaw_rad: f32,
        half_pitch_rad: f32,
        radius_sq: f32,
    ) -> Option<Self> {
        let (cos_half_yaw, cos_half_pitch) = (f64::from(half_yaw_rad).cos(), f64::from(half_pitch_rad).cos());
        let margin = f64::from(MARGIN);
        if cos_half_yaw <= 2.0 * margin || cos_half_pitch <= 2.0 * margin {
            return None;
        }
        let sq = |v: f64| (v * v) as f32;
        let (yaw, pitch) = (f64::from(yaw_rad), f64::from(pitch_rad));
        let r2 = f64::from(radius_sq);
        Some(Self {
            position,
            cos_yaw: yaw.cos() as f32,
            sin_yaw: yaw.sin() as f32,
            cos_pitch: pitch.cos() as f32,
            sin_pitch: pitch.sin() as f32,
            yaw_in_sq: sq(cos_half_yaw + margin),
            yaw_out_sq: sq(cos_half_yaw - margin),
            pitch_in_sq: sq(cos_half_pitch + margin),
            pitch_out_sq: sq(cos_half_pitch - margin),
            range_in_sq: (r2 * (1.0 - margin)) as f32,
            range_out_sq: (r2 * (1.0 + margin)) as f32,
            cos_half_yaw: cos_half_yaw as f32,
            sin_half_yaw: f64::from(half_yaw_rad).sin() as f32,
            cos_half_pitch: cos_half_pitch as f32,
            sin_half_pitch: f64::from(half_pitch_rad).sin() as f32,
        })
    }

    /// Branch-free (vectorisable) classification of the point `(x, y, z)`.
    #[inline(always)]
    fn classify(&self, x: f32, y: f32, z: f32) -> Verdict {
        let (dx, dy, dz) = (x - self.position.x, y - self.position.y, z - self.position.z);
        let horizontal_sq = dx * dx + dz * dz;
        let dist_sq = horizontal_sq + dy * dy;
        // A = h·cos(yaw difference), B = |d|·cos(pitch difference). A non-positive cosine is below
        // cos(half) − MARGIN > 0 whatever the rounding of A (|A| error ≈ 1e-7·h), hence "out" for sure.
        let a = dz * self.cos_yaw + dx * self.sin_yaw;
        let b = horizontal_sq.sqrt() * self.cos_pitch + dy * self.sin_pitch;
        let yaw_defined = horizontal_sq >= MIN_HORIZONTAL_SQ;
        let yaw_in = yaw_defined & (a > 0.0) & (a * a > self.yaw_in_sq * horizontal_sq);
        let yaw_out = yaw_defined & ((a <= 0.0) | (a * a < self.yaw_out_sq * horizontal_sq));
        // `dist_sq ≥ horizontal_sq ≥ MIN` whenever the yaw is defined; a zero `dist_sq` (the point is the
        // camera) makes both pitch flags false, leaving it to the published predicate.
        let pitch_in = (b > 0.0) & (b * b > self.pitch_in_sq * dist_sq);
        let pitch_out = (dist_sq > 0.0) & ((b <= 0.0) | (b * b < self.pitch_out_sq * dist_sq));
        let range_in = dist_sq < self.range_in_sq;
        let range_out = dist_sq > self.range_out_sq;
        let seen = yaw_in & pitch_in & range_in;
        let unseen = yaw_out | pitch_out | range_out;
        Verdict { seen, undecided: !(seen | unseen) }
    }

    /// Verdict for every point within `radius` of `center` (world units, current frame).
    ///
    /// Seen from the camera, such a point's direction is within `δ = asin(radius / |d|)` of the centre's
    /// (`d` = centre − camera; horizontally `asin(radius / |d.xz|)`), so its yaw (pitch) difference is the
    /// centre's `θ ± δ`. The ball is certainly inside a field `a` when `cos θ > cos(a − δ) + MARGIN`
    /// (then `θ + δ < a − MARGIN`) and certainly outside when `cos θ < cos(a + δ) − MARGIN`; `cos(a ± δ)`
    /// needs only `sin δ = radius/|d|`, no trigonometric call. Same margins as the per-point test, so a
    /// certain verdict here is the published predicate's verdict for every point of the ball.
    pub(crate) fn classify_ball(&self, center: Vec3, radius: f32) -> BallVerdict {
        let d = center - self.position;
        let horizontal_sq = d.x * d.x + d.z * d.z;
        let (horizontal, dist) = (horizontal_sq.sqrt(), (horizontal_sq + d.y * d.y).sqrt());
        if dist > radius && (dist - radius) * (dist - radius) > self.range_out_sq {
            return BallVerdict::NoneSeen;
        }
        let mut all_in = (dist + radius) * (dist + radius) < self.range_in_sq;
        // One angular test: `cos_theta_scaled = |v|·cos θ` for the centre direction `v` of length `len`.
        let mut angle = |cos_theta_scaled: f32, len: f32, cos_half: f32, sin_half: f32| -> Option<BallVerdict> {
            if len <= radius {
                all_in = false; // δ undefined: the ball reaches the axis (or the camera); decide per point.
                return None;
            }
            let sin_delta = radius / len;
            let cos_delta = (1.0 - sin_delta * sin_delta).sqrt();
            // a + δ < 180° always (a, δ < 90°), so cos(a + δ) bounds θ from below on [0, π].
            let cos_outer = cos_half * cos_delta - sin_half * sin_delta;
            if cos_theta_scaled < (cos_outer - MARGIN) * len {
                return Some(BallVerdict::NoneSeen);
            }
            // cos(a − δ) only bounds θ from above when δ < a.
            let cos_inner = cos_half * cos_delta + sin_half * sin_delta;
            all_in &= sin_delta < sin_half && cos_theta_scaled > (cos_inner + MARGIN) * len;
            None
        };
        let yaw_scaled = d.z * self.cos_yaw + d.x * self.sin_yaw;
        if let Some(v) = angle(yaw_scaled, horizontal, self.cos_half_yaw, self.sin_half_yaw) {
            return v;
        }
        let pitch_scaled = horizontal * self.cos_pitch + d.y * self.sin_pitch;
        if let Some(v) = angle(pitch_scaled, dist, self.cos_half_pitch, self.sin_half_pitch) {
            return v;
        }
        if all_in {
            BallVerdict::AllSeen
        } else {
            BallVerdict::Mixed
        }
    }

    /// How many points of `range` the camera sees: exactly the number for which `exact` (the published
    /// predicate) holds. One vectorised pass of certain verdicts; `exact` is only called on undecided
    /// points, in a scalar re-scan of the (rare) ranges that have any.
    pub(crate) fn count_seen(
        &self,
        points: &PointsSoa,
        range: std::ops::Range<usize>,
        exact: &impl Fn(Vec3) -> bool,
    ) -> usize {
        let (x, y, z) = (&points.x[range.clone()], &points.y[range.clone()], &points.z[range.clone()]);
        let (mut seen, mut undecided) = (0u32, 0u32);
        for i in 0..x.len() {
            let v = self.classify(x[i], y[i], z[i]);
            seen += u32::from(v.seen);
            undecided += u32::from(v.undecided);
        }
        if undecided == 0 {
            seen as usize
        } else {
            self.count_pointwise(points, range, exact)
        }
    }

    /// Scalar pass over `range`: certain verdicts as they are, the published predicate for the rest.
    fn count_pointwise(
        &self,
        points: &PointsSoa,
        range: std::ops::Range<usize>,
        exact: &impl Fn(Vec3) -> bool,
    ) -> usize {
        range
            .filter(|&i| {
                let (x, y, z) = (points.x[i], points.y[i], points.z[i]);
                let v = self.classify(x, y, z);
                v.seen || (v.undecided && exact(Vec3::new(x, y, z)))
            })
            .count()
    }
}
