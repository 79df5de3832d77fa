//! The Director: owns the semantic world state and evolves it tick by tick.
//!
//! [`Director`] is the seam a learned voxel-diffusion Director plugs into: it gets the tick length and the
//! ego agents' states, and answers with a [`DirectorOutput`] — the grid as sparse changes, the flow field
//! `F_{t−1→t}` and, for convenience, the rigid bodies. [`ProceduralDirector`] is the built-in seeded town.
//!
//! Invariants of every output: `changes` ascending by index, applying them to the previous grid gives
//! [`Director::grid`]; `bodies` ascending by id; the flow is sampled at positions of tick `t − 1` and
//! covers the interval `dt_secs` (the procedural Director gives no flow to a body that did not move). The
//! procedural Director is a pure function of (scenario, seed, the sequence of `step` inputs): no clock, no
//! hash-map iteration.

use glam::{Mat3, Mat4, Quat, UVec3, Vec2, Vec3};

use crate::bounds::{BoundaryGuard, BoundaryWarning, WorldBounds};
use crate::ego::EgoState;
use crate::flow::{FlowCell, FlowField};
use crate::grid::{CellChange, GridSpec, SemanticClass, SemanticGrid};
use crate::pedestrians::{Crowd, PEDESTRIAN_HALF_EXTENT_M};
use crate::scenario::{EgoKind, Scenario, ScenarioError};
use crate::town::Town;
use crate::traffic::{Obstacle, Traffic};
use worldflow_base::rng::{hash_keys, unit_f32};

/// The flow is defined in a band this many cells wide around each moving body, so that trilinear sampling
/// anywhere in the body (and half a cell around it) only reads defined corners — see [`crate::flow`].
pub const FLOW_BAND_CELLS: f32 = 2.0;
/// Longest tick a Director accepts, seconds.
pub const MAX_DT_SECS: f32 = 1.0;
/// Body id of ego `k` is `EGO_BODY_ID_BASE + k` (vehicles count from 0, pedestrians from
/// [`crate::PEDESTRIAN_ID_BASE`]).
pub const EGO_BODY_ID_BASE: u64 = 1 << 48;
/// Egos whose base is higher than this above the ground are not obstacles for walkers and swept paths, metres.
const GROUND_EGO_MAX_Z_M: f32 = 2.5;

/// A rigid body of the world (a vehicle, …).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RigidBody {
    pub id: u64,
    pub class: SemanticClass,
    /// Body frame: origin at the centre of the box, x forward, y left, z up.
    pub world_from_body: Mat4,
    /// Half extents of the box along body x, y, z, metres.
    pub half_extent_m: Vec3,
    /// Velocity of the body origin (world frame, m/s) at this tick.
    pub velocity_mps: Vec3,
    /// Angular velocity (world frame, rad/s) at this tick.
    pub angular_velocity_rps: Vec3,
    /// Seeded appearance key in [0, 1) (paint colour, …).
    pub appearance_key: f32,
}

impl RigidBody {
    /// Whether a world point lies in the body's box grown by `margin_m` on every side.
    pub fn contains(&self, p: Vec3, margin_m: f32) -> bool {
        let local = crate::rigid_inverse_affine(&self.world_from_body).transform_point3(p);
        (local.abs() - self.half_extent_m - Vec3::splat(margin_m)).max_element() <= 0.0
    }
}

/// What a Director produces per tick.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectorOutput {
    /// Ticks since reset (0 = the state right after reset).
    pub tick: u64,
    pub time_secs: f64,
    /// Length of the interval this output covers (0 at reset).
    pub dt_secs: f32,
    /// Cells whose class changed since the previous output (at reset: since the static town), ascending.
    pub changes: Vec<CellChange>,
    /// `F_{t−1→t}` (empty at reset).
    pub flow: FlowField,
    /// Rigid bodies at this tick, ascending id.
    pub bodies: Vec<RigidBody>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DirectorError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
}

/// A world-state generator. Implementations: [`ProceduralDirector`]; a learned voxel Director later.
pub trait Director {
    /// Restarts the world from a seed; returns the tick-0 output (bodies, the dynamic cells as changes).
    fn reset(&mut self, seed: u64) -> Result<DirectorOutput, DirectorError>;
    /// Advances the world by `dt_secs` (in (0, [`MAX_DT_SECS`]]) given the ego agents' current states.
    fn step(&mut self, dt_secs: f32, egos: &[EgoState]) -> Result<DirectorOutput, DirectorError>;
    /// The current full grid (static town + dynamic cells).
    fn grid(&self) -> &SemanticGrid;
}

