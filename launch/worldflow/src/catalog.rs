//! The catalogue of worldflow's node kinds: their binary, their typed ports and their settings.
//!
//! A graph names a node kind by its `path` (the binary name, e.g. `worldflow-sensors`). The validator uses the
//! port types to reject an output feeding an input of another message type, and the settings list to reject
//! unknown `env:` keys. Nodes that are not in the catalogue (user binaries) are checked for wiring only.
//!
//! One list for every node kind, the simulation path's and the neural path's. Each entry's `settings` are
//! exactly the node crate's `SETTINGS` (the names its code reads through `worldflow-node-kit`, `OUT_DIR`
//! included: every node writes its span timings there); `worldflow-tests` checks the two agree.

/// The message type carried by a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    /// A `dora/timer/...` tick (no payload of interest).
    Tick,
    /// `Action` (keys / label / pose / vehicle control).
    Action,
    /// `StampedPose`.
    Pose,
    /// Image frame (RGB8 or RGB f32) with a `FrameHeader`.
    Frame,
    /// Camera-attention PRoPE matrices (P and P⁻¹ per frame).
    Prope,
    /// 6-channel ray map packed on the latent grid.
    RayMap,
    /// Semantic voxel grid + flow field from the Director.
    WorldState,
    /// A Gaussian set (full or dynamic part).
    Gaussians,
    /// Per-node timing records.
    Timing,
    /// Latent chunk (DiT output / VAE input).
    Latent,
    /// Memory context set (chunk indices with reframed positions).
    Context,
}

impl MsgType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Tick => "tick",
            Self::Action => "action",
            Self::Pose => "pose",
            Self::Frame => "frame",
            Self::Prope => "prope",
            Self::RayMap => "raymap",
            Self::WorldState => "world-state",
            Self::Gaussians => "gaussians",
            Self::Timing => "timing",
            Self::Latent => "latent",
            Self::Context => "context",
        }
    }
}

/// Inputs a node kind accepts.
pub enum Inputs {
    /// Exactly these names with these types; each may be left unconnected unless `required`.
    Fixed(&'static [(&'static str, MsgType, bool)]),
    /// Any input name, as long as the type is one of these (e.g. the recorder).
    AnyOf(&'static [MsgType]),
}

pub struct NodeKind {
    /// Binary name, used as `path:` in graphs.
    pub binary: &'static str,
    /// Cargo package that builds it.
    pub package: &'static str,
    pub inputs: Inputs,
    /// Output names and types; a name ending in `N` (`agentN`) stands for that prefix and a number (`agent0`,
    /// `agent1`, …).
    pub outputs: &'static [(&'static str, MsgType)],
    /// `env:` keys it understands.
    pub settings: &'static [&'static str],
}

use MsgType::*;

