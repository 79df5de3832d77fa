//! The Actor: keeps a persistent set of 3D Gaussians for the Director's world.
//!
//! * **Static** Gaussians (every non-dynamic class) are generated once, in [`Actor::new`], from the surface
//!   cells of the grid, and occupy the prefix `0..static_count()` of [`Actor::gaussians`]. They are never
//!   touched again: bitwise identical on every tick. Ids `0..static_count()`.
//! * **Dynamic** Gaussians occupy the suffix. Each tick ([`Actor::step`]): advect them along the Director's
//!   flow (see [`advect`]); optionally *refine* body-attached ones towards their rigid body's pose (the
//!   procedural stand-in for the paper's refiner; weight 0 = pure advection); remove those whose body
//!   vanished or whose cell is no longer dynamic; spawn a template for every new body (per class: a vehicle
//!   or a walker, see [`crate::appearance`] and [`crate::pedestrian_appearance`]), and blobs for newly
//!   dynamic cells that no body explains and no Gaussian covers (a body-less learned Director).
//!   Dynamic ids start at [`DYNAMIC_ID_BASE`] and count up; an id is never reused.
//!
//! Invariants: the result is a pure function of (config, initial grid, the sequence of outputs); the hash
//! sets used are lookup-only; the `Gaussians` always passes `validate()`.

mod advect;

use std::collections::HashSet;

use glam::{Mat3, Quat, Vec3};
use worldflow_protocol::Gaussians;

pub use advect::CovarianceUpdate;
use worldflow_base::rng::CellBuildHasher;

use crate::appearance::{dynamic_cell_splats, rotate_sh1, static_splats, vehicle_template, Splat};
use crate::body::{body_rotation, RigidBody};
use crate::director::DirectorOutput;
use crate::drone_appearance::drone_template;
use crate::flow::DenseFlowIndex;
use crate::grid::{GridSpec, SemanticClass, SemanticGrid};
use crate::pedestrian_appearance::pedestrian_template;

/// First id of dynamic Gaussians (static ones are numbered from 0).
pub const DYNAMIC_ID_BASE: u64 = 1 << 40;

/// Actor settings (serde, `deny_unknown_fields`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorConfig {
    /// 0 or 1: degree 1 keeps the view-dependent glass and paint.
    pub sh_degree: u8,
    /// A static face gets `n × n` Gaussians (1..=8).
    pub face_subdivisions: u32,
    pub covariance_update: CovarianceUpdate,
    /// After advection, pull body-attached Gaussians towards the rigid pose by this fraction (0..=1).
    pub refine_rigid_weight: f32,
    /// Appearance seed (jitter, colours).
    pub seed: u64,
}

