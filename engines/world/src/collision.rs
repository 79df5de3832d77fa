//! Swept collision of a moving body against the static town and other bodies, and the warning an ego's
//! collision gives.
//!
//! **Clearance volume.** A flying body is tested as an upright cylinder of radius `r` (the horizontal
//! half-diagonal of its box, so any yaw fits) and half height `h`, taken conservatively as the box
//! `(r, r, h)` around its centre: it is blocked by a static cell (building, roof, tree; not the ground layer,
//! not free space) it overlaps, and by a body whose box, grown by `(r, r, h)`, holds its centre.
//!
//! **Sweep.** A motion from `from_m` to `to_m` is tested in sub-steps no longer than half the smallest of the
//! clearance half extents and of half a cell, so consecutive boxes overlap and nothing a cell (or a body)
//! thick fits between them: a fast body cannot tunnel through a thin wall. The motion stops at the last free
//! sub-step. What already overlapped the body at `from_m` (a car that drove into a landed drone) does not
//! block it, so it can always move out.

use glam::{Mat4, Vec3};
use worldflow_protocol::rigid_inverse;

use crate::body::{RigidBody, EGO_BODY_ID_BASE};
use crate::grid::{SemanticClass, SemanticGrid};

/// Most sub-steps of one sweep (a tick of a fast body; keeps the loop bounded whatever the inputs).
const MAX_SUB_STEPS: usize = 4096;

/// What a moving body is tested against.
#[derive(Debug, Clone, Copy, Default)]
pub struct Surroundings<'a> {
    /// The static town (no dynamic cells; bodies are in `bodies`), if any.
    pub grid: Option<&'a SemanticGrid>,
    /// Other bodies (never the moving body itself).
    pub bodies: &'a [RigidBody],
}

/// What blocked a motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// A static cell of this class (building, roof, vegetation, tree trunk, …).
    Static { class: SemanticClass },
    /// A body; ids from [`EGO_BODY_ID_BASE`] on are ego agents (`agent{id − base}`).
    Body { id: u64, class: SemanticClass },
}

impl std::fmt::Display for Hit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Hit::Static { class } => write!(f, "a {} cell", class.name()),
            Hit::Body { id, class } if id >= EGO_BODY_ID_BASE => {
                write!(f, "agent{} (a {})", id - EGO_BODY_ID_BASE, class.name())
            }
            Hit::Body { id, class } => write!(f, "{} body {id}", class.name()),
        }
    }
}

/// The end of a sweep: where the body got to, and what stopped it short of the target (if anything).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sweep {
    pub reached_m: Vec3,
    pub hit: Option<Hit>,
}

/// Every obstacle the clearance box of half extents `half_m` centred at `centre_m` overlaps, in a fixed order
/// (static cells by ascending index, then bodies in the given order).
fn overlaps(centre_m: Vec3, half_m: Vec3, around: &Surroundings, inverses: &[Mat4]) -> Vec<Hit> {
    let mut hits = Vec::new();
    if let Some(grid) = around.grid {
        let spec = grid.spec();
        // Shrunk by a hair so that touching a cell face (a landed body on the ground) is not overlapping.
        let eps = Vec3::splat(1e-4 * spec.cell_size_m);
        let lo = spec.cell_coords_signed(centre_m - half_m + eps);
        let hi = spec.cell_coords_signed(centre_m + half_m - eps);
        for k in lo.z..=hi.z {
            for j in lo.y..=hi.y {
                for i in lo.x..=hi.x {
                    let class = grid.get_or(glam::IVec3::new(i, j, k), SemanticClass::Empty);
                    let hit = Hit::Static { class };
                    if !class.is_empty() && !class.is_dynamic() && !hits.contains(&hit) {
                        hits.push(hit);
                    }
                }
            }
        }
    }
    for (b, body_from_world) in around.bodies.iter().zip(inverses) {
        let local = body_from_world.transform_point3(centre_m);
        if (local.abs() - b.half_extent_m - half_m).max_element() <= 0.0 {
            hits.push(Hit::Body { id: b.id, class: b.class });
        }
    }
    hits
}

