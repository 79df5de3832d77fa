//! Pedestrians: seeded walkers on the sidewalk rings of the blocks, crossing roads at the corners.
//!
//! **Network.** Around road node `(i, j)` lie four *corners* (NE, NW, SW, SE of the node), at
//! `node ± (o, o)` with `o = road_width/2 + sidewalk_width/2`: the corners of the sidewalk centre lines of the
//! four blocks that meet there (corners outside the town do not exist). From a corner a *leg* leads in each
//! axis direction: along the sidewalk of its block to the next corner of that block, or across a road to the
//! facing corner of the neighbouring block (a *crossing*; its middle `road_width` metres are road). People
//! keep right: a walker heading `d` walks `keep_right_m` to the right of the centre line, and at a corner
//! goes straight from one offset line to the next (no jump), so walkers in opposite directions never meet.
//!
//! **Rules** (all planned from the state at the start of the tick, then applied, in id order for the corner
//! grants): a walker keeps its distance to the walker ahead in its lane; a *corner zone* (the square where
//! the four lanes of a corner cross) holds one walker at a time, granted first come (lower id on ties); off
//! the road a walker stops for a vehicle or an ego body close ahead; before stepping onto a crossing it waits
//! at the kerb while a vehicle or ego body could not stop in time ([`crossing_is_clear`]); once on the road
//! it never stops for vehicles (they yield to it, see [`crate::traffic`]).
//!
//! Invariants: every walker has its own splitmix64 stream; bodies are upright boxes of
//! [`PEDESTRIAN_HALF_EXTENT_M`]; ids are [`PEDESTRIAN_ID_BASE`] + index, stable for the whole run.

use glam::{Mat4, Quat, Vec2, Vec3};

use worldflow_base::rng::{hash_keys, SplitMix64};

use crate::footprint::{Footprint, Obstacle};
use crate::roads::Dir;
use crate::scenario::{Scenario, ScenarioError};
use crate::town::Town;

/// First body id of pedestrians (vehicles count from 0, ego bodies from [`crate::EGO_BODY_ID_BASE`]).
pub const PEDESTRIAN_ID_BASE: u64 = 1 << 32;
/// Half of (depth, shoulder width, height) of a walker's box, metres.
pub const PEDESTRIAN_HALF_EXTENT_M: Vec3 = Vec3::new(0.22, 0.28, 0.85);
/// Spawn slots along a sidewalk leg, metres apart.
const SLOT_SPACING_M: f32 = 3.0;
/// Extra clearance kept to other bodies, metres.
const CLEARANCE_M: f32 = 0.1;
/// Assumed braking of a vehicle a walker waits for, m/s².
const ASSUMED_DECEL_MPS2: f32 = 2.5;
/// A walker waits while a vehicle is within this distance of the crossing, plus its braking distance, metres.
const CROSSING_MARGIN_M: f32 = 1.0;

/// One of the four corners around a road node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Corner {
    pub node: (u32, u32),
    pub east: bool,
    pub north: bool,
}

/// The sidewalk network of a town (see the module header).
#[derive(Debug, Clone, Copy)]
pub struct Walkways {
    blocks: (u32, u32),
    half_road_m: f32,
    pitch_m: f32,
    /// Sidewalk centre line from the road centre line, metres.
    ring_offset_m: f32,
    /// Lane offset right of the sidewalk centre line, metres.
    pub keep_right_m: f32,
    /// Half of the square footprint a walker occupies on the voxel grid, metres.
    pub body_radius_m: f32,
}

/// A leg being walked: from a corner in direction `dir`, having arrived heading `prev`, leaving the far
/// corner heading `next`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leg {
    pub from: Corner,
    pub dir: Dir,
    pub prev: Dir,
    pub next: Dir,
}

/// Footprint half-side of a walker on a grid of `cell_size_m` cells: the box grown to half a cell so that it
/// always covers at least one cell centre (the grid's occupancy rule, see [`crate::ProceduralDirector`]).
pub fn pedestrian_radius_m(cell_size_m: f32) -> f32 {
    PEDESTRIAN_HALF_EXTENT_M.x.max(PEDESTRIAN_HALF_EXTENT_M.y).max(0.5 * cell_size_m)
}

/// Narrowest sidewalk on which two walking directions pass each other, metres.
pub fn min_sidewalk_for_pedestrians_m(cell_size_m: f32) -> f32 {
    4.0 * pedestrian_radius_m(cell_size_m) + 6.0 * CLEARANCE_M
}

