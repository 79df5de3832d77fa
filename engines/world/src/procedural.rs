//! The built-in Director: a seeded procedural town ([`crate::Town`]) with lane-following traffic
//! ([`crate::Traffic`]) and pedestrians ([`crate::Crowd`]); car egos are bodies of the world.
//!
//! Invariants: a pure function of (scenario, seed, the sequence of `step` inputs): no clock, no hash-map
//! iteration; the outputs keep the invariants of [`crate::Director`].

use glam::{Mat4, Quat, Vec2, Vec3};
use worldflow_base::rng::{hash_keys, unit_f32};

use crate::body::{for_cells_in_box, RigidBody, EGO_BODY_ID_BASE};
use crate::bounds::{BoundaryGuard, BoundaryWarning, WorldBounds};
use crate::director::{Director, DirectorError, DirectorOutput, MAX_DT_SECS};
use crate::drone::DroneParams;
use crate::ego::{BicycleParams, EgoState};
use crate::flow::FlowField;
use crate::footprint::Obstacle;
use crate::grid::{CellChange, SemanticClass, SemanticGrid};
use crate::pedestrians::{Crowd, PEDESTRIAN_HALF_EXTENT_M};
use crate::rigid_flow::flow_between;
use crate::scenario::{EgoKind, Scenario};
use crate::scenario_checks::{populate, Populated};
use crate::town::Town;
use crate::traffic::Traffic;
use crate::vehicle::paint_key;

/// Egos whose base is higher than this above the ground are not obstacles for walkers and swept paths, metres.
const GROUND_EGO_MAX_Z_M: f32 = 2.5;

/// The built-in seeded procedural town with lane-following traffic and pedestrians.
///
/// **Ego bodies.** A *car* ego is a body of the world (class vehicle, id [`EGO_BODY_ID_BASE`] + its index,
/// a box of its `half_extent_m` standing on the ground under its base), so other agents' cameras see it and
/// pedestrians wait for it; a *drone* ego likewise (class drone, its box above its base, drawn as a body
/// with four rotors); a *free-camera* ego is invisible (no body, no cells): it is a viewpoint, not a
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
        let Populated { town, traffic, crowd } = populate(scenario, seed)?;
        let car_half = Vec3::from(BicycleParams::default().half_extent_m);
        let drone_half = Vec3::from(DroneParams::default().half_extent_m);
        let egos = scenario
            .egos
            .iter()
            .map(|e| {
                let pose = Mat4::from_rotation_translation(
                    Quat::from_rotation_z(e.yaw_deg.to_radians()),
                    Vec3::new(e.x_m, e.y_m, e.z_m),
                );
                (pose, if e.kind == EgoKind::Drone { drone_half } else { car_half }, 0.0)
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

    /// Rigid bodies of the current state, ascending id: vehicles, pedestrians, car and drone egos.
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
                appearance_key: paint_key(self.seed, v.id),
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
            .filter(|(_, (spawn, _))| spawn.kind != EgoKind::FreeCamera)
            .map(|(k, (spawn, (world_from_base, half, speed)))| RigidBody {
                id: EGO_BODY_ID_BASE + k as u64,
                class: if spawn.kind == EgoKind::Drone { SemanticClass::Drone } else { SemanticClass::Vehicle },
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
        let flow = flow_between(self.grid.spec(), &old_bodies, &bodies, dt_secs)?;
        let changes = self.update_dynamic_cells(&bodies);
        self.tick += 1;
        self.time_secs += dt_secs as f64;
        Ok(DirectorOutput { tick: self.tick, time_secs: self.time_secs, dt_secs, changes, flow, bodies })
    }

    fn grid(&self) -> &SemanticGrid {
        &self.grid
    }
}
