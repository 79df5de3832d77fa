//! **splat-renderer** node: renders one or several cameras per agent per tick from a Gaussian set.
//!
//! The set is a scene file (`SCENE`: `.ply`, `.splat`, `.npz` point cloud) or a built-in scene
//! (`builtin:plaza`). Each `pose` input (a `StampedPose`) renders the rig: `RIG=single` puts one camera at the
//! pose (the pose is `world_from_camera`); `RIG=ego4` treats it as `world_from_base` (x forward, y left, z up)
//! and renders front/rear/left/right cameras at `CAMERA_HEIGHT_M`. Frames leave as RGB8 written straight
//! into dora's shared-memory sample (the float image is quantised in place there; no further copy).

pub mod builtin;

use anyhow::Context;
use dora_node_api::{DoraNode, Event, EventStream};
use glam::{Mat4, Vec3};
use worldflow_protocol::arrow_io::{decode_pose, frame_header_to_params};
use worldflow_protocol::{mat4_from_rows, mat4_to_rows, rigid_inverse, world_from_camera_look_at, Camera, Encoding, FrameHeader, Gaussians, Intrinsics};
use worldflow_splat::{Compat, Image, RenderOptions, Renderer};

/// A camera of a rig: its name and `base_from_camera`.
#[derive(Debug, Clone)]
pub struct RigCamera {
    pub name: String,
    pub base_from_camera: Mat4,
}

/// The 4-camera ego rig: front/rear/left/right, 90° each, at `height_m` above the base origin.
pub fn ego4(height_m: f32) -> Vec<RigCamera> {
    let eye = Vec3::new(0.0, 0.0, height_m);
    [("front", Vec3::X), ("left", Vec3::Y), ("rear", -Vec3::X), ("right", -Vec3::Y)]
        .into_iter()
        .map(|(name, dir)| RigCamera { name: name.into(), base_from_camera: world_from_camera_look_at(eye, eye + dir, Vec3::Z) })
        .collect()
}

pub struct Settings {
    pub scene: String,
    pub width: u32,
    pub height: u32,
    pub fov_x_deg: f32,
    pub rig: Vec<RigCamera>,
    pub options: RenderOptions,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.into())
}

fn parse<T: std::str::FromStr>(name: &str, default: &str, expected: &str) -> anyhow::Result<T> {
    let v = env_or(name, default);
    v.trim().parse().map_err(|_| anyhow::anyhow!("setting {name}=`{v}`: expected {expected}"))
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let width: u32 = parse("WIDTH", "640", "a width in pixels")?;
        let height: u32 = parse("HEIGHT", "360", "a height in pixels")?;
        if !(16..=8192).contains(&width) || !(16..=8192).contains(&height) {
            anyhow::bail!("settings WIDTH/HEIGHT: expected 16..=8192 pixels, found {width}×{height}");
        }
        let fov_x_deg: f32 = parse("FOV_X_DEG", "90", "degrees")?;
        if !(1.0..179.0).contains(&fov_x_deg) {
            anyhow::bail!("setting FOV_X_DEG=`{fov_x_deg}`: expected 1..179 degrees");
        }
        let rig = match env_or("RIG", "single").as_str() {
            "single" => vec![RigCamera { name: "camera".into(), base_from_camera: Mat4::IDENTITY }],
            "ego4" => ego4(parse("CAMERA_HEIGHT_M", "1.6", "metres")?),
            other => anyhow::bail!("setting RIG=`{other}`: expected single or ego4"),
        };
        let compat = match env_or("COMPAT", "inria").as_str() {
            "inria" => Compat::Inria,
            "gsplat" => Compat::Gsplat,
            other => anyhow::bail!("setting COMPAT=`{other}`: expected inria or gsplat"),
        };
        let bg = env_or("BACKGROUND", "0.55,0.7,0.9");
        let bgv: Vec<f32> = bg.split(',').filter_map(|s| s.trim().parse().ok()).collect();
        if bgv.len() != 3 || bgv.iter().any(|c| !c.is_finite()) {
            anyhow::bail!("setting BACKGROUND=`{bg}`: expected r,g,b");
        }
        Ok(Self {
            scene: env_or("SCENE", "builtin:plaza"),
            width,
            height,
            fov_x_deg,
            rig,
            options: RenderOptions { compat, background: [bgv[0], bgv[1], bgv[2]], sh_degree: None, antialiased: false },
        })
    }

    pub fn load_scene(&self) -> anyhow::Result<Gaussians> {
        match self.scene.strip_prefix("builtin:") {
            Some("plaza") => Ok(builtin::plaza()),
            Some(other) => anyhow::bail!("setting SCENE=`builtin:{other}`: unknown built-in scene (expected builtin:plaza)"),
            None => worldflow_splat::load_scene(std::path::Path::new(&self.scene), &Default::default()).map_err(|e| anyhow::anyhow!("setting SCENE: {e}")),
        }
    }

    /// The cameras of the rig for a base pose.
    pub fn cameras(&self, world_from_base: &Mat4) -> Vec<(String, Camera)> {
        let intrinsics = Intrinsics::from_fov_x(self.width, self.height, self.fov_x_deg.to_radians());
        self.rig
            .iter()
            .map(|c| {
                let camera_from_world = rigid_inverse(&(*world_from_base * c.base_from_camera));
                (c.name.clone(), Camera { width: self.width, height: self.height, intrinsics, camera_from_world })
            })
            .collect()
    }
}

pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let scene = settings.load_scene()?;
    eprintln!("splat-renderer: {} Gaussians, {} camera(s) of {}×{}", scene.len(), settings.rig.len(), settings.width, settings.height);
    let mut renderer = Renderer::new(settings.options);
    let mut image = Image::new(settings.width, settings.height);
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, data, .. } if id.as_str() == "pose" => {
                let pose = decode_pose(data.as_array().as_ref()).context("input `pose`")?;
                let world_from_base = mat4_from_rows(&pose.world_from_frame);
                for (name, camera) in settings.cameras(&world_from_base) {
                    renderer.render(&scene, &camera, &mut image).map_err(|e| anyhow::anyhow!("tick {}: {e}", pose.meta.tick))?;
                    let i = camera.intrinsics;
                    let header = FrameHeader {
                        meta: pose.meta,
                        camera: name,
                        width: camera.width,
                        height: camera.height,
                        encoding: Encoding::Rgb8,
                        intrinsics: [i.fx, i.fy, i.cx, i.cy],
                        camera_from_world: mat4_to_rows(&camera.camera_from_world),
                    };
                    let len = header.payload_len();
                    let values = &image.data;
                    node.send_output_raw("frame".to_owned().into(), frame_header_to_params(&header), len, |out| {
                        for (o, v) in out.iter_mut().zip(values) {
                            *o = if v.is_nan() { 0 } else { (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8 };
                        }
                    })
                    .map_err(|e| anyhow::anyhow!("sending frame: {e}"))?;
                }
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ego4_cameras_look_along_the_base_axes() {
        let rig = ego4(1.6);
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