impl Walkways {
    pub fn new(town: &Town, sidewalk_width_m: f32, cell_size_m: f32) -> Self {
        let r = pedestrian_radius_m(cell_size_m);
        Self {
            blocks: town.blocks,
            half_road_m: 0.5 * town.road_width_m,
            pitch_m: town.pitch_m,
            ring_offset_m: 0.5 * (town.road_width_m + sidewalk_width_m),
            keep_right_m: (0.5 * sidewalk_width_m - r - CLEARANCE_M).max(0.0),
            body_radius_m: r,
        }
    }

    fn node_m(&self, n: (u32, u32)) -> Vec2 {
        Vec2::new(self.half_road_m + n.0 as f32 * self.pitch_m, self.half_road_m + n.1 as f32 * self.pitch_m)
    }

    /// Whether the corner lies in the town (there is a block on its side of both roads).
    pub fn exists(&self, c: Corner) -> bool {
        let (i, j) = c.node;
        (if c.east { i < self.blocks.0 } else { i > 0 }) && (if c.north { j < self.blocks.1 } else { j > 0 })
    }

    pub fn corner_m(&self, c: Corner) -> Vec2 {
        let o = self.ring_offset_m;
        self.node_m(c.node) + Vec2::new(if c.east { o } else { -o }, if c.north { o } else { -o })
    }

    /// The corner a leg from `c` in direction `d` leads to, and whether that leg crosses a road.
    pub fn next_corner(&self, c: Corner, d: Dir) -> Option<(Corner, bool)> {
        let (i, j) = c.node;
        let (to, crossing) = match d {
            Dir::East if c.east => (Corner { node: (i + 1, j), east: false, ..c }, false),
            Dir::East => (Corner { east: true, ..c }, true),
            Dir::West if !c.east => (Corner { node: (i.checked_sub(1)?, j), east: true, ..c }, false),
            Dir::West => (Corner { east: false, ..c }, true),
            Dir::North if c.north => (Corner { node: (i, j + 1), north: false, ..c }, false),
            Dir::North => (Corner { north: true, ..c }, true),
            Dir::South if !c.north => (Corner { node: (i, j.checked_sub(1)?), north: true, ..c }, false),
            Dir::South => (Corner { north: false, ..c }, true),
        };
        self.exists(to).then_some((to, crossing))
    }

    /// Offset from a corner of the lane point where a walker turns from `d_in` to `d_out`.
    fn turn_offset(&self, d_in: Dir, d_out: Dir) -> Vec2 {
        let r = if d_in == d_out { d_in.right() } else { d_in.right() + d_out.right() };
        r * self.keep_right_m
    }

    /// Start point, end point and length of a leg.
    pub fn leg_geometry(&self, leg: &Leg) -> (Vec2, Vec2, f32) {
        let to = self.next_corner(leg.from, leg.dir).map_or(leg.from, |(c, _)| c);
        let start = self.corner_m(leg.from) + self.turn_offset(leg.prev, leg.dir);
        let end = self.corner_m(to) + self.turn_offset(leg.dir, leg.next);
        (start, end, (end - start).dot(leg.dir.vec()).max(0.0))
    }

    /// For a crossing leg: the arc lengths `(s_in, s_out)` where the road starts and ends.
    pub fn road_span(&self, leg: &Leg, start: Vec2) -> Option<(f32, f32)> {
        let (_, crossing) = self.next_corner(leg.from, leg.dir)?;
        if !crossing {
            return None;
        }
        let d = leg.dir.vec();
        let u_line = self.node_m(leg.from.node).dot(d);
        let u0 = start.dot(d);
        Some((u_line - self.half_road_m - u0, u_line + self.half_road_m - u0))
    }

    /// Distance from a road node's centre to the far edge of its crosswalks (outer walker lane + body), metres.
    pub fn crosswalk_far_m(&self) -> f32 {
        self.ring_offset_m + self.keep_right_m + self.body_radius_m
    }

    /// Half-side of the corner zone (around the corner point) that holds one walker at a time.
    pub fn zone_half_m(&self) -> f32 {
        self.keep_right_m + 2.0 * self.body_radius_m + CLEARANCE_M
    }
}

/// One walker.
#[derive(Debug, Clone, PartialEq)]
pub struct Pedestrian {
    pub id: u64,
    pub leg: Leg,
    pub s_m: f32,
    pub speed_mps: f32,
    /// Waiting at a kerb for traffic.
    pub waiting: bool,
    desired_speed_mps: f32,
    rng: SplitMix64,
}

