//! The seeded procedural town: a grid of blocks separated by two-lane roads.
//!
//! Layout (world frame, z up, metres): the town spans `[0, extent_x] × [0, extent_y]`. Road centre lines run
//! along x = `road_width/2 + i·pitch` (i = 0..=blocks_x) and likewise in y, `pitch = block + road`; the
//! intersection of line i (x) and line j (y) is node `(i, j)`. Each block has a sidewalk ring, then lots that
//! are either a building (varied footprint and height, walls + a roof layer) or a park (grass + trees).
//! Street trees stand on the sidewalks. The ground is one layer of cells below z = 0 (cell layer k = 0);
//! everything standing on it starts at layer k = 1.
//!
//! Invariants: the grid is a pure function of (scenario, seed) — randomness comes from hashes of stable keys
//! (block, lot, tree) so nothing depends on iteration order; static cells never hold dynamic classes.

use glam::{UVec3, Vec2, Vec3};
use worldflow_base::rng::{hash64, hash_keys, unit_f32};

use crate::grid::{GridSpec, SemanticClass, SemanticGrid};
use crate::scenario::{Scenario, ScenarioError};

/// Dash length and gap of the centre line, metres.
const DASH_M: f32 = 3.0;
/// Lots narrower than this are not split further, metres.
const LOT_MIN_M: f32 = 12.0;

/// A tree: trunk column and an ellipsoidal canopy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tree {
    pub base_m: Vec2,
    pub trunk_height_m: f32,
    pub canopy_radius_m: f32,
}

/// A building footprint (axis-aligned) and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Building {
    pub min_m: Vec2,
    pub max_m: Vec2,
    pub height_m: f32,
}

/// The static town: its grid and the road geometry traffic needs.
#[derive(Debug, Clone)]
pub struct Town {
    pub grid: SemanticGrid,
    pub blocks: (u32, u32),
    pub road_width_m: f32,
    pub pitch_m: f32,
    pub extent_m: Vec2,
    pub buildings: Vec<Building>,
    pub trees: Vec<Tree>,
}

impl Town {
    /// Builds the town of a (validated) scenario with the given seed.
    pub fn generate(scenario: &Scenario, seed: u64) -> Result<Self, ScenarioError> {
        scenario.validate()?;
        let t = &scenario.town;
        let cs = scenario.cell_size_m;
        let (ex, ey) = scenario.extent_m();
        let nz = 1 + (t.max_building_height_m / cs).ceil() as u32 + 3;
        let dims = UVec3::new((ex / cs).ceil() as u32, (ey / cs).ceil() as u32, nz);
        let spec = GridSpec::new(Vec3::new(0.0, 0.0, -cs), cs, dims)
            .map_err(|source| ScenarioError::Grid { field: "cell_size_m".into(), source })?;
        let mut town = Town {
            grid: SemanticGrid::new_empty(spec),
            blocks: (t.blocks_x, t.blocks_y),
            road_width_m: t.road_width_m,
            pitch_m: scenario.pitch_m(),
            extent_m: Vec2::new(ex, ey),
            buildings: Vec::new(),
            trees: Vec::new(),
        };
        town.plan(scenario, seed);
        town.rasterise(scenario);
        Ok(town)
    }

    /// Centre of road line `i` along one axis, metres.
    pub fn road_line_m(&self, i: u32) -> f32 {
        0.5 * self.road_width_m + i as f32 * self.pitch_m
    }

    /// World position of intersection node (i, j) at ground level.
    pub fn node_m(&self, i: u32, j: u32) -> Vec2 {
        Vec2::new(self.road_line_m(i), self.road_line_m(j))
    }

    /// Distance from the centre line of the nearest road running along the *other* axis (`coord` is x for
    /// north–south roads), and that line's index.
    fn nearest_line(&self, coord: f32, lines: u32) -> (f32, u32) {
        let r = coord - 0.5 * self.road_width_m;
        let i = (r / self.pitch_m).round().clamp(0.0, lines as f32) as u32;
        ((coord - self.road_line_m(i)).abs(), i)
    }

    /// Lane centre offset from the road centre line, metres (right-hand traffic: lanes lie to the right).
    pub fn lane_offset_m(&self) -> f32 {
        0.25 * self.road_width_m
    }

    /// Whether a ground point lies on a road (carriageway, intersections included).
    pub fn on_road(&self, p: Vec2) -> bool {
        let h = 0.5 * self.road_width_m;
        let in_map = p.x >= 0.0 && p.y >= 0.0 && p.x <= self.extent_m.x && p.y <= self.extent_m.y;
        in_map && (self.nearest_line(p.x, self.blocks.0).0 <= h || self.nearest_line(p.y, self.blocks.1).0 <= h)
    }