impl Default for ActorConfig {
    fn default() -> Self {
        Self {
            sh_degree: 1,
            face_subdivisions: 2,
            covariance_update: CovarianceUpdate::RigidPart,
            refine_rigid_weight: 1.0,
            seed: 0,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ActorError {
    #[error("{field}: {message}")]
    Config { field: String, message: String },
    #[error("director output: {0}")]
    Input(String),
}

/// Counts of one tick, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActorStats {
    pub tick: u64,
    pub spawned: usize,
    pub removed: usize,
    pub advected: usize,
    pub static_count: usize,
    pub dynamic_count: usize,
}

impl ActorStats {
    pub fn total(&self) -> usize {
        self.static_count + self.dynamic_count
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Origin {
    /// Attached to a rigid body: its pose in the body frame (for refinement).
    Body { body_id: u64, local_mean: Vec3, local_rotation: Quat, local_sh1: [[f32; 3]; 3] },
    /// Spawned for a dynamic cell without a body.
    Cell,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Dynamic {
    id: u64,
    mean: Vec3,
    scale: Vec3,
    rotation: Quat,
    opacity: f32,
    sh: [[f32; 3]; 4],
    origin: Origin,
}

/// The Gaussian Actor (see the module header).
#[derive(Debug, Clone)]
pub struct Actor {
    config: ActorConfig,
    spec: GridSpec,
    gaussians: Gaussians,
    static_count: usize,
    dynamic: Vec<Dynamic>,
    /// Ids of bodies that have Gaussians, ascending.
    known_bodies: Vec<u64>,
    next_id: u64,
    tick: u64,
    flow_index: DenseFlowIndex,
}

impl Actor {
    /// Builds the static Gaussians of `grid` (dynamic classes in it are ignored; they arrive through
    /// [`Actor::step`]: pass the Director's tick-0 output next).
    pub fn new(config: ActorConfig, grid: &SemanticGrid) -> Result<Self, ActorError> {
        let bad = |field: &str, message: String| Err(ActorError::Config { field: field.into(), message });
        if config.sh_degree > 1 {
            return bad("sh_degree", format!("expected 0 or 1, found {}", config.sh_degree));
        }
        if !(1..=8).contains(&config.face_subdivisions) {
            return bad("face_subdivisions", format!("expected 1..=8, found {}", config.face_subdivisions));
        }
        if !(config.refine_rigid_weight.is_finite() && (0.0..=1.0).contains(&config.refine_rigid_weight)) {
            return bad(
                "refine_rigid_weight",
                format!("expected a weight in [0, 1], found {}", config.refine_rigid_weight),
            );
        }
        let mut gaussians = Gaussians::new(config.sh_degree);
        let k = gaussians.coeffs_per_gaussian();
        let mut id = 0u64;
        static_splats(grid, config.seed, config.face_subdivisions, |s| {
            gaussians.push(id, s.mean, s.scale, s.rotation, s.opacity, &s.sh[..k]);
            id += 1;
        });
        let static_count = gaussians.len();
        Ok(Self {
            config,
            spec: *grid.spec(),
            gaussians,
            static_count,
            dynamic: Vec::new(),
            known_bodies: Vec::new(),
            next_id: DYNAMIC_ID_BASE,
            tick: 0,
            flow_index: DenseFlowIndex::new(grid.spec()),
        })
    }

    pub fn config(&self) -> &ActorConfig {
        &self.config
    }

    /// All current Gaussians: static prefix `0..static_count()`, then the dynamic ones.
    pub fn gaussians(&self) -> &Gaussians {
        &self.gaussians
    }

    pub fn static_count(&self) -> usize {
        self.static_count
    }

    pub fn dynamic_count(&self) -> usize {
        self.dynamic.len()
    }

    /// Ids and body of the dynamic Gaussians attached to `body_id`, with their current means (for tests and
    /// debugging views).
    pub fn body_gaussians(&self, body_id: u64) -> Vec<(u64, Vec3, Vec3)> {
        self.dynamic
            .iter()
            .filter_map(|d| match d.origin {
                Origin::Body { body_id: b, local_mean, .. } if b == body_id => Some((d.id, d.mean, local_mean)),
                _ => None,
            })
            .collect()
    }

    /// Applies one Director output: advect, refine, remove, spawn (see the module header).
    pub fn step(&mut self, grid: &SemanticGrid, out: &DirectorOutput) -> Result<ActorStats, ActorError> {
        if grid.spec() != &self.spec || out.flow.spec() != &self.spec {
            return Err(ActorError::Input("grid or flow spec differs from the one the Actor was built for".into()));
        }
        if !(out.dt_secs.is_finite() && out.dt_secs >= 0.0) {
            return Err(ActorError::Input(format!(
                "dt_secs: expected a finite tick length ≥ 0, found {}",
                out.dt_secs
            )));
        }
        if out.bodies.windows(2).any(|w| w[0].id >= w[1].id) {
            return Err(ActorError::Input("bodies: expected ids strictly ascending".into()));
        }
        let mut stats = ActorStats { tick: out.tick, ..Default::default() };
        let dt = out.dt_secs;

        // 1. Advect.
        if dt > 0.0 && !out.flow.is_empty() && !self.dynamic.is_empty() {
            let flow = self.flow_index.bind(&out.flow);
            let mut cache = advect::CornerCache::new(&flow);
            for d in &mut self.dynamic {
                let body = match d.origin {
                    Origin::Body { body_id, .. } => Some(body_id),
                    Origin::Cell => None,
                };
                if let Some(a) =
                    advect::advect(&mut cache, body, dt, d.mean, d.scale, d.rotation, self.config.covariance_update)
                {
                    d.mean = a.mean;
                    d.scale = a.scale;
                    d.rotation = a.rotation;
                    rotate_sh1(&mut d.sh, a.delta_rotation);
                    stats.advected += 1;
                }
            }
        }

        // 2. Refine towards rigid poses.
        let body_of = |id: u64| out.bodies.binary_search_by_key(&id, |b| b.id).ok().map(|i| &out.bodies[i]);
        let w = self.config.refine_rigid_weight;
        if w > 0.0 {
            let body_rots: Vec<Quat> = out.bodies.iter().map(|b| body_rotation(&b.world_from_body)).collect();
            let mut cached: Option<(u64, usize)> = None;
            for d in &mut self.dynamic {
                if let Origin::Body { body_id, local_mean, local_rotation, local_sh1 } = d.origin {
                    // Gaussians of one body are contiguous: cache the last lookup.
                    let slot = match cached {
                        Some((id, k)) if id == body_id => Some(k),
                        _ => out.bodies.binary_search_by_key(&body_id, |b| b.id).ok(),
                    };
                    if let Some(k) = slot {
                        cached = Some((body_id, k));
                        let body = &out.bodies[k];
                        let body_rot = body_rots[k];
                        let target_mean = body.world_from_body.transform_point3(local_mean);
                        let target_rot = (body_rot * local_rotation).normalize();
                        if w >= 1.0 {
                            d.mean = target_mean;
                            d.rotation = target_rot;
                            d.sh[1..4].copy_from_slice(&local_sh1);
                            rotate_sh1(&mut d.sh, body_rot);
                        } else {
                            d.mean = d.mean.lerp(target_mean, w);
                            d.rotation = d.rotation.slerp(target_rot, w).normalize();
                        }
                    }
                }
            }
        }

        // 3. Remove what no longer exists.
        let before = self.dynamic.len();
        self.dynamic.retain(|d| match d.origin {
            Origin::Body { body_id, .. } => body_of(body_id).is_some(),
            Origin::Cell => grid.class_at(d.mean).is_dynamic(),
        });
        stats.removed = before - self.dynamic.len();

        // 4. Spawn templates for new bodies.
        for body in &out.bodies {
            if self.known_bodies.binary_search(&body.id).is_err() {
                stats.spawned += self.spawn_body(body);
            }
        }
        self.known_bodies = out.bodies.iter().map(|b| b.id).collect();

        // 5. Spawn blobs for newly dynamic cells no body explains and no Gaussian covers.
        let covered: HashSet<u32, CellBuildHasher> = self
            .dynamic
            .iter()
            .filter(|d| d.origin == Origin::Cell)
            .filter_map(|d| self.spec.cell_of(d.mean).map(|c| self.spec.index(c)))
            .collect();
        let margin = 0.5 * self.spec.cell_size_m;
        for change in &out.changes {
            if !change.class.is_dynamic() || covered.contains(&change.index) {
                continue;
            }
            let centre = self.spec.centre_of(self.spec.coords(change.index));
            if out.bodies.iter().any(|b| b.contains(centre, margin)) {
                continue;
            }
            for s in dynamic_cell_splats(change.class, centre, self.spec.cell_size_m, self.config.seed, change.index) {
                self.push_dynamic(s, Origin::Cell);
                stats.spawned += 1;
            }
        }

        // 6. Rewrite the dynamic suffix.
        self.write_dynamic();
        self.tick = out.tick;
        stats.static_count = self.static_count;
        stats.dynamic_count = self.dynamic.len();
        Ok(stats)
    }

    fn push_dynamic(&mut self, s: Splat, origin: Origin) {
        self.dynamic.push(Dynamic {
            id: self.next_id,
            mean: s.mean,
            scale: s.scale,
            rotation: s.rotation,
            opacity: s.opacity,
            sh: s.sh,
            origin,
        });
        self.next_id += 1;
    }

    fn spawn_body(&mut self, body: &RigidBody) -> usize {
        let template = match body.class {
            SemanticClass::Pedestrian => pedestrian_template(body.half_extent_m, body.appearance_key),
            SemanticClass::Drone => drone_template(body.half_extent_m, body.appearance_key),
            _ => vehicle_template(body.half_extent_m, body.appearance_key),
        };
        let body_rot = body_rotation(&body.world_from_body);
        let n = template.len();
        for s in template {
            let local_sh1 = [s.sh[1], s.sh[2], s.sh[3]];
            let mut world = s;
            world.mean = body.world_from_body.transform_point3(s.mean);
            world.rotation = (body_rot * s.rotation).normalize();
            rotate_sh1(&mut world.sh, body_rot);
            self.push_dynamic(
                world,
                Origin::Body { body_id: body.id, local_mean: s.mean, local_rotation: s.rotation, local_sh1 },
            );
        }
        n
    }

    fn write_dynamic(&mut self) {
        let g = &mut self.gaussians;
        let k = g.coeffs_per_gaussian();
        g.truncate(self.static_count);
        for d in &self.dynamic {
            g.push(d.id, d.mean, d.scale, d.rotation, d.opacity, &d.sh[..k]);
        }
    }
}

/// Rotation matrix of a Gaussian (helper for covariance checks).
pub fn covariance(scale: Vec3, rotation: Quat) -> Mat3 {
    let r = Mat3::from_quat(rotation);
    r * Mat3::from_diagonal(scale * scale) * r.transpose()
}
