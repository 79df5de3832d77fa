//! Message types that travel between nodes, as plain Rust values.
//!
//! Their Arrow form (what actually crosses dora) is in [`crate::arrow_io`] (feature `dora`); their JSON form
//! (what the recorder writes, one object per line) comes from serde. Poses are 4×4 row-major in both.

use serde::{Deserialize, Serialize};

use crate::commands::{AckermannCommand, VehicleControl, VelocityCommand};

/// Where and when a message belongs: the agent, the simulation tick and the simulated time.
/// Every message of one tick carries the same `ChunkMeta`, whatever node produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChunkMeta {
    pub agent_id: u32,
    pub tick: u64,
    pub sim_time_ns: u64,
}

impl ChunkMeta {
    pub fn sim_time_secs(&self) -> f64 {
        self.sim_time_ns as f64 * 1e-9
    }
}

/// Discrete action keys as a bit set (WorldPlay's keyboard: WASD translate, arrows rotate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Keys(pub u16);

impl Keys {
    /// Move forward (camera +z).
    pub const W: Keys = Keys(1);
    /// Move back (camera −z).
    pub const S: Keys = Keys(2);
    /// Move left (camera −x).
    pub const A: Keys = Keys(4);
    /// Move right (camera +x).
    pub const D: Keys = Keys(8);
    /// Pitch up (look towards image top).
    pub const UP: Keys = Keys(16);
    /// Pitch down.
    pub const DOWN: Keys = Keys(32);
    /// Yaw left.
    pub const LEFT: Keys = Keys(64);
    /// Yaw right.
    pub const RIGHT: Keys = Keys(128);
    pub const NONE: Keys = Keys(0);
    const ALL: u16 = 255;

    pub fn contains(self, other: Keys) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Keys) -> Keys {
        Keys(self.0 | other.0)
    }

    pub fn is_valid(self) -> bool {
        self.0 & !Self::ALL == 0
    }

    /// Parses one key name as written in pose strings (`w`, `s`, `a`, `d`, `up`, `down`, `left`, `right`).
    pub fn from_name(name: &str) -> Option<Keys> {
        Some(match name {
            "w" => Keys::W,
            "s" => Keys::S,
            "a" => Keys::A,
            "d" => Keys::D,
            "up" => Keys::UP,
            "down" => Keys::DOWN,
            "left" => Keys::LEFT,
            "right" => Keys::RIGHT,
            _ => return None,
        })
    }
}

/// One agent's action for one tick. Exactly one of the three action kinds is usually set; the action
/// encoder fills `label` and `world_from_camera` (the dual action representation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Action {
    pub meta: ChunkMeta,
    /// Discrete keys held during this tick.
    pub keys: Keys,
    /// WorldPlay's 81-way discrete label (9 · translation + rotation), when known.
    pub label: Option<u8>,
    /// Continuous camera pose (c2w, OpenCV axes, row-major), when known.
    pub world_from_camera: Option<[[f32; 4]; 4]>,
    /// Vehicle controls, for a car ego.
    pub control: Option<VehicleControl>,
    /// A body-frame velocity set-point (ROS 2 `cmd_vel`), for every ego kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<VelocityCommand>,
    /// A speed and wheel-angle set-point (ROS 2 `ackermann_cmd`), for a car ego.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ackermann: Option<AckermannCommand>,
    /// The controller did not answer this tick in time (lock-step timeout): the command is its last one,
    /// repeated. A car brakes to a stop on a held command; other egos keep it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

/// A pose with its time stamp and the name of the frame it places.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StampedPose {
    pub meta: ChunkMeta,
    /// Name of the posed frame, e.g. `base_link` or `camera_front_optical`.
    pub frame_id: String,
    /// `world_from_<frame_id>`, row-major.
    pub world_from_frame: [[f32; 4]; 4],
}

/// Pixel encoding of an image frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// 8-bit sRGB, H×W×3, row-major.
    Rgb8,
    /// Linear float32, H×W×3, row-major.
    Rgb32F,
}

impl Encoding {
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Encoding::Rgb8 => 3,
            Encoding::Rgb32F => 12,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Rgb8 => "rgb8",
            Encoding::Rgb32F => "rgb32f",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "rgb8" => Some(Encoding::Rgb8),
            "rgb32f" => Some(Encoding::Rgb32F),
            _ => None,
        }
    }
}

/// Everything about an image except its pixels (which travel as the raw payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameHeader {
    pub meta: ChunkMeta,
    /// Camera name within the agent's rig, e.g. `front`.
    pub camera: String,
    pub width: u32,
    pub height: u32,
    pub encoding: Encoding,
    /// fx, fy, cx, cy in pixels.
    pub intrinsics: [f32; 4],
    /// Row-major.
    pub camera_from_world: [[f32; 4]; 4],
}

impl FrameHeader {
    pub fn payload_len(&self) -> usize {
        self.width as usize * self.height as usize * self.encoding.bytes_per_pixel()
    }
}
