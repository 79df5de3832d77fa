//! The Arrow messages worldflow nodes send each other, fuzzed on the wire they travel: dora 1.1 carries every
//! message between nodes as an Arrow IPC stream, decoded on arrival by dora's own zero-copy decoder
//! (`dora_node_api::arrow_utils::decode_arrow_ipc_zero_copy`, the shared-memory and Zenoh receive path). Each
//! target takes those bytes through dora's decoder, then worldflow's decoder of the message, then what the
//! receiving node does next with it:
//!
//! | target | message | then |
//! |---|---|---|
//! | `arrow-pose` | `pose` (`StampedPose`) | the renderer's pairing, and its cameras for the pose rendered |
//! | `arrow-action` | `action` | the Director's world ticked with it for a car, a drone and a free camera |
//! | `arrow-world` | `world` (`WorldDelta`) | the Actor's step (grid changes, bodies, Gaussians) |
//! | `arrow-context` | `context` (the memory set of a chunk) | its consistency check |
//!
//! The node state (a small town's Director and Actor, the renderer's pairing) lives for the whole run, as in a
//! node that receives many messages.
//!
//! **dora's decoder panics on malformed streams** (arrow-ipc 59.3.2: unknown type ids and integer widths are
//! `unimplemented!`, buffer offsets past the body panic in `Buffer::slice`), although its documentation says
//! it never does. That happens before worldflow sees a message, in the receiving node's event stream; a node that
//! dies of it ends the run with its name (`worldflow run`'s first-failure stop). These panics are caught here
//! and counted ([`dependency_panics`]), so that the targets test what worldflow does with every message dora
//! accepts.
//!
//! Not a target: dora's other decoder, `decode_arrow_ipc` (arrow-ipc's `StreamReader`, the daemon's path). In the
//! first 20,000 inputs it aborted the process allocating 7.3 PB: the reader allocates the body length a
//! message header claims before reading the body (arrow-ipc 59.3.2, `MessageReader::maybe_next`). That is a
//! dependency's bug outside worldflow's reach (docs/RELIABILITY.md).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dora_node_api::arrow_utils::{decode_arrow_ipc_zero_copy, encode_arrow_ipc, IpcPayload};
use dora_node_api::arrow_v59::array::{ArrayRef, StructArray};
use dora_node_api::DoraArray;
use worldflow_protocol::arrow_io::{action as action_io, context as context_io, pose as pose_io, world as world_io};
use worldflow_protocol::{mat4_from_rows, Action, ChunkMeta, Keys, StampedPose, VehicleControl};
use worldflow_splat::{Image, IndexedScene, RenderOptions, Renderer};
use worldflow_world::Scenario;

use super::{small_scene, Target};

/// A 2×2-block town with a car, a drone and a free camera, no traffic.
fn scenario() -> Scenario {
    Scenario::from_yaml_str(
        "vehicles: 0\npedestrians: 0\ntown: {blocks_x: 2, blocks_y: 2}\negos:\n  \
         - {name: car, x_m: 44.25, y_m: 20, yaw_deg: 90}\n  \
         - {name: drone, kind: drone, x_m: 44.25, y_m: 30, z_m: 5}\n  \
         - {name: cam, kind: free_camera, x_m: 44.25, y_m: 40, z_m: 3}\n",
        "fuzz-scenario.yaml",
    )
    .expect("the fuzz scenario")
}

/// The bytes dora sends for `array`.
fn wire(array: StructArray) -> Vec<u8> {
    encode_arrow_ipc(&DoraArray::from(Arc::new(array) as ArrayRef)).expect("dora encodes a worldflow message")
}

static DEPENDENCY_PANICS: AtomicU64 = AtomicU64::new(0);

/// Inputs on which dora's decoder panicked (caught; not worldflow's code).
pub fn dependency_panics() -> u64 {
    DEPENDENCY_PANICS.load(Ordering::Relaxed)
}

