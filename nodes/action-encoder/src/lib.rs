//! **action-encoder** node: turns each tick's action into the dual action representation.
//!
//! Keys become poses (`dual::apply_keys`, `STEP_M` / `STEP_DEG` per tick), poses become the 81-way label
//! (`dual::pose_label`); a pose-driven action gets the keys its label stands for. Per tick it emits the dual
//! `action`, the camera `pose`, the PRoPE matrices (`prope`: P then P⁻¹, 32 floats row-major) and the ray map
//! (`raymap`: `[6, H/8, W/8]`, see `camera_enc`). Vehicle controls pass through unchanged in `action` (the
//! Director integrates the car's dynamics).

pub mod camera_enc;
pub mod dual;

use anyhow::Context;
use dora_node_api::arrow_v59::array::Float32Array;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters, Parameter};
use glam::{Mat4, Vec3};
use worldflow_node_kit::{BoxError, Env, ErrorChain as _};
use worldflow_protocol::arrow_io::{action as action_io, pose as pose_io};
use worldflow_protocol::{
    mat4_from_rows, mat4_to_rows, rigid_inverse, validate_rigid, Action, GeometryError, Intrinsics, StampedPose,
};

/// Settings from the node's `env:`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub step: dual::KeyStep,
    pub start: Mat4,
    pub raymap_size: (u32, u32),
    pub intrinsics: Intrinsics,
}

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] =
    &["STEP_M", "STEP_DEG", "START_POSE", "RAYMAP_WIDTH", "RAYMAP_HEIGHT", "FOV_X_DEG", "OUT_DIR"];

/// `START_POSE`: 16 numbers (commas or spaces), a row-major rigid camera-to-world 4×4.
fn parse_start_pose(v: &str) -> Result<Mat4, BoxError> {
    let nums = v
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::parse::<f32>)
        .collect::<Result<Vec<f32>, _>>()?;
    if nums.len() != 16 {
        return Err(format!("found {} numbers", nums.len()).into());
    }
    let mut rows = [[0.0; 4]; 4];
    for (i, x) in nums.iter().enumerate() {
        rows[i / 4][i % 4] = *x;
    }
    let m = mat4_from_rows(&rows);
    validate_rigid(&m, "START_POSE")?;
    Ok(m)
}

impl Settings {
    /// The settings of the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Env::from_process(SETTINGS))
    }

    /// The settings of `env`.
    pub fn from_settings(env: &Env) -> anyhow::Result<Self> {
        let finite = |name: &str, default: f32| env.parse_valid(name, default, "a finite number", |x| x.is_finite());
        let start = env
            .parse_with("START_POSE", "16 numbers (a rigid row-major camera-to-world 4×4)", parse_start_pose)?
            .unwrap_or(Mat4::IDENTITY);
        let w = finite("RAYMAP_WIDTH", 640.0)? as u32;
        let h = finite("RAYMAP_HEIGHT", 352.0)? as u32;
        if w < 8 || h < 8 || w > 8192 || h > 8192 {
            anyhow::bail!("settings RAYMAP_WIDTH/RAYMAP_HEIGHT: expected 8..=8192 pixels, found {w}×{h}");
        }
        let fov = env.fov_x_deg()?;
        // One key press moves at most 100 m or turns at most 180°: larger steps overflow poses into inf.
        let step_m = env
            .parse_valid("STEP_M", dual::DEFAULT_STEP_M, "metres per tick in (0, 100]", |x| *x > 0.0 && *x <= 100.0)?;
        let step_deg = env.parse_valid("STEP_DEG", dual::DEFAULT_STEP_DEG, "degrees per tick in (0, 180]", |x| {
            *x > 0.0 && *x <= 180.0
        })?;
        Ok(Self {
            step: dual::KeyStep { step_m, step_rad: step_deg.to_radians() },
            start,
            raymap_size: (w, h),
            intrinsics: Intrinsics::from_fov_x(w, h, fov.to_radians()),
        })
    }
}