/// All walkers of a town.
#[derive(Debug, Clone)]
pub struct Crowd {
    walkways: Walkways,
    pub pedestrians: Vec<Pedestrian>,
}

/// Straight 2, left 1, right 1 among the legs that exist (never back, unless nothing else exists).
fn choose_next(w: &Walkways, rng: &mut SplitMix64, at: Corner, dir: Dir) -> Dir {
    let options = [(dir, 2u64), (dir.left_turn(), 1), (dir.right_turn(), 1)];
    let open: Vec<(Dir, u64)> = options.into_iter().filter(|(d, _)| w.next_corner(at, *d).is_some()).collect();
    let total: u64 = open.iter().map(|o| o.1).sum();
    let mut pick = rng.below(total.max(1));
    for (d, weight) in open {
        if pick < weight {
            return d;
        }
        pick -= weight;
    }
    dir.reverse()
}

impl Crowd {
    /// Places `scenario.pedestrians` walkers on free sidewalk slots (seeded).
    pub fn spawn(scenario: &Scenario, town: &Town, seed: u64) -> Result<Self, ScenarioError> {
        let walkways = Walkways::new(town, scenario.town.sidewalk_width_m, scenario.cell_size_m);
        let n = scenario.pedestrians as usize;
        if n == 0 {
            return Ok(Self { walkways, pedestrians: Vec::new() });
        }
        let need = min_sidewalk_for_pedestrians_m(scenario.cell_size_m);
        if scenario.town.sidewalk_width_m < need {
            return Err(ScenarioError::invalid(
                "pedestrians",
                format!(
                    "{n} pedestrians need sidewalks at least {need} m wide (town.sidewalk_width_m is {}): widen them or set pedestrians: 0",
                    scenario.town.sidewalk_width_m
                ),
            ));
        }
        let zone = walkways.zone_half_m();
        let mut slots = Vec::new();
        for j in 0..=town.blocks.1 {
            for i in 0..=town.blocks.0 {
                for (east, north) in [(true, true), (false, true), (false, false), (true, false)] {
                    let from = Corner { node: (i, j), east, north };
                    if !walkways.exists(from) {
                        continue;
                    }
                    for dir in Dir::ALL {
                        if !matches!(walkways.next_corner(from, dir), Some((_, false))) {
                            continue;
                        }
                        let leg = Leg { from, dir, prev: dir, next: dir };
                        let (_, _, len) = walkways.leg_geometry(&leg);
                        let mut s = zone + 1.0;
                        while s < len - zone - 1.0 {
                            slots.push((leg, s));
                            s += SLOT_SPACING_M;
                        }
                    }
                }
            }
        }
        if n > slots.len() {
            return Err(ScenarioError::invalid(
                "pedestrians",
                format!(
                    "{n} pedestrians exceed the sidewalk capacity of this town: {} slots of {SLOT_SPACING_M} m",
                    slots.len()
                ),
            ));
        }
        let chosen = SplitMix64::new(hash_keys(&[seed, 5])).choose_sorted(slots.len(), n);
        let pedestrians = chosen
            .iter()
            .enumerate()
            .map(|(k, &slot)| {
                let (mut leg, s_m) = slots[slot];
                let mut rng = SplitMix64::derive(hash_keys(&[seed, 6]), k as u64);
                let desired_speed_mps = rng.range_f32(1.1, 1.6);
                let to = walkways.next_corner(leg.from, leg.dir).map_or(leg.from, |(c, _)| c);
                leg.next = choose_next(&walkways, &mut rng, to, leg.dir);
                Pedestrian {
                    id: PEDESTRIAN_ID_BASE + k as u64,
                    leg,
                    s_m,
                    speed_mps: 0.0,
                    waiting: false,
                    desired_speed_mps,
                    rng,
                }
            })
            .collect();
        Ok(Self { walkways, pedestrians })
    }

    pub fn walkways(&self) -> &Walkways {
        &self.walkways
    }

    /// Ground position and unit heading of a walker.
    pub fn position(&self, p: &Pedestrian) -> (Vec2, Vec2) {
        let (start, _, _) = self.walkways.leg_geometry(&p.leg);
        (start + p.leg.dir.vec() * p.s_m, p.leg.dir.vec())
    }

    /// `world_from_body`: origin at the centre of the box, x forward, z up.
    pub fn world_from_body(&self, p: &Pedestrian) -> Mat4 {
        let (pos, heading) = self.position(p);
        Mat4::from_rotation_translation(
            Quat::from_rotation_z(heading.y.atan2(heading.x)),
            pos.extend(PEDESTRIAN_HALF_EXTENT_M.z),
        )
    }

