//! Background vehicles: body types, the state of one vehicle on its path, and how it moves along the
//! road network (seeded exit choice at each intersection, advancing across pieces).
//!
//! Invariants: every vehicle has its own splitmix64 stream (seeded from (seed, id)); the exit choice draws
//! from it only at spawn and when the vehicle enters a new lane, so streams never depend on other vehicles.

use glam::Vec3;
use worldflow_base::rng::{hash_keys, unit_f32, SplitMix64};

use crate::roads::{Dir, Piece, Roads};

/// Vehicle body types (dimensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VehicleKind {
    Compact,
    Sedan,
    Van,
}

impl VehicleKind {
    /// Half extents (length, width, height)/2, metres.
    pub fn half_extent_m(self) -> Vec3 {
        match self {
            VehicleKind::Compact => Vec3::new(1.9, 0.85, 0.72),
            VehicleKind::Sedan => Vec3::new(2.25, 0.9, 0.75),
            VehicleKind::Van => Vec3::new(2.6, 1.0, 1.1),
        }
    }
}

/// One background vehicle.
#[derive(Debug, Clone, PartialEq)]
pub struct Vehicle {
    pub id: u64,
    pub kind: VehicleKind,
    pub piece: Piece,
    pub s_m: f32,
    pub speed_mps: f32,
    /// Direction to leave the next intersection in (while on a lane).
    pub(crate) next_dir: Dir,
    pub(crate) desired_speed_mps: f32,
    pub(crate) rng: SplitMix64,
    /// Tick at which the vehicle arrived at its next intersection (see [`crate::intersection`]).
    pub arrived_tick: Option<u64>,
    /// The intersection node this vehicle may cross now.
    pub grant: Option<(u32, u32)>,
}

impl Vehicle {
    pub fn half_extent_m(&self) -> Vec3 {
        self.kind.half_extent_m()
    }

    /// The movement `(dir_in, dir_out)` through the next (or current) intersection.
    pub fn movement(&self) -> (Dir, Dir) {
        match self.piece {
            Piece::Lane { dir, .. } => (dir, self.next_dir),
            Piece::Turn { dir_in, dir_out, .. } => (dir_in, dir_out),
        }
    }
}

/// Picks the exit at the end of a lane: straight 1/2, left 1/4, right 1/4 among those that exist.
pub(crate) fn choose_exit(roads: &Roads, rng: &mut SplitMix64, piece: &Piece) -> Dir {
    let (node, dir) = match *piece {
        Piece::Lane { from, dir } => (roads.neighbour(from, dir).unwrap_or(from), dir),
        Piece::Turn { node, dir_out, .. } => (node, dir_out),
    };
    let options = [(dir, 2u64), (dir.left_turn(), 1), (dir.right_turn(), 1)];
    let total: u64 = options.iter().filter(|(d, _)| roads.neighbour(node, *d).is_some()).map(|(_, w)| w).sum();
    let mut pick = rng.below(total.max(1));
    for (d, w) in options {
        if roads.neighbour(node, d).is_none() {
            continue;
        }
        if pick < w {
            return d;
        }
        pick -= w;
    }
    // Unreachable on a grid with ≥ 1 block (every node has ≥ 2 neighbours); turning back is the safe answer.
    Dir::ALL[(dir as usize + 2) % 4]
}

/// Moves a vehicle `ds` metres along its path, switching pieces at their ends.
pub(crate) fn advance(roads: &Roads, v: &mut Vehicle, ds: f32) {
    v.s_m += ds;
    // Bounded: a tick never crosses more than a few pieces.
    for _ in 0..16 {
        let len = roads.length_m(&v.piece);
        if v.s_m < len {
            return;
        }
        v.s_m -= len;
        v.piece = match v.piece {
            Piece::Lane { from, dir } => {
                let node = roads.neighbour(from, dir).unwrap_or(from);
                Piece::Turn { node, dir_in: dir, dir_out: v.next_dir }
            }
            Piece::Turn { node, dir_out, .. } => {
                let lane = Piece::Lane { from: node, dir: dir_out };
                v.next_dir = choose_exit(roads, &mut v.rng, &lane);
                lane
            }
        };
    }
    v.s_m = v.s_m.min(roads.length_m(&v.piece));
}

/// Deterministic per-vehicle colour key.
pub fn paint_key(seed: u64, id: u64) -> f32 {
    unit_f32(hash_keys(&[seed, 4, id]))
}