/// The built-in seeded procedural town with lane-following traffic and pedestrians.
///
/// **Ego bodies.** A *car* ego is a body of the world (class vehicle, id [`EGO_BODY_ID_BASE`] + its index,
/// a box of its `half_extent_m` standing on the ground under its base), so other agents' cameras see it and
/// pedestrians wait for it; a *free-camera* ego is invisible (no body, no cells): it is a viewpoint, not a
/// thing. An ego's own cameras never see its body: [`crate::Rig::standard`] mounts each lens outside the face
/// of the body box it looks out of, so the whole body lies behind every image plane.
///
/// **Occupancy.** A body occupies the cells whose centre lies in its box, horizontally grown to at least half
/// a cell, so that a walker (smaller than a cell) always occupies its column. [`Self::contested_cells`]
/// counts cells claimed by two bodies in the last tick (the traffic rules keep it at 0).
#[derive(Debug, Clone)]
pub struct ProceduralDirector {
    scenario: Scenario,
    seed: u64,
    town: Town,
    grid: SemanticGrid,
    traffic: Traffic,
    crowd: Crowd,
    bounds: WorldBounds,
    /// Last known pose and extent of every scenario ego, and its speed.
    egos: Vec<(Mat4, Vec3, f32)>,
    guard: BoundaryGuard,
    warnings: Vec<BoundaryWarning>,
    tick: u64,
    time_secs: f64,
    /// Cells currently holding a dynamic class, ascending.
    dynamic_cells: Vec<u32>,
    contested_cells: usize,
}

impl ProceduralDirector {
    /// Validates the scenario, builds the town for `scenario.seed` and places traffic. Errors name the field.
    pub fn new(scenario: &Scenario) -> Result<Self, DirectorError> {
        let (director, _) = Self::new_with_output(scenario)?;
        Ok(director)
    }

    /// Like [`ProceduralDirector::new`], also returning the tick-0 output.
    pub fn new_with_output(scenario: &Scenario) -> Result<(Self, DirectorOutput), DirectorError> {
        let (director, out) = Self::build(scenario, scenario.seed)?;
        Ok((director, out))
    }

