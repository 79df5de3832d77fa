//! Uniform hash grid over camera positions: finds the latents whose camera lies within a distance of a
//! query point in time independent of the history length (for trajectories of bounded local density).

use std::collections::HashMap;

use glam::Vec3;

#[derive(Debug, Clone)]
pub(crate) struct PositionGrid {
    cell: f32,
    cells: HashMap<(i64, i64, i64), Vec<u32>>,
}

impl PositionGrid {
    /// `cell` should be the query radius (then a query reads 3 × 3 × 3 cells).
    pub(crate) fn new(cell: f32) -> Self {
        Self { cell, cells: HashMap::new() }
    }

    fn key(&self, p: Vec3) -> (i64, i64, i64) {
        let f = |v: f32| (v / self.cell).floor() as i64;
        (f(p.x), f(p.y), f(p.z))
    }

    pub(crate) fn insert(&mut self, p: Vec3, id: u32) {
        let k = self.key(p);
        self.cells.entry(k).or_default().push(id);
    }

    /// Calls `f(id)` for every inserted id whose cell may hold points within `radius ≤ cell` of `p`
    /// (a superset: callers apply the exact test).
    pub(crate) fn for_each_near(&self, p: Vec3, mut f: impl FnMut(u32)) {
        let (x, y, z) = self.key(p);
        for dx in -1..=1 {
            for dy in -1..=1 {
                for dz in -1..=1 {
                    if let Some(ids) = self.cells.get(&(x + dx, y + dy, z + dz)) {
                        ids.iter().for_each(|id| f(*id));
                    }
                }
            }
        }
    }
}
