//! **director** node: the world's plot. Owns a [`worldflow_world::Director`] (the built-in procedural town
//! today; a learned voxel Director can take its place behind the same trait) and the ego agents' dynamics.
//!
//! Inputs `agent0`, `agent1`, … carry each ego's actions (the encoder's dual actions). The node is a lock-step
//! barrier: tick k is stepped once every ego's action of tick k has arrived. Car egos integrate their
//! vehicle controls with a kinematic bicycle model ([`car_control`]: pedals, or the control that tracks an
//! Ackermann or velocity set-point, or keys); free-camera egos move by a velocity set-point or by their keys
//! (`STEP_M` / `STEP_DEG` per tick); drone egos track a velocity set-point or their keys ([`drone_command`]) and
//! stop before whatever they would hit (buildings, trees, vehicles, walkers, other egos), with one warning
//! per contact. Collisions and boundary clamps are listed in `<out>/director.json`. Per tick it emits `world` (a [`WorldDelta`]: grid changes and rigid bodies) and `ego_pose`
//! (one `StampedPose` of `base_link` per agent).

pub mod barrier;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use anyhow::Context;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters, TryRecvError};
use worldflow_node_kit::{Env, ErrorChain as _};

use crate::barrier::{Barrier, Membership, Step};
use worldflow_protocol::arrow_io::{action as action_io, pose as pose_io, world as world_io};
use worldflow_protocol::{
    mat4_to_rows, AckermannCommand, Action, BodyRecord, ChunkMeta, Keys, StampedPose, VelocityCommand, WorldDelta,
};
use worldflow_world::{
    car_control_for_ackermann, car_control_for_velocity, free_camera_delta_for_velocity, BicycleEgo, BoundaryGuard,
    BoundaryWarning, CollisionGuard, CollisionWarning, Director, DirectorOutput, Ego, PoseDelta, ProceduralDirector,
    RigidBody, Scenario, SemanticClass, Surroundings, VehicleControl, EGO_BODY_ID_BASE,
};

/// Converts a Director output into its wire form (the flow is left out: receivers compute it from the bodies).
pub fn to_delta(out: &DirectorOutput, meta: ChunkMeta) -> WorldDelta {
    WorldDelta {
        meta,
        dt_secs: out.dt_secs,
        changes: out.changes.iter().map(|c| (c.index, c.class as u8)).collect(),
        bodies: out
            .bodies
            .iter()
            .map(|b| BodyRecord {
                id: b.id,
                class: b.class as u8,
                world_from_body: mat4_to_rows(&b.world_from_body),
                half_extent_m: b.half_extent_m.to_array(),
                velocity_mps: b.velocity_mps.to_array(),
                angular_velocity_rps: b.angular_velocity_rps.to_array(),
                appearance_key: b.appearance_key,
            })
            .collect(),
    }
}

/// Free-camera motion of one tick holding `keys`.
pub fn keys_to_delta(keys: Keys, step_m: f32, step_deg: f32) -> PoseDelta {
    let axis = |pos: Keys, neg: Keys| (keys.contains(pos) as i32 - keys.contains(neg) as i32) as f32;
    PoseDelta {
        forward_m: axis(Keys::W, Keys::S) * step_m,
        left_m: axis(Keys::A, Keys::D) * step_m,
        up_m: 0.0,
        yaw_deg: axis(Keys::LEFT, Keys::RIGHT) * step_deg,
        pitch_deg: axis(Keys::UP, Keys::DOWN) * step_deg,
    }
}

/// Keyboard driving of a car ego: `w` throttle, `s` brake, `a`/`d` (or the left/right arrows) steer; no key
/// coasts. `d` and the right arrow steer right: positive `steer`, CARLA's convention (see [`VehicleControl`]).
pub fn keys_to_control(keys: Keys) -> VehicleControl {
    let left = keys.contains(Keys::A) || keys.contains(Keys::LEFT);
    let right = keys.contains(Keys::D) || keys.contains(Keys::RIGHT);
    VehicleControl {
        throttle: if keys.contains(Keys::W) { 0.7 } else { 0.0 },
        steer: (right as i32 - left as i32) as f32 * 0.6,
        brake: if keys.contains(Keys::S) { 1.0 } else { 0.0 },
    }
}