    /// A walker as an obstacle (its grid footprint, see [`pedestrian_radius_m`]).
    pub fn obstacle(&self, p: &Pedestrian) -> Obstacle {
        let (position_m, heading) = self.position(p);
        Obstacle {
            position_m,
            heading,
            speed_mps: p.speed_mps,
            half_length_m: self.walkways.body_radius_m,
            half_width_m: self.walkways.body_radius_m,
        }
    }

    /// A walker as traffic must avoid it: on the road part of a crossing, the whole strip it still has to walk
    /// to the far kerb (a vehicle never stops where the walker is about to pass); elsewhere its footprint.
    pub fn traffic_obstacle(&self, p: &Pedestrian) -> Obstacle {
        let mut o = self.obstacle(p);
        let (start, _, _) = self.walkways.leg_geometry(&p.leg);
        let r = self.walkways.body_radius_m;
        if let Some((s_in, s_out)) = self.walkways.road_span(&p.leg, start) {
            if p.s_m + r > s_in && p.s_m - r < s_out {
                let ahead = (s_out + r - p.s_m).max(0.0);
                o.position_m += o.heading * (0.5 * ahead);
                o.half_length_m = r + 0.5 * ahead;
            }
        }
        o
    }

    /// The corner zone a walker is in, if any.
    fn zone_of(&self, leg: &Leg, s_m: f32, len: f32) -> Option<Corner> {
        let z = self.walkways.zone_half_m();
        if s_m < z {
            Some(leg.from)
        } else if len - s_m < z {
            self.walkways.next_corner(leg.from, leg.dir).map(|(c, _)| c)
        } else {
            None
        }
    }

    /// Advances every walker by `dt_secs`; `bodies` are vehicles and ego bodies.
    pub fn step(&mut self, dt_secs: f32, bodies: &[Obstacle]) {
        let w = self.walkways;
        let r = w.body_radius_m;
        let states: Vec<(Vec2, Vec2, f32, Option<Corner>)> = self
            .pedestrians
            .iter()
            .map(|p| {
                let (pos, heading) = self.position(p);
                let len = w.leg_geometry(&p.leg).2;
                (pos, heading, len, self.zone_of(&p.leg, p.s_m, len))
            })
            .collect();
        // Zone claims (corner, walker): walkers inside a zone, and walkers on a crossing (past the kerb) claim
        // the zone at its far end, so they never have to stop on the road.
        let kerb_of = |p: &Pedestrian| {
            let (start, _, _) = w.leg_geometry(&p.leg);
            w.road_span(&p.leg, start).map(|(s_in, _)| s_in - r - CLEARANCE_M)
        };
        let far_corner = |p: &Pedestrian| w.next_corner(p.leg.from, p.leg.dir).map(|(c, _)| c);
        let mut claims: Vec<(Corner, usize)> = states.iter().enumerate().filter_map(|(k, s)| Some((s.3?, k))).collect();
        for (k, p) in self.pedestrians.iter().enumerate() {
            if kerb_of(p).is_some_and(|kerb| p.s_m > kerb + 1e-4) {
                claims.extend(far_corner(p).map(|c| (c, k)));
            }
        }
        let waiting_at_kerb = |p: &Pedestrian| kerb_of(p).is_some_and(|kerb| p.s_m <= kerb + 1e-4);
        let mut plans = Vec::with_capacity(self.pedestrians.len());
        for (k, p) in self.pedestrians.iter().enumerate() {
            let (pos, heading, len, zone) = states[k];
            let mut ds = p.desired_speed_mps * dt_secs;
            // Keep distance to the walker ahead in my lane.
            for (m, other) in states.iter().enumerate() {
                let rel = other.0 - pos;
                let (lon, lat) = (rel.dot(heading), rel.perp_dot(heading).abs());
                if m != k && lon > 0.0 && lat < 2.0 * r + CLEARANCE_M {
                    ds = ds.min((lon - 2.0 * r - CLEARANCE_M).max(0.0));
                }
            }
            let (start, _, _) = w.leg_geometry(&p.leg);
            let span = w.road_span(&p.leg, start);
            let on_road = span.is_some_and(|(a, b)| p.s_m + r > a && p.s_m - r < b);
            // Off the road: stop for a vehicle or ego body close ahead.
            if !on_road && ds > 0.0 {
                let next = Footprint { centre_m: pos + heading * ds, axis: heading, half_m: Vec2::splat(r) };
                let blocked = bodies
                    .iter()
                    .any(|b| (b.position_m - pos).dot(heading) > 0.0 && next.overlaps(&b.footprint(), 0.3));
                if blocked {
                    ds = 0.0;
                }
            }
            // At the kerb: wait while traffic could not stop for me, or while the far corner is taken (but by a
            // walker waiting to cross the other way: we pass each other on opposite lanes).
            let mut waiting = false;
            let mut crossing = kerb_of(p).is_some_and(|kerb| p.s_m > kerb + 1e-4);
            if let Some((s_in, s_out)) = span {
                let kerb = s_in - r - CLEARANCE_M;
                if p.s_m <= kerb + 1e-4 && p.s_m + ds > kerb {
                    let a = start + heading * s_in;
                    let b = start + heading * s_out;
                    let far = far_corner(p);
                    let far_taken = claims.iter().any(|&(c, m)| {
                        let o = &self.pedestrians[m];
                        let opposite = o.leg.from == c && o.leg.dir == p.leg.dir.reverse() && waiting_at_kerb(o);
                        Some(c) == far && m != k && !opposite
                    });
                    if far_taken || !crossing_is_clear(a, b, r, bodies) {
                        ds = (kerb - p.s_m).max(0.0);
                        waiting = true;
                    } else {
                        claims.extend(far.map(|c| (c, k)));
                        crossing = true;
                    }
                }
            }
            // Corner zones: one walker at a time (a walker on a crossing holds its far zone already).
            let ahead_zone = self.zone_of(&p.leg, p.s_m + ds, len).or_else(|| {
                (p.s_m + ds >= len).then(|| w.next_corner(p.leg.from, p.leg.dir).map(|(c, _)| c)).flatten()
            });
            if let (Some(z), false) = (ahead_zone, crossing || on_road) {
                if zone != Some(z) {
                    if claims.iter().any(|&(c, m)| c == z && m != k) {
                        ds = ds.min((len - w.zone_half_m() - p.s_m - 1e-3).max(0.0));
                    } else {
                        claims.push((z, k));
                    }
                }
            }
            plans.push((ds, waiting));
        }
        for (p, (ds, waiting)) in self.pedestrians.iter_mut().zip(plans) {
            p.speed_mps = ds / dt_secs;
            p.waiting = waiting;
            advance(&w, p, ds);
        }
    }
}