/// The first obstacle the clearance box of half extents `half_m` centred at `centre_m` overlaps (a spawn test).
pub fn blocked_at(centre_m: Vec3, half_m: Vec3, around: &Surroundings) -> Option<Hit> {
    let inverses: Vec<Mat4> = around.bodies.iter().map(|b| rigid_inverse(&b.world_from_body)).collect();
    overlaps(centre_m, half_m, around, &inverses).into_iter().next()
}

/// Sweeps the clearance box of half extents `half_m` (centre at the body's centre) from `from_m` to `to_m`
/// (centres, world frame, metres); see the module header.
pub fn sweep(from_m: Vec3, to_m: Vec3, half_m: Vec3, around: &Surroundings) -> Sweep {
    let inverses: Vec<Mat4> = around.bodies.iter().map(|b| rigid_inverse(&b.world_from_body)).collect();
    let cell = around.grid.map_or(f32::INFINITY, |g| g.spec().cell_size_m);
    let step_m = (0.5 * half_m.min_element()).min(0.5 * cell).max(1e-3);
    let distance = from_m.distance(to_m);
    let n = ((distance / step_m).ceil() as usize).clamp(1, MAX_SUB_STEPS);
    let already = overlaps(from_m, half_m, around, &inverses);
    let mut reached_m = from_m;
    for s in 1..=n {
        let p = from_m.lerp(to_m, s as f32 / n as f32);
        if let Some(hit) = overlaps(p, half_m, around, &inverses).into_iter().find(|h| !already.contains(h)) {
            return Sweep { reached_m, hit: Some(hit) };
        }
        reached_m = p;
    }
    Sweep { reached_m: to_m, hit: None }
}

/// An ego ran into something and was stopped before it (never through it).
#[derive(Debug, Clone, PartialEq)]
pub struct CollisionWarning {
    /// Index of the ego in the scenario (`agent{index}` in graphs).
    pub ego_index: u32,
    pub name: String,
    pub tick: u64,
    pub hit: Hit,
    /// Base position where the ego was stopped, world frame, metres.
    pub stopped_at_m: Vec3,
}

impl std::fmt::Display for CollisionWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.stopped_at_m;
        write!(
            f,
            "agent{} ({}) collided with {} at tick {}: stopped at ({:.2}, {:.2}, {:.2})",
            self.ego_index, self.name, self.hit, self.tick, p.x, p.y, p.z
        )
    }
}

/// Free ticks after which an ego that touches something again gets a new warning (pressing on against an
/// obstacle, stopped and re-accelerating tick after tick, is one contact).
pub const CONTACT_RELEASE_TICKS: u32 = 10;

/// Remembers which egos are in contact, so that each contact gives one warning (a new one after the ego has
/// moved freely for [`CONTACT_RELEASE_TICKS`] ticks).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollisionGuard {
    /// Per ego: free ticks since its last stop (`None`: never stopped).
    free_ticks: Vec<Option<u32>>,
}

