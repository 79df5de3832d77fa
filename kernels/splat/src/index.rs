//! A spatial index over a Gaussian set: a k-d tree of chunks of Gaussians, so that a camera projects only
//! the Gaussians that can reach its frustum.
//!
//! # What the index may skip
//! The index never changes an image or a count. It skips a Gaussian for a camera only when the projection
//! ([`crate::project::ProjectCtx::project`]) would certainly return `Culled` for it: behind the near plane,
//! beyond the view distance (`RenderOptions::max_depth_m`), opacity below 1/255, or off screen by its conservative test (`surely_off_screen`: the α ≥ 1/255 box of
//! the dilated 2D covariance bounded by the largest scale, padded by 1 % and a pixel). Each tree node keeps
//! the bounding box of its Gaussians' means and the largest `√(2·ln(255·o))·s_max` of them. For one side
//! of the image, say the left edge, a Gaussian passes the off-screen test only if
//! `fx·tx/tz + cx + ext_x ≥ ½` with `ext_x ≤ 1.01·√(2l)·(fx/tz)·√(1 + J²)·s_max + 1.01·√(0.3·2l) + 1`, where
//! `J` bounds the clamped tangent. Multiplied by `tz > 0` this is a linear inequality in the mean:
//! `fx·tx + (cx − ½ + 1.01·√(0.3)·√(2l) + 1)·tz + 1.01·fx·√(1 + J²)·√(2l)·s_max ≥ 0`. A node is skipped when
//! the maximum of that linear form over its box (with the node's largest `√(2l)·s_max`, the index's largest
//! `√(2l)` and margins of 5 %, two pixels and a relative 10⁻⁴ of every term for the renderer's f32 rounding)
//! is negative, for any of the four sides, or when its box lies in front of half the near distance.
//! Gaussians the projection would call `Invalid` before any cull (non-finite or non-positive values, a zero
//! quaternion) and Gaussians with huge means or scales are not in the tree: every camera projects them, so
//! `RenderStats` counts them exactly as without the index. The Gaussians the index skips therefore count as
//! culled, as they would have been: the stats with and without the index are equal.
//!
//! # Order
//! A camera's candidates are produced in ascending index order (a bitmap over the set, scanned once), the
//! order the unindexed renderer projects in; the stable depth sort then yields the same sequence of
//! Gaussians, so the image is bit-identical.

use std::ops::Range;

use worldflow_protocol::{Camera, Gaussians};

use crate::options::{Compat, DepthCull, ALPHA_MIN, DILATION_PX2, GSPLAT_NEAR_Z, INRIA_NEAR_Z};

/// Gaussians per leaf (at most).
const LEAF: usize = 128;
/// Means and scales beyond this magnitude are not indexed (every camera projects them).
const MAX_INDEXED: f32 = 1e15;
/// A camera whose matrix has an entry beyond this culls nothing through the index.
const MAX_CAMERA: f32 = 1e15;
/// Relative slack on every term of a side test (the renderer rounds in f32: ~10⁻⁷).
const REL_SLACK: f64 = 1e-4;
/// The far form's constant without a view distance: its maximum is never negative.
const NO_FAR: f64 = 1e300;

/// A node of a tree, in pre-order: a subtree is `[i, skip)` (the index holds one tree per size class, one
/// after the other).
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Bounding box of the means.
    lo: [f32; 3],
    hi: [f32; 3],
    /// Largest `√(2·ln(255·o))·s_max` of the node's Gaussians.
    reach: f32,
    /// Leaf: its Gaussians are `members[start..end]`; inner node: `start == end`.
    start: u32,
    end: u32,
    /// The node after this subtree.
    skip: u32,
}

/// A spatial index over the Gaussians `range` of a set (see the module header).
#[derive(Debug, Clone, Default)]
pub struct SceneIndex {
    range: Range<usize>,
    nodes: Vec<Node>,
    /// Indexed Gaussians (absolute indices), grouped by leaf.
    members: Vec<u32>,
    /// Gaussians every camera projects (absolute indices).
    always: Vec<u32>,
    /// Largest `√(2·ln(255·o))` of the indexed Gaussians.
    sqrt_two_l_max: f32,
}

/// `√(2·ln(255·o))` of an opacity ≥ 1/255.
fn sqrt_two_l(opacity: f32) -> f32 {
    (2.0 * (opacity / ALPHA_MIN).ln().max(0.0)).sqrt()
}