    fn build(scenario: &Scenario, seed: u64) -> Result<(Self, DirectorOutput), DirectorError> {
        let town = Town::generate(scenario, seed)?;
        check_ego_spawns(scenario, &town)?;
        let traffic = Traffic::spawn(scenario, &town, seed)?;
        let crowd = Crowd::spawn(scenario, &town, seed)?;
        let car_half = Vec3::from(crate::ego::BicycleParams::default().half_extent_m);
        let egos = scenario
            .egos
            .iter()
            .map(|e| {
                let pose = Mat4::from_rotation_translation(
                    Quat::from_rotation_z(e.yaw_deg.to_radians()),
                    Vec3::new(e.x_m, e.y_m, e.z_m),
                );
                (pose, car_half, 0.0)
            })
            .collect();
        let mut d = Self {
            scenario: scenario.clone(),
            seed,
            grid: town.grid.clone(),
            bounds: WorldBounds::of_extent(scenario.extent_m()),
            town,
            traffic,
            crowd,
            egos,
            guard: BoundaryGuard::default(),
            warnings: Vec::new(),
            tick: 0,
            time_secs: 0.0,
            dynamic_cells: Vec::new(),
            contested_cells: 0,
        };
        let bodies = d.bodies();
        let changes = d.update_dynamic_cells(&bodies);
        let flow = FlowField::empty(*d.grid.spec());
        Ok((d, DirectorOutput { tick: 0, time_secs: 0.0, dt_secs: 0.0, changes, flow, bodies }))
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The static town (no vehicles).
    pub fn town(&self) -> &Town {
        &self.town
    }

    pub fn static_grid(&self) -> &SemanticGrid {
        &self.town.grid
    }

    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    pub fn crowd(&self) -> &Crowd {
        &self.crowd
    }

    /// The box egos are kept in (see [`crate::bounds`]).
    pub fn bounds(&self) -> &WorldBounds {
        &self.bounds
    }

    /// Boundary warnings of the last step (one per ego that has just left the world).
    pub fn warnings(&self) -> &[BoundaryWarning] {
        &self.warnings
    }

    /// Cells claimed by more than one body in the last output (0 when no two bodies overlap).
    pub fn contested_cells(&self) -> usize {
        self.contested_cells
    }

    /// Rigid bodies of the current state, ascending id: vehicles, pedestrians, car egos.
    pub fn bodies(&self) -> Vec<RigidBody> {
        let vehicles = self.traffic.vehicles.iter().map(|v| {
            let p = self.traffic.path_pose(v);
            RigidBody {
                id: v.id,
                class: SemanticClass::Vehicle,
                world_from_body: self.traffic.world_from_body(v),
                half_extent_m: v.half_extent_m(),
                velocity_mps: (p.heading * v.speed_mps).extend(0.0),
                angular_velocity_rps: Vec3::Z * (v.speed_mps * p.curvature_per_m),
                appearance_key: crate::traffic::paint_key(self.seed, v.id),
            }
        });
        let walkers = self.crowd.pedestrians.iter().map(|p| {
            let (_, heading) = self.crowd.position(p);
            RigidBody {
                id: p.id,
                class: SemanticClass::Pedestrian,
                world_from_body: self.crowd.world_from_body(p),
                half_extent_m: PEDESTRIAN_HALF_EXTENT_M,
                velocity_mps: (heading * p.speed_mps).extend(0.0),
                angular_velocity_rps: Vec3::ZERO,
                appearance_key: unit_f32(hash_keys(&[self.seed, 8, p.id])),
            }
        });
        let egos = self
            .scenario
            .egos
            .iter()
            .zip(&self.egos)
            .enumerate()
            .filter(|(_, (spawn, _))| spawn.kind == EgoKind::Car)
            .map(|(k, (_, (world_from_base, half, speed)))| RigidBody {
                id: EGO_BODY_ID_BASE + k as u64,
                class: SemanticClass::Vehicle,
                world_from_body: *world_from_base * Mat4::from_translation(Vec3::Z * half.z),
                half_extent_m: *half,
                velocity_mps: world_from_base.x_axis.truncate() * *speed,
                angular_velocity_rps: Vec3::ZERO,
                appearance_key: unit_f32(hash_keys(&[self.seed, 9, k as u64])),
            });
        vehicles.chain(walkers).chain(egos).collect()
    }

    /// Rasterises bodies (cells whose centre is inside a box, only over empty static cells), applies the
    /// difference to the grid and returns it, ascending.
    fn update_dynamic_cells(&mut self, bodies: &[RigidBody]) -> Vec<CellChange> {
        let spec = *self.grid.spec();
        let half_cell = 0.5 * spec.cell_size_m;
        let mut cells: Vec<(u32, SemanticClass)> = Vec::new();
        for b in bodies {
            let mut grown = *b;
            grown.half_extent_m.x = b.half_extent_m.x.max(half_cell);
            grown.half_extent_m.y = b.half_extent_m.y.max(half_cell);
            for_cells_in_box(&spec, &grown, 0.0, |index, _| {
                if self.town.grid.get_index(index).is_empty() {
                    cells.push((index, b.class));
                }
            });
        }
        cells.sort_unstable();
        let before = cells.len();
        cells.dedup_by_key(|c| c.0);
        self.contested_cells = before - cells.len();
        let mut changes = Vec::new();
        let (mut a, mut b) = (0, 0);
        let old = &self.dynamic_cells;
        while a < old.len() || b < cells.len() {
            let next_old = old.get(a).copied().unwrap_or(u32::MAX);
            let next_new = cells.get(b).map_or(u32::MAX, |c| c.0);
            if next_old < next_new {
                changes.push(CellChange { index: next_old, class: self.town.grid.get_index(next_old) });
                a += 1;
            } else if next_new < next_old {
                changes.push(CellChange { index: next_new, class: cells[b].1 });
                b += 1;
            } else {
                if self.grid.get_index(next_new) != cells[b].1 {
                    changes.push(CellChange { index: next_new, class: cells[b].1 });
                }
                a += 1;
                b += 1;
            }
        }
        for c in &changes {
            self.grid.set_index(c.index, c.class);
        }
        self.dynamic_cells = cells.into_iter().map(|c| c.0).collect();
        changes
    }
}

/// Calls `f(index, local_position)` for every grid cell whose centre lies in the body box grown by `margin_m`.
fn for_cells_in_box(spec: &GridSpec, body: &RigidBody, margin_m: f32, mut f: impl FnMut(u32, Vec3)) {
    let half = body.half_extent_m + Vec3::splat(margin_m);
    let rot = Mat3::from_mat4(body.world_from_body);
    let centre = body.world_from_body.w_axis.truncate();
    let world_half = rot.x_axis.abs() * half.x + rot.y_axis.abs() * half.y + rot.z_axis.abs() * half.z;
    let lo = spec.cell_coords_signed(centre - world_half).max(glam::IVec3::ZERO);
    let hi = spec.cell_coords_signed(centre + world_half).min(spec.dims.as_ivec3() - glam::IVec3::ONE);
    let rot_t = rot.transpose();
    for k in lo.z..=hi.z {
        for j in lo.y..=hi.y {
            for i in lo.x..=hi.x {
                let c = UVec3::new(i as u32, j as u32, k as u32);
                let local = rot_t * (spec.centre_of(c) - centre);
                if (local.abs() - half).max_element() <= 0.0 {
                    f(spec.index(c), local);
                }
            }
        }
    }
}

/// The constant twist that carries `old` to `new` in `dt_secs` (planar: yaw about z), as a flow field
/// `v(x) = v_c + ω × (x − c_old)`. With `θ = Δyaw`, the centre moves by `V(θ)·v_c·dt` where
/// `V(θ) = sinc(θ/2)·R(θ/2)`, so `v_c = R(−θ/2)·d / (dt·sinc(θ/2))`.
fn twist(old: &Mat4, new: &Mat4, dt_secs: f32) -> (Vec3, Vec3) {
    let yaw = |m: &Mat4| m.x_axis.y.atan2(m.x_axis.x);
    let mut dyaw = yaw(new) - yaw(old);
    dyaw = (dyaw + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI;
    let d = (new.w_axis - old.w_axis).truncate();
    let half = 0.5 * dyaw;
    let sinc = if half.abs() < 1e-4 { 1.0 - half * half / 6.0 } else { half.sin() / half };
    let d_xy = Vec2::from_angle(-half).rotate(d.truncate()) / sinc;
    let v_c = Vec3::new(d_xy.x, d_xy.y, d.z) / dt_secs;
    (v_c, Vec3::Z * (dyaw / dt_secs))
}

/// Width of the flow band of a body moving from `old` to `new`: a point of the body (or half a cell around
/// it) displaced by half the tick's motion (the RK2 midpoint) reads trilinear corners at most 1.5 cells + that
/// displacement away from the box; capped at [`FLOW_BAND_CELLS`] (slow walkers get narrow bands), metres.
fn flow_band_m(cell_size_m: f32, old: &RigidBody, new: &RigidBody) -> f32 {
    let e = old.half_extent_m;
    let moved = [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)]
        .iter()
        .map(|&(sx, sy)| {
            let local = Vec3::new(sx * e.x, sy * e.y, 0.0);
            (new.world_from_body.transform_point3(local) - old.world_from_body.transform_point3(local)).length()
        })
        .fold(0.0f32, f32::max);
    (1.5 * cell_size_m + 0.5 * moved + 0.05 * cell_size_m).min(FLOW_BAND_CELLS * cell_size_m)
}

/// The flow `F_{t−1→t}` of rigid bodies moving from `old` to `new` poses in `dt_secs` (pairs of the same
/// body): each body's constant twist ([`twist`]), defined on the cells within its band ([`flow_band_m`], at
/// most [`FLOW_BAND_CELLS`]) of its
/// *old* box, labelled with the body's id. A cell near several bodies holds one entry per body, the nearer
/// box first (ties: lower id) — see the motion layers of [`crate::flow`]. Usable by any Director that knows
/// its bodies.
pub fn rigid_flow(spec: &GridSpec, moves: &[(RigidBody, RigidBody)], dt_secs: f32) -> Result<FlowField, String> {
    if !(dt_secs.is_finite() && dt_secs > 0.0) {
        return Err(format!("dt_secs: expected > 0, found {dt_secs}"));
    }
    let mut candidates: Vec<(u32, f32, u64, Vec3)> = Vec::new();
    for (old, new) in moves {
        let (v_c, omega) = twist(&old.world_from_body, &new.world_from_body, dt_secs);
        let rot = Mat3::from_mat4(old.world_from_body);
        let band = flow_band_m(spec.cell_size_m, old, new);
        for_cells_in_box(spec, old, band, |index, local| {
            let outside = (local.abs() - old.half_extent_m).max(Vec3::ZERO).length();
            // x − centre of the cell, from its body-frame position.
            candidates.push((index, outside, old.id, v_c + omega.cross(rot * local)));
        });
    }
    // Order: cell, then nearer box first, then lower id (`outside` ≥ 0, so its bits order like the value).
    let key = |c: &(u32, f32, u64, Vec3)| ((c.0 as u128) << 96) | ((c.1.to_bits() as u128) << 64) | c.2 as u128;
    candidates.sort_unstable_by_key(key);
    let cells = candidates
        .into_iter()
        .map(|(index, _, body, velocity_mps)| FlowCell { index, velocity_mps, body_id: Some(body) })
        .collect();
    FlowField::new(*spec, cells)
}

/// Every check of a scenario that needs its town: ego spawns (see [`check_ego_spawns`]), the traffic and the
/// pedestrians fit. What [`ProceduralDirector::new`] checks, without keeping the result.
pub(crate) fn check_with_town(scenario: &Scenario) -> Result<(), ScenarioError> {
    match ProceduralDirector::new(scenario) {
        Ok(_) => Ok(()),
        Err(DirectorError::Scenario(e)) => Err(e),
        Err(other) => Err(ScenarioError::invalid("scenario", other.to_string())),
    }
}

/// Ego spawns: not inside a static cell, a car on a road, two car bodies not overlapping.
fn check_ego_spawns(scenario: &Scenario, town: &Town) -> Result<(), ScenarioError> {
    for (i, e) in scenario.egos.iter().enumerate() {
        let field = format!("egos[{i}]");
        let p = Vec3::new(e.x_m, e.y_m, e.z_m + 0.5 * scenario.cell_size_m);
        let class = town.grid.class_at(p);
        if !class.is_empty() {
            return Err(ScenarioError::invalid(
                format!("{field}.x_m/y_m"),
                format!("spawn ({}, {}, {}) is inside a {} cell", e.x_m, e.y_m, e.z_m, class.name()),
            ));
        }
        if e.kind == EgoKind::Car {
            let body = |x: &crate::scenario::EgoSpawn| crate::footprint::Footprint {
                centre_m: Vec2::new(x.x_m, x.y_m),
                axis: Vec2::from_angle(x.yaw_deg.to_radians()),
                half_m: Vec3::from(crate::ego::BicycleParams::default().half_extent_m).truncate(),
            };
            let me = body(e);
            if let Some(k) =
                (0..i).find(|&k| scenario.egos[k].kind == EgoKind::Car && body(&scenario.egos[k]).overlaps(&me, 0.0))
            {
                return Err(ScenarioError::invalid(
                    format!("{field}.x_m/y_m"),
                    format!(
                        "car ego {:?} at ({}, {}) overlaps car ego egos[{k}] ({:?}): car bodies must not overlap",
                        e.name, e.x_m, e.y_m, scenario.egos[k].name
                    ),
                ));
            }
        }
        if e.kind == crate::scenario::EgoKind::Car && !town.on_road(Vec2::new(e.x_m, e.y_m)) {
            let ground = town.grid.class_at(Vec3::new(e.x_m, e.y_m, -0.5 * scenario.cell_size_m));
            return Err(ScenarioError::invalid(
                format!("{field}.x_m/y_m"),
                format!("a car ego must start on a road; ({}, {}) is on {}", e.x_m, e.y_m, ground.name()),
            ));
        }
    }
    Ok(())
}

fn check_finite_mat(m: &Mat4) -> bool {
    m.to_cols_array().iter().all(|v| v.is_finite())
}

impl Director for ProceduralDirector {
    fn reset(&mut self, seed: u64) -> Result<DirectorOutput, DirectorError> {
        let (d, out) = Self::build(&self.scenario, seed)?;
        *self = d;
        Ok(out)
    }

