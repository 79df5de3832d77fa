//! Payload formats, readable without Rust (docs/ZENOH.md is the reference):
//!
//! * **frame**: the payload is the raw pixels (`rgb8`: height × width × 3 bytes, row-major, top row first, no
//!   padding); the attachment is a UTF-8 JSON [`FrameAttachment`] (tick, simulated time, agent, camera,
//!   size, encoding, intrinsics in pixels, `camera_from_world` 4×4 row-major, OpenCV camera axes).
//! * **pose**: JSON of the protocol's `StampedPose` (`meta`, `frame_id`, `world_from_frame` 4×4 row-major).
//! * **world**: JSON of the protocol's `WorldDelta` (`meta`, `dt_secs`, `changes`, `flow`, `bodies`).
//! * **action** (in): a JSON object with exactly one of `control` (the protocol's `VehicleControl`),
//!   `velocity` (`VelocityCommand`) or `ackermann` (`AckermannCommand`), every field of the kind given; the
//!   protocol's validation applies (finite, in range), its [`CommandError`] names the field.

use serde::{Deserialize, Serialize};
use worldflow_protocol::{
    AckermannCommand, CommandError, FrameHeader, StampedPose, VehicleControl, VelocityCommand, WorldDelta,
};

/// The frame attachment's format version (bumped with the key version).
pub const FRAME_HEADER_VERSION: u32 = 1;

/// The JSON header of a frame, carried as the sample's attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameAttachment {
    pub version: u32,
    pub agent: u32,
    pub camera: String,
    pub tick: u64,
    /// Simulated time of the tick, ns (`tick · DT_SECS` of the director).
    pub sim_time_ns: u64,
    pub width: u32,
    pub height: u32,
    /// `rgb8` (3 bytes per pixel) or `rgb32f` (3 little-endian f32 per pixel).
    pub encoding: String,
    /// Bytes per row.
    pub step: u32,
    /// `[fx, fy, cx, cy]`, pixels.
    pub intrinsics: [f32; 4],
    /// `camera_from_world`, 4×4 row-major; camera axes OpenCV (x right, y down, z forward), world z up, metres.
    pub camera_from_world: [[f32; 4]; 4],
}

impl FrameAttachment {
    pub fn of(h: &FrameHeader) -> Self {
        Self {
            version: FRAME_HEADER_VERSION,
            agent: h.meta.agent_id,
            camera: h.camera.clone(),
            tick: h.meta.tick,
            sim_time_ns: h.meta.sim_time_ns,
            width: h.width,
            height: h.height,
            encoding: h.encoding.name().to_owned(),
            step: h.width * h.encoding.bytes_per_pixel() as u32,
            intrinsics: h.intrinsics,
            camera_from_world: h.camera_from_world,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a frame attachment is plain data")
    }
}

/// A pose as its JSON payload.
pub fn pose_json(p: &StampedPose) -> String {
    serde_json::to_string(p).expect("a pose is plain data")
}

/// A world delta as its JSON payload.
pub fn world_json(w: &WorldDelta) -> String {
    serde_json::to_string(w).expect("a world delta is plain data")
}

/// One agent's command, any kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    Control(VehicleControl),
    Velocity(VelocityCommand),
    Ackermann(AckermannCommand),
}

/// The JSON of an action a peer sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionJson {
    control: Option<VehicleControl>,
    velocity: Option<VelocityCommand>,
    ackermann: Option<AckermannCommand>,
}

/// Why an action payload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActionError {
    #[error("not UTF-8 JSON of an action: {0}")]
    Json(String),
    #[error("expected exactly one of `control`, `velocity`, `ackermann`; found {0}")]
    Kinds(usize),
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// Parses and validates an action payload.
pub fn parse_action(bytes: &[u8]) -> Result<Command, ActionError> {
    let a: ActionJson = serde_json::from_slice(bytes).map_err(|e| ActionError::Json(with_field(bytes, &e)))?;
    let kinds: Vec<Command> =
        [a.control.map(Command::Control), a.velocity.map(Command::Velocity), a.ackermann.map(Command::Ackermann)]
            .into_iter()
            .flatten()
            .collect();
    let [cmd] = kinds[..] else { return Err(ActionError::Kinds(kinds.len())) };
    match &cmd {
        Command::Control(c) => c.validate()?,
        Command::Velocity(v) => v.validate()?,
        Command::Ackermann(k) => k.validate()?,
    }
    Ok(cmd)
}