impl SceneIndex {
    /// Indexes the Gaussians `range` of `g` (`range` must be inside the set).
    pub fn build(g: &Gaussians, range: Range<usize>) -> Self {
        assert!(range.end <= g.len(), "index range {range:?} outside a set of {}", g.len());
        let mut items = Vec::with_capacity(range.len());
        let mut reach = vec![0.0f32; range.len()];
        let mut always = Vec::new();
        let mut sqrt_two_l_max = 0.0f32;
        for i in range.clone() {
            let (m, s, q, o) = (g.means[i], g.scales[i], g.rotations[i], g.opacities[i]);
            let qn2 = q.w * q.w + q.x * q.x + q.y * q.y + q.z * q.z;
            let indexable = m.is_finite()
                && m.abs().max_element() <= MAX_INDEXED
                && s.is_finite()
                && s.min_element() > 0.0
                && s.max_element() <= MAX_INDEXED
                && o.is_finite()
                && qn2 > 0.0
                && qn2.is_finite();
            if !indexable {
                always.push(i as u32);
            } else if o >= ALPHA_MIN {
                // (Below 1/255 the projection always culls it: never a candidate.)
                let t = sqrt_two_l(o);
                sqrt_two_l_max = sqrt_two_l_max.max(t);
                items.push(i as u32);
                reach[i - range.start] = t * s.max_element();
            }
        }
        let mut index = Self { range: range.clone(), nodes: Vec::new(), members: Vec::new(), always, sqrt_two_l_max };
        let reach_of = |i: u32| reach[i as usize - range.start];
        // One tree per size class (reach within a factor of 4): a few large Gaussians do not widen the
        // bounds of every leaf they would otherwise share with small ones.
        let class = |i: u32| (reach_of(i).max(1e-6).log2() * 0.5).floor() as i32;
        items.sort_by_key(|&i| (class(i), i));
        let mut offset = 0;
        for run in items.chunk_by_mut(|&a, &b| class(a) == class(b)) {
            let len = run.len();
            index.build_node(g, run, offset, &reach_of);
            offset += len;
        }
        index.members = items;
        index
    }

    /// Appends the subtree of `items` (whose first element is `members[offset]`) in pre-order.
    fn build_node(&mut self, g: &Gaussians, items: &mut [u32], offset: usize, reach_of: &dyn Fn(u32) -> f32) {
        if items.is_empty() {
            return;
        }
        let (mut lo, mut hi, mut reach) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3], 0.0f32);
        for &i in items.iter() {
            let m = g.means[i as usize].to_array();
            for k in 0..3 {
                lo[k] = lo[k].min(m[k]);
                hi[k] = hi[k].max(m[k]);
            }
            reach = reach.max(reach_of(i));
        }
        let me = self.nodes.len();
        let leaf = items.len() <= LEAF;
        let (start, end) = if leaf { (offset as u32, (offset + items.len()) as u32) } else { (0, 0) };
        self.nodes.push(Node { lo, hi, reach, start, end, skip: 0 });
        if leaf {
            items.sort_unstable();
        } else {
            let axis = (0..3).max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b]))).unwrap_or(0);
            let mid = items.len() / 2;
            let key = |i: &u32| g.means[*i as usize].to_array()[axis];
            items.select_nth_unstable_by(mid, |a, b| key(a).total_cmp(&key(b)).then(a.cmp(b)));
            let (left, right) = items.split_at_mut(mid);
            self.build_node(g, left, offset, reach_of);
            self.build_node(g, right, offset + mid, reach_of);
        }
        self.nodes[me].skip = self.nodes.len() as u32;
    }

    /// The Gaussians this index covers.
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// Leaves of the tree (for reports).
    pub fn leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.end > n.start).count()
    }

    /// The leaves `camera` may see (appended to `out`) and the Gaussians every camera projects; `None` if
    /// this camera cannot use the index.
    pub(crate) fn leaf_views(
        &self,
        camera: &Camera,
        cull: DepthCull,
        tiles: (u32, u32),
        out: &mut Vec<LeafView>,
    ) -> Option<&[u32]> {
        let sides = Sides::new(camera, cull, self.sqrt_two_l_max)?;
        let mut n = 0;
        while n < self.nodes.len() {
            let node = &self.nodes[n];
            if !sides.may_see(node) {
                n = node.skip as usize;
                continue;
            }
            if node.end > node.start {
                let tz_min = sides.tz_min(node);
                let tiles = sides.tile_rect(node, tz_min, tiles.0, tiles.1);
                out.push(LeafView { start: node.start, end: node.end, tz_min, tiles });
            }
            n += 1;
        }
        Some(&self.always)
    }

    /// The Gaussians of a leaf (absolute indices, ascending).
    pub(crate) fn leaf_members(&self, leaf: &LeafView) -> &[u32] {
        &self.members[leaf.start as usize..leaf.end as usize]
    }

    /// Sets the bit of every Gaussian `camera` may see (see the module header) in `marks`; `false` (and
    /// nothing marked) if this camera cannot use the index (then every Gaussian is a candidate).
    pub(crate) fn mark(&self, camera: &Camera, cull: DepthCull, marks: &mut [u64]) -> bool {
        let Some(sides) = Sides::new(camera, cull, self.sqrt_two_l_max) else {
            return false;
        };
        let mut set = |i: u32| marks[i as usize / 64] |= 1 << (i % 64);
        self.always.iter().for_each(|&i| set(i));
        let mut n = 0;
        while n < self.nodes.len() {
            let node = &self.nodes[n];
            if !sides.may_see(node) {
                n = node.skip as usize;
                continue;
            }
            self.members[node.start as usize..node.end as usize].iter().for_each(|&i| set(i));
            n += 1;
        }
        true
    }
}

