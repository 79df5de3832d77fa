//! A ball tree over the in-view sample points, so that whole groups of points are counted (or skipped)
//! at once.
//!
//! A historical camera usually sees a compact part of the current view, or none of it. Its view
//! boundaries cross only a thin layer of the ≈ 2,500 in-view points; the tree settles every ball that
//! lies certainly inside or outside ([`ViewBounds::classify_ball`]) without touching its points, and
//! runs the per-point test only in leaves that a boundary crosses. The count does not depend on the
//! order of the points, so the tree may reorder them freely.

use glam::{DVec3, Vec3};

use crate::view_count::{BallVerdict, PointsSoa, ViewBounds};

/// Largest leaf, in points: small enough that boundary leaves are thin, large enough to vectorise.
const LEAF_POINTS: usize = 16;

#[derive(Debug, Clone)]
struct Node {
    center: Vec3,
    /// Every point of the node lies within this distance of `center` (world units, rounded up).
    radius: f32,
    /// The node's points: `points[start..end]` in tree order.
    start: u32,
    end: u32,
    /// Indices of the two children in `nodes`, `None` for a leaf.
    children: Option<(u32, u32)>,
}

/// The points in tree order plus the ball hierarchy (root = `nodes[0]`).
#[derive(Debug, Clone)]
pub(crate) struct PointTree {
    points: PointsSoa,
    nodes: Vec<Node>,
}

impl PointTree {
    pub(crate) fn new(points: &[Vec3]) -> Self {
        let mut ordered = points.to_vec();
        let mut nodes = Vec::with_capacity(2 * points.len() / LEAF_POINTS + 1);
        if !ordered.is_empty() {
            build(&mut ordered, 0, &mut nodes);
        }
        Self { points: PointsSoa::new(&ordered), nodes }
    }

    /// Number of points that `bounds` sees; `exact` (the published predicate) decides undecided points.
    pub(crate) fn count_seen(&self, bounds: &ViewBounds, exact: &impl Fn(Vec3) -> bool) -> usize {
        if self.nodes.is_empty() {
            0
        } else {
            self.count_node(0, bounds, exact)
        }
    }

    fn count_node(&self, index: usize, bounds: &ViewBounds, exact: &impl Fn(Vec3) -> bool) -> usize {
        let node = &self.nodes[index];
        let range = node.start as usize..node.end as usize;
        match (bounds.classify_ball(node.center, node.radius), node.children) {
            (BallVerdict::NoneSeen, _) => 0,
            (BallVerdict::AllSeen, _) => range.len(),
            (BallVerdict::Mixed, None) => bounds.count_seen(&self.points, range, exact),
            (BallVerdict::Mixed, Some((a, b))) => {
                self.count_node(a as usize, bounds, exact) + self.count_node(b as usize, bounds, exact)
            }
        }
    }
}

/// Appends the node of `points` (which start at `offset` in tree order) and its subtree; returns its
/// index. Splits at the median of the longest bounding-box axis.
fn build(points: &mut [Vec3], offset: usize, nodes: &mut Vec<Node>) -> u32 {
    let (center, radius) = bounding_ball(points);
    let index = nodes.len();
    let (start, end) = (offset as u32, (offset + points.len()) as u32);
    nodes.push(Node { center, radius, start, end, children: None });
    if points.len() > LEAF_POINTS {
        let (lo, hi) = points.iter().fold((Vec3::INFINITY, Vec3::NEG_INFINITY), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
        let axis = (hi - lo).max_position();
        let mid = points.len() / 2;
        points.select_nth_unstable_by(mid, |a, b| a[axis].total_cmp(&b[axis]));
        let (left, right) = points.split_at_mut(mid);
        let a = build(left, offset, nodes);
        let b = build(right, offset + mid, nodes);
        nodes[index].children = Some((a, b));
    }
    index as u32
}

/// Centre of the bounding box and the largest distance to it, computed in f64 and rounded up so that
/// the f32 ball really contains every point (a too-small ball could wrongly certify a verdict).
fn bounding_ball(points: &[Vec3]) -> (Vec3, f32) {
    let (lo, hi) = points
        .iter()
        .fold((DVec3::INFINITY, DVec3::NEG_INFINITY), |(lo, hi), p| (lo.min(p.as_dvec3()), hi.max(p.as_dvec3())));
    let center = ((lo + hi) * 0.5).as_vec3();
    let radius = points.iter().map(|p| p.as_dvec3().distance(center.as_dvec3())).fold(0.0, f64::max);
    (center, (radius * (1.0 + 1e-6) + 1e-6) as f32)
}