/// serde's message, with the field whose value it failed on when it does not name one already (a `NaN`, a
/// string where a number belongs): the last `"key":` before the error's position.
fn with_field(bytes: &[u8], e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.contains("field `") || e.line() == 0 {
        return message;
    }
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().nth(e.line() - 1).unwrap_or("");
    let before = line.char_indices().nth(e.column().saturating_sub(1)).map_or(line, |(i, _)| &line[..i]);
    let field = before
        .rfind(':')
        .map(|colon| before[..colon].trim_end())
        .and_then(|k| k.strip_suffix('"'))
        .and_then(|k| k.rfind('"').map(|q| &k[q + 1..]));
    match field {
        Some(f) if !f.is_empty() => format!("field `{f}`: {message}"),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use worldflow_protocol::{ChunkMeta, Encoding};

    #[test]
    fn the_frame_attachment_carries_the_header_as_json() {
        let h = FrameHeader {
            meta: ChunkMeta { agent_id: 1, tick: 7, sim_time_ns: 700_000_000 },
            camera: "front".into(),
            width: 4,
            height: 2,
            encoding: Encoding::Rgb8,
            intrinsics: [2.0, 2.0, 2.0, 1.0],
            camera_from_world: [[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
        };
        let json = FrameAttachment::of(&h).to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(
            (v["agent"].as_u64(), v["tick"].as_u64(), v["sim_time_ns"].as_u64()),
            (Some(1), Some(7), Some(7e8 as u64))
        );
        assert_eq!((v["camera"].as_str(), v["encoding"].as_str()), (Some("front"), Some("rgb8")));
        assert_eq!((v["width"].as_u64(), v["height"].as_u64(), v["step"].as_u64()), (Some(4), Some(2), Some(12)));
        assert_eq!(v["intrinsics"], serde_json::json!([2.0, 2.0, 2.0, 1.0]));
        assert_eq!(v["camera_from_world"][0], serde_json::json!([1.0, 0.0, 0.0, 0.5]));
        let back: FrameAttachment = serde_json::from_str(&json).unwrap();
        assert_eq!(back, FrameAttachment::of(&h));
    }

    #[test]
    fn poses_are_the_protocol_json() {
        let p = StampedPose {
            meta: ChunkMeta { agent_id: 0, tick: 3, sim_time_ns: 300_000_000 },
            frame_id: "base_link".into(),
            world_from_frame: [
                [1.0, 0.0, 0.0, 5.25],
                [0.0, 1.0, 0.0, 20.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
        };
        let v: serde_json::Value = serde_json::from_str(&pose_json(&p)).unwrap();
        assert_eq!(v["meta"]["tick"], 3);
        assert_eq!(v["frame_id"], "base_link");
        assert_eq!(v["world_from_frame"][1][3], 20.0);
        let w = WorldDelta { meta: p.meta, dt_secs: 0.1, ..Default::default() };
        let v: serde_json::Value = serde_json::from_str(&world_json(&w)).unwrap();
        assert_eq!((v["meta"]["tick"].as_u64(), v["bodies"].as_array().map(Vec::len)), (Some(3), Some(0)));
    }

    #[test]
    fn actions_of_each_kind_parse_and_are_validated() {
        let v = parse_action(br#"{"velocity":{"forward_mps":3,"left_mps":0,"up_mps":0,"yaw_rate_rps":-0.5}}"#);
        assert_eq!(
            v,
            Ok(Command::Velocity(VelocityCommand { forward_mps: 3.0, yaw_rate_rps: -0.5, ..Default::default() }))
        );
        let k = parse_action(br#"{"ackermann":{"speed_mps":2.0,"steering_angle_rad":0.1}}"#).unwrap();
        assert_eq!(k, Command::Ackermann(AckermannCommand { speed_mps: 2.0, steering_angle_rad: 0.1 }));
        let c = parse_action(br#"{"control":{"throttle":0.5,"steer":0,"brake":0}}"#).unwrap();
        assert_eq!(c, Command::Control(VehicleControl { throttle: 0.5, steer: 0.0, brake: 0.0 }));
    }

    #[test]
    fn bad_actions_are_refused_naming_the_field() {
        let e = |json: &str| parse_action(json.as_bytes()).unwrap_err().to_string();
        assert!(e("{oops").starts_with("not UTF-8 JSON of an action"), "{}", e("{oops"));
        let nan = e(r#"{"control": {"throttle": NaN, "steer": 0, "brake": 0}}"#);
        assert_eq!(nan, "not UTF-8 JSON of an action: field `throttle`: expected value at line 1 column 26");
        let text = e(r#"{"velocity":{"forward_mps":"fast","left_mps":0,"up_mps":0,"yaw_rate_rps":0}}"#);
        assert!(text.contains("field `forward_mps`: invalid type: string \"fast\", expected f32"), "{text}");
        assert!(e(r#"{"control":{"throttle":0.5,"steer":0}}"#).contains("missing field `brake`"));
        assert!(e(r#"{"throttle":0.5}"#).contains("unknown field `throttle`"));
        assert_eq!(e("{}"), "expected exactly one of `control`, `velocity`, `ackermann`; found 0");
        let two =
            r#"{"control":{"throttle":1,"steer":0,"brake":0},"ackermann":{"speed_mps":1,"steering_angle_rad":0}}"#;
        assert!(e(two).ends_with("found 2"));
        assert_eq!(e(r#"{"control":{"throttle":2,"steer":0,"brake":0}}"#), "throttle: expected 0..=1, found 2");
        // 1e39 overflows f32: infinite, refused by the protocol's validation.
        let inf = e(r#"{"velocity":{"forward_mps":1e39,"left_mps":0,"up_mps":0,"yaw_rate_rps":0}}"#);
        assert_eq!(inf, "forward_mps: expected -100..=100 m/s, found inf");
        assert!(e("\u{fffd}").starts_with("not UTF-8 JSON"));
        assert!(parse_action(&[0xff, 0xfe]).is_err());
    }
}