/// Linear forms in the world position whose maximum over a node must be ≥ 0 for it to hold a candidate.
struct Sides {
    /// `coef·p + constant + reach_coef·reach`: left, right, top, bottom, near, far.
    forms: [([f64; 3], f64, f64); 6],
    /// Rows of `camera_from_world` (with the translation), `fx, fy, cx, cy`, the reach coefficients
    /// `kx, ky` and the constant pad `b` of the side forms (for [`Sides::tile_rect`]).
    rows: [[f64; 4]; 3],
    k: [f64; 4],
    kxy: [f64; 2],
    b: f64,
}

/// A leaf a camera may see: its members, a lower bound of their view depth, and the tiles they may touch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeafView {
    pub start: u32,
    pub end: u32,
    pub tz_min: f64,
    /// `[x0, y0, x1, y1)` in tiles.
    pub tiles: [u32; 4],
}

impl Sides {
    fn new(camera: &Camera, cull: DepthCull, sqrt_two_l_max: f32) -> Option<Self> {
        let DepthCull { compat, far_z } = cull;
        let m = camera.camera_from_world;
        if m.to_cols_array().iter().any(|v| !(v.abs() <= MAX_CAMERA)) {
            return None;
        }
        let row = |r: usize| [m.col(0)[r] as f64, m.col(1)[r] as f64, m.col(2)[r] as f64];
        let (r0, r1, r2) = (row(0), row(1), row(2));
        let (t0, t1, t2) = (m.w_axis.x as f64, m.w_axis.y as f64, m.w_axis.z as f64);
        let k = camera.intrinsics;
        let (fx, fy, cx, cy) = (k.fx as f64, k.fy as f64, k.cx as f64, k.cy as f64);
        let (w, h) = (camera.width as f64, camera.height as f64);
        if !(fx > 0.0 && fy > 0.0) {
            return None;
        }
        // The tangent clamp's bounds (as `ProjectCtx::new`), padded.
        let jx = ((w - cx).abs().max(cx.abs()) / fx + 0.3 * 0.5 * w / fx) * 1.001;
        let jy = ((h - cy).abs().max(cy.abs()) / fy + 0.3 * 0.5 * h / fy) * 1.001;
        let b = 1.05 * (DILATION_PX2 as f64).sqrt() * sqrt_two_l_max as f64 + 2.0;
        let kx = 1.05 * fx * (1.0 + jx * jx).sqrt();
        let ky = 1.05 * fy * (1.0 + jy * jy).sqrt();
        // a·(row_a·p + t_a) + c·(r2·p + t2) + reach·k.
        let form = |a: f64, ra: [f64; 3], ta: f64, c: f64, k: f64| {
            ([a * ra[0] + c * r2[0], a * ra[1] + c * r2[1], a * ra[2] + c * r2[2]], a * ta + c * t2, k)
        };
        let near = match compat {
            Compat::Inria => INRIA_NEAR_Z,
            Compat::Gsplat => GSPLAT_NEAR_Z,
        } as f64;
        let forms = [
            form(fx, r0, t0, cx - 0.5 + b, kx),
            form(-fx, r0, t0, w - 0.5 - cx + b, kx),
            form(fy, r1, t1, cy - 0.5 + b, ky),
            form(-fy, r1, t1, h - 0.5 - cy + b, ky),
            (r2, t2 - 0.5 * near, 0.0),
            // The view distance culls on the mean's depth alone (no reach); none: a form that never skips.
            ([-r2[0], -r2[1], -r2[2]], if far_z.is_finite() { far_z as f64 - t2 } else { NO_FAR }, 0.0),
        ];
        let rows = [[r0[0], r0[1], r0[2], t0], [r1[0], r1[1], r1[2], t1], [r2[0], r2[1], r2[2], t2]];
        let sides = Self { forms, rows, k: [fx, fy, cx, cy], kxy: [kx, ky], b };
        forms.iter().all(|(c, d, k)| c.iter().all(|v| v.is_finite()) && d.is_finite() && k.is_finite()).then_some(sides)
    }

