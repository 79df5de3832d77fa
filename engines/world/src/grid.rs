//! The semantic voxel grid: the Director's world state.
//!
//! Layout: cell `(i, j, k)` covers `origin_m + cell_size_m · [i, i+1) × [j, j+1) × [k, k+1)` in the world frame
//! (z up, metres); its linear index is `i + dims[0] · (j + dims[1] · k)` (x fastest). Every cell holds
//! exactly one [`SemanticClass`]. Indices fit in `u32` (checked by [`GridSpec::new`]).

use glam::{UVec3, Vec3};
use serde::{Deserialize, Serialize};

/// Semantic classes of a cell. `Empty` is free space. The numeric value is stable (it goes on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum SemanticClass {
    #[default]
    Empty = 0,
    Road = 1,
    Sidewalk = 2,
    LaneMarking = 3,
    Building = 4,
    Roof = 5,
    Vegetation = 6,
    TreeTrunk = 7,
    Grass = 8,
    Vehicle = 9,
    Pedestrian = 10,
    /// A flying drone ego's body.
    Drone = 11,
}

impl SemanticClass {
    pub const ALL: [SemanticClass; 12] = [
        Self::Empty,
        Self::Road,
        Self::Sidewalk,
        Self::LaneMarking,
        Self::Building,
        Self::Roof,
        Self::Vegetation,
        Self::TreeTrunk,
        Self::Grass,
        Self::Vehicle,
        Self::Pedestrian,
        Self::Drone,
    ];

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(v as usize).copied()
    }

    /// Classes that move (advected by the flow) rather than being part of the static town.
    pub fn is_dynamic(self) -> bool {
        matches!(self, Self::Vehicle | Self::Pedestrian | Self::Drone)
    }

    pub fn is_empty(self) -> bool {
        self == Self::Empty
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Road => "road",
            Self::Sidewalk => "sidewalk",
            Self::LaneMarking => "lane_marking",
            Self::Building => "building",
            Self::Roof => "roof",
            Self::Vegetation => "vegetation",
            Self::TreeTrunk => "tree_trunk",
            Self::Grass => "grass",
            Self::Vehicle => "vehicle",
            Self::Pedestrian => "pedestrian",
            Self::Drone => "drone",
        }
    }
}

/// Where the grid lies in the world and how fine it is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GridSpec {
    /// World position of the minimum corner of cell (0, 0, 0), metres.
    pub origin_m: Vec3,
    /// Edge length of a (cubic) cell, metres.
    pub cell_size_m: f32,
    /// Cells along x, y, z.
    pub dims: UVec3,
}

/// Largest number of cells a grid may hold (keeps indices in `u32` and memory bounded: 1 byte per cell).
pub const MAX_CELLS: u64 = 256 * 1024 * 1024;

/// A grid spec or a change that does not fit the grid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GridError {
    #[error("cell size must be a positive number of metres, found {0}")]
    CellSize(f32),
    #[error("origin must be finite, found {0}")]
    Origin(Vec3),
    #[error("grid of {}×{}×{} cells: expected 1..={MAX_CELLS} cells", .0.x, .0.y, .0.z)]
    CellCount(UVec3),
    #[error("cell change index {index} is outside the grid of {cells} cells")]
    ChangeOutside { index: u32, cells: usize },
}

impl GridSpec {
    /// Checks the spec; the error says what is wrong.
    pub fn new(origin_m: Vec3, cell_size_m: f32, dims: UVec3) -> Result<Self, GridError> {
        if !(cell_size_m.is_finite() && cell_size_m > 0.0) {
            return Err(GridError::CellSize(cell_size_m));
        }
        if !origin_m.is_finite() {
            return Err(GridError::Origin(origin_m));
        }
        let count = dims.x as u64 * dims.y as u64 * dims.z as u64;
        if count == 0 || count > MAX_CELLS {
            return Err(GridError::CellCount(dims));
        }
        Ok(Self { origin_m, cell_size_m, dims })
    }

    pub fn cell_count(&self) -> usize {
        self.dims.x as usize * self.dims.y as usize * self.dims.z as usize
    }

    /// Linear index of an in-range cell.
    #[inline]
    pub fn index(&self, c: UVec3) -> u32 {
        c.x + self.dims.x * (c.y + self.dims.y * c.z)
    }

    /// Cell coordinates of a linear index.
    #[inline]
    pub fn coords(&self, index: u32) -> UVec3 {
        let x = index % self.dims.x;
        let yz = index / self.dims.x;
        UVec3::new(x, yz % self.dims.y, yz / self.dims.y)
    }

    /// Signed cell coordinates containing `p` (may be out of range).
    #[inline]
    pub fn cell_coords_signed(&self, p: Vec3) -> glam::IVec3 {
        ((p - self.origin_m) / self.cell_size_m).floor().as_ivec3()
    }

