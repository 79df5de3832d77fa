//! A sparse 3D flow field on the semantic grid: velocity (m/s, world frame) per cell where something moves.
//!
//! Semantics: the field a [`crate::DirectorOutput`] carries for tick `t` is `F_{t−1→t}`: velocities of the
//! material that was at each cell at tick `t − 1`, valid over the interval `dt_secs`. Cells without an entry
//! are *undefined* (not "zero"): [`FlowField::sample`] interpolates trilinearly over the defined corners only
//! (weights renormalised), and returns `None` when no corner is defined. For a field that is affine over a
//! neighbourhood (rigid motion) the interpolation is then exact wherever all 8 corners are defined, which is
//! why the procedural Director defines the flow in a band of cells around each moving body.
//!
//! Invariant: `cells` is sorted by strictly increasing index (checked by [`FlowField::new`]); lookups go
//! through a hash map that is never iterated, so nothing depends on hash order.

use std::collections::HashMap;

use glam::{IVec3, Mat3, Vec3};
use serde::{Deserialize, Serialize};

use crate::grid::GridSpec;
use crate::rng::CellBuildHasher;

/// The velocity of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlowCell {
    pub index: u32,
    pub velocity_mps: Vec3,
}

/// Sparse per-cell velocities with trilinear sampling (see the module header).
#[derive(Debug, Clone)]
pub struct FlowField {
    spec: GridSpec,
    cells: Vec<FlowCell>,
    lookup: HashMap<u32, u32, CellBuildHasher>,
}

impl PartialEq for FlowField {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && self.cells == other.cells
    }
}

impl FlowField {
    /// An empty field (nothing moves).
    pub fn empty(spec: GridSpec) -> Self {
        Self { spec, cells: Vec::new(), lookup: HashMap::default() }
    }

    /// Builds a field; `cells` must be sorted by strictly increasing index, in range, with finite velocities.
    pub fn new(spec: GridSpec, cells: Vec<FlowCell>) -> Result<Self, String> {
        let n = spec.cell_count() as u64;
        for (k, c) in cells.iter().enumerate() {
            if c.index as u64 >= n {
                return Err(format!("flow cell {k}: index {} outside the grid of {n} cells", c.index));
            }
            if !c.velocity_mps.is_finite() {
                return Err(format!("flow cell {k}: velocity must be finite, found {}", c.velocity_mps));
            }
            if k > 0 && cells[k - 1].index >= c.index {
                return Err(format!("flow cell {k}: indices must be strictly increasing"));
            }
        }
        let mut lookup = HashMap::with_capacity_and_hasher(cells.len(), CellBuildHasher::default());
        for (k, c) in cells.iter().enumerate() {
            lookup.insert(c.index, k as u32);
        }
        Ok(Self { spec, cells, lookup })
    }

    pub fn spec(&self) -> &GridSpec {
        &self.spec
    }

