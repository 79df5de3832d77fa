//! A sparse 3D flow field on the semantic grid: velocity (m/s, world frame) per cell where something moves.
//!
//! Semantics: the field a [`crate::DirectorOutput`] carries for tick `t` is `F_{t−1→t}`: velocities of the
//! material that was at each cell at tick `t − 1`, valid over the interval `dt_secs`. Cells without an entry
//! are *undefined* (not "zero"): [`FlowField::sample`] interpolates trilinearly over the defined corners only
//! (weights renormalised), and returns `None` when no corner is defined. For a field that is affine over a
//! neighbourhood (rigid motion) the interpolation is then exact wherever all 8 corners are defined, which is
//! why the procedural Director defines the flow in a band of cells around each moving body.
//!
//! **Motion layers.** Where two bodies are close their bands overlap, and one velocity per cell would smear
//! one body's motion into the other's (cars passing in opposite lanes 1.7 m apart move 20 m/s relative to
//! each other). So a cell may hold several entries, each labelled with the body it belongs to (an instance
//! label, which a learned Director can produce too); sampling *for* a body uses only its entries, sampling
//! without a label uses the first (the Director's best guess: the nearest body).
//!
//! Invariant: `cells` is sorted by non-decreasing index; within one index the labels are distinct and the
//! first entry is the unlabelled answer (checked by [`FlowField::new`]). Lookups go through a hash map that
//! is never iterated, so nothing depends on hash order.

use std::collections::HashMap;

use glam::{IVec3, Mat3, Vec3};
use serde::{Deserialize, Serialize};
use worldflow_base::rng::CellBuildHasher;

use crate::grid::GridSpec;

/// The velocity of one cell (for one body, when labelled).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlowCell {
    pub index: u32,
    pub velocity_mps: Vec3,
    /// The rigid body (instance) this velocity belongs to, if known.
    #[serde(default)]
    pub body_id: Option<u64>,
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

/// A flow field that breaks the invariants of the module header (or the interval it would cover).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlowError {
    #[error("flow cell {cell}: index {index} outside the grid of {cells} cells")]
    IndexOutside { cell: usize, index: u32, cells: u64 },
    #[error("flow cell {cell}: velocity must be finite, found {velocity_mps}")]
    NonFinite { cell: usize, velocity_mps: Vec3 },
    #[error("flow cell {cell}: indices must be non-decreasing")]
    Unsorted { cell: usize },
    #[error("flow cell {cell}: cell {index} has two entries labelled {body_id:?}")]
    DuplicateLabel { cell: usize, index: u32, body_id: Option<u64> },
    /// The interval of a flow ([`crate::rigid_flow`]) is not a positive number of seconds.
    #[error("dt_secs: expected > 0, found {dt_secs}")]
    Interval { dt_secs: f32 },
}

impl FlowField {
    /// An empty field (nothing moves).
    pub fn empty(spec: GridSpec) -> Self {
        Self { spec, cells: Vec::new(), lookup: HashMap::default() }
    }

    /// Builds a field; `cells` must be sorted by non-decreasing index, in range, with finite velocities and
    /// distinct labels within a cell (see the module header).
    pub fn new(spec: GridSpec, cells: Vec<FlowCell>) -> Result<Self, FlowError> {
        let n = spec.cell_count() as u64;
        let mut group_start = 0;
        for (k, c) in cells.iter().enumerate() {
            if c.index as u64 >= n {
                return Err(FlowError::IndexOutside { cell: k, index: c.index, cells: n });
            }
            if !c.velocity_mps.is_finite() {
                return Err(FlowError::NonFinite { cell: k, velocity_mps: c.velocity_mps });
            }
            if k > 0 && cells[k - 1].index > c.index {
                return Err(FlowError::Unsorted { cell: k });
            }
            if k > 0 && cells[k - 1].index != c.index {
                group_start = k;
            }
            if cells[group_start..k].iter().any(|o| o.body_id == c.body_id) {
                return Err(FlowError::DuplicateLabel { cell: k, index: c.index, body_id: c.body_id });
            }
        }
        let mut lookup = HashMap::with_capacity_and_hasher(cells.len(), CellBuildHasher::default());
        for (k, c) in cells.iter().enumerate() {
            lookup.entry(c.index).or_insert(k as u32);
        }
        Ok(Self { spec, cells, lookup })
    }