/// The vehicle control of a car for one action, by priority: pedals (`control`), an Ackermann set-point, a
/// velocity set-point, keys. A **held** set-point (the controller missed the lock-step timeout) keeps its wheel
/// angle or yaw rate but asks for speed 0: a car whose controller is silent brakes to a stop.
pub fn car_control(car: &BicycleEgo, a: &Action, dt_secs: f32) -> VehicleControl {
    if let Some(c) = a.control {
        return c;
    }
    if let Some(k) = a.ackermann {
        let k = if a.held { AckermannCommand { speed_mps: 0.0, ..k } } else { k };
        return car_control_for_ackermann(car, &k, dt_secs);
    }
    if let Some(v) = a.velocity {
        let v = if a.held { VelocityCommand { forward_mps: 0.0, ..v } } else { v };
        return car_control_for_velocity(car, &v, dt_secs);
    }
    keys_to_control(a.keys)
}

/// Drone speeds under keys: `w`/`s` forward/back and `a`/`d` left/right at this speed, m/s.
pub const DRONE_KEY_SPEED_MPS: f32 = 2.0;
/// Drone climb (`up`) and descent (`down`) speed under keys, m/s.
pub const DRONE_KEY_CLIMB_MPS: f32 = 1.0;
/// Drone yaw rate under the `left`/`right` arrows, rad/s (left positive, REP-103).
pub const DRONE_KEY_YAW_RATE_RPS: f32 = 0.5;

/// Keyboard flying of a drone: `w`/`s` forward/back, `a`/`d` left/right, `up`/`down` climb/descend (`up` on
/// the ground takes off; `down` at the altitude floor lands), `left`/`right` yaw; no key hovers.
pub fn keys_to_drone_velocity(keys: Keys) -> VelocityCommand {
    let axis = |pos: Keys, neg: Keys| (keys.contains(pos) as i32 - keys.contains(neg) as i32) as f32;
    VelocityCommand {
        forward_mps: axis(Keys::W, Keys::S) * DRONE_KEY_SPEED_MPS,
        left_mps: axis(Keys::A, Keys::D) * DRONE_KEY_SPEED_MPS,
        up_mps: axis(Keys::UP, Keys::DOWN) * DRONE_KEY_CLIMB_MPS,
        yaw_rate_rps: axis(Keys::LEFT, Keys::RIGHT) * DRONE_KEY_YAW_RATE_RPS,
    }
}

/// The velocity set-point of a drone for one action: its `velocity`, else its keys. A **held** action (the
/// controller missed the lock-step timeout, or the agent is absent) hovers. Pedals (`control`) and Ackermann
/// set-points do not apply to a drone: `Err` names what was sent, and the drone hovers.
pub fn drone_command(a: &Action) -> Result<VelocityCommand, &'static str> {
    if a.held {
        return Ok(VelocityCommand::default());
    }
    if let Some(v) = a.velocity {
        return Ok(v);
    }
    if a.control.is_some() {
        return Err("vehicle controls (throttle/steer/brake)");
    }
    if a.ackermann.is_some() {
        return Err("Ackermann set-points");
    }
    Ok(keys_to_drone_velocity(a.keys))
}

/// The world simulation of the node, without the runtime.
pub struct World {
    pub director: ProceduralDirector,
    pub egos: Vec<Ego>,
    pub dt_secs: f32,
    pub step_m: f32,
    pub step_deg: f32,
    started: bool,
    guard: BoundaryGuard,
    /// Egos that left the world in the last tick (clamped at the boundary and stopped; see `worldflow_world::bounds`).
    pub warnings: Vec<BoundaryWarning>,
    collision_guard: CollisionGuard,
    /// Egos stopped before something in the last tick (one warning per contact; see `worldflow_world::collision`).
    pub collisions: Vec<CollisionWarning>,
    /// Agents already told that a kind of action does not apply to their ego (agent, what).
    rejected_warned: Vec<(usize, &'static str)>,
}

impl World {
    pub fn new(scenario: &Scenario, dt_secs: f32) -> anyhow::Result<Self> {
        if !(dt_secs > 0.0 && dt_secs <= worldflow_world::MAX_DT_SECS) {
            anyhow::bail!("setting DT_SECS={dt_secs}: expected (0, {}] seconds", worldflow_world::MAX_DT_SECS);
        }
        let director = ProceduralDirector::new(scenario).chain_context("scenario")?;
        let egos = scenario
            .egos
            .iter()
            .enumerate()
            .map(|(i, s)| Ego::from_spawn(s).map_err(|e| anyhow::anyhow!("scenario egos[{i}] ({}): {e}", s.name)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            director,
            egos,
            dt_secs,
            step_m: 0.5,
            step_deg: 3.0,
            started: false,
            guard: BoundaryGuard::default(),
            warnings: Vec::new(),
            collision_guard: CollisionGuard::default(),
            collisions: Vec::new(),
            rejected_warned: Vec::new(),
        })
    }