    /// Defined cells, ascending index.
    pub fn cells(&self) -> &[FlowCell] {
        &self.cells
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Velocity at a cell, if defined.
    #[inline]
    pub fn cell_velocity(&self, c: IVec3) -> Option<Vec3> {
        let u = self.spec.checked(c)?;
        let k = *self.lookup.get(&self.spec.index(u))?;
        Some(self.cells[k as usize].velocity_mps)
    }

    /// Trilinear sample at a world point over the defined corners (`None` if none is defined).
    pub fn sample(&self, p: Vec3) -> Option<Vec3> {
        self.sample_with_jacobian(p).map(|(v, _)| v)
    }

    /// Trilinear sample and its spatial Jacobian `∂v/∂x` (column j = ∂v/∂x_j, in 1/s).
    ///
    /// With renormalised weights `w̃_c = w_c / W` over the defined corners, `∂w̃_c = (∂w_c − w̃_c ∂W) / W`.
    pub fn sample_with_jacobian(&self, p: Vec3) -> Option<(Vec3, Mat3)> {
        if self.cells.is_empty() {
            return None;
        }
        let u = (p - self.spec.origin_m) / self.spec.cell_size_m - Vec3::splat(0.5);
        let base = u.floor();
        let f = u - base;
        let b = base.as_ivec3();
        let inv_h = 1.0 / self.spec.cell_size_m;
        let mut w_sum = 0.0f32;
        let mut dw_sum = Vec3::ZERO;
        let mut v_sum = Vec3::ZERO;
        // Σ v_c ⊗ ∂w_c, as three columns (∂/∂x, ∂/∂y, ∂/∂z).
        let mut dv = [Vec3::ZERO; 3];
        for corner in 0..8u32 {
            let o = IVec3::new((corner & 1) as i32, ((corner >> 1) & 1) as i32, ((corner >> 2) & 1) as i32);
            let Some(v) = self.cell_velocity(b + o) else { continue };
            let wx = if o.x == 1 { f.x } else { 1.0 - f.x };
            let wy = if o.y == 1 { f.y } else { 1.0 - f.y };
            let wz = if o.z == 1 { f.z } else { 1.0 - f.z };
            let sx = if o.x == 1 { inv_h } else { -inv_h };
            let sy = if o.y == 1 { inv_h } else { -inv_h };
            let sz = if o.z == 1 { inv_h } else { -inv_h };
            let w = wx * wy * wz;
            let dw = Vec3::new(sx * wy * wz, wx * sy * wz, wx * wy * sz);
            w_sum += w;
            dw_sum += dw;
            v_sum += v * w;
            dv[0] += v * dw.x;
            dv[1] += v * dw.y;
            dv[2] += v * dw.z;
        }
        if w_sum <= 1e-6 {
            return None;
        }
        let v = v_sum / w_sum;
        let jac = Mat3::from_cols(
            (dv[0] - v * dw_sum.x) / w_sum,
            (dv[1] - v * dw_sum.y) / w_sum,
            (dv[2] - v * dw_sum.z) / w_sum,
        );
        Some((v, jac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::UVec3;

    fn affine_field(spec: GridSpec, a: Mat3, t: Vec3) -> FlowField {
        let cells = (0..spec.cell_count() as u32)
            .map(|index| FlowCell { index, velocity_mps: a * spec.centre_of(spec.coords(index)) + t })
            .collect();
        FlowField::new(spec, cells).unwrap()
    }

    #[test]
    fn trilinear_is_exact_for_affine_fields_with_jacobian() {
        let spec = GridSpec::new(Vec3::new(-2.0, -2.0, -2.0), 0.5, UVec3::new(8, 8, 8)).unwrap();
        let a = Mat3::from_cols(Vec3::new(0.1, 0.7, -0.2), Vec3::new(-0.7, 0.05, 0.3), Vec3::new(0.0, 0.2, -0.1));
        let t = Vec3::new(3.0, -1.0, 0.5);
        let field = affine_field(spec, a, t);
        for p in [Vec3::ZERO, Vec3::new(0.3, -0.77, 0.41), Vec3::new(-1.2, 1.1, 0.9)] {
            let (v, j) = field.sample_with_jacobian(p).unwrap();
            assert!((v - (a * p + t)).length() < 1e-5, "{v} vs {}", a * p + t);
            let err = (j - a).to_cols_array().iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert!(err < 1e-4, "jacobian error {err}");
        }
    }

    #[test]
    fn renormalised_weights_keep_constant_fields_exact_at_edges() {
        let spec = GridSpec::new(Vec3::ZERO, 1.0, UVec3::new(6, 6, 6)).unwrap();
        let v0 = Vec3::new(1.0, 2.0, 0.0);
        let cells = vec![
            FlowCell { index: spec.index(UVec3::new(2, 2, 2)), velocity_mps: v0 },
            FlowCell { index: spec.index(UVec3::new(3, 2, 2)), velocity_mps: v0 },
        ];
        let field = FlowField::new(spec, cells).unwrap();
        let (v, j) = field.sample_with_jacobian(Vec3::new(3.2, 2.9, 2.6)).unwrap();
        assert!((v - v0).length() < 1e-6);
        assert!(j.to_cols_array().iter().all(|x| x.abs() < 1e-5));
        assert_eq!(field.sample(Vec3::new(0.2, 0.2, 0.2)), None);
    }

    #[test]
    fn unsorted_or_bad_cells_are_rejected() {
        let spec = GridSpec::new(Vec3::ZERO, 1.0, UVec3::new(2, 2, 2)).unwrap();
        let c = |index, x| FlowCell { index, velocity_mps: Vec3::new(x, 0.0, 0.0) };
        assert!(FlowField::new(spec, vec![c(3, 0.0), c(1, 0.0)]).is_err());
        assert!(FlowField::new(spec, vec![c(8, 0.0)]).is_err());
        assert!(FlowField::new(spec, vec![c(1, f32::NAN)]).is_err());
    }
}
