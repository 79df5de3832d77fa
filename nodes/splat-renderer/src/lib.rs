//! **splat-renderer** node: renders one or several cameras per agent per tick from a Gaussian set.
//!
//! The set is a scene file (`SCENE`: `.ply`, `.splat`, `.npz` point cloud) or a built-in scene
//! (`builtin:plaza`). Each `pose` input (a `StampedPose`) renders the rig: `RIG=single` puts one camera at the
//! pose (the pose is `world_from_camera`); `RIG=ego4` treats it as `world_from_base` (x forward, y left, z up)
//! and renders the standard front/left/rear/right rig (`RIG=front`: its front camera only); `RIG=<file>` reads a
//! rig file. `CATCHUP=every` (default) renders every complete tick in order; `CATCHUP=newest` only the newest
//! when rendering fell behind (see `pairing`). `AGENTS` (`all`, default, or ids like `0,2`, `1-3`) draws only
//! those agents' poses: one renderer per agent, each on its agent's machine, can share one pose stream; frames
//! keep their agent id. `BACKGROUND` is the sky colour; `GROUND` (`town`, the default for the streamed town;
//! `none`, the default for scene files; or a ground colour `r,g,b`) adds a ground plane to the horizon under
//! it, so a camera looking past the town's edge sees ground, not a void. `VIEW_DISTANCE_M` (unset: no limit)
//! stops drawing Gaussians farther than that along the view axis, so a camera's cost stops growing with the
//! world beyond it (an approximation: ground and sky show there). `THREADS` (unset: one per core) caps the
//! render threads, for a small board that must keep cores for its other nodes (docs/DEPLOY.md). Frames leave as RGB8 written straight
//! into dora's shared-memory sample (the float image is quantised in place there; no further copy).
//!
//! The scene is an [`IndexedScene`]: a fixed scene, or a streamed one's static part, is indexed once when it
//! arrives and each tick's dynamic part per tick, so a camera projects only the Gaussians that can reach its
//! view. All cameras of a tick (every drawn pose × the rig) render together through
//! [`Renderer::render_many`] (in parallel over cameras), then their frames leave in pose order, camera by
//! camera, as before; the images are those of rendering each camera alone without the index.

pub mod agents;
pub mod builtin;
pub mod pairing;

use anyhow::Context;
use dora_node_api::{DoraNode, Event, EventStream};
use glam::Mat4;
use rayon::prelude::*;
use worldflow_node_kit::{Env, ErrorChain as _};
use worldflow_protocol::arrow_io::gaussians::{self as gaussians_io, Part};
use worldflow_protocol::arrow_io::{frame as frame_io, pose as pose_io};
use worldflow_protocol::{
    mat4_from_rows, mat4_to_rows, rigid_inverse, Camera, Encoding, FrameHeader, Gaussians, Intrinsics,
};
use worldflow_splat::{Compat, Ground, Image, IndexedScene, RenderOptions, Renderer};

use agents::AgentFilter;
use pairing::{Catchup, Pairing};

/// More entries than this waiting for a partner means the inputs are mis-wired, not late.
const MAX_WAITING: usize = 256;

/// A camera of a rig: its name, `base_from_camera` and image size.
#[derive(Debug, Clone)]
pub struct RigCamera {
    pub name: String,
    pub base_from_camera: Mat4,
    pub width: u32,
    pub height: u32,
    pub fov_x_deg: f32,
}

/// The renderer's cameras of a world rig (sizes and FOV as the rig gives them).
fn cameras_of(rig: &worldflow_world::Rig) -> Vec<RigCamera> {
    (0..rig.cameras.len())
        .map(|i| {
            let c = &rig.cameras[i];
            RigCamera {
                name: c.name.clone(),
                base_from_camera: rig.base_from_camera(i).expect("index in range"),
                width: c.width,
                height: c.height,
                fov_x_deg: c.fov_x_deg,
            }
        })
        .collect()
}

/// The standard 4-camera ego rig (front/left/rear/right, `worldflow_world::Rig::standard`) at `width × height`
/// and `fov_x_deg`.
pub fn ego4(width: u32, height: u32, fov_x_deg: f32) -> Vec<RigCamera> {
    let preset = worldflow_world::RigPreset::Ego4;
    cameras_of(&worldflow_world::Rig::preset(preset, width, height, fov_x_deg, glam::Vec3::ZERO))
}