/// An action the encoder refuses.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("tick {tick}: world_from_camera is not a rigid pose")]
    NotRigid {
        tick: u64,
        #[source]
        source: GeometryError,
    },
}

/// The encoder's state: the current camera pose of the agent.
pub struct Encoder {
    pub settings: Settings,
    world_from_camera: Mat4,
}

impl Encoder {
    pub fn new(settings: Settings) -> Self {
        let world_from_camera = settings.start;
        Self { settings, world_from_camera }
    }

    /// Completes an action into its dual form and advances the pose.
    pub fn encode(&mut self, action: &Action) -> Result<Action, EncodeError> {
        let prev = self.world_from_camera;
        let next = match action.world_from_camera {
            Some(rows) => {
                let m = mat4_from_rows(&rows);
                validate_rigid(&m, "world_from_camera")
                    .map_err(|source| EncodeError::NotRigid { tick: action.meta.tick, source })?;
                m
            }
            None => dual::apply_keys(prev, action.keys, self.settings.step),
        };
        // The first pose-driven tick has no predecessor: its label is "no motion".
        let label = if action.world_from_camera.is_some() && action.meta.tick == 0 {
            0
        } else {
            dual::pose_label(&prev, &next)
        };
        self.world_from_camera = next;
        let keys = if action.world_from_camera.is_some() { dual::label_keys(label) } else { action.keys };
        Ok(Action {
            meta: action.meta,
            keys,
            label: Some(label),
            world_from_camera: Some(mat4_to_rows(&next)),
            control: action.control,
            velocity: action.velocity,
            ackermann: action.ackermann,
            held: action.held,
        })
    }

    pub fn world_from_camera(&self) -> Mat4 {
        self.world_from_camera
    }
}

fn tick_params(action: &Action) -> MetadataParameters {
    let mut p = MetadataParameters::new();
    p.insert("agent_id".into(), Parameter::Integer(action.meta.agent_id as i64));
    p.insert("tick".into(), Parameter::Integer(action.meta.tick as i64));
    p.insert("sim_time_ns".into(), Parameter::Integer(action.meta.sim_time_ns as i64));
    p
}

pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let mut encoder = Encoder::new(Settings::from_env()?);
    let (w, h) = encoder.settings.raymap_size;
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, data, .. } if id.as_str() == "action" => {
                let _span = tracing::info_span!("encode_action").entered();
                let action = action_io::decode(data.as_array().as_ref()).context("input `action`")?;
                let dual = encoder.encode(&action).context("input `action`")?;
                let c2w = encoder.world_from_camera();
                let params = tick_params(&dual);
                node.send_output("action".to_owned().into(), params.clone(), action_io::encode(&dual))
                    .chain_context("sending output `action`")?;
                let pose =
                    StampedPose { meta: dual.meta, frame_id: "camera".into(), world_from_frame: mat4_to_rows(&c2w) };
                node.send_output("pose".to_owned().into(), params.clone(), pose_io::encode(&pose))
                    .chain_context("sending output `pose`")?;
                let (p, p_inv) = camera_enc::prope_matrices(&encoder.settings.intrinsics, &rigid_inverse(&c2w));
                let mut prope: Vec<f32> = p.transpose().to_cols_array().to_vec();
                prope.extend(p_inv.transpose().to_cols_array());
                node.send_output("prope".to_owned().into(), params.clone(), Float32Array::from(prope))
                    .chain_context("sending output `prope`")?;
                let map = camera_enc::ray_map(&encoder.settings.intrinsics, &c2w, w, h, 8, Vec3::ZERO);
                let mut rp = params;
                rp.insert("shape".into(), Parameter::ListInt(vec![6, (h / 8) as i64, (w / 8) as i64]));
                node.send_output("raymap".to_owned().into(), rp, Float32Array::from(map))
                    .chain_context("sending output `raymap`")?;
            }
            // Only a manual stop (Ctrl-C, --stop-after) ends early; when all inputs close, drain what is queued.
            Event::Stop(dora_node_api::StopCause::Manual) => break,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use worldflow_protocol::Keys;

    fn settings() -> Settings {
        Settings {
            step: dual::KeyStep::default(),
            start: Mat4::IDENTITY,
            raymap_size: (64, 32),
            intrinsics: Intrinsics::from_fov_x(64, 32, 1.5),
        }
    }

    #[test]
    fn keys_become_poses_and_labels() {
        let mut e = Encoder::new(settings());
        let mut a = Action { keys: Keys::W, ..Default::default() };
        let d = e.encode(&a).unwrap();
        assert_eq!(d.label, Some(9));
        assert_eq!(d.world_from_camera.unwrap()[2][3], 0.08);
        a.meta.tick = 1;
        a.keys = Keys::RIGHT;
        assert_eq!(e.encode(&a).unwrap().label, Some(1));
    }

    #[test]
    fn poses_become_labels_and_keys_and_bad_poses_are_rejected() {
        let mut e = Encoder::new(settings());
        let p0 = Action { world_from_camera: Some(mat4_to_rows(&Mat4::IDENTITY)), ..Default::default() };
        assert_eq!(e.encode(&p0).unwrap().label, Some(0));
        let mut p1 = p0.clone();
        p1.meta.tick = 1;
        p1.world_from_camera = Some(mat4_to_rows(&Mat4::from_translation(Vec3::new(0.0, 0.0, -0.5))));
        let d = e.encode(&p1).unwrap();
        assert_eq!((d.label, d.keys), (Some(18), Keys::S));
        let mut bad = p1.clone();
        bad.world_from_camera =
            Some([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]);
        assert!(e.encode(&bad).unwrap_err().to_string().contains("tick 1"));
    }

    #[test]
    fn settings_defaults_errors_and_every_declared_setting_is_read() {
        let env = Env::from_pairs(SETTINGS, &[("OUT_DIR", "/tmp/x")]);
        let s = Settings::from_settings(&env).unwrap();
        assert_eq!((s.start, s.raymap_size), (Mat4::IDENTITY, (640, 352)));
        assert_eq!(env.out_dir().unwrap(), std::path::PathBuf::from("/tmp/x"));
        assert_eq!(env.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
        let pose = "0 0 1 -6   -1 0 0 0   0 -1 0 1.6   0 0 0 1";
        let s = Settings::from_settings(&Env::from_pairs(SETTINGS, &[("START_POSE", pose)])).unwrap();
        assert_eq!(s.start.w_axis, glam::Vec4::new(-6.0, 0.0, 1.6, 1.0));
        for (name, value, expected) in [
            ("START_POSE", "1 0 0", "START_POSE=`1 0 0`: expected 16 numbers"),
            ("START_POSE", "2 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1", "expected 16 numbers (a rigid"),
            ("FOV_X_DEG", "180", "FOV_X_DEG=`180`: expected 1..179 degrees"),
            ("STEP_M", "inf", "STEP_M=`inf`: expected metres per tick in (0, 100]"),
            // 3e38 m per tick made the pose inf a few ticks in (and the recorder was blamed for it).
            ("STEP_M", "3e38", "STEP_M=`3e38`: expected metres per tick in (0, 100]"),
            ("STEP_DEG", "-5", "STEP_DEG=`-5`: expected degrees per tick in (0, 180]"),
            ("RAYMAP_WIDTH", "4", "RAYMAP_WIDTH/RAYMAP_HEIGHT: expected 8..=8192 pixels"),
        ] {
            let e = Settings::from_settings(&Env::from_pairs(SETTINGS, &[(name, value)])).err().unwrap();
            assert!(e.to_string().contains(expected), "{name}={value}: {e}");
        }
    }
}
