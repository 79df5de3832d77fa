//! **actor** node: keeps the world's Gaussians. Builds the static Gaussians once from the scenario's static
//! town (the same seeded town the Director builds; the grid itself never crosses the wire), then per
//! `world` input (a [`WorldDelta`]) applies the grid changes and advances the Actor: moving Gaussians are
//! advected by the flow (computed here from the bodies of this delta and the one before, as the Director does),
//! appearing cells spawn, vanished ones are removed; identities stay stable.
//!
//! Outputs `gaussians`: the static part once at start (`part=static`), then the dynamic part every tick
//! (`part=dynamic`) — payloads written in place into shared memory.

use anyhow::Context;
use dora_node_api::{DoraNode, Event, EventStream};
use glam::Vec3;
use worldflow_node_kit::{Env, ErrorChain as _};
use worldflow_protocol::arrow_io::gaussians::{self as gaussians_io, encode_into, payload_len, Part};
use worldflow_protocol::arrow_io::world as world_io;
use worldflow_protocol::{mat4_from_rows, Gaussians, WorldDelta};
use worldflow_world::{
    flow_between, Actor, ActorConfig, CellChange, DirectorOutput, FlowField, ProceduralDirector, RigidBody, Scenario,
    SemanticClass, SemanticGrid,
};

/// Rebuilds the Director's output from its wire form, checking codes and ranges against `grid`; the flow is
/// computed from the bodies and `previous_bodies` (those of the tick before, `None` at the first delta).
pub fn from_delta(
    d: &WorldDelta,
    grid: &SemanticGrid,
    previous_bodies: Option<&[RigidBody]>,
) -> anyhow::Result<DirectorOutput> {
    let class = |code: u8, what: &str| {
        SemanticClass::from_u8(code).with_context(|| format!("{what}: unknown semantic class code {code}"))
    };
    let changes = d
        .changes
        .iter()
        .map(|(i, c)| Ok(CellChange { index: *i, class: class(*c, "changes")? }))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bodies = d
        .bodies
        .iter()
        .map(|b| {
            Ok(RigidBody {
                id: b.id,
                class: class(b.class, "bodies")?,
                world_from_body: mat4_from_rows(&b.world_from_body),
                half_extent_m: Vec3::from_array(b.half_extent_m),
                velocity_mps: Vec3::from_array(b.velocity_mps),
                angular_velocity_rps: Vec3::from_array(b.angular_velocity_rps),
                appearance_key: b.appearance_key,
            })
        })
        .collect::<anyhow::Result<Vec<RigidBody>>>()?;
    let flow = match previous_bodies {
        Some(previous) if d.dt_secs > 0.0 => {
            flow_between(grid.spec(), previous, &bodies, d.dt_secs).chain_context("flow from the bodies")?
        }
        _ => FlowField::empty(*grid.spec()),
    };
    Ok(DirectorOutput {
        tick: d.meta.tick,
        time_secs: d.meta.sim_time_secs(),
        dt_secs: d.dt_secs,
        changes,
        flow,
        bodies,
    })
}

/// The node's state without the runtime.
pub struct ActorState {
    pub actor: Actor,
    pub grid: SemanticGrid,
    /// The bodies of the last delta (the start of the next tick's motion).
    bodies: Option<Vec<RigidBody>>,
}

impl ActorState {
    pub fn new(scenario: &Scenario, config: ActorConfig) -> anyhow::Result<Self> {
        let director = ProceduralDirector::new(scenario).chain_context("scenario")?;
        let grid = director.static_grid().clone();
        let actor = Actor::new(config, &grid).chain_context("actor")?;
        Ok(Self { actor, grid, bodies: None })
    }