    fn plan(&mut self, scenario: &Scenario, seed: u64) {
        let t = &scenario.town;
        let w = t.road_width_m;
        let sw = t.sidewalk_width_m;
        let interior = t.block_size_m - 2.0 * sw;
        let lots = ((interior / LOT_MIN_M).floor() as u32).clamp(1, 3);
        let lot_size = interior / lots as f32;
        let centre = 0.5 * self.extent_m;
        let max_r = centre.length().max(1.0);
        for bj in 0..t.blocks_y {
            for bi in 0..t.blocks_x {
                let block_min = Vec2::new(w + bi as f32 * self.pitch_m, w + bj as f32 * self.pitch_m);
                for lj in 0..lots {
                    for li in 0..lots {
                        let lot_min = block_min + Vec2::splat(sw) + Vec2::new(li as f32, lj as f32) * lot_size;
                        let lot_max = lot_min + Vec2::splat(lot_size);
                        let key = |k: u64| hash_keys(&[seed, 1, bi as u64, bj as u64, li as u64, lj as u64, k]);
                        if unit_f32(key(0)) < t.park_fraction {
                            // Park: a few trees.
                            let n = 1 + (unit_f32(key(1)) * 3.0) as u64;
                            for k in 0..n {
                                let u = Vec2::new(unit_f32(key(10 + k)), unit_f32(key(20 + k)));
                                let margin = Vec2::splat(2.5f32.min(0.4 * lot_size));
                                let base = lot_min + margin + u * (lot_max - lot_min - 2.0 * margin);
                                self.trees.push(Tree {
                                    base_m: base,
                                    trunk_height_m: 2.0 + 1.5 * unit_f32(key(30 + k)),
                                    canopy_radius_m: 1.8 + 1.4 * unit_f32(key(40 + k)),
                                });
                            }
                        } else {
                            let m = |k| 0.5 + 2.0 * unit_f32(key(k));
                            let min_m = lot_min + Vec2::new(m(2), m(3));
                            let max_m = lot_max - Vec2::new(m(4), m(5));
                            // Taller towards the town centre, with jitter.
                            let closeness = 1.0 - ((lot_min + lot_max) * 0.5 - centre).length() / max_r;
                            let f =
                                (0.25 * unit_f32(key(6)) + 0.75 * closeness * unit_f32(key(7)).sqrt()).clamp(0.0, 1.0);
                            let height_m =
                                t.min_building_height_m + f * (t.max_building_height_m - t.min_building_height_m);
                            if max_m.x - min_m.x >= 2.0 * scenario.cell_size_m
                                && max_m.y - min_m.y >= 2.0 * scenario.cell_size_m
                            {
                                self.buildings.push(Building { min_m, max_m, height_m });
                            }
                        }
                    }
                }
                // Street trees on the sidewalk ring, half a sidewalk from the kerb.
                if t.street_tree_spacing_m > 0.0 && sw >= 1.0 {
                    let inset = 0.5 * sw;
                    let side = t.block_size_m - 2.0 * inset;
                    let count = (side / t.street_tree_spacing_m).floor() as u32;
                    for edge in 0..4u32 {
                        for k in 1..count {
                            let s = k as f32 * side / count as f32;
                            let local = match edge {
                                0 => Vec2::new(inset + s, inset),
                                1 => Vec2::new(t.block_size_m - inset, inset + s),
                                2 => Vec2::new(inset + s, t.block_size_m - inset),
                                _ => Vec2::new(inset, inset + s),
                            };
                            let h = hash_keys(&[seed, 2, bi as u64, bj as u64, edge as u64, k as u64]);
                            self.trees.push(Tree {
                                base_m: block_min + local,
                                trunk_height_m: 3.0 + unit_f32(h),
                                canopy_radius_m: 1.4 + 0.8 * unit_f32(hash64(h)),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Class of the ground cell under a point.
    fn ground_class(&self, p: Vec2, scenario: &Scenario) -> SemanticClass {
        let t = &scenario.town;
        let cs = scenario.cell_size_m;
        let h = 0.5 * t.road_width_m;
        let (dx, _) = self.nearest_line(p.x, t.blocks_x);
        let (dy, _) = self.nearest_line(p.y, t.blocks_y);
        let on_x_road = dx <= h; // a north–south road
        let on_y_road = dy <= h; // an east–west road
        if on_x_road || on_y_road {
            let dash = |along: f32| (along / DASH_M).floor().rem_euclid(2.0) == 0.0;
            // The marking is the one cell containing the centre line; none inside intersections.
            if on_x_road && !on_y_road && self.is_marking_cell(p.x, t.blocks_x, cs) && dash(p.y) {
                return SemanticClass::LaneMarking;
            }
            if on_y_road && !on_x_road && self.is_marking_cell(p.y, t.blocks_y, cs) && dash(p.x) {
                return SemanticClass::LaneMarking;
            }
            return SemanticClass::Road;
        }
        if dx <= h + t.sidewalk_width_m || dy <= h + t.sidewalk_width_m {
            return SemanticClass::Sidewalk;
        }
        // Lots: grass in parks and yards; building footprints are filled above.
        SemanticClass::Grass
    }

    /// Exactly one cell across a road holds the marking: the one containing the centre line. `coord` is a
    /// cell centre, so its cell `[coord − cs/2, coord + cs/2)` contains line L iff `−cs/2 < coord − L ≤ cs/2`.
    fn is_marking_cell(&self, coord: f32, lines: u32, cs: f32) -> bool {
        let offset = coord - self.road_line_m(self.nearest_line(coord, lines).1);
        offset > -0.5 * cs && offset <= 0.5 * cs
    }

    fn rasterise(&mut self, scenario: &Scenario) {
        let spec = *self.grid.spec();
        let cs = spec.cell_size_m;
        let dims = spec.dims;
        // Ground layer.
        for j in 0..dims.y {
            for i in 0..dims.x {
                let c = spec.centre_of(UVec3::new(i, j, 0));
                let class = self.ground_class(c.truncate(), scenario);
                self.grid.set(UVec3::new(i, j, 0), class);
            }
        }
        // Buildings: walls, roof on the top layer. Footprint cells = cells whose centre lies inside.
        let buildings = std::mem::take(&mut self.buildings);
        for b in &buildings {
            let top = ((b.height_m / cs).round() as u32).clamp(1, dims.z - 2);
            let (i0, i1) = cell_span(b.min_m.x, b.max_m.x, cs, dims.x);
            let (j0, j1) = cell_span(b.min_m.y, b.max_m.y, cs, dims.y);
            for j in j0..j1 {
                for i in i0..i1 {
                    self.grid.set(UVec3::new(i, j, 0), SemanticClass::Sidewalk);
                    for k in 1..=top {
                        let class = if k == top { SemanticClass::Roof } else { SemanticClass::Building };
                        self.grid.set(UVec3::new(i, j, k), class);
                    }
                }
            }
        }
        self.buildings = buildings;
        // Trees: trunk column, then an ellipsoidal canopy; never overwrite buildings.
        for tree in &self.trees {
            let Some(base) = spec.cell_of(tree.base_m.extend(0.5 * cs)) else {
                continue;
            };
            let trunk_top = ((tree.trunk_height_m / cs).round() as u32).clamp(1, dims.z - 2);
            for k in 1..=trunk_top {
                let c = UVec3::new(base.x, base.y, k);
                if self.grid.get(c).is_empty() {
                    self.grid.set(c, SemanticClass::TreeTrunk);
                }
            }
            let centre = Vec3::new(tree.base_m.x, tree.base_m.y, tree.trunk_height_m + 0.6 * tree.canopy_radius_m);
            let r = tree.canopy_radius_m;
            let radii = Vec3::new(r, r, 0.85 * r);
            let lo = spec.cell_coords_signed(centre - radii).max(glam::IVec3::ZERO);
            let hi = spec.cell_coords_signed(centre + radii).min(dims.as_ivec3() - glam::IVec3::ONE);
            for k in lo.z..=hi.z {
                for j in lo.y..=hi.y {
                    for i in lo.x..=hi.x {
                        let c = UVec3::new(i as u32, j as u32, k as u32);
                        let d = (spec.centre_of(c) - centre) / radii;
                        if d.length_squared() <= 1.0 && self.grid.get(c).is_empty() && k >= 1 {
                            self.grid.set(c, SemanticClass::Vegetation);
                        }
                    }
                }
            }
        }
    }
}

/// Cells whose centres lie in `[lo, hi)` along one axis, clamped to the grid.
fn cell_span(lo: f32, hi: f32, cs: f32, n: u32) -> (u32, u32) {
    let a = ((lo / cs - 0.5).ceil().max(0.0) as u32).min(n);
    let b = ((hi / cs - 0.5).ceil().max(0.0) as u32).min(n);
    (a, b.max(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_town_has_every_static_class_and_roads_at_lines() {
        let s = Scenario::default();
        let town = Town::generate(&s, s.seed).unwrap();
        let h = town.grid.histogram();
        for class in [
            SemanticClass::Road,
            SemanticClass::Sidewalk,
            SemanticClass::LaneMarking,
            SemanticClass::Building,
            SemanticClass::Roof,
            SemanticClass::Vegetation,
            SemanticClass::TreeTrunk,
            SemanticClass::Grass,
        ] {
            assert!(h[class as usize] > 0, "no {} cells", class.name());
        }
        assert_eq!(h[SemanticClass::Vehicle as usize], 0);
        // Node (1, 1) is an intersection: road, no marking.
        let n = town.node_m(1, 1);
        assert_eq!(town.grid.class_at(n.extend(-0.5)), SemanticClass::Road);
        assert!(town.on_road(n));
        // Middle of the first block is not road.
        assert!(!town.on_road(Vec2::splat(s.town.road_width_m + 0.5 * s.town.block_size_m)));
    }

    #[test]
    fn different_seeds_give_different_towns_same_seed_same_town() {
        let s = Scenario::default();
        let a = Town::generate(&s, 1).unwrap();
        let b = Town::generate(&s, 1).unwrap();
        let c = Town::generate(&s, 2).unwrap();
        assert_eq!(a.grid, b.grid);
        assert_ne!(a.grid, c.grid);
    }
}