    /// Applies every ego's action of one tick and advances the world; returns the Director's output.
    pub fn tick(&mut self, actions: &[Action]) -> anyhow::Result<DirectorOutput> {
        if actions.len() != self.egos.len() {
            anyhow::bail!("expected one action per ego ({}), got {}", self.egos.len(), actions.len());
        }
        let tick = actions.first().map(|a| a.meta.tick).unwrap_or(0);
        // What a drone can run into: the static town, the Director's bodies (as of the last tick) and every
        // other ego's body as it is now (egos move one after the other, in index order).
        let world_bodies: Vec<RigidBody> =
            self.director.bodies().into_iter().filter(|b| b.id < EGO_BODY_ID_BASE).collect();
        let mut ego_bodies: Vec<Option<RigidBody>> =
            self.egos.iter().enumerate().map(|(i, e)| ego_body(i, e)).collect();
        self.collisions.clear();
        for (i, (ego, a)) in self.egos.iter_mut().zip(actions).enumerate() {
            match ego {
                Ego::Drone(drone) => {
                    let cmd = drone_command(a).unwrap_or_else(|what| {
                        if !self.rejected_warned.contains(&(i, what)) {
                            self.rejected_warned.push((i, what));
                            eprintln!("director: warning: agent{i} is a drone: {what} do not apply to it, it hovers (send cmd_vel / velocity set-points or keys)");
                        }
                        VelocityCommand::default()
                    });
                    let mut bodies = world_bodies.clone();
                    bodies.extend(ego_bodies.iter().enumerate().filter(|(j, _)| *j != i).filter_map(|(_, b)| *b));
                    let around = Surroundings { grid: Some(self.director.static_grid()), bodies: &bodies };
                    let hit = drone
                        .step(&cmd, self.dt_secs, &around)
                        .with_chain_context(|| format!("agent{i} tick {tick}"))?;
                    let stop = hit.map(|h| (h, drone.position_m()));
                    let name = &self.director.scenario().egos[i].name;
                    self.collisions.extend(self.collision_guard.note(i as u32, name, tick, stop));
                }
                Ego::Car(car) => {
                    let c = car_control(car, a, self.dt_secs);
                    car.step(&c, self.dt_secs).with_chain_context(|| format!("agent{i} tick {tick}"))?;
                }
                Ego::FreeCamera(cam) => {
                    if a.ackermann.is_some() && !self.rejected_warned.contains(&(i, "ackermann")) {
                        self.rejected_warned.push((i, "ackermann"));
                        eprintln!("director: warning: agent{i} is a free camera: Ackermann set-points are ignored (send cmd_vel)");
                    }
                    let delta = match &a.velocity {
                        Some(v) => free_camera_delta_for_velocity(v, self.dt_secs),
                        None => keys_to_delta(a.keys, self.step_m, self.step_deg),
                    };
                    cam.apply(&delta).with_chain_context(|| format!("agent{i} tick {tick}"))?;
                }
            }
            ego_bodies[i] = ego_body(i, ego);
        }
        // Leaving the world: clamp at the boundary and stop, one warning per excursion.
        self.warnings.clear();
        let bounds = *self.director.bounds();
        for (i, ego) in self.egos.iter_mut().enumerate() {
            let clamp = ego.keep_inside(&bounds);
            let name = &self.director.scenario().egos[i].name;
            self.warnings.extend(self.guard.note(i as u32, name, tick, clamp));
        }
        let states: Vec<_> = self.egos.iter().enumerate().map(|(i, e)| e.state(i as u32)).collect();
        let out = if !self.started {
            self.started = true;
            self.director.reset(self.director.seed())
        } else {
            self.director.step(self.dt_secs, &states)
        };
        out.with_chain_context(|| format!("director at tick {tick}"))
    }
}

/// Most collisions and boundary clamps listed one by one in the report (all are counted).
pub const MAX_LISTED_WARNINGS: usize = 1000;

/// A collision as `director.json` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CollisionRecord {
    pub agent: u32,
    pub name: String,
    pub tick: u64,
    /// What the ego would have hit, e.g. `a building cell`, `agent3 (a drone)`, `vehicle body 5`.
    pub hit: String,
    /// Base position where it was stopped, world frame, metres.
    pub stopped_at_m: [f32; 3],
}

