//! Coloured point cloud → Gaussians, the standard 3DGS initialisation: isotropic scale
//! `√(mean of the squared distances to the 3 nearest neighbours)` (floored at √1e-7, as the reference's
//! `clamp_min(dist2, 1e-7)`), identity rotation, a configurable opacity, SH degree 0 with DC from colour.
//!
//! Nearest neighbours come from a kd-tree (median splits on the widest axis, leaves of ≤ 8 points,
//! queries in parallel). Results do not depend on the thread count. Points with non-finite coordinates
//! are left out of the tree and keep their non-finite mean (the renderer drops them).

use glam::{Quat, Vec3};
use rayon::prelude::*;
use worldflow_protocol::{rgb_to_sh_dc, Gaussians};

use crate::error::SplatError;

/// Parameters of [`gaussians_from_point_cloud`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointCloudInit {
    /// Activated opacity of every Gaussian (3DGS uses 0.1).
    pub opacity: f32,
    /// Multiplies the kNN scale (1.0 = the reference).
    pub scale_factor: f32,
}

impl Default for PointCloudInit {
    fn default() -> Self {
        Self { opacity: 0.1, scale_factor: 1.0 }
    }
}

const KNN: usize = 3;
const LEAF: usize = 8;
const MIN_DIST2: f32 = 1e-7;

#[derive(Debug, Clone, Copy)]
struct Node {
    /// Range in `order` (leaves) — for inner nodes the union of the children's ranges.
    start: u32,
    end: u32,
    axis: u8,
    split: f32,
    /// Child node indices (0 for leaves; the root is node 0 so 0 is never a child).
    left: u32,
    right: u32,
}

struct KdTree<'a> {
    points: &'a [Vec3],
    order: Vec<u32>,
    nodes: Vec<Node>,
}

impl<'a> KdTree<'a> {
    fn build(points: &'a [Vec3]) -> Self {
        let order: Vec<u32> = (0..points.len() as u32).filter(|&i| points[i as usize].is_finite()).collect();
        let mut tree = KdTree { points, order, nodes: Vec::new() };
        let n = tree.order.len() as u32;
        tree.build_node(0, n);
        tree
    }

    fn build_node(&mut self, start: u32, end: u32) -> u32 {
        let id = self.nodes.len() as u32;
        self.nodes.push(Node { start, end, axis: 0, split: 0.0, left: 0, right: 0 });
        if (end - start) as usize <= LEAF {
            return id;
        }
        let slice = &mut self.order[start as usize..end as usize];
        let (mut lo, mut hi) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
        for &i in slice.iter() {
            lo = lo.min(self.points[i as usize]);
            hi = hi.max(self.points[i as usize]);
        }
        let ext = hi - lo;
        let axis = if ext.x >= ext.y && ext.x >= ext.z {
            0
        } else if ext.y >= ext.z {
            1
        } else {
            2
        };
        let mid = slice.len() / 2;
        let pts = self.points;
        slice.select_nth_unstable_by(mid, |&a, &b| {
            pts[a as usize][axis].total_cmp(&pts[b as usize][axis]).then(a.cmp(&b))
        });
        let split = pts[slice[mid] as usize][axis];
        let m = start + mid as u32;
        let left = self.build_node(start, m);
        let right = self.build_node(m, end);
        self.nodes[id as usize] = Node { start, end, axis: axis as u8, split, left, right };
        id
    }

    /// Squared distances to the (up to) `KNN` nearest other points, ascending; unused slots are ∞.
    fn knn(&self, query_index: u32) -> [f32; KNN] {
        let mut best = [f32::INFINITY; KNN];
        let q = self.points[query_index as usize];
        self.visit(0, q, query_index, &mut best);
        best
    }

