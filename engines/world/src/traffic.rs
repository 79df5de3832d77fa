//! Background traffic: vehicles that follow lanes, turn at intersections, keep their distance (IDM) and stop
//! for ego agents ahead of them.
//!
//! Kinematics: a vehicle is a rigid body on a path made of *pieces* of the road network ([`crate::roads`]);
//! position, heading and curvature come from the piece and the arc length `s_m`; the speed is integrated
//! from the IDM acceleration.
//!
//! Invariants: right-hand traffic, lane centres `road_width/4` right of the centre line; every vehicle has its
//! own splitmix64 stream (seeded from (seed, id)), accelerations are computed from the state at the start of
//! the tick for all vehicles and then applied (no dependence on update order); a vehicle never advances
//! further than its gap to the obstacle ahead (no overlap with a leader or an ego in its lane); speeds ≥ 0.

use glam::{Mat4, Quat, Vec2};
use worldflow_base::rng::{hash_keys, SplitMix64};

use crate::footprint::{Footprint, Obstacle};
use crate::intersection::{first_contact, Conflicts};
use crate::pedestrians::Walkways;
use crate::roads::{Dir, PathPose, Piece, Roads};
use crate::scenario::{EgoKind, Scenario, ScenarioError, TrafficConfig};
use crate::town::Town;
use crate::vehicle::{advance, choose_exit, Vehicle, VehicleKind};

/// Spacing of spawn slots along a lane, metres (longest vehicle + a gap).
pub const SPAWN_SPACING_M: f32 = 8.0;
/// Slots closer than this to a car ego's spawn stay free, metres.
const EGO_CLEARANCE_M: f32 = 12.0;
/// Hard braking limit, m/s².
const MAX_DECEL_MPS2: f32 = 9.0;
/// Vehicles waiting for an intersection stop this far before the crosswalk, metres.
const STOP_BEFORE_CROSSWALK_M: f32 = 1.5;
/// A grant is released when the holder's rear is this far past the box, metres.
const RELEASE_AFTER_BOX_M: f32 = 0.3;

/// A movement `(dir_in, dir_out)` through intersection node `(i, j)`.
type NodeMovement = ((u32, u32), (Dir, Dir));

/// All background vehicles.
#[derive(Debug, Clone)]
pub struct Traffic {
    roads: Roads,
    config: TrafficConfig,
    lane_width_m: f32,
    conflicts: Conflicts,
    /// Stop line: this far before the end of a lane (1.5 m before the crosswalk), metres.
    stop_back_m: f32,
    tick: u64,
    pub vehicles: Vec<Vehicle>,
}

impl Traffic {
    /// Places `scenario.vehicles` vehicles on free lane slots (seeded), away from car and drone egos.
    pub fn spawn(scenario: &Scenario, town: &Town, seed: u64) -> Result<Self, ScenarioError> {
        let roads = Roads::new(town);
        let lane_len = roads.length_m(&Piece::Lane { from: (0, 0), dir: Dir::East });
        let per_lane = (lane_len / SPAWN_SPACING_M).floor() as u32;
        let egos: Vec<Vec2> =
            scenario.egos.iter().filter(|e| e.kind != EgoKind::FreeCamera).map(|e| Vec2::new(e.x_m, e.y_m)).collect();
        let mut slots = Vec::new();
        let mut total = 0usize;
        for lane in roads.lanes() {
            for k in 0..per_lane {
                let s = (k as f32 + 0.5) * lane_len / per_lane as f32;
                total += 1;
                let p = roads.pose(&lane, s).position_m;
                if egos.iter().all(|e| e.distance(p) > EGO_CLEARANCE_M) {
                    slots.push((lane, s));
                }
            }
        }
        let n = scenario.vehicles as usize;
        if n > slots.len() {
            return Err(ScenarioError::invalid(
                "vehicles",
                format!(
                    "{n} vehicles exceed the lane capacity of this town: {} free slots ({total} lane slots of {SPAWN_SPACING_M} m, minus those within {EGO_CLEARANCE_M} m of car egos)",
                    slots.len()
                ),
            ));
        }
        // A seeded choice of n slots, in slot order (ids follow it).
        let chosen = SplitMix64::new(hash_keys(&[seed, 3])).choose_sorted(slots.len(), n);
        let config = scenario.traffic.clone();
        let vehicles = chosen
            .iter()
            .enumerate()
            .map(|(id, &slot)| {
                let (piece, s_m) = slots[slot];
                let mut rng = SplitMix64::derive(seed, id as u64);
                let u = rng.next_f32();
                let kind = if u < 0.2 {
                    VehicleKind::Compact
                } else if u < 0.85 {
                    VehicleKind::Sedan
                } else {
                    VehicleKind::Van
                };
                let desired_speed_mps = config.desired_speed_mps * rng.range_f32(0.85, 1.1);
                let mut v = Vehicle {
                    id: id as u64,
                    kind,
                    piece,
                    s_m,
                    speed_mps: 0.5 * desired_speed_mps,
                    next_dir: Dir::East,
                    desired_speed_mps,
                    rng,
                    arrived_tick: None,
                    grant: None,
                };
                v.next_dir = choose_exit(&roads, &mut v.rng, &piece);
                v
            })
            .collect();
        let walkways = Walkways::new(town, scenario.town.sidewalk_width_m, scenario.cell_size_m);
        Ok(Self {
            conflicts: Conflicts::new(&roads),
            stop_back_m: walkways.crosswalk_far_m() - 0.5 * town.road_width_m + STOP_BEFORE_CROSSWALK_M,
            roads,
            lane_width_m: 2.0 * town.lane_offset_m(),
            config,
            tick: 0,
            vehicles,
        })
    }