    pub fn step(&mut self, d: &WorldDelta) -> anyhow::Result<worldflow_world::ActorStats> {
        let out =
            from_delta(d, &self.grid, self.bodies.as_deref()).with_context(|| format!("world tick {}", d.meta.tick))?;
        self.grid.apply(&out.changes).map_err(|e| anyhow::anyhow!("world tick {}: changes: {e}", d.meta.tick))?;
        let stats =
            self.actor.step(&self.grid, &out).map_err(|e| anyhow::anyhow!("world tick {}: {e}", d.meta.tick))?;
        self.bodies = Some(out.bodies);
        Ok(stats)
    }
}

fn send(node: &mut DoraNode, g: &Gaussians, part: Part, tick: u64) -> anyhow::Result<()> {
    node.send_output_raw(
        "gaussians".to_owned().into(),
        gaussians_io::encode(g, part, tick, tick),
        payload_len(g),
        |out| encode_into(g, out),
    )
    .chain_context("sending gaussians")
}

/// The settings this node reads (the launcher's catalogue lists exactly these). `OUT_DIR` (the directory of
/// the span timings) is read by `main`.
pub const SETTINGS: &[&str] = &["SCENARIO", "SH_DEGREE", "FACE_SUBDIVISIONS", "OUT_DIR"];

/// The scenario and the actor's config from `env` (through `worldflow-node-kit`).
pub fn settings(env: &Env) -> anyhow::Result<(Scenario, ActorConfig)> {
    let scenario = Scenario::from_setting(env.get("SCENARIO")?.as_deref()).chain_context("setting SCENARIO")?;
    let default = ActorConfig::default();
    let config = ActorConfig {
        sh_degree: env.parse_or("SH_DEGREE", default.sh_degree, "0 or 1")?,
        face_subdivisions: env.parse_or("FACE_SUBDIVISIONS", default.face_subdivisions, "1..=8")?,
        ..default
    };
    Ok((scenario, config))
}

/// Builds the static Gaussians from the process settings. `main` calls it *before* joining the dataflow: dora
/// starts the graph's clocks once every node has joined, so no tick is drawn before the scene exists (joining
/// first let the first ticks reach the renderer before the static set, and the renderer then caught up on a
/// backlog with a cold cache: action-to-frame latencies of 120–170 ms for the first ticks).
pub fn prepare() -> anyhow::Result<ActorState> {
    let (scenario, config) = settings(&Env::from_process(SETTINGS))?;
    ActorState::new(&scenario, config)
}

pub fn run(mut node: DoraNode, mut events: EventStream, mut state: ActorState) -> anyhow::Result<()> {
    let static_count = state.actor.static_count();
    eprintln!("actor: {static_count} static Gaussians");
    send(&mut node, &state.actor.gaussians().slice(0..static_count), Part::Static, 0)?;
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, data, .. } if id.as_str() == "world" => {
                let d = world_io::decode(data.as_array().as_ref()).context("input `world`")?;
                let span = tracing::info_span!("actor_tick", tick = d.meta.tick).entered();
                state.step(&d)?;
                drop(span);
                let g = state.actor.gaussians();
                send(&mut node, &g.slice(static_count..g.len()), Part::Dynamic, d.meta.tick)?;
            }
            // Only a manual stop (Ctrl-C, --stop-after) ends early; when all inputs close, drain what is queued.
            Event::Stop(dora_node_api::StopCause::Manual) => break,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_every_declared_setting_is_read() {
        let env = Env::from_pairs(SETTINGS, &[("SH_DEGREE", " 0 ")]);
        let (_, config) = settings(&env).unwrap();
        assert_eq!(config.sh_degree, 0);
        let e = settings(&Env::from_pairs(SETTINGS, &[("FACE_SUBDIVISIONS", "many")])).unwrap_err();
        assert_eq!(e.to_string(), "setting FACE_SUBDIVISIONS=`many`: expected 1..=8");
        // OUT_DIR is read by `main` (the span timings' directory).
        assert_eq!(
            env.declared_not_read(&["OUT_DIR"]),
            Vec::<&str>::new(),
            "SETTINGS lists exactly what the node reads"
        );
    }
}