/// A boundary clamp as `director.json` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BoundaryRecord {
    pub agent: u32,
    pub name: String,
    pub tick: u64,
    pub requested_m: [f32; 3],
    pub clamped_m: [f32; 3],
}

/// Every collision and boundary clamp of a run (the first [`MAX_LISTED_WARNINGS`] of each listed).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WarningLog {
    pub collision_count: usize,
    pub collisions: Vec<CollisionRecord>,
    pub boundary_count: usize,
    pub boundary: Vec<BoundaryRecord>,
}

impl WarningLog {
    /// Adds the warnings of one tick.
    pub fn note(&mut self, collisions: &[CollisionWarning], boundary: &[BoundaryWarning]) {
        self.collision_count += collisions.len();
        self.boundary_count += boundary.len();
        for c in collisions.iter().take(MAX_LISTED_WARNINGS.saturating_sub(self.collisions.len())) {
            self.collisions.push(CollisionRecord {
                agent: c.ego_index,
                name: c.name.clone(),
                tick: c.tick,
                hit: c.hit.to_string(),
                stopped_at_m: c.stopped_at_m.to_array(),
            });
        }
        for b in boundary.iter().take(MAX_LISTED_WARNINGS.saturating_sub(self.boundary.len())) {
            self.boundary.push(BoundaryRecord {
                agent: b.ego_index,
                name: b.name.clone(),
                tick: b.tick,
                requested_m: b.requested_m.to_array(),
                clamped_m: b.clamped_m.to_array(),
            });
        }
    }
}

/// The body ego `index` shows the others (none for a free camera).
fn ego_body(index: usize, ego: &Ego) -> Option<RigidBody> {
    let (world_from_body, half_extent_m) = ego.body_box()?;
    Some(RigidBody {
        id: EGO_BODY_ID_BASE + index as u64,
        class: if matches!(ego, Ego::Drone(_)) { SemanticClass::Drone } else { SemanticClass::Vehicle },
        world_from_body,
        half_extent_m,
        velocity_mps: glam::Vec3::ZERO,
        angular_velocity_rps: glam::Vec3::ZERO,
        appearance_key: 0.0,
    })
}

/// The settings this node reads (the launcher's catalogue lists exactly these). `OUT_DIR` (the directory of
/// the span timings) is read by `main`.
pub const SETTINGS: &[&str] = &["SCENARIO", "DT_SECS", "STEP_M", "AGENT_TIMEOUT_SECS", "OUT_DIR"];

/// The node's settings, read through `worldflow-node-kit`.
#[derive(Debug)]
pub struct Settings {
    /// `SCENARIO`: a built-in scenario name or a scenario file (unset: the default town).
    pub scenario: Scenario,
    /// `DT_SECS`: simulated seconds per tick (0.1).
    pub dt_secs: f32,
    /// The same tick in whole nanoseconds, from the setting's decimal value (simulation time = tick · dt_ns).
    pub dt_ns: u64,
    /// `STEP_M`: metres per tick of a free camera's keys (unset: [`World`]'s default).
    pub step_m: Option<f32>,
    /// `AGENT_TIMEOUT_SECS`: how long a tick waits for a missing agent before dropping it (0.5 s).
    pub agent_timeout: Duration,
}

impl Settings {
    /// The settings of `env`.
    pub fn from_settings(env: &Env) -> anyhow::Result<Self> {
        let scenario = Scenario::from_setting(env.get("SCENARIO")?.as_deref()).chain_context("setting SCENARIO")?;
        let timeout: f64 =
            env.parse_valid("AGENT_TIMEOUT_SECS", 0.5, "seconds in (0, 3600]", |t: &f64| *t > 0.0 && *t <= 3600.0)?;
        let dt_secs: f64 = env.parse_or("DT_SECS", 0.1, "seconds")?;
        Ok(Self {
            scenario,
            dt_secs: dt_secs as f32,
            dt_ns: (dt_secs * 1e9).round() as u64,
            step_m: env.parse("STEP_M", "metres")?,
            agent_timeout: Duration::from_secs_f64(timeout),
        })
    }
}

pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let env = Env::from_process(SETTINGS);
    let Settings { scenario, dt_secs, dt_ns, step_m, agent_timeout } = Settings::from_settings(&env)?;
    let out_dir = env.out_dir()?;
    let mut world = World::new(&scenario, dt_secs)?;
    if let Some(step_m) = step_m {
        world.step_m = step_m;
    }
    let n = world.egos.len();
    eprintln!(
        "director: town seed {}, {} vehicles, {} pedestrians, {n} ego(s), dt {dt_secs} s",
        world.director.seed(),
        world.director.traffic().vehicles.len(),
        world.director.crowd().pedestrians.len()
    );
    let mut barrier = Barrier::new(n, agent_timeout);
    let mut log = WarningLog::default();
    let mut stream_ended = false;
    'run: loop {
        // Take in every event already delivered before deciding what is due: a deadline that passed while the
        // director was busy stepping (or descheduled under load) must not drop agents whose actions arrived
        // meanwhile and are only waiting in the event stream.
        while !stream_ended {
            match events.try_recv() {
                Ok(event) => {
                    if take_event(event, &mut barrier, n)?.is_break() {
                        break 'run;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    // The stream ended: step what is still queued, then end. (`InputClosed` may overtake an
                    // input's last events — dora's scheduler reorders — so only the stream's end is the end.)
                    (0..n as u32).for_each(|a| barrier.close(a));
                    stream_ended = true;
                }
            }
        }
        // Step every tick that is due, then wait for an input or the barrier's deadline.
        while let Some((step, dropped)) = barrier.poll(Instant::now()) {
            for m in &dropped {
                eprintln!("director: warning: {m}");
            }
            step_world(&mut node, &mut world, step, dt_ns, &mut log)?;
        }
        if stream_ended {
            break;
        }
        let event = match barrier.deadline() {
            Some(d) => events.recv_timeout(d.saturating_duration_since(Instant::now())),
            None => events.recv(),
        };
        match event {
            Some(event) => {
                if take_event(event, &mut barrier, n)?.is_break() {
                    break;
                }
            }
            None => {
                (0..n as u32).for_each(|a| barrier.close(a));
                stream_ended = true;
            }
        }
    }
    write_report(&out_dir, agent_timeout, &barrier.history, &log)
}

/// Hands one event to the barrier: an agent's action, or its input's end. `Break` on a manual stop (Ctrl-C,
/// `--stop-after`); when all inputs close, the loop drains what is queued instead.
fn take_event(event: Event, barrier: &mut Barrier, n: usize) -> anyhow::Result<ControlFlow<()>> {
    match event {
        Event::Input { id, data, .. } => {
            let agent = agent_of_input(id.as_str(), n)?;
            let action = action_io::decode(data.as_array().as_ref()).with_context(|| format!("input `{id}`"))?;
            if let Some(m) = barrier.push(agent, action) {
                eprintln!("director: warning: {m}");
            }
        }
        Event::InputClosed { id } => {
            if let Ok(agent) = agent_of_input(id.as_str(), n) {
                barrier.close(agent);
            }
        }
        Event::Stop(dora_node_api::StopCause::Manual) => return Ok(ControlFlow::Break(())),
        _ => {}
    }
    Ok(ControlFlow::Continue(()))
}

/// `agentN` → N, checked against the scenario's `n` egos.
fn agent_of_input(id: &str, n: usize) -> anyhow::Result<u32> {
    let agent: u32 = id
        .strip_prefix("agent")
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("input `{id}`: director inputs are named agent0, agent1, …"))?;
    if agent as usize >= n {
        anyhow::bail!("input `{id}`: the scenario has {n} ego(s) (agent0..agent{})", n.saturating_sub(1));
    }
    Ok(agent)
}