/// Reads a rig file (see `worldflow_world::Rig`): each camera with its own size and FOV.
fn rig_from_file(path: &str) -> anyhow::Result<Vec<RigCamera>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("setting RIG=`{path}`: expected single, ego4, front, scenario or a rig file"))?;
    let rig = worldflow_world::Rig::from_yaml_str(&text, path).chain_context("setting RIG")?;
    Ok(cameras_of(&rig))
}

/// Whose cameras render a pose.
#[derive(Debug, Clone)]
pub enum Rigs {
    /// One rig for every agent.
    Shared(Vec<RigCamera>),
    /// `RIG=scenario`: agent k carries the rig of the scenario's `egos[k]`.
    PerAgent(Vec<Vec<RigCamera>>),
}

impl Rigs {
    /// The cameras agent `agent_id` carries.
    pub fn of(&self, agent_id: u32) -> anyhow::Result<&[RigCamera]> {
        match self {
            Rigs::Shared(rig) => Ok(rig),
            Rigs::PerAgent(rigs) => rigs.get(agent_id as usize).map(Vec::as_slice).with_context(|| {
                format!(
                    "setting RIG=scenario: a pose of agent {agent_id} arrived, the scenario has {} egos (is SCENARIO the director's?)",
                    rigs.len()
                )
            }),
        }
    }

    /// Cameras per agent, for the start-up line.
    fn describe(&self) -> String {
        match self {
            Rigs::Shared(rig) => format!("{} camera(s) per agent", rig.len()),
            Rigs::PerAgent(rigs) => {
                let total: usize = rigs.iter().map(Vec::len).sum();
                format!("{total} camera(s) over {} agents' own rigs", rigs.len())
            }
        }
    }
}

pub struct Settings {
    pub scene: String,
    pub width: u32,
    pub height: u32,
    pub fov_x_deg: f32,
    pub rigs: Rigs,
    /// `CATCHUP`: `every` complete tick in order (default), or only the `newest`.
    pub catchup: Catchup,
    /// `AGENTS`: whose poses are drawn.
    pub agents: AgentFilter,
    pub options: RenderOptions,
    /// `THREADS`: render threads (rayon's pool); `None`: one per core.
    pub threads: Option<usize>,
}

/// The settings this node reads (the launcher's catalogue lists exactly these). `OUT_DIR` (the directory of
/// the span timings) is read by `main`.
pub const SETTINGS: &[&str] = &[
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
];