    pub fn roads(&self) -> &Roads {
        &self.roads
    }

    pub fn path_pose(&self, v: &Vehicle) -> PathPose {
        self.roads.pose(&v.piece, v.s_m)
    }

    /// `world_from_body` of a vehicle: body origin at the centre of its box, x forward, z up.
    pub fn world_from_body(&self, v: &Vehicle) -> Mat4 {
        let p = self.path_pose(v);
        let yaw = p.heading.y.atan2(p.heading.x);
        Mat4::from_rotation_translation(Quat::from_rotation_z(yaw), p.position_m.extend(v.half_extent_m().z))
    }

    pub(crate) fn obstacle(&self, v: &Vehicle) -> Obstacle {
        let p = self.path_pose(v);
        let e = v.half_extent_m();
        Obstacle {
            position_m: p.position_m,
            heading: p.heading,
            speed_mps: v.speed_mps,
            half_length_m: e.x,
            half_width_m: e.y,
        }
    }

    /// Advances every vehicle by `dt_secs`: intersection grants first, then each vehicle plans from the state
    /// at the start of the tick (IDM behind the nearest obstacle: a leader in its lane, an ego in its lane, a
    /// body on its swept path, the stop line without a grant), then all move.
    /// `egos`: every ego (vehicles stop behind one in their lane); `pedestrians` and `ego_bodies` (egos on
    /// the ground) are also checked against swept paths and exit lanes.
    pub fn step(&mut self, dt_secs: f32, egos: &[Obstacle], pedestrians: &[Obstacle], ego_bodies: &[Obstacle]) {
        self.tick += 1;
        let obstacles: Vec<Obstacle> = self.vehicles.iter().map(|v| self.obstacle(v)).collect();
        self.update_grants(&obstacles, ego_bodies);
        let footprints: Vec<Footprint> =
            obstacles.iter().chain(pedestrians).chain(ego_bodies).map(Obstacle::footprint).collect();
        let all: Vec<&Obstacle> = obstacles.iter().chain(pedestrians).chain(ego_bodies).collect();
        let band_m = 0.5 * self.lane_width_m;
        let plans: Vec<(f32, Option<f32>)> = self
            .vehicles
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let me = &obstacles[i];
                // Nearest obstacle ahead: (gap, speed along my heading).
                let mut leader: Option<(f32, f32)> = None;
                let mut keep = |gap: f32, speed: f32| {
                    if leader.is_none_or(|(g, _)| gap < g) {
                        leader = Some((gap, speed));
                    }
                };
                let mut consider = |o: &Obstacle, band: f32, lookahead: f32| {
                    let rel = o.position_m - me.position_m;
                    let lon = rel.dot(me.heading);
                    let lat = rel.perp_dot(me.heading).abs();
                    if lon > 0.0 && lon <= lookahead && lat < band {
                        let gap = lon - me.half_length_m - o.half_length_m;
                        keep(gap, (o.speed_mps * o.heading.dot(me.heading)).max(0.0));
                    }
                };
                for (j, o) in obstacles.iter().enumerate() {
                    // Same-direction vehicles only: crossing traffic is not a leader.
                    if j != i && o.heading.dot(me.heading) > 0.3 {
                        consider(o, band_m, 60.0);
                    }
                }
                for e in egos {
                    consider(
                        e,
                        band_m + 0.5 * e.half_width_m,
                        self.config.ego_lookahead_m + me.half_length_m + e.half_length_m,
                    );
                }
                // Anything on my swept path.
                let v_now = v.speed_mps;
                let horizon =
                    (3.0 + 1.2 * v_now + v_now * v_now / (2.0 * self.config.comfortable_decel_mps2)).min(30.0);
                if let Some((gap, k)) = first_contact(
                    |ds| self.pose_ahead(v, ds),
                    Vec2::new(me.half_length_m, me.half_width_m),
                    horizon,
                    &footprints,
                    i,
                ) {
                    let o = all[k];
                    keep(gap, (o.speed_mps * o.heading.dot(me.heading)).max(0.0));
                }
                // The stop line, without a grant.
                if let Some(gap) = self.stop_line_gap(v) {
                    if v.grant.is_none() && v.arrived_tick.is_some() {
                        keep(gap, 0.0);
                    }
                }
                let v0 = self.desired_speed(v);
                let (accel, gap) = (self.idm(v.speed_mps, v0, leader), leader.map(|(g, _)| g));
                (accel, gap)
            })
            .collect();
        for (v, (accel, gap)) in self.vehicles.iter_mut().zip(plans) {
            let v_new = (v.speed_mps + accel * dt_secs).max(0.0);
            let mut ds = 0.5 * (v.speed_mps + v_new) * dt_secs;
            let mut speed = v_new;
            if let Some(gap) = gap {
                let allowed = (gap - 0.5).max(0.0);
                if ds > allowed {
                    ds = allowed;
                    speed = speed.min(allowed / dt_secs);
                }
            }
            v.speed_mps = speed;
            advance(&self.roads, v, ds);
        }
    }

    /// Pose `ds` metres ahead along a vehicle's path (its piece, the next turn, the lane after it).
    fn pose_ahead(&self, v: &Vehicle, ds: f32) -> PathPose {
        let mut s = v.s_m + ds;
        let mut piece = v.piece;
        for _ in 0..3 {
            let len = self.roads.length_m(&piece);
            if s <= len {
                return self.roads.pose(&piece, s);
            }
            s -= len;
            piece = match piece {
                Piece::Lane { from, dir } => Piece::Turn {
                    node: self.roads.neighbour(from, dir).unwrap_or(from),
                    dir_in: dir,
                    dir_out: v.next_dir,
                },
                Piece::Turn { node, dir_out, .. } => Piece::Lane { from: node, dir: dir_out },
            };
        }
        let len = self.roads.length_m(&piece);
        let end = self.roads.pose(&piece, len);
        PathPose { position_m: end.position_m + end.heading * (s - len), ..end }
    }

    /// Gap from the front of a vehicle on a lane to the stop line of the lane's end, metres (may be < 0).
    fn stop_line_gap(&self, v: &Vehicle) -> Option<f32> {
        match v.piece {
            Piece::Lane { .. } => Some(self.roads.length_m(&v.piece) - self.stop_back_m - v.s_m - v.half_extent_m().x),
            Piece::Turn { .. } => None,
        }
    }

    /// Releases grants of vehicles out of the box, records arrivals, and grants (see [`crate::intersection`]).
    fn update_grants(&mut self, obstacles: &[Obstacle], egos: &[Obstacle]) {
        let b = self.config.comfortable_decel_mps2;
        for k in 0..self.vehicles.len() {
            let v = &self.vehicles[k];
            let gap = self.stop_line_gap(v);
            let v = &mut self.vehicles[k];
            if let (Some(node), Piece::Lane { from, .. }) = (v.grant, v.piece) {
                if from == node && v.s_m - v.half_extent_m().x > RELEASE_AFTER_BOX_M {
                    v.grant = None;
                    v.arrived_tick = None;
                }
            }
            if let (Some(gap), None, None) = (gap, v.grant, v.arrived_tick) {
                if gap <= v.speed_mps * v.speed_mps / (2.0 * b) + 4.0 {
                    v.arrived_tick = Some(self.tick);
                }
            }
        }
        // Only the first vehicle of each lane may be granted (a follower never holds a node its leader waits for).
        let first_in_lane = |k: usize| {
            let v = &self.vehicles[k];
            !self.vehicles.iter().any(|o| o.id != v.id && o.piece == v.piece && o.s_m > v.s_m)
        };
        let mut waiting: Vec<usize> = (0..self.vehicles.len())
            .filter(|&k| {
                self.vehicles[k].grant.is_none() && self.vehicles[k].arrived_tick.is_some() && first_in_lane(k)
            })
            .collect();
        waiting.sort_by_key(|&k| (self.vehicles[k].arrived_tick, self.vehicles[k].id));
        // (node, movement) of holders, and of earlier arrivals refused for a conflict.
        let mut held: Vec<NodeMovement> =
            self.vehicles.iter().filter_map(|v| v.grant.map(|n| (n, v.movement()))).collect();
        let mut refused: Vec<NodeMovement> = Vec::new();
        for k in waiting {
            let v = &self.vehicles[k];
            let Piece::Lane { from, dir } = v.piece else { continue };
            let Some(node) = self.roads.neighbour(from, dir) else { continue };
            let m = v.movement();
            let clash =
                |list: &[NodeMovement]| list.iter().any(|(n, other)| *n == node && self.conflicts.conflict(m, *other));
            if clash(&held) || clash(&refused) {
                refused.push((node, m));
                continue;
            }
            let same_exit = held.iter().any(|(n, other)| *n == node && other.1 == m.1);
            if same_exit || !self.exit_has_room(node, m.1, v, k, obstacles, egos) {
                continue;
            }
            held.push((node, m));
            self.vehicles[k].grant = Some(node);
        }
    }

    /// Whether the start of the lane leaving `node` towards `dir` is free for vehicle `k` to stand on.
    fn exit_has_room(
        &self,
        node: (u32, u32),
        dir: Dir,
        v: &Vehicle,
        k: usize,
        obstacles: &[Obstacle],
        egos: &[Obstacle],
    ) -> bool {
        let lane = Piece::Lane { from: node, dir };
        if self.roads.neighbour(node, dir).is_none() {
            return false;
        }
        let need = 2.0 * v.half_extent_m().x + self.config.min_gap_m + 1.0;
        let start = self.roads.pose(&lane, 0.0);
        let room = Footprint {
            centre_m: start.position_m + start.heading * (0.5 * need),
            axis: start.heading,
            half_m: Vec2::new(0.5 * need, 0.25 * self.lane_width_m),
        };
        obstacles
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, o)| o)
            .chain(egos)
            .all(|o| !room.overlaps(&o.footprint(), 0.0))
    }

    /// Desired speed: slower inside turns and when approaching one.
    fn desired_speed(&self, v: &Vehicle) -> f32 {
        let turn = self.config.turn_speed_mps.min(v.desired_speed_mps);
        match v.piece {
            Piece::Turn { dir_in, dir_out, .. } if dir_in != dir_out => turn,
            Piece::Lane { dir, .. } if v.next_dir != dir => {
                let to_go = (self.roads.length_m(&v.piece) - v.s_m).max(0.0);
                (turn * turn + 2.0 * self.config.comfortable_decel_mps2 * to_go).sqrt().min(v.desired_speed_mps)
            }
            _ => v.desired_speed_mps,
        }
    }

    /// Intelligent Driver Model acceleration (Treiber et al. 2000), clamped to the hard braking limit.
    fn idm(&self, v: f32, v0: f32, leader: Option<(f32, f32)>) -> f32 {
        let c = &self.config;
        let free = 1.0 - (v / v0.max(0.1)).powi(4);
        let interaction = match leader {
            None => 0.0,
            Some((gap, v_lead)) => {
                let s_star = c.min_gap_m
                    + (v * c.time_headway_secs
                        + v * (v - v_lead) / (2.0 * (c.max_accel_mps2 * c.comfortable_decel_mps2).sqrt()))
                    .max(0.0);
                (s_star / gap.max(0.1)).powi(2)
            }
        };
        (c.max_accel_mps2 * (free - interaction)).clamp(-MAX_DECEL_MPS2, c.max_accel_mps2)
    }
}