    fn step(&mut self, dt_secs: f32, egos: &[EgoState]) -> Result<DirectorOutput, DirectorError> {
        if !(dt_secs.is_finite() && dt_secs > 0.0 && dt_secs <= MAX_DT_SECS) {
            return Err(DirectorError::InvalidInput {
                field: "dt_secs".into(),
                message: format!("expected a tick length in (0, {MAX_DT_SECS}] seconds, found {dt_secs}"),
            });
        }
        let mut seen = vec![false; self.egos.len()];
        for (k, e) in egos.iter().enumerate() {
            if !check_finite_mat(&e.world_from_base) || !e.speed_mps.is_finite() || !e.half_extent_m.is_finite() {
                return Err(DirectorError::InvalidInput {
                    field: format!("egos[{k}]"),
                    message: "expected finite pose, speed and extent".into(),
                });
            }
            let i = e.index as usize;
            if i >= seen.len() || std::mem::replace(&mut seen[i], true) {
                return Err(DirectorError::InvalidInput {
                    field: format!("egos[{k}].index"),
                    message: format!(
                        "expected a distinct index of the scenario's {} ego(s), found {}",
                        seen.len(),
                        e.index
                    ),
                });
            }
        }
        self.warnings.clear();
        let tick = self.tick + 1;
        for e in egos {
            let i = e.index as usize;
            let clamped = self.bounds.clamp_pose(&e.world_from_base);
            let pose = clamped.unwrap_or(e.world_from_base);
            let clamp = clamped.map(|c| (e.world_from_base.w_axis.truncate(), c.w_axis.truncate()));
            let name = &self.scenario.egos[i].name;
            if let Some(w) = self.guard.note(e.index, name, tick, clamp) {
                self.warnings.push(w);
            }
            let speed = if clamped.is_some() { 0.0 } else { e.speed_mps };
            self.egos[i] = (pose, e.half_extent_m.abs(), speed);
        }
        let ego_obstacles: Vec<(Obstacle, f32)> = self
            .egos
            .iter()
            .map(|(pose, half, speed)| {
                let obstacle = Obstacle {
                    position_m: pose.w_axis.truncate().truncate(),
                    heading: pose.x_axis.truncate().truncate().normalize_or(Vec2::X),
                    speed_mps: *speed,
                    half_length_m: half.x,
                    half_width_m: half.y,
                };
                (obstacle, pose.w_axis.z)
            })
            .collect();
        let all_egos: Vec<Obstacle> = ego_obstacles.iter().map(|o| o.0).collect();
        let ground_egos: Vec<Obstacle> =
            ego_obstacles.iter().filter(|o| o.1 < GROUND_EGO_MAX_Z_M).map(|o| o.0).collect();
        let walkers: Vec<Obstacle> = self.crowd.pedestrians.iter().map(|p| self.crowd.traffic_obstacle(p)).collect();
        let mut wheeled: Vec<Obstacle> = self.traffic.vehicles.iter().map(|v| self.traffic.obstacle(v)).collect();
        wheeled.extend_from_slice(&ground_egos);
        let old_bodies = self.bodies();
        self.traffic.step(dt_secs, &all_egos, &walkers, &ground_egos);
        self.crowd.step(dt_secs, &wheeled);
        let bodies = self.bodies();
        // Bodies that did not move get no flow: their Gaussians have no defined flow and stay where they are
        // (a waiting car or walker, a parked ego), which saves building and sampling their bands.
        let moves: Vec<(RigidBody, RigidBody)> = old_bodies
            .into_iter()
            .zip(bodies.iter().copied())
            .filter(|(old, new)| old.world_from_body != new.world_from_body)
            .collect();
        let flow = rigid_flow(self.grid.spec(), &moves, dt_secs)
            .map_err(|m| DirectorError::InvalidInput { field: "flow".into(), message: m })?;
        let changes = self.update_dynamic_cells(&bodies);
        self.tick += 1;
        self.time_secs += dt_secs as f64;
        Ok(DirectorOutput { tick: self.tick, time_secs: self.time_secs, dt_secs, changes, flow, bodies })
    }

    fn grid(&self) -> &SemanticGrid {
        &self.grid
    }
}

/// Quaternion of a body pose (helper for callers that want it).
pub fn body_rotation(world_from_body: &Mat4) -> Quat {
    Quat::from_mat3(&Mat3::from_mat4(*world_from_body)).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twist_reproduces_the_pose_change_exactly() {
        let old = Mat4::from_rotation_translation(Quat::from_rotation_z(0.3), Vec3::new(10.0, 5.0, 0.75));
        let new = Mat4::from_rotation_translation(Quat::from_rotation_z(0.55), Vec3::new(10.4, 5.2, 0.75));
        let dt = 0.05;
        let (v_c, omega) = twist(&old, &new, dt);
        // Integrate the steady field finely: a point of the body must land where the new pose puts it.
        let local = Vec3::new(2.0, -0.8, 0.3);
        let mut x = old.transform_point3(local);
        let c_old = old.w_axis.truncate();
        let n = 2000;
        for _ in 0..n {
            let v = |p: Vec3| v_c + omega.cross(p - c_old);
            let h = dt / n as f32;
            let mid = x + 0.5 * h * v(x);
            x += h * v(mid);
        }
        assert!((x - new.transform_point3(local)).length() < 1e-4, "{x}");
    }
}