impl Settings {
    /// The settings of the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Env::from_process(SETTINGS))
    }

    /// The settings of `env` (through `worldflow-node-kit`).
    pub fn from_settings(env: &Env) -> anyhow::Result<Self> {
        let width: u32 = env.parse_or("WIDTH", 640, "a width in pixels")?;
        let height: u32 = env.parse_or("HEIGHT", 360, "a height in pixels")?;
        if !(16..=8192).contains(&width) || !(16..=8192).contains(&height) {
            anyhow::bail!("settings WIDTH/HEIGHT: expected 16..=8192 pixels, found {width}×{height}");
        }
        let fov_x_deg = env.fov_x_deg()?;
        let single = RigCamera { name: "camera".into(), base_from_camera: Mat4::IDENTITY, width, height, fov_x_deg };
        let rigs = match env.get_or("RIG", "single")?.as_str() {
            "single" => Rigs::Shared(vec![single]),
            "ego4" => Rigs::Shared(ego4(width, height, fov_x_deg)),
            "front" => Rigs::Shared(ego4(width, height, fov_x_deg).into_iter().take(1).collect()),
            "scenario" => {
                let scenario = worldflow_world::Scenario::from_setting(env.get("SCENARIO")?.as_deref())
                    .chain_context("setting SCENARIO (RIG=scenario)")?;
                let rigs = scenario.egos.iter().map(|e| cameras_of(&e.rig(width, height, fov_x_deg))).collect();
                Rigs::PerAgent(rigs)
            }
            path => Rigs::Shared(rig_from_file(path)?),
        };
        let compat = env.choice("COMPAT", Compat::Inria, &[("inria", Compat::Inria), ("gsplat", Compat::Gsplat)])?;
        let bg = env.get_or("BACKGROUND", "0.55,0.7,0.9")?;
        let bgv = parse_rgb(&bg).with_context(|| format!("setting BACKGROUND=`{bg}`: expected r,g,b"))?;
        let scene = env.get_or("SCENE", "builtin:plaza")?;
        // The streamed Director–Actor town is z-up and ends at its outer road: a ground plane to the horizon by
        // default. Scene files have their own up axis: no ground unless asked for.
        let ground = match env.get_or("GROUND", if scene == "stream" { "town" } else { "none" })?.as_str() {
            "none" => None,
            "town" => Some(Ground::town()),
            rgb => Some(Ground {
                rgb: parse_rgb(rgb).with_context(|| format!("setting GROUND=`{rgb}`: expected none, town or r,g,b"))?,
                ..Ground::town()
            }),
        };
        let max_depth_m: Option<f32> = env.parse("VIEW_DISTANCE_M", "a view distance in metres")?;
        if let Some(d) = max_depth_m.filter(|d| !(d.is_finite() && *d > 0.0)) {
            anyhow::bail!("setting VIEW_DISTANCE_M={d}: expected a positive number of metres (unset: no limit)");
        }
        let threads: Option<usize> = env.parse("THREADS", "a number of render threads, 1 to 256")?;
        if let Some(n) = threads.filter(|n| !(1..=256).contains(n)) {
            anyhow::bail!("setting THREADS={n}: expected a number of render threads, 1 to 256 (unset: one per core)");
        }
        Ok(Self {
            scene,
            width,
            height,
            fov_x_deg,
            rigs,
            catchup: env.choice(
                "CATCHUP",
                Catchup::Every,
                &[("every", Catchup::Every), ("newest", Catchup::Newest)],
            )?,
            agents: env.parse("AGENTS", agents::EXPECTED)?.unwrap_or_default(),
            options: RenderOptions { compat, background: bgv, ground, max_depth_m, ..Default::default() },
            threads,
        })
    }

    pub fn load_scene(&self) -> anyhow::Result<Gaussians> {
        match self.scene.strip_prefix("builtin:") {
            Some("plaza") => Ok(builtin::plaza()),
            Some(other) => {
                anyhow::bail!("setting SCENE=`builtin:{other}`: unknown built-in scene (expected builtin:plaza)")
            }
            None => worldflow_splat::load_scene(std::path::Path::new(&self.scene), &Default::default())
                .chain_context("setting SCENE"),
        }
    }

    /// The cameras agent `agent_id` carries, for its base pose.
    pub fn cameras(&self, agent_id: u32, world_from_base: &Mat4) -> anyhow::Result<Vec<(String, Camera)>> {
        Ok(self
            .rigs
            .of(agent_id)?
            .iter()
            .map(|c| {
                let intrinsics = Intrinsics::from_fov_x(c.width, c.height, c.fov_x_deg.to_radians());
                let camera_from_world = rigid_inverse(&(*world_from_base * c.base_from_camera));
                (c.name.clone(), Camera { width: c.width, height: c.height, intrinsics, camera_from_world })
            })
            .collect())
    }
}

/// `r,g,b` with three finite numbers.
fn parse_rgb(text: &str) -> Option<[f32; 3]> {
    let v: Vec<f32> = text.split(',').map(|s| s.trim().parse().ok()).collect::<Option<_>>()?;
    let rgb: [f32; 3] = v.try_into().ok()?;
    rgb.iter().all(|c| c.is_finite()).then_some(rgb)
}

/// The scene: a fixed one, or a streamed one (the static part once, then each tick's dynamic part), indexed.
struct SceneState {
    streamed: bool,
    scene: IndexedScene,
    /// A streamed scene's static part has arrived.
    static_arrived: bool,
}