pub const NODE_KINDS: &[NodeKind] = &[
    NodeKind {
        binary: "worldflow-sensors",
        package: "worldflow-sensors",
        // `ego_pose` (the director's) closes the loop of SOURCE=formation; `agentN`: one output per drone.
        inputs: Inputs::Fixed(&[("tick", Tick, true), ("ego_pose", Pose, false)]),
        outputs: &[("action", Action), ("agentN", Action)],
        settings: &[
            "SOURCE",
            "SCRIPT",
            "TRAJECTORY",
            "RECORDING",
            "FORMATION",
            "SCENARIO",
            "DT_SECS",
            "AGENT_ID",
            "MAX_TICKS",
            "LOOP",
            "OUT_DIR",
        ],
    },
    NodeKind {
        binary: "worldflow-action-encoder",
        package: "worldflow-action-encoder",
        inputs: Inputs::Fixed(&[("action", Action, true)]),
        outputs: &[("pose", Pose), ("action", Action), ("prope", Prope), ("raymap", RayMap)],
        settings: &["STEP_M", "STEP_DEG", "START_POSE", "RAYMAP_WIDTH", "RAYMAP_HEIGHT", "FOV_X_DEG", "OUT_DIR"],
    },
    NodeKind {
        binary: "worldflow-recorder",
        package: "worldflow-recorder",
        inputs: Inputs::AnyOf(&[Frame, Pose, Action, Timing]),
        outputs: &[],
        settings: &["OUT_DIR", "SUBDIR", "VIDEO", "VIDEO_FPS"],
    },
    NodeKind {
        binary: "worldflow-ros2-bridge",
        package: "worldflow-ros2-bridge",
        inputs: Inputs::Fixed(&[("frame", Frame, false), ("ego_pose", Pose, false), ("tick", Tick, false)]),
        outputs: &[("agentN", Action)],
        settings: &[
            "RELIABILITY",
            "ROS_DOMAIN_ID",
            "ROS_AUTOMATIC_DISCOVERY_RANGE",
            "WAIT_FOR_SUBSCRIBERS",
            "CONTROL",
            "AGENTS",
            "CAMERAS",
            "DT_SECS",
            "TIMEOUT_SECS",
            "MAX_TICKS",
            "RECORD",
            "OUT_DIR",
        ],
    },
    NodeKind {
        binary: "worldflow-zenoh-bridge",
        package: "worldflow-zenoh-bridge",
        inputs: Inputs::Fixed(&[
            ("frame", Frame, false),
            ("pose", Pose, false),
            ("world", WorldState, false),
            ("tick", Tick, false),
        ]),
        outputs: &[("agentN", Action)],
        settings: &[
            "WORLD",
            "LISTEN",
            "CONNECT",
            "MULTICAST_SCOUTING",
            "AGENTS",
            "AGENT_TIMEOUT_SECS",
            "COMMAND_TIMEOUT_SECS",
            "DT_SECS",
            "SHM",
            "OUT_DIR",
        ],
    },
    NodeKind {
        binary: "worldflow-splat-renderer",
        package: "worldflow-splat-renderer",
        inputs: Inputs::Fixed(&[("pose", Pose, true), ("gaussians", Gaussians, false)]),
        outputs: &[("frame", Frame)],
        settings: &[
            "SCENE",
            "WIDTH",
            "HEIGHT",
            "FOV_X_DEG",
            "RIG",
            "SCENARIO",
            "COMPAT",
            "BACKGROUND",
            "GROUND",
            "VIEW_DISTANCE_M",
            "CATCHUP",
            "AGENTS",
            "THREADS",
            "OUT_DIR",
        ],
    },
    NodeKind {
        binary: "worldflow-director",
        package: "worldflow-director",
        inputs: Inputs::AnyOf(&[Action]),
        outputs: &[("world", WorldState), ("ego_pose", Pose)],
        settings: &["SCENARIO", "DT_SECS", "STEP_M", "AGENT_TIMEOUT_SECS", "OUT_DIR"],
    },
    NodeKind {
        binary: "worldflow-actor",
        package: "worldflow-actor",
        inputs: Inputs::Fixed(&[("world", WorldState, true)]),
        outputs: &[("gaussians", Gaussians)],
        settings: &["SCENARIO", "SH_DEGREE", "FACE_SUBDIVISIONS", "OUT_DIR"],
    },
    NodeKind {
        binary: "worldflow-memory-retriever",
        package: "worldflow-memory-retriever",
        inputs: Inputs::Fixed(&[("action", Action, true)]),
        outputs: &[("context", Context), ("context_hint", Context)],
        settings: &["POLICY", "TEMPORAL_LATENTS", "MEMORY_LATENTS", "OUT_DIR"],
    },
    NodeKind {
        binary: "worldflow-dit-engine",
        package: "worldflow-dit-engine",
        inputs: Inputs::Fixed(&[
            ("action", Action, true),
            ("context", Context, false),
            ("context_hint", Context, false),
        ]),
        outputs: &[("latent", Latent)],
        settings: &[
            "MODEL",
            "WEIGHTS",
            "QUANTIZE",
            "DEVICE",
            "CONFIG",
            "CONTROLS",
            "SEED",
            "LATENT_HEIGHT",
            "LATENT_WIDTH",
            "STEPS",
            "SHIFT",
            "FOV_X_DEG",
            "HISTORY_RAM_LATENTS",
            "OUT_DIR",
        ],
    },
    NodeKind {
        binary: "worldflow-vae-decoder",
        package: "worldflow-vae-decoder",
        inputs: Inputs::Fixed(&[("latent", Latent, true)]),
        outputs: &[("frame", Frame)],
        settings: &["WEIGHTS", "CONFIG", "SEED", "FOV_X_DEG", "CAMERA", "OUT_DIR"],
    },
];

/// Worldflow nodes that send outputs without any input arriving (messages from outside the graph): a graph
/// holding one can start without a timer.
pub const EMITS_WITHOUT_INPUTS: &[&str] = &["worldflow-ros2-bridge", "worldflow-zenoh-bridge"];

pub fn find(binary: &str) -> Option<&'static NodeKind> {
    all().find(|k| k.binary == binary)
}

/// Every node kind worldflow ships.
pub fn all() -> impl Iterator<Item = &'static NodeKind> {
    NODE_KINDS.iter()
}

impl NodeKind {
    pub fn output_type(&self, name: &str) -> Option<MsgType> {
        let numbered = |pattern: &str| {
            pattern
                .strip_suffix('N')
                .and_then(|prefix| name.strip_prefix(prefix))
                .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        };
        self.outputs.iter().find(|(n, _)| if n.ends_with('N') { numbered(n) } else { *n == name }).map(|(_, t)| *t)
    }

    /// The accepted types of input `name`, or `None` if the kind has no such input.
    pub fn input_types(&self, name: &str) -> Option<Vec<MsgType>> {
        match &self.inputs {
            Inputs::Fixed(list) => list.iter().find(|(n, _, _)| *n == name).map(|(_, t, _)| vec![*t]),
            Inputs::AnyOf(types) => Some(types.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_outputs_match_the_prefix_and_a_number_only() {
        let bridge = find("worldflow-ros2-bridge").unwrap();
        for name in ["agent0", "agent12"] {
            assert_eq!(bridge.output_type(name), Some(Action), "{name}");
        }
        for name in ["agent", "agentN", "agent1x", "agent-1", "frame"] {
            assert_eq!(bridge.output_type(name), None, "{name}");
        }
        assert_eq!(find("worldflow-director").unwrap().output_type("world"), Some(WorldState));
    }
}