/// Whether a walker of half-side `r` may step onto the road part `a → b` of a crossing: every body that is
/// not already past it is further away than its braking distance (at [`ASSUMED_DECEL_MPS2`]) plus a margin.
pub fn crossing_is_clear(a: Vec2, b: Vec2, r: f32, bodies: &[Obstacle]) -> bool {
    let centre = 0.5 * (a + b);
    let axis = (b - a).normalize_or(Vec2::X);
    let walk = Footprint { centre_m: centre, axis, half_m: Vec2::new(0.5 * (b - a).length(), r) };
    bodies.iter().all(|o| {
        let reach = o.half_length_m + walk.bound_radius_m() + CROSSING_MARGIN_M;
        let rel = centre - o.position_m;
        if rel.dot(o.heading) < -reach {
            return true; // past the crossing, driving away
        }
        let stop_m = o.speed_mps * o.speed_mps / (2.0 * ASSUMED_DECEL_MPS2);
        !o.footprint().overlaps(&walk, 0.5 * (CROSSING_MARGIN_M + stop_m))
    })
}

/// Moves a walker `ds` metres along its legs, turning at corners.
fn advance(w: &Walkways, p: &mut Pedestrian, ds: f32) {
    p.s_m += ds;
    for _ in 0..8 {
        let (_, _, len) = w.leg_geometry(&p.leg);
        if p.s_m < len {
            return;
        }
        p.s_m -= len;
        let Some((to, _)) = w.next_corner(p.leg.from, p.leg.dir) else {
            p.s_m = 0.0;
            return;
        };
        let dir = p.leg.next;
        let after = w.next_corner(to, dir).map_or(to, |(c, _)| c);
        let next = choose_next(w, &mut p.rng, after, dir);
        p.leg = Leg { from: to, dir, prev: p.leg.dir, next };
        // Never step onto a road within the tick that reached its leg: the kerb check comes first.
        let (start, _, _) = w.leg_geometry(&p.leg);
        if let Some((s_in, _)) = w.road_span(&p.leg, start) {
            p.s_m = p.s_m.min((s_in - w.body_radius_m - CLEARANCE_M).max(0.0));
        }
    }
}