impl SceneState {
    /// The scene with `dynamic` (a streamed tick's moving Gaussians, indexed here) in place of the previous
    /// tick's.
    fn with_dynamic(&mut self, dynamic: Option<&Gaussians>) -> anyhow::Result<&IndexedScene> {
        if let (true, Some(dynamic)) = (self.static_arrived, dynamic) {
            self.scene.set_dynamic(dynamic).chain_context("input `gaussians`: dynamic part")?;
        }
        Ok(&self.scene)
    }

    /// Whether ticks can render: a streamed scene needs its static part first.
    fn has_static(&self) -> bool {
        !self.streamed || self.static_arrived
    }
}

/// What the renderer sets up before it joins the dataflow: settings, render threads and a loaded, indexed
/// scene file. `main` calls [`prepare`] *before* joining: dora starts the graph's clocks once every node has
/// joined, so a scene that takes seconds to load never makes the first ticks queue up.
pub struct Prepared {
    settings: Settings,
    state: SceneState,
}

pub fn prepare() -> anyhow::Result<Prepared> {
    let settings = Settings::from_env()?;
    if let Some(threads) = settings.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("render-{i}"))
            .build_global()
            .with_context(|| format!("setting THREADS={threads}: starting the render threads"))?;
    }
    let streamed = settings.scene == "stream";
    let scene = if streamed { Gaussians::new(0) } else { settings.load_scene()? };
    eprintln!(
        "splat-renderer: {}, scene {}, agents {}",
        settings.rigs.describe(),
        if streamed { "streamed".to_owned() } else { format!("{} Gaussians", scene.len()) },
        settings.agents
    );
    let state = SceneState { streamed, scene: IndexedScene::new(scene), static_arrived: false };
    Ok(Prepared { settings, state })
}

pub fn run(mut node: DoraNode, mut events: EventStream, prepared: Prepared) -> anyhow::Result<()> {
    let Prepared { settings, mut state } = prepared;
    let streamed = state.streamed;
    let mut pairing = Pairing::new(settings.agents.clone());
    let mut rendered_ticks = 0u64;
    let mut renderer = Renderer::new(settings.options);
    // A tick's cameras (every drawn pose × the rig), the (name, meta) of each, and their images.
    let (mut cameras, mut labels, mut images) = (Vec::<Camera>::new(), Vec::new(), Vec::<Image>::new());
    'events: while let Some(event) = events.recv() {
        // Take this event and every one already queued, then render: when rendering fell behind, the
        // newest complete tick is drawn and the older ones are skipped (see `pairing`).
        let mut next = Some(event);
        while let Some(event) = next.take() {
            if on_event(event, &mut state, &mut pairing)? == Flow::Stop {
                break 'events;
            }
            next = events.try_recv().ok();
        }
        // Render the newest tick whose poses and scene are complete.
        while state.has_static() {
            let Some(ready) = pairing.pop_ready(streamed, settings.catchup) else { break };
            let tick = ready.tick;
            let scene = state.with_dynamic(ready.dynamic.as_ref())?;
            let _span = tracing::info_span!("render_tick", tick).entered();
            cameras.clear();
            labels.clear();
            for pose in &ready.poses {
                let world_from_base = mat4_from_rows(&pose.world_from_frame);
                for (name, camera) in settings.cameras(pose.meta.agent_id, &world_from_base)? {
                    cameras.push(camera);
                    labels.push((name, pose.meta));
                }
            }
            images.truncate(cameras.len());
            for (i, camera) in cameras.iter().enumerate() {
                match images.get_mut(i) {
                    Some(image) if (image.width, image.height) == (camera.width, camera.height) => {}
                    Some(image) => *image = Image::new(camera.width, camera.height),
                    None => images.push(Image::new(camera.width, camera.height)),
                }
            }
            let images = &mut images[..];
            renderer.render_many(scene, &cameras, images).with_chain_context(|| format!("tick {tick}"))?;
            for (((name, meta), camera), image) in labels.drain(..).zip(&cameras).zip(images.iter()) {
                send_frame(&mut node, image, camera, name, meta)?;
            }
            rendered_ticks += 1;
        }
        if pairing.waiting() > MAX_WAITING {
            if pairing.admitted_poses == 0 && pairing.filtered_poses > 0 {
                anyhow::bail!(
                    "setting AGENTS=`{}`: {} poses arrived, none of these agents' (does the graph have them?)",
                    settings.agents,
                    pairing.filtered_poses
                );
            }
            anyhow::bail!("{MAX_WAITING} ticks waiting: poses and Gaussians never pair up (is the actor connected, and does it send the static set first?)");
        }
    }
    eprintln!(
        "splat-renderer: rendered {rendered_ticks} ticks; skipped {} (superseded by a newer complete tick, or missing a part dropped upstream)",
        pairing.skipped_ticks
    );
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Takes one input into the scene state or the pairing.
fn on_event(event: Event, state: &mut SceneState, pairing: &mut Pairing) -> anyhow::Result<Flow> {
    match event {
        Event::Input { id, data, .. } if id.as_str() == "pose" => {
            pairing.push_pose(pose_io::decode(data.as_array().as_ref()).context("input `pose`")?);
        }
        Event::Input { id, data, metadata } if id.as_str() == "gaussians" => {
            let bytes = frame_io::payload_bytes(data.as_array().as_ref()).context("input `gaussians`")?;
            let (part, version, g) = gaussians_io::decode(bytes, &metadata.parameters).context("input `gaussians`")?;
            match part {
                Part::Static => {
                    // Indexed once, here.
                    state.scene = IndexedScene::new(g);
                    state.static_arrived = true;
                }
                Part::Dynamic => pairing.push_dynamic(version, g),
            }
        }
        // Only a manual stop (Ctrl-C, --stop-after) ends early; when all inputs close, drain what is queued.
        Event::Stop(dora_node_api::StopCause::Manual) => return Ok(Flow::Stop),
        _ => {}
    }
    Ok(Flow::Continue)
}