    /// A lower bound of the view depth `tz` of the node's Gaussians (as the renderer computes it).
    fn tz_min(&self, node: &Node) -> f64 {
        let r = &self.rows[2];
        let (mut min, mut magnitude) = (r[3], r[3].abs());
        for ((&ra, &lo), &hi) in r.iter().zip(&node.lo).zip(&node.hi) {
            let (lo, hi) = (ra * lo as f64, ra * hi as f64);
            min += lo.min(hi);
            magnitude += lo.abs().max(hi.abs());
        }
        min - REL_SLACK * magnitude
    }

    /// The tiles of a `tiles_x × tiles_y` grid that the node's Gaussians may touch (their α boxes bounded as
    /// in the side forms), for a node entirely at depth ≥ `tz_min > 0`: the projected box's corners (a
    /// box in front of the camera projects inside the hull of its corners), padded by the largest extent.
    fn tile_rect(&self, node: &Node, tz_min: f64, tiles_x: u32, tiles_y: u32) -> [u32; 4] {
        let full = [0, 0, tiles_x, tiles_y];
        if !(tz_min > 0.0) {
            return full;
        }
        let [fx, fy, cx, cy] = self.k;
        let (mut u, mut v) = ([f64::INFINITY, f64::NEG_INFINITY], [f64::INFINITY, f64::NEG_INFINITY]);
        for corner in 0..8 {
            let p: [f64; 3] =
                std::array::from_fn(|a| if corner >> a & 1 == 0 { node.lo[a] as f64 } else { node.hi[a] as f64 });
            let view = |r: &[f64; 4]| r[0] * p[0] + r[1] * p[1] + r[2] * p[2] + r[3];
            let tz = view(&self.rows[2]).max(tz_min);
            let (pu, pv) = (fx * view(&self.rows[0]) / tz + cx, fy * view(&self.rows[1]) / tz + cy);
            (u[0], u[1], v[0], v[1]) = (u[0].min(pu), u[1].max(pu), v[0].min(pv), v[1].max(pv));
        }
        let reach = node.reach as f64;
        let (ext_u, ext_v) = (self.kxy[0] * reach / tz_min + self.b, self.kxy[1] * reach / tz_min + self.b);
        let pad = |a: f64, ext: f64| ext + REL_SLACK * (a.abs() + ext) + 1.0;
        let tile = |px: f64, n: u32| (px / crate::options::TILE_SIZE as f64).floor().clamp(0.0, n as f64) as u32;
        let rect = [
            tile(u[0] - pad(u[0], ext_u), tiles_x),
            tile(v[0] - pad(v[0], ext_v), tiles_y),
            (tile(u[1] + pad(u[1], ext_u), tiles_x) + 1).min(tiles_x),
            (tile(v[1] + pad(v[1], ext_v), tiles_y) + 1).min(tiles_y),
        ];
        // NaN (never, for finite input) falls back to every tile.
        if [u[0], u[1], v[0], v[1]].iter().all(|x| x.is_finite()) {
            rect
        } else {
            full
        }
    }

    /// Whether some Gaussian of `node` may pass every side test.
    fn may_see(&self, node: &Node) -> bool {
        let centre: [f64; 3] = std::array::from_fn(|k| 0.5 * (node.lo[k] as f64 + node.hi[k] as f64));
        let half: [f64; 3] = std::array::from_fn(|k| 0.5 * (node.hi[k] as f64 - node.lo[k] as f64));
        let reach = node.reach as f64;
        self.forms.iter().all(|(c, d, k)| {
            let mut max = d + k * reach;
            let mut magnitude = d.abs() + k * reach;
            for a in 0..3 {
                max += c[a] * centre[a] + c[a].abs() * half[a];
                magnitude += c[a].abs() * (centre[a].abs() + half[a]);
            }
            // NaN never skips.
            !(max + REL_SLACK * magnitude < 0.0)
        })
    }
}

/// Appends the indices `range` whose bit is set in `marks` to `out`, ascending.
pub(crate) fn collect_marked(marks: &[u64], range: Range<usize>, out: &mut Vec<u32>) {
    if range.is_empty() {
        return;
    }
    let (first, last) = (range.start / 64, (range.end - 1) / 64);
    for (w, &word) in marks.iter().enumerate().take(last + 1).skip(first) {
        let mut bits = word;
        while bits != 0 {
            let i = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if range.contains(&i) {
                out.push(i as u32);
            }
        }
    }
}