    fn visit(&self, node: u32, q: Vec3, skip: u32, best: &mut [f32; KNN]) {
        let nd = self.nodes[node as usize];
        if nd.left == 0 {
            for &i in &self.order[nd.start as usize..nd.end as usize] {
                if i == skip {
                    continue;
                }
                let d2 = self.points[i as usize].distance_squared(q);
                if d2 < best[KNN - 1] {
                    let mut j = KNN - 1;
                    while j > 0 && best[j - 1] > d2 {
                        best[j] = best[j - 1];
                        j -= 1;
                    }
                    best[j] = d2;
                }
            }
            return;
        }
        let diff = q[nd.axis as usize] - nd.split;
        let (near, far) = if diff < 0.0 { (nd.left, nd.right) } else { (nd.right, nd.left) };
        self.visit(near, q, skip, best);
        if diff * diff < best[KNN - 1] {
            self.visit(far, q, skip, best);
        }
    }
}

/// Per point: `√(mean squared distance to its 3 nearest neighbours)`, floored at `√1e-7`.
pub fn knn_rms_distance(points: &[Vec3]) -> Vec<f32> {
    if points.len() > u32::MAX as usize / 2 {
        return vec![MIN_DIST2.sqrt(); points.len()];
    }
    let tree = KdTree::build(points);
    (0..points.len() as u32)
        .into_par_iter()
        .map(|i| {
            if !points[i as usize].is_finite() {
                return MIN_DIST2.sqrt();
            }
            let best = tree.knn(i);
            let found: Vec<f32> = best.iter().copied().filter(|d| d.is_finite()).collect();
            let mean = if found.is_empty() { MIN_DIST2 } else { found.iter().sum::<f32>() / found.len() as f32 };
            mean.max(MIN_DIST2).sqrt()
        })
        .collect()
}

/// Builds Gaussians from points and their colours (RGB in [0, 1]).
pub fn gaussians_from_point_cloud(
    points: &[Vec3],
    colors_rgb: &[[f32; 3]],
    init: &PointCloudInit,
) -> Result<Gaussians, SplatError> {
    if points.len() != colors_rgb.len() {
        return Err(SplatError::InvalidInput {
            what: "point cloud",
            message: format!("{} points but {} colours", points.len(), colors_rgb.len()),
        });
    }
    if !(init.opacity > 0.0 && init.opacity <= 1.0 && init.scale_factor > 0.0 && init.scale_factor.is_finite()) {
        return Err(SplatError::InvalidInput {
            what: "point cloud init",
            message: format!("expected opacity in (0, 1] and a positive scale factor, found {init:?}"),
        });
    }
    let scales = knn_rms_distance(points);
    let mut g = Gaussians::new(0);
    for (i, ((&p, &rgb), &s)) in points.iter().zip(colors_rgb).zip(&scales).enumerate() {
        g.push(i as u64, p, Vec3::splat(s * init.scale_factor), Quat::IDENTITY, init.opacity, &[rgb_to_sh_dc(rgb)]);
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_matches_brute_force() {
        let mut state = 7u32;
        let mut rnd = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        };
        let mut points: Vec<Vec3> = (0..700).map(|_| Vec3::new(rnd(), rnd() * 0.1, rnd() * 3.0)).collect();
        points.push(points[5]); // a duplicate: distance 0
        let fast = knn_rms_distance(&points);
        for (i, &p) in points.iter().enumerate() {
            let mut d: Vec<f32> =
                points.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, q)| q.distance_squared(p)).collect();
            d.sort_by(f32::total_cmp);
            let expected = ((d[0] + d[1] + d[2]) / 3.0).max(1e-7).sqrt();
            assert!((fast[i] - expected).abs() <= 1e-6 * expected, "point {i}: {} vs {expected}", fast[i]);
        }
    }

    #[test]
    fn tiny_and_degenerate_clouds() {
        assert_eq!(knn_rms_distance(&[]), Vec::<f32>::new());
        assert_eq!(knn_rms_distance(&[Vec3::ONE]), vec![1e-7f32.sqrt()]);
        let two = knn_rms_distance(&[Vec3::ZERO, Vec3::new(2.0, 0.0, 0.0), Vec3::NAN]);
        assert_eq!(&two[..2], &[2.0, 2.0]);
    }
}