fn send_frame(
    node: &mut DoraNode,
    image: &Image,
    camera: &Camera,
    name: String,
    meta: worldflow_protocol::ChunkMeta,
) -> anyhow::Result<()> {
    let i = camera.intrinsics;
    let header = FrameHeader {
        meta,
        camera: name,
        width: camera.width,
        height: camera.height,
        encoding: Encoding::Rgb8,
        intrinsics: [i.fx, i.fy, i.cx, i.cy],
        camera_from_world: mat4_to_rows(&camera.camera_from_world),
    };
    let len = header.payload_len();
    let values = &image.data;
    // Quantise straight into the shared-memory sample, on the render threads (a 800×450 frame is 1.08 M values):
    // the frame is never copied after this.
    const BLOCK_VALUES: usize = 1 << 15;
    node.send_output_raw("frame".to_owned().into(), frame_io::encode(&header), len, |out| {
        out.par_chunks_mut(BLOCK_VALUES).zip(values.par_chunks(BLOCK_VALUES)).for_each(|(out, values)| {
            for (o, v) in out.iter_mut().zip(values) {
                *o = if v.is_nan() { 0 } else { (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8 };
            }
        });
    })
    .chain_context("sending frame")
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    #[test]
    fn ego4_cameras_look_along_the_base_axes() {
        let rig = ego4(16, 16, 90.0);
        let fwd = |c: &RigCamera| c.base_from_camera.transform_vector3(Vec3::Z);
        assert!((fwd(&rig[0]) - Vec3::X).length() < 1e-6);
        assert!((fwd(&rig[1]) - Vec3::Y).length() < 1e-6);
        assert!((fwd(&rig[2]) + Vec3::X).length() < 1e-6);
        assert!((fwd(&rig[3]) + Vec3::Y).length() < 1e-6);
        assert_eq!(rig[0].base_from_camera.w_axis.z, 1.6);
    }

    #[test]
    fn builtin_plaza_is_deterministic_and_valid() {
        let a = builtin::plaza();
        assert_eq!(a, builtin::plaza());
        a.validate().unwrap();
        assert!(a.len() > 20_000);
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_every_declared_setting_is_read() {
        let env = Env::from_pairs(SETTINGS, &[("WIDTH", " 320 "), ("RIG", "front")]);
        let s = Settings::from_settings(&env).unwrap();
        let Rigs::Shared(rig) = &s.rigs else { panic!("RIG=front is one rig for all") };
        assert_eq!((s.width, s.height, s.fov_x_deg, rig.len(), s.catchup), (320, 360, 90.0, 1, Catchup::Every));
        assert_eq!((rig[0].width, rig[0].height), (320, 360));
        assert_eq!((s.scene.as_str(), s.options.compat, s.agents), ("builtin:plaza", Compat::Inria, AgentFilter::All));
        let one = Settings::from_settings(&Env::from_pairs(SETTINGS, &[("AGENTS", " 1 "), ("THREADS", "2")])).unwrap();
        assert!(one.agents.admits(1) && !one.agents.admits(0));
        assert_eq!((s.threads, one.threads), (None, Some(2)));
        for (name, value, expected) in [
            ("COMPAT", "unity", "setting COMPAT=`unity`: expected inria or gsplat"),
            ("CATCHUP", "all", "setting CATCHUP=`all`: expected every or newest"),
            ("FOV_X_DEG", "0", "setting FOV_X_DEG=`0`: expected 1..179 degrees"),
            ("BACKGROUND", "1,2", "setting BACKGROUND=`1,2`: expected r,g,b"),
            ("GROUND", "grass", "setting GROUND=`grass`: expected none, town or r,g,b"),
            ("AGENTS", "0;1", "setting AGENTS=`0;1`: expected all or agent ids like 0,2 or 1-3"),
            ("THREADS", "0", "setting THREADS=0: expected a number of render threads, 1 to 256 (unset: one per core)"),
        ] {
            let e = Settings::from_settings(&Env::from_pairs(SETTINGS, &[(name, value)])).err().unwrap();
            assert_eq!(e.to_string(), expected);
        }
        // OUT_DIR is read by `main` (the span timings' directory); SCENARIO only with RIG=scenario.
        assert_eq!(
            env.declared_not_read(&["OUT_DIR", "SCENARIO"]),
            Vec::<&str>::new(),
            "SETTINGS lists exactly what the node reads"
        );
    }

    #[test]
    fn rig_scenario_gives_each_agent_its_own_cameras() {
        let dir = std::env::temp_dir().join(format!("wf-renderer-rig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.yaml");
        std::fs::write(
            &path,
            "egos:\n  - {name: car, x_m: 44.25, y_m: 20}\n  - {name: d, kind: drone, x_m: 44.25, y_m: 30}\n  \
             - {name: c, kind: drone, x_m: 44.25, y_m: 40, cameras: [{name: down, position_m: [0, 0, 0], pitch_deg: -89, width: 32, height: 24, fov_x_deg: 60}]}\n",
        )
        .unwrap();
        let path = path.to_str().unwrap();
        let env =
            Env::from_pairs(SETTINGS, &[("RIG", "scenario"), ("SCENARIO", path), ("WIDTH", "160"), ("HEIGHT", "120")]);
        let s = Settings::from_settings(&env).unwrap();
        let names = |agent: u32| {
            let cams = s.cameras(agent, &Mat4::IDENTITY).unwrap();
            cams.iter().map(|(n, c)| format!("{n}:{}x{}", c.width, c.height)).collect::<Vec<_>>().join(",")
        };
        assert_eq!(names(0), "front:160x120,left:160x120,rear:160x120,right:160x120");
        assert_eq!(names(1), "front:160x120");
        assert_eq!(names(2), "down:32x24");
        let drone_lens = s.cameras(1, &Mat4::IDENTITY).unwrap()[0].1.camera_from_world.inverse().w_axis;
        assert!(drone_lens.x > 0.35 && drone_lens.x < 0.5 && drone_lens.z.abs() < 1e-6, "at the nose: {drone_lens}");
        let e = s.cameras(3, &Mat4::IDENTITY).unwrap_err().to_string();
        assert!(e.contains("agent 3") && e.contains("3 egos"), "{e}");
        let e = Settings::from_settings(&Env::from_pairs(
            SETTINGS,
            &[("RIG", "scenario"), ("SCENARIO", "/nonexistent.yaml")],
        ))
        .err()
        .unwrap();
        assert!(format!("{e:#}").contains("SCENARIO"), "{e:#}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