/// Steps the world one tick (absent agents hold) and sends `world` and every ego's `ego_pose`.
fn step_world(
    node: &mut DoraNode,
    world: &mut World,
    step: Step,
    dt_ns: u64,
    log: &mut WarningLog,
) -> anyhow::Result<()> {
    let tick = step.tick;
    let meta = ChunkMeta { agent_id: 0, tick, sim_time_ns: tick * dt_ns };
    let actions: Vec<Action> = step
        .actions
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let m = ChunkMeta { agent_id: i as u32, ..meta };
            match a {
                Some(a) => Action { meta: m, ..a },
                // Absent: hold still (a car brakes, a free camera stays).
                None => {
                    Action { meta: m, velocity: Some(VelocityCommand::default()), held: true, ..Default::default() }
                }
            }
        })
        .collect();
    let span = tracing::info_span!("director_tick", tick).entered();
    let out = world.tick(&actions)?;
    drop(span);
    for w in world.warnings.iter().chain(world.director.warnings()) {
        eprintln!("director: warning: {w}");
    }
    for c in &world.collisions {
        eprintln!("director: warning: {c}");
    }
    let boundary: Vec<BoundaryWarning> = world.warnings.iter().chain(world.director.warnings()).cloned().collect();
    log.note(&world.collisions, &boundary);
    node.send_output("world".to_owned().into(), MetadataParameters::default(), world_io::encode(&to_delta(&out, meta)))
        .chain_context("sending output `world`")?;
    for (i, ego) in world.egos.iter().enumerate() {
        let pose = StampedPose {
            meta: ChunkMeta { agent_id: i as u32, ..meta },
            frame_id: "base_link".into(),
            world_from_frame: mat4_to_rows(&ego.world_from_base()),
        };
        node.send_output("ego_pose".to_owned().into(), MetadataParameters::default(), pose_io::encode(&pose))
            .chain_context("sending output `ego_pose`")?;
    }
    Ok(())
}