    /// The in-range cell containing `p`, if any.
    #[inline]
    pub fn cell_of(&self, p: Vec3) -> Option<UVec3> {
        self.checked(self.cell_coords_signed(p))
    }

    /// `c` as an in-range cell, if it is one.
    #[inline]
    pub fn checked(&self, c: glam::IVec3) -> Option<UVec3> {
        if c.x < 0 || c.y < 0 || c.z < 0 {
            return None;
        }
        let u = c.as_uvec3();
        (u.x < self.dims.x && u.y < self.dims.y && u.z < self.dims.z).then_some(u)
    }

    /// World position of a cell centre.
    #[inline]
    pub fn centre_of(&self, c: UVec3) -> Vec3 {
        self.origin_m + (c.as_vec3() + Vec3::splat(0.5)) * self.cell_size_m
    }

    /// World extent (max corner).
    pub fn max_m(&self) -> Vec3 {
        self.origin_m + self.dims.as_vec3() * self.cell_size_m
    }
}

/// One cell whose class changed, with its new class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellChange {
    pub index: u32,
    pub class: SemanticClass,
}

/// A dense semantic grid: one class per cell.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticGrid {
    spec: GridSpec,
    classes: Vec<SemanticClass>,
}

impl SemanticGrid {
    pub fn new_empty(spec: GridSpec) -> Self {
        Self { spec, classes: vec![SemanticClass::Empty; spec.cell_count()] }
    }

    pub fn spec(&self) -> &GridSpec {
        &self.spec
    }

    /// All classes, in linear-index order.
    pub fn classes(&self) -> &[SemanticClass] {
        &self.classes
    }

    #[inline]
    pub fn get(&self, c: UVec3) -> SemanticClass {
        self.classes[self.spec.index(c) as usize]
    }

    #[inline]
    pub fn get_index(&self, index: u32) -> SemanticClass {
        self.classes[index as usize]
    }

    /// Class at signed coordinates; out of range reads as `outside`.
    #[inline]
    pub fn get_or(&self, c: glam::IVec3, outside: SemanticClass) -> SemanticClass {
        self.spec.checked(c).map_or(outside, |u| self.get(u))
    }

    /// Class of the cell containing a world point (`Empty` outside the grid).
    pub fn class_at(&self, p: Vec3) -> SemanticClass {
        self.spec.cell_of(p).map_or(SemanticClass::Empty, |c| self.get(c))
    }

    #[inline]
    pub fn set(&mut self, c: UVec3, class: SemanticClass) {
        let i = self.spec.index(c) as usize;
        self.classes[i] = class;
    }

    #[inline]
    pub fn set_index(&mut self, index: u32, class: SemanticClass) {
        self.classes[index as usize] = class;
    }

    /// Applies sparse changes (e.g. from a [`crate::DirectorOutput`]); indices out of range are an error.
    pub fn apply(&mut self, changes: &[CellChange]) -> Result<(), GridError> {
        let n = self.classes.len();
        if let Some(bad) = changes.iter().find(|c| c.index as usize >= n) {
            return Err(GridError::ChangeOutside { index: bad.index, cells: n });
        }
        for c in changes {
            self.classes[c.index as usize] = c.class;
        }
        Ok(())
    }

    /// Number of cells of each class, indexed by the class's `u8` value.
    pub fn histogram(&self) -> [usize; SemanticClass::ALL.len()] {
        let mut h = [0; SemanticClass::ALL.len()];
        for &c in &self.classes {
            h[c as usize] += 1;
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips_and_cell_of_matches_centre() {
        let spec = GridSpec::new(Vec3::new(-1.0, 2.0, -0.5), 0.5, UVec3::new(7, 5, 3)).unwrap();
        for idx in 0..spec.cell_count() as u32 {
            let c = spec.coords(idx);
            assert_eq!(spec.index(c), idx);
            assert_eq!(spec.cell_of(spec.centre_of(c)), Some(c));
        }
        assert_eq!(spec.cell_of(Vec3::new(-1.01, 2.0, 0.0)), None);
    }

    #[test]
    fn bad_specs_are_errors() {
        assert!(GridSpec::new(Vec3::ZERO, 0.0, UVec3::ONE).is_err());
        assert!(GridSpec::new(Vec3::ZERO, f32::NAN, UVec3::ONE).is_err());
        assert!(GridSpec::new(Vec3::ZERO, 1.0, UVec3::new(0, 1, 1)).is_err());
        assert!(GridSpec::new(Vec3::ZERO, 1.0, UVec3::new(100_000, 100_000, 100)).is_err());
    }

    #[test]
    fn class_u8_round_trip() {
        for c in SemanticClass::ALL {
            assert_eq!(SemanticClass::from_u8(c as u8), Some(c));
        }
        assert_eq!(SemanticClass::from_u8(200), None);
    }
}