/// What dora hands a node for `bytes` (None: dora refuses them, or panics on them).
fn arrival(bytes: &[u8]) -> Option<ArrayRef> {
    let payload = IpcPayload::from_vec(bytes.to_vec());
    match std::panic::catch_unwind(|| decode_arrow_ipc_zero_copy(payload)) {
        Ok(decoded) => decoded.ok().map(|a| a.as_array().clone()),
        Err(_) => {
            DEPENDENCY_PANICS.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

fn meta(tick: u64, agent_id: u32) -> ChunkMeta {
    ChunkMeta { tick, agent_id, sim_time_ns: tick.saturating_mul(100_000_000) }
}

fn action(tick: u64) -> Action {
    Action { meta: meta(tick, 0), ..Action::default() }
}

thread_local! {
    static RENDERER: RefCell<(worldflow_splat_renderer::Settings, worldflow_splat_renderer::pairing::Pairing, IndexedScene)> = RefCell::new((
        worldflow_splat_renderer::Settings::from_settings(&worldflow_node_kit::Env::from_pairs(
            worldflow_splat_renderer::SETTINGS,
            &[("RIG", "ego4"), ("WIDTH", "32"), ("HEIGHT", "24")],
        ))
        .expect("renderer settings"),
        worldflow_splat_renderer::pairing::Pairing::default(),
        IndexedScene::new(small_scene(20)),
    ));
    static WORLD: RefCell<worldflow_director::World> =
        RefCell::new(worldflow_director::World::new(&scenario(), 0.1).expect("the fuzz world"));
    static ACTOR: RefCell<worldflow_actor::ActorState> = RefCell::new(
        worldflow_actor::ActorState::new(&scenario(), worldflow_world::ActorConfig::default()).expect("the fuzz actor"),
    );
}

/// The renderer: the pose is paired, then its agent's cameras render (what a tick with this pose draws).
fn receive_pose(pose: StampedPose) -> bool {
    RENDERER.with_borrow_mut(|(settings, pairing, scene)| {
        let world_from_base = mat4_from_rows(&pose.world_from_frame);
        let agent = pose.meta.agent_id;
        pairing.push_pose(pose);
        if pairing.waiting() > 64 {
            *pairing = Default::default();
        }
        let Ok(cameras) = settings.cameras(agent, &world_from_base) else { return false };
        let cameras: Vec<_> = cameras.into_iter().map(|(_, c)| c).collect();
        let mut images = vec![Image::default(); cameras.len()];
        Renderer::new(RenderOptions::default()).render_many(scene, &cameras, &mut images).is_ok()
    })
}

/// The Director: every ego of the small town takes the action for one tick.
fn receive_action(a: Action) -> bool {
    WORLD.with_borrow_mut(|world| {
        let actions = vec![a; world.egos.len()];
        world.tick(&actions).is_ok()
    })
}

/// The Actor steps with the delta.
fn receive_world(d: worldflow_protocol::WorldDelta) -> bool {
    ACTOR.with_borrow_mut(|actor| actor.step(&d).is_ok())
}

/// Seed deltas: the small town's first ticks as its Director sends them.
fn world_corpus() -> Vec<Vec<u8>> {
    let mut world = worldflow_director::World::new(&scenario(), 0.1).expect("the fuzz world");
    let mut out = Vec::new();
    for tick in 0..4u64 {
        let mut a = action(tick);
        a.control = Some(VehicleControl { throttle: 0.6, steer: 0.1, brake: 0.0 });
        let n = world.egos.len();
        let d = world.tick(&vec![a; n]).expect("a world tick");
        out.push(wire(world_io::encode(&worldflow_director::to_delta(&d, meta(tick, 0)))));
    }
    out
}

fn action_corpus() -> Vec<Vec<u8>> {
    let mut a = action(3);
    let mut out = vec![wire(action_io::encode(&a))];
    a.keys = Keys::from_name("w").expect("key w");
    a.label = Some(9);
    out.push(wire(action_io::encode(&a)));
    a.control = Some(VehicleControl { throttle: 0.5, steer: -0.2, brake: 0.0 });
    a.velocity =
        Some(worldflow_protocol::VelocityCommand { forward_mps: 2.0, left_mps: 0.5, up_mps: 1.0, yaw_rate_rps: 0.3 });
    a.ackermann = Some(worldflow_protocol::AckermannCommand { speed_mps: 3.0, steering_angle_rad: 0.1 });
    a.world_from_camera =
        Some([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 1.0, 3.0], [0.0, 0.0, 0.0, 1.0]]);
    a.held = true;
    out.push(wire(action_io::encode(&a)));
    out
}

fn pose_corpus() -> Vec<Vec<u8>> {
    let pose = |tick, agent_id, x: f32| StampedPose {
        meta: meta(tick, agent_id),
        frame_id: "base_link".into(),
        world_from_frame: [[1.0, 0.0, 0.0, x], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -2.0], [0.0, 0.0, 0.0, 1.0]],
    };
    vec![wire(pose_io::encode(&pose(1, 0, 0.0))), wire(pose_io::encode(&pose(2, 3, 0.5)))]
}

fn context_corpus() -> Vec<Vec<u8>> {
    let m = context_io::ContextMsg {
        agent_id: 0,
        chunk: 3,
        first_latent: 12,
        context: vec![0, 4, 5, 8],
        context_rope_time: vec![0, 1, 2, 3],
        query_rope_time: vec![4, 5, 6, 7],
        spatial_start: vec![4],
        spatial_distance: vec![0.5],
    };
    vec![wire(context_io::encode(&m))]
}

/// The Arrow message targets.
pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "arrow-pose",
            corpus: pose_corpus(),
            run: |b| arrival(b).and_then(|a| pose_io::decode(a.as_ref()).ok()).is_some_and(receive_pose),
        },
        Target {
            name: "arrow-action",
            corpus: action_corpus(),
            run: |b| arrival(b).and_then(|a| action_io::decode(a.as_ref()).ok()).is_some_and(receive_action),
        },
        Target {
            name: "arrow-world",
            corpus: world_corpus(),
            run: |b| arrival(b).and_then(|a| world_io::decode(a.as_ref()).ok()).is_some_and(receive_world),
        },
        Target {
            name: "arrow-context",
            corpus: context_corpus(),
            run: |b| arrival(b).and_then(|a| context_io::decode(a.as_ref()).ok()).is_some_and(|m| m.check().is_ok()),
        },
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_are_accepted() {
        for t in super::all() {
            for (i, seed) in t.corpus.iter().enumerate() {
                assert!((t.run)(seed), "{} seed {i} is refused", t.name);
            }
        }
    }

    #[test]
    fn dora_decodes_what_it_encodes() {
        let seed = &super::pose_corpus()[0];
        assert!(super::arrival(seed).is_some_and(|a| a.len() == 1));
    }
}