    /// The entry for `body` (or the first entry when `body` is `None`) among those starting at `first`.
    #[inline]
    fn pick(&self, first: usize, body: Option<u64>) -> Option<Vec3> {
        let index = self.cells[first].index;
        if body.is_none() {
            return Some(self.cells[first].velocity_mps);
        }
        self.cells[first..].iter().take_while(|c| c.index == index).find(|c| c.body_id == body).map(|c| c.velocity_mps)
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
}

/// Anything that can answer "velocity of cell c" on a grid gets trilinear sampling for free.
pub trait FlowSampler {
    fn grid_spec(&self) -> &GridSpec;
    /// Velocity at a cell for `body` (`None`: the first entry); out of range or undefined → `None`.
    fn cell_velocity_for(&self, c: IVec3, body: Option<u64>) -> Option<Vec3>;
    /// Whether no cell is defined.
    fn is_undefined(&self) -> bool;

    /// Velocity at a cell, unlabelled.
    fn cell_velocity(&self, c: IVec3) -> Option<Vec3> {
        self.cell_velocity_for(c, None)
    }

    /// Trilinear sample at a world point over the defined corners (`None` if none is defined), unlabelled.
    fn sample(&self, p: Vec3) -> Option<Vec3> {
        self.sample_with_jacobian_for(p, None).map(|(v, _)| v)
    }

    /// Trilinear sample and its spatial Jacobian, unlabelled.
    fn sample_with_jacobian(&self, p: Vec3) -> Option<(Vec3, Mat3)> {
        self.sample_with_jacobian_for(p, None)
    }

    /// Trilinear sample of `body`'s motion layer and its spatial Jacobian `∂v/∂x` (column j = ∂v/∂x_j, 1/s).
    ///
    /// With renormalised weights `w̃_c = w_c / W` over the defined corners, `∂w̃_c = (∂w_c − w̃_c ∂W) / W`.
    fn sample_with_jacobian_for(&self, p: Vec3, body: Option<u64>) -> Option<(Vec3, Mat3)> {
        if self.is_undefined() {
            return None;
        }
        let (base, f) = self.locate(p);
        self.interpolate(&self.corners(base, body), f)
    }

    /// The trilinear stencil of `p`: base cell (lower corner of the 8) and fractional position in it.
    #[inline]
    fn locate(&self, p: Vec3) -> (IVec3, Vec3) {
        let spec = self.grid_spec();
        let u = (p - spec.origin_m) / spec.cell_size_m - Vec3::splat(0.5);
        let base = u.floor();
        (base.as_ivec3(), u - base)
    }

    /// Velocities at the 8 corners of a stencil (bit 0 = +x, bit 1 = +y, bit 2 = +z).
    #[inline]
    fn corners(&self, base: IVec3, body: Option<u64>) -> [Option<Vec3>; 8] {
        std::array::from_fn(|corner| {
            let o = IVec3::new((corner & 1) as i32, ((corner >> 1) & 1) as i32, ((corner >> 2) & 1) as i32);
            self.cell_velocity_for(base + o, body)
        })
    }

    /// Renormalised trilinear interpolation (and Jacobian) of corner velocities at fractional position `f`.
    fn interpolate(&self, corners: &[Option<Vec3>; 8], f: Vec3) -> Option<(Vec3, Mat3)> {
        interpolate(self.grid_spec().cell_size_m, corners, f)
    }

    /// Like [`FlowSampler::interpolate`], the value only (cheaper).
    fn interpolate_value(&self, corners: &[Option<Vec3>; 8], f: Vec3) -> Option<Vec3> {
        let mut w_sum = 0.0f32;
        let mut v_sum = Vec3::ZERO;
        for (corner, v) in corners.iter().enumerate() {
            let Some(v) = *v else { continue };
            let wx = if corner & 1 == 1 { f.x } else { 1.0 - f.x };
            let wy = if corner & 2 == 2 { f.y } else { 1.0 - f.y };
            let wz = if corner & 4 == 4 { f.z } else { 1.0 - f.z };
            let w = wx * wy * wz;
            w_sum += w;
            v_sum += v * w;
        }
        (w_sum > 1e-6).then(|| v_sum / w_sum)
    }
}

impl FlowSampler for FlowField {
    fn grid_spec(&self) -> &GridSpec {
        &self.spec
    }