/// The barrier's account and the world's warnings, `<out>/director.json` (`worldflow run` adds it to report.json as `director`).
fn write_report(
    out_dir: &std::path::Path,
    agent_timeout: Duration,
    history: &[Membership],
    log: &WarningLog,
) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct Report<'a> {
        agent_timeout_secs: f64,
        drops: usize,
        rejoins: usize,
        membership: &'a [Membership],
        /// Egos stopped before something they would have hit (see `worldflow_world::collision`).
        collision_count: usize,
        collisions: &'a [CollisionRecord],
        /// Egos clamped at the world's boundary (see `worldflow_world::bounds`).
        boundary_count: usize,
        boundary: &'a [BoundaryRecord],
    }
    let drops = history.iter().filter(|m| matches!(m, Membership::Dropped { .. })).count();
    let report = Report {
        agent_timeout_secs: agent_timeout.as_secs_f64(),
        drops,
        rejoins: history.len() - drops,
        membership: history,
        collision_count: log.collision_count,
        collisions: &log.collisions,
        boundary_count: log.boundary_count,
        boundary: &log.boundary,
    };
    worldflow_node_kit::write_report_section(out_dir, "director", &report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_ticks_deterministically_and_cars_drive() {
        let scenario = Scenario::default();
        let mut a = World::new(&scenario, 0.1).unwrap();
        let mut b = World::new(&scenario, 0.1).unwrap();
        let n = a.egos.len();
        let start = a.egos[0].world_from_base();
        for tick in 0..10u64 {
            let actions: Vec<Action> = (0..n)
                .map(|i| Action {
                    meta: ChunkMeta { agent_id: i as u32, tick, sim_time_ns: tick * 100_000_000 },
                    control: Some(VehicleControl { throttle: 0.8, steer: 0.0, brake: 0.0 }),
                    ..Default::default()
                })
                .collect();
            let oa = a.tick(&actions).unwrap();
            let ob = b.tick(&actions).unwrap();
            assert_eq!(to_delta(&oa, ChunkMeta::default()), to_delta(&ob, ChunkMeta::default()));
        }
        if matches!(a.egos[0], Ego::Car(_)) {
            let moved = (a.egos[0].world_from_base().w_axis - start.w_axis).length();
            assert!(moved > 1.0, "throttle moves the car: {moved}");
        }
    }

    #[test]
    fn an_agent_driving_off_the_map_is_stopped_with_one_warning() {
        let scenario = Scenario::default();
        let mut world = World::new(&scenario, 0.1).unwrap();
        if let Ego::Car(car) = &mut world.egos[0] {
            *car = BicycleEgo::new(worldflow_world::BicycleParams::default(), 2.0, 20.0, std::f32::consts::PI).unwrap();
        }
        let mut warned = Vec::new();
        for tick in 0..30u64 {
            let action = Action {
                meta: ChunkMeta { agent_id: 0, tick, sim_time_ns: tick * 100_000_000 },
                control: Some(VehicleControl { throttle: 1.0, steer: 0.0, brake: 0.0 }),
                ..Default::default()
            };
            world.tick(&[action]).unwrap();
            warned.extend(world.warnings.iter().map(|w| w.to_string()));
            assert!(world.egos[0].world_from_base().w_axis.x >= 0.0);
        }
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].starts_with("agent0 (ego0) left the world at tick"), "{}", warned[0]);
    }

    /// Yaw change of the builtin scenario's car after a few ticks of `keys` at speed (through `World`).
    fn yaw_change_holding(keys: Keys) -> f32 {
        let mut world = World::new(&Scenario::default(), 0.1).unwrap();
        let Ego::Car(car) = &mut world.egos[0] else { panic!("the builtin ego is a car") };
        car.set_speed_mps(5.0).unwrap();
        let yaw0 = car.yaw_rad();
        for tick in 0..5u64 {
            let action = Action {
                meta: ChunkMeta { agent_id: 0, tick, sim_time_ns: tick * 100_000_000 },
                keys,
                ..Default::default()
            };
            world.tick(&[action]).unwrap();
        }
        let Ego::Car(car) = &world.egos[0] else { unreachable!() };
        car.yaw_rad() - yaw0
    }

    #[test]
    fn d_and_the_right_arrow_turn_right_a_and_the_left_arrow_turn_left() {
        // Right turn = clockwise seen from above = the yaw decreases (z up).
        for (name, keys) in [("d", Keys::D), ("right", Keys::RIGHT), ("w+d", Keys::W.union(Keys::D))] {
            assert!(keys_to_control(keys).steer > 0.0, "{name}");
            let dyaw = yaw_change_holding(keys);
            assert!(dyaw < -0.05, "{name} turns right: yaw change {dyaw} rad");
        }
        for (name, keys) in [("a", Keys::A), ("left", Keys::LEFT)] {
            assert!(keys_to_control(keys).steer < 0.0, "{name}");
            let dyaw = yaw_change_holding(keys);
            assert!(dyaw > 0.05, "{name} turns left: yaw change {dyaw} rad");
        }
        assert!(yaw_change_holding(Keys::NONE).abs() < 1e-6);
    }

    #[test]
    fn a_negative_yaw_rate_turns_the_car_right_and_a_held_command_brakes() {
        let mut world = World::new(&Scenario::default(), 0.1).unwrap();
        let Ego::Car(car) = &mut world.egos[0] else { panic!("the builtin ego is a car") };
        car.set_speed_mps(5.0).unwrap();
        let yaw0 = car.yaw_rad();
        let velocity = Some(VelocityCommand { forward_mps: 5.0, yaw_rate_rps: -0.2, ..Default::default() });
        let action = |tick: u64, held: bool| Action {
            meta: ChunkMeta { agent_id: 0, tick, sim_time_ns: tick * 100_000_000 },
            velocity,
            held,
            ..Default::default()
        };
        for tick in 0..5 {
            world.tick(&[action(tick, false)]).unwrap();
        }
        let Ego::Car(car) = &world.egos[0] else { unreachable!() };
        let dyaw = car.yaw_rad() - yaw0;
        assert!((dyaw + 0.1).abs() < 1e-4, "5 ticks at -0.2 rad/s turn right by 0.1 rad: {dyaw}");
        assert!((car.speed_mps() - 5.0).abs() < 1e-3);
        for tick in 5..20 {
            world.tick(&[action(tick, true)]).unwrap();
        }
        let Ego::Car(car) = &world.egos[0] else { unreachable!() };
        assert_eq!(car.speed_mps(), 0.0, "a held command brakes the car to a stop");
    }

    fn drone_world() -> World {
        let scenario = Scenario::from_yaml_str(
            "egos: [{name: d0, kind: drone, x_m: 81.5, y_m: 60.0}, {name: d1, kind: drone, x_m: 81.5, y_m: 64.0}]",
            "s.yaml",
        )
        .unwrap();
        World::new(&scenario, 0.1).unwrap()
    }

    fn fly(world: &mut World, ticks: std::ops::Range<u64>, v: [VelocityCommand; 2]) -> Vec<String> {
        let mut warned = Vec::new();
        for tick in ticks {
            let actions: Vec<Action> = (0..2)
                .map(|i| Action {
                    meta: ChunkMeta { agent_id: i as u32, tick, sim_time_ns: tick * 100_000_000 },
                    velocity: Some(v[i]),
                    ..Default::default()
                })
                .collect();
            world.tick(&actions).unwrap();
            warned.extend(world.collisions.iter().map(|c| c.to_string()));
        }
        warned
    }

    #[test]
    fn drones_take_off_and_stop_before_a_building_and_each_other_with_one_warning_each() {
        let mut world = drone_world();
        let climb = VelocityCommand { up_mps: 2.0, ..Default::default() };
        assert!(fly(&mut world, 0..40, [climb; 2]).is_empty());
        let z = world.egos[0].world_from_base().w_axis.z;
        assert!(z > 5.0, "took off: {z}");
        let body = |w: &World| w.director.bodies().into_iter().filter(|b| b.class == SemanticClass::Drone).count();
        assert_eq!(body(&world), 2, "both drones are bodies of the world");
        let hover = VelocityCommand::default();
        fly(&mut world, 40..60, [hover; 2]);
        // d0 north (left of its heading +x) onto the hovering d1: stopped before it, one warning.
        let north = VelocityCommand { left_mps: 3.0, ..Default::default() };
        let warned = fly(&mut world, 60..90, [north, hover]);
        assert_eq!(warned.len(), 1, "one warning per contact: {warned:?}");
        assert!(warned[0].starts_with("agent0 (d0) collided with agent1 (a drone)"), "{warned:?}");
        let gap = (world.egos[1].world_from_base().w_axis - world.egos[0].world_from_base().w_axis).length();
        assert!(gap > 0.35 + 0.49, "stopped before d1's body, not in it: {gap} m");
        // East at full speed into the block beside the road (its buildings are at least 6 m high).
        let east = VelocityCommand { forward_mps: 8.0, ..Default::default() };
        let warned = fly(&mut world, 90..130, [east, hover]);
        let d0 = world.egos[0].world_from_base().w_axis.truncate();
        assert!(warned.len() == 1 && warned[0].starts_with("agent0 (d0) collided with a"), "{warned:?} at {d0}");
        // Never inside a building: the static cell under the drone's body is free.
        assert!(world.director.static_grid().class_at(d0 + glam::Vec3::Z * 0.1).is_empty(), "{d0}");
    }

    #[test]
    fn pedals_and_ackermann_do_not_fly_a_drone_and_keys_do() {
        let pedals =
            Action { control: Some(VehicleControl { throttle: 1.0, ..Default::default() }), ..Default::default() };
        assert!(drone_command(&pedals).unwrap_err().contains("vehicle controls"));
        let ack = Action { ackermann: Some(AckermannCommand::default()), ..Default::default() };
        assert!(drone_command(&ack).unwrap_err().contains("Ackermann"));
        let keys = Action { keys: Keys::W.union(Keys::UP).union(Keys::RIGHT), ..Default::default() };
        let v = drone_command(&keys).unwrap();
        assert!(v.forward_mps > 0.0 && v.up_mps > 0.0 && v.yaw_rate_rps < 0.0, "right turns right: {v:?}");
        let held = Action { velocity: Some(VelocityCommand { up_mps: 3.0, ..Default::default() }), held: true, ..keys };
        assert_eq!(drone_command(&held).unwrap(), VelocityCommand::default(), "a held command hovers");
    }

    #[test]
    fn free_camera_keys() {
        let d = keys_to_delta(Keys::W.union(Keys::LEFT), 0.5, 3.0);
        assert_eq!((d.forward_m, d.left_m, d.yaw_deg), (0.5, 0.0, 3.0));
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_every_declared_setting_is_read() {
        let env = Env::from_pairs(SETTINGS, &[("DT_SECS", " 0.05 "), ("STEP_M", ""), ("AGENT_TIMEOUT_SECS", "0.25")]);
        let s = Settings::from_settings(&env).unwrap();
        assert_eq!(
            (s.dt_secs, s.dt_ns, s.step_m, s.agent_timeout),
            (0.05, 50_000_000, None, Duration::from_millis(250))
        );
        let e = Settings::from_settings(&Env::from_pairs(SETTINGS, &[("AGENT_TIMEOUT_SECS", "0")])).unwrap_err();
        assert_eq!(e.to_string(), "setting AGENT_TIMEOUT_SECS=`0`: expected seconds in (0, 3600]");
        let e = Settings::from_settings(&Env::from_pairs(SETTINGS, &[("STEP_M", "far")])).unwrap_err();
        assert_eq!(e.to_string(), "setting STEP_M=`far`: expected metres");
        let e = Settings::from_settings(&Env::from_pairs(SETTINGS, &[("SCENARIO", "/nonexistent.yml")])).unwrap_err();
        assert!(e.to_string().contains("SCENARIO"), "{e}");
        // OUT_DIR is read by `run` (the barrier's report) and `main` (the span timings).
        assert_eq!(
            env.declared_not_read(&["OUT_DIR"]),
            Vec::<&str>::new(),
            "SETTINGS lists exactly what the node reads"
        );
    }
}