impl CollisionGuard {
    /// Records whether ego `index` was stopped this tick; returns the warning when the contact is new.
    pub fn note(&mut self, index: u32, name: &str, tick: u64, stop: Option<(Hit, Vec3)>) -> Option<CollisionWarning> {
        let i = index as usize;
        if self.free_ticks.len() <= i {
            self.free_ticks.resize(i + 1, None);
        }
        let slot = &mut self.free_ticks[i];
        let Some((hit, stopped_at_m)) = stop else {
            *slot = slot.map(|n| n.saturating_add(1));
            return None;
        };
        let new = slot.is_none_or(|n| n >= CONTACT_RELEASE_TICKS);
        *slot = Some(0);
        new.then(|| CollisionWarning { ego_index: index, name: name.to_owned(), tick, hit, stopped_at_m })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::GridSpec;
    use glam::UVec3;

    /// 20 × 20 × 10 cells of 1 m, ground layer at z ∈ [−1, 0), one wall one cell thick at x ∈ [10, 11).
    fn walled() -> SemanticGrid {
        let spec = GridSpec::new(Vec3::new(0.0, 0.0, -1.0), 1.0, UVec3::new(20, 20, 10)).unwrap();
        let mut g = SemanticGrid::new_empty(spec);
        for j in 0..20 {
            for i in 0..20 {
                g.set(UVec3::new(i, j, 0), SemanticClass::Road);
            }
            for k in 1..10 {
                g.set(UVec3::new(10, j, k), SemanticClass::Building);
            }
        }
        g
    }

    #[test]
    fn a_fast_sweep_stops_before_a_thin_wall_and_never_passes_it() {
        let g = walled();
        let around = Surroundings { grid: Some(&g), bodies: &[] };
        let half = Vec3::new(0.5, 0.5, 0.1);
        // 15 m in one step: straight through the wall if only the end were tested.
        let s = sweep(Vec3::new(2.0, 5.0, 3.0), Vec3::new(17.0, 5.0, 3.0), half, &around);
        assert_eq!(s.hit, Some(Hit::Static { class: SemanticClass::Building }));
        assert!(s.reached_m.x + half.x <= 10.0 && s.reached_m.x > 9.0, "{}", s.reached_m);
        // Along the wall, and on the ground (touching the road layer), nothing blocks.
        let s = sweep(Vec3::new(2.0, 5.0, 0.1), Vec3::new(8.0, 15.0, 0.1), half, &around);
        assert_eq!(s, Sweep { reached_m: Vec3::new(8.0, 15.0, 0.1), hit: None });
    }

    #[test]
    fn bodies_block_and_what_overlapped_at_the_start_does_not() {
        let car = RigidBody {
            id: 3,
            class: SemanticClass::Vehicle,
            world_from_body: Mat4::from_translation(Vec3::new(5.0, 0.0, 0.75)),
            half_extent_m: Vec3::new(2.25, 0.9, 0.75),
            velocity_mps: Vec3::ZERO,
            angular_velocity_rps: Vec3::ZERO,
            appearance_key: 0.0,
        };
        let bodies = [car];
        let around = Surroundings { grid: None, bodies: &bodies };
        let half = Vec3::new(0.4, 0.4, 0.1);
        let s = sweep(Vec3::new(0.0, 0.0, 1.0), Vec3::new(10.0, 0.0, 1.0), half, &around);
        assert_eq!(s.hit, Some(Hit::Body { id: 3, class: SemanticClass::Vehicle }));
        assert!(s.reached_m.x <= 5.0 - 2.25 - 0.4 + 1e-4, "{}", s.reached_m);
        // Over it (above its roof plus the half height) is free; out of it (started inside) too.
        assert_eq!(sweep(Vec3::new(0.0, 0.0, 2.0), Vec3::new(10.0, 0.0, 2.0), half, &around).hit, None);
        assert_eq!(sweep(Vec3::new(5.0, 0.0, 1.0), Vec3::new(5.0, 0.0, 3.0), half, &around).hit, None);
        let who = Hit::Body { id: EGO_BODY_ID_BASE + 2, class: SemanticClass::Drone };
        assert_eq!(who.to_string(), "agent2 (a drone)");
    }

    #[test]
    fn one_warning_per_contact() {
        let mut guard = CollisionGuard::default();
        let hit = Some((Hit::Static { class: SemanticClass::Roof }, Vec3::ONE));
        let w = guard.note(1, "d1", 5, hit).unwrap();
        assert_eq!(w.to_string(), "agent1 (d1) collided with a roof cell at tick 5: stopped at (1.00, 1.00, 1.00)");
        assert!(guard.note(1, "d1", 6, hit).is_none(), "still in contact");
        assert!(guard.note(1, "d1", 7, None).is_none());
        assert!(guard.note(1, "d1", 8, hit).is_none(), "pressing on: the same contact");
        for t in 9..9 + CONTACT_RELEASE_TICKS as u64 {
            assert!(guard.note(1, "d1", t, None).is_none());
        }
        assert!(guard.note(1, "d1", 30, hit).is_some(), "a new contact after moving freely");
    }
}