    #[inline]
    fn cell_velocity_for(&self, c: IVec3, body: Option<u64>) -> Option<Vec3> {
        let u = self.spec.checked(c)?;
        let k = *self.lookup.get(&self.spec.index(u))?;
        self.pick(k as usize, body)
    }

    fn is_undefined(&self) -> bool {
        self.cells.is_empty()
    }
}

/// Grids up to this many cells get a dense index in [`DenseFlowIndex`] (4 bytes per cell).
pub const DENSE_INDEX_MAX_CELLS: usize = 32 * 1024 * 1024;

/// A reusable dense cell → flow-entry index (a sampling accelerator): binding a field fills only its
/// cells and unbinding clears them, so a tick costs O(flow cells), not O(grid). Falls back to the field's
/// hash map for grids larger than [`DENSE_INDEX_MAX_CELLS`].
#[derive(Debug, Clone, Default)]
pub struct DenseFlowIndex {
    slots: Vec<u32>,
}

impl DenseFlowIndex {
    pub fn new(spec: &GridSpec) -> Self {
        let n = spec.cell_count();
        Self { slots: if n <= DENSE_INDEX_MAX_CELLS { vec![u32::MAX; n] } else { Vec::new() } }
    }

    /// Binds a field for fast sampling; the binding clears the index when dropped.
    pub fn bind<'a>(&'a mut self, flow: &'a FlowField) -> BoundFlow<'a> {
        let dense = self.slots.len() == flow.spec.cell_count();
        if dense {
            for (k, c) in flow.cells.iter().enumerate().rev() {
                self.slots[c.index as usize] = k as u32; // ends at the first entry of each cell
            }
        }
        BoundFlow { slots: &mut self.slots, flow, dense }
    }
}

/// A [`FlowField`] bound to a [`DenseFlowIndex`].
#[derive(Debug)]
pub struct BoundFlow<'a> {
    slots: &'a mut Vec<u32>,
    flow: &'a FlowField,
    dense: bool,
}

impl Drop for BoundFlow<'_> {
    fn drop(&mut self) {
        if self.dense {
            for c in &self.flow.cells {
                self.slots[c.index as usize] = u32::MAX;
            }
        }
    }
}

impl FlowSampler for BoundFlow<'_> {
    fn grid_spec(&self) -> &GridSpec {
        &self.flow.spec
    }

    #[inline]
    fn cell_velocity_for(&self, c: IVec3, body: Option<u64>) -> Option<Vec3> {
        if !self.dense {
            return self.flow.cell_velocity_for(c, body);
        }
        let u = self.flow.spec.checked(c)?;
        let k = self.slots[self.flow.spec.index(u) as usize];
        if k == u32::MAX {
            return None;
        }
        self.flow.pick(k as usize, body)
    }

    fn is_undefined(&self) -> bool {
        self.flow.cells.is_empty()
    }
}

fn interpolate(cell_size_m: f32, corners: &[Option<Vec3>; 8], f: Vec3) -> Option<(Vec3, Mat3)> {
    let inv_h = 1.0 / cell_size_m;
    let mut w_sum = 0.0f32;
    let mut dw_sum = Vec3::ZERO;
    let mut v_sum = Vec3::ZERO;
    // Σ v_c ⊗ ∂w_c, as three columns (∂/∂x, ∂/∂y, ∂/∂z).
    let mut dv = [Vec3::ZERO; 3];
    for (corner, v) in corners.iter().enumerate() {
        let Some(v) = *v else { continue };
        let (ox, oy, oz) = (corner & 1 == 1, corner & 2 == 2, corner & 4 == 4);
        let wx = if ox { f.x } else { 1.0 - f.x };
        let wy = if oy { f.y } else { 1.0 - f.y };
        let wz = if oz { f.z } else { 1.0 - f.z };
        let sx = if ox { inv_h } else { -inv_h };
        let sy = if oy { inv_h } else { -inv_h };
        let sz = if oz { inv_h } else { -inv_h };
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
    let jac =
        Mat3::from_cols((dv[0] - v * dw_sum.x) / w_sum, (dv[1] - v * dw_sum.y) / w_sum, (dv[2] - v * dw_sum.z) / w_sum);
    Some((v, jac))
}
