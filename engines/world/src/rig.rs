//! Camera rigs: cameras mounted on an ego's base, as `world_from_camera` (OpenCV axes) given the base pose.
//!
//! A mount is a position in the base frame (x forward, y left, z up, metres), a yaw (degrees, 0 = looking
//! along base +x, 90 = left) and a pitch (degrees, positive = up). The camera's optical axis z is that
//! direction, x (right) is horizontal, y points down. [`Rig::standard`] is the 4-camera ego rig:
//! front/left/rear/right, 90° horizontal FOV each, 1.6 m above the base. [`Rig::surround6`] is a six-camera
//! surround rig laid out like an autonomous-driving data set's (nuScenes-style; see its doc for where the
//! numbers come from).
//!
//! **Own body.** A car ego is a body of the world (see [`crate::ProceduralDirector`]), so its cameras must not
//! see it: each lens of the standard rig sits [`LENS_CLEARANCE_M`] outside the face of the body box it looks
//! out of (front camera ahead of the bumper, side cameras beside the doors, rear camera behind the boot; like
//! the cameras of a surround-view system). Every point of the body then lies behind every image plane, so
//! no Gaussian of it is drawn, whatever the resolution or the renderer's near plane (≥ 0).

use glam::{Mat4, Vec3};
use serde::{Deserialize, Serialize};
use worldflow_protocol::{Camera, Intrinsics};

use crate::ego::BicycleParams;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RigError {
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: String, line: usize, column: usize, message: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

/// One camera of a rig.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigCamera {
    pub name: String,
    /// Mount position in the base frame, metres.
    pub position_m: [f32; 3],
    #[serde(default)]
    pub yaw_deg: f32,
    #[serde(default)]
    pub pitch_deg: f32,
    pub width: u32,
    pub height: u32,
    pub fov_x_deg: f32,
}

/// A rig: cameras in a fixed order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rig {
    pub cameras: Vec<RigCamera>,
}

/// Mount height of the standard rig, metres.
pub const STANDARD_MOUNT_HEIGHT_M: f32 = 1.6;
/// Distance of each standard lens outside the body face it looks out of, metres.
pub const LENS_CLEARANCE_M: f32 = 0.3;
/// Distance of a drone's lens ahead of its body's front face (rotors included), metres.
pub const DRONE_LENS_CLEARANCE_M: f32 = 0.05;
/// Downward tilt of a drone's forward camera, degrees (a gimbal that sees the ground ahead as well as the horizon).
pub const DRONE_CAMERA_PITCH_DEG: f32 = -20.0;

/// Horizontal FOV of the surround rig's front and side cameras, degrees (nuScenes: 70°).
pub const SURROUND_FOV_X_DEG: f32 = 70.0;
/// Horizontal FOV of the surround rig's back camera, degrees (nuScenes: 110°).
pub const SURROUND_BACK_FOV_X_DEG: f32 = 110.0;

/// A rig by name, sized by the renderer (its WIDTH, HEIGHT and FOV_X_DEG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RigPreset {
    /// The standard 4-camera ego rig ([`Rig::standard`]).
    Ego4,
    /// Its front camera only.
    Front,
    /// One forward camera at a drone's nose ([`Rig::drone`]).
    Drone,
}

impl Rig {
    /// Front, left, rear, right; 90° horizontal FOV; `width × height` each; 1.6 m above the base; lenses
    /// outside the default car body ([`crate::BicycleParams`]'s `half_extent_m`).
    pub fn standard(width: u32, height: u32) -> Self {
        Self::standard_for_body(width, height, Vec3::from(BicycleParams::default().half_extent_m))
    }

    /// The standard rig on a body of half extents `half_extent_m` (length, width, height)/2: each lens
    /// [`LENS_CLEARANCE_M`] outside the face it looks out of, 1.6 m above the base.
    pub fn standard_for_body(width: u32, height: u32, half_extent_m: Vec3) -> Self {
        let (fx, fy) = (half_extent_m.x.abs() + LENS_CLEARANCE_M, half_extent_m.y.abs() + LENS_CLEARANCE_M);
        let cam = |name: &str, yaw_deg: f32| RigCamera {
            name: name.into(),
            position_m: [
                fx * yaw_deg.to_radians().cos().round(),
                fy * yaw_deg.to_radians().sin().round(),
                STANDARD_MOUNT_HEIGHT_M,
            ],
            yaw_deg,
            pitch_deg: 0.0,
            width,
            height,
            fov_x_deg: 90.0,
        };
        Self { cameras: vec![cam("front", 0.0), cam("left", 90.0), cam("rear", 180.0), cam("right", -90.0)] }
    }

    /// Six cameras of `width × height` around a car, laid out like the nuScenes surround rig (a plausible
    /// nuScenes-like layout from its published description, not its calibration): front (yaw 0°), front-left
    /// and front-right (±55°), back-left and back-right (±110°) with a 70° horizontal FOV, and back (180°) with
    /// 110°. All 1.6 m above the base (nuScenes mounts them on the roof, 1.5–1.8 m up). Each lens sits at the
    /// body corner (or face centre) it looks out of, moved [`LENS_CLEARANCE_M`] along its optical axis: then
    /// every point of the body box lies behind its image plane (the own-body rule of this module), without
    /// the lens floating far from the car.
    pub fn surround6(width: u32, height: u32) -> Self {
        Self::surround6_for_body(width, height, Vec3::from(BicycleParams::default().half_extent_m))
    }

    /// [`Rig::surround6`] on a body of half extents `half_extent_m`.
    pub fn surround6_for_body(width: u32, height: u32, half_extent_m: Vec3) -> Self {
        let (hx, hy) = (half_extent_m.x.abs(), half_extent_m.y.abs());
        // (name, yaw, corner as signs of the body's half extents x/y, FOV): the corner is the body point
        // farthest along the optical axis (the support point), so clearance past it clears the whole box.
        let layout: [(&str, f32, f32, f32, f32); 6] = [
            ("front", 0.0, 1.0, 0.0, SURROUND_FOV_X_DEG),
            ("front_left", 55.0, 1.0, 1.0, SURROUND_FOV_X_DEG),
            ("front_right", -55.0, 1.0, -1.0, SURROUND_FOV_X_DEG),
            ("back", 180.0, -1.0, 0.0, SURROUND_BACK_FOV_X_DEG),
            ("back_left", 110.0, -1.0, 1.0, SURROUND_FOV_X_DEG),
            ("back_right", -110.0, -1.0, -1.0, SURROUND_FOV_X_DEG),
        ];
        let cameras = layout
            .iter()
            .map(|&(name, yaw_deg, sx, sy, fov_x_deg)| {
                let yaw = yaw_deg.to_radians();
                RigCamera {
                    name: name.into(),
                    position_m: [
                        sx * hx + LENS_CLEARANCE_M * yaw.cos(),
                        sy * hy + LENS_CLEARANCE_M * yaw.sin(),
                        STANDARD_MOUNT_HEIGHT_M,
                    ],
                    yaw_deg,
                    pitch_deg: 0.0,
                    width,
                    height,
                    fov_x_deg,
                }
            })
            .collect();
        Self { cameras }
    }

    /// One forward camera `front` on a drone body of half extents `half_extent_m`: the lens
    /// [`DRONE_LENS_CLEARANCE_M`] ahead of the body's front face at the body's centre height, tilted
    /// [`DRONE_CAMERA_PITCH_DEG`] down. Every point of the body lies behind its image plane.
    pub fn drone(width: u32, height: u32, fov_x_deg: f32, half_extent_m: Vec3) -> Self {
        let front = RigCamera {
            name: "front".into(),
            position_m: [half_extent_m.x.abs() + DRONE_LENS_CLEARANCE_M, 0.0, 0.0],
            yaw_deg: 0.0,
            pitch_deg: DRONE_CAMERA_PITCH_DEG,
            width,
            height,
            fov_x_deg,
        };
        Self { cameras: vec![front] }
    }

    /// The rig a preset names, with cameras of `width × height` and `fov_x_deg`; `drone_half_extent_m` is the
    /// body a drone rig is mounted on.
    pub fn preset(preset: RigPreset, width: u32, height: u32, fov_x_deg: f32, drone_half_extent_m: Vec3) -> Self {
        let mut rig = match preset {
            RigPreset::Ego4 => Self::standard(width, height),
            RigPreset::Front => Self { cameras: Self::standard(width, height).cameras.into_iter().take(1).collect() },
            RigPreset::Drone => Self::drone(width, height, fov_x_deg, drone_half_extent_m),
        };
        for c in &mut rig.cameras {
            c.fov_x_deg = fov_x_deg;
        }
        rig
    }

    pub fn from_yaml_str(text: &str, path: &str) -> Result<Self, RigError> {
        let rig: Rig = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            RigError::Parse { path: path.into(), line, column, message: e.to_string() }
        })?;
        rig.validate()?;
        Ok(rig)
    }

    pub fn validate(&self) -> Result<(), RigError> {
        let bad = |field: String, message: String| Err(RigError::Invalid { field, message });
        if self.cameras.is_empty() || self.cameras.len() > 16 {
            return bad("cameras".into(), format!("expected 1..=16 cameras, found {}", self.cameras.len()));
        }
        for (i, c) in self.cameras.iter().enumerate() {
            let f = |name: &str| format!("cameras[{i}].{name}");
            if c.name.trim().is_empty() || self.cameras[..i].iter().any(|o| o.name == c.name) {
                return bad(f("name"), format!("expected a unique non-empty name, found {:?}", c.name));
            }
            if c.position_m.iter().any(|v| !v.is_finite() || v.abs() > 100.0) {
                return bad(f("position_m"), format!("expected finite metres within ±100, found {:?}", c.position_m));
            }
            if !(c.yaw_deg.is_finite() && c.yaw_deg.abs() <= 360.0) {
                return bad(f("yaw_deg"), format!("expected degrees in [−360, 360], found {}", c.yaw_deg));
            }
            if !(c.pitch_deg.is_finite() && c.pitch_deg.abs() <= 89.0) {
                return bad(f("pitch_deg"), format!("expected degrees in [−89, 89], found {}", c.pitch_deg));
            }
            if !(1..=16384).contains(&c.width) || !(1..=16384).contains(&c.height) {
                return bad(f("width/height"), format!("expected 1..=16384 pixels, found {}×{}", c.width, c.height));
            }
            if !(c.fov_x_deg.is_finite() && c.fov_x_deg > 1.0 && c.fov_x_deg < 179.0) {
                return bad(f("fov_x_deg"), format!("expected degrees in (1, 179), found {}", c.fov_x_deg));
            }
        }
        Ok(())
    }

    /// `base_from_camera` of camera `i` (OpenCV axes).
    pub fn base_from_camera(&self, i: usize) -> Option<Mat4> {
        let c = self.cameras.get(i)?;
        let (yaw, pitch) = (c.yaw_deg.to_radians(), c.pitch_deg.to_radians());
        let forward = Vec3::new(pitch.cos() * yaw.cos(), pitch.cos() * yaw.sin(), pitch.sin());
        let right = Vec3::new(yaw.sin(), -yaw.cos(), 0.0);
        let down = forward.cross(right);
        Some(Mat4::from_cols(
            right.extend(0.0),
            down.extend(0.0),
            forward.extend(0.0),
            Vec3::from(c.position_m).extend(1.0),
        ))
    }

    /// `world_from_camera` of camera `i` for a base pose.
    pub fn world_from_camera(&self, i: usize, world_from_base: &Mat4) -> Option<Mat4> {
        Some(*world_from_base * self.base_from_camera(i)?)
    }

    /// All cameras (intrinsics from the horizontal FOV, centred principal point) for a base pose.
    pub fn cameras(&self, world_from_base: &Mat4) -> Vec<Camera> {
        (0..self.cameras.len())
            .filter_map(|i| {
                let c = &self.cameras[i];
                let world_from_camera = self.world_from_camera(i, world_from_base)?;
                Some(Camera {
                    width: c.width,
                    height: c.height,
                    intrinsics: Intrinsics::from_fov_x(c.width, c.height, c.fov_x_deg.to_radians()),
                    camera_from_world: worldflow_protocol::rigid_inverse(&world_from_camera),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Quat;

    #[test]
    fn front_camera_looks_along_base_x_with_opencv_axes() {
        let rig = Rig::standard(320, 240);
        rig.validate().unwrap();
        let world_from_base = Mat4::from_rotation_translation(Quat::from_rotation_z(0.5), Vec3::new(3.0, 4.0, 0.0));
        let front = rig.world_from_camera(0, &world_from_base).unwrap();
        worldflow_protocol::validate_rigid(&front, "front").unwrap();
        let base_x = world_from_base.x_axis.truncate();
        assert!((front.z_axis.truncate() - base_x).length() < 1e-6, "optical axis = base +x");
        assert!((front.y_axis.truncate() + Vec3::Z).length() < 1e-6, "image y = world down");
        assert!((front.x_axis.truncate() + world_from_base.y_axis.truncate()).length() < 1e-6, "image x = base right");
        // The lens is 1.6 m up, 0.3 m ahead of the default car's front (half length 2.25 m).
        let lens = Vec3::new(3.0, 4.0, 1.6) + base_x * 2.55;
        assert!((front.w_axis.truncate() - lens).length() < 1e-5);
        // Same as the protocol's look-at.
        let look = worldflow_protocol::world_from_camera_look_at(lens, lens + base_x, Vec3::Z);
        assert!((look - front).to_cols_array().iter().all(|v| v.abs() < 1e-5));
    }

    #[test]
    fn drone_camera_sees_ahead_and_down_but_never_its_own_body() {
        let e = Vec3::new(0.35, 0.35, 0.1);
        let rig = Rig::drone(160, 120, 90.0, e);
        rig.validate().unwrap();
        let world_from_camera = rig.world_from_camera(0, &Mat4::IDENTITY).unwrap();
        let axis = world_from_camera.z_axis.truncate();
        assert!(axis.x > 0.9 && axis.z < -0.3, "forward and 20° down: {axis}");
        let camera_from_world = worldflow_protocol::rigid_inverse(&world_from_camera);
        for corner in 0..8 {
            let sign = |bit: u32| if corner & (1 << bit) != 0 { 1.0 } else { -1.0 };
            let p = Vec3::new(sign(0) * e.x, sign(1) * e.y, sign(2) * e.z);
            let depth = camera_from_world.transform_point3(p).z;
            assert!(depth < 0.0, "body corner {p} is in front of the lens (depth {depth})");
        }
        let preset = Rig::preset(RigPreset::Front, 64, 48, 70.0, e);
        assert_eq!((preset.cameras.len(), preset.cameras[0].fov_x_deg), (1, 70.0));
    }

    #[test]
    fn standard_rig_covers_four_directions() {
        let rig = Rig::standard(64, 48);
        let axes: Vec<Vec3> =
            (0..4).map(|i| rig.world_from_camera(i, &Mat4::IDENTITY).unwrap().z_axis.truncate()).collect();
        for (axis, expected) in axes.iter().zip([Vec3::X, Vec3::Y, -Vec3::X, -Vec3::Y]) {
            assert!((*axis - expected).length() < 1e-6, "{axis} vs {expected}");
        }
        let cams = rig.cameras(&Mat4::IDENTITY);
        assert_eq!(cams.len(), 4);
        for c in &cams {
            c.validate().unwrap();
            assert!((c.intrinsics.fx - 32.0).abs() < 1e-4); // 90° over 64 px: fx = 32
        }
    }

    /// Every corner of the body box has negative depth in every camera of `rig`.
    fn body_behind_every_image_plane(rig: &Rig, e: Vec3) {
        for i in 0..rig.cameras.len() {
            let camera_from_base = worldflow_protocol::rigid_inverse(&rig.base_from_camera(i).unwrap());
            for corner in 0..8 {
                let sign = |bit: u32| if corner & (1 << bit) != 0 { 1.0 } else { -1.0 };
                // The body box spans z in [0, 2 e.z] above the base (the lens height does not matter at pitch 0).
                let p = Vec3::new(sign(0) * e.x, sign(1) * e.y, e.z + sign(2) * e.z);
                let depth = camera_from_base.transform_point3(p).z;
                assert!(depth < -0.29, "{}: body corner {p} at depth {depth}", rig.cameras[i].name);
            }
        }
    }

    #[test]
    fn surround_rig_looks_six_ways_and_never_sees_its_body() {
        let rig = Rig::surround6(800, 450);
        rig.validate().unwrap();
        let names: Vec<&str> = rig.cameras.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["front", "front_left", "front_right", "back", "back_left", "back_right"]);
        body_behind_every_image_plane(&rig, Vec3::from(BicycleParams::default().half_extent_m));
        let back = rig.world_from_camera(3, &Mat4::IDENTITY).unwrap();
        assert!((back.z_axis.truncate() + Vec3::X).length() < 1e-6);
        assert_eq!((rig.cameras[3].fov_x_deg, rig.cameras[1].fov_x_deg), (110.0, 70.0));
    }

    #[test]
    fn the_graphs_surround_rig_file_is_the_surround_rig() {
        let path = "graphs/ad6.rig.yaml";
        let text = include_str!("../../../graphs/ad6.rig.yaml");
        let file = Rig::from_yaml_str(text, path).unwrap();
        let code = Rig::surround6(800, 450);
        assert_eq!(file.cameras.len(), code.cameras.len());
        for (f, c) in file.cameras.iter().zip(&code.cameras) {
            assert_eq!(
                (&f.name, f.width, f.height, f.yaw_deg, f.fov_x_deg),
                (&c.name, c.width, c.height, c.yaw_deg, c.fov_x_deg)
            );
            let off = Vec3::from(f.position_m) - Vec3::from(c.position_m);
            assert!(off.length() < 1e-3, "{}: file {:?} vs code {:?}", f.name, f.position_m, c.position_m);
        }
        body_behind_every_image_plane(&file, Vec3::from(BicycleParams::default().half_extent_m));
    }

    #[test]
    fn bad_rig_fields_are_named() {
        let err = Rig::from_yaml_str(
            "cameras: [{name: a, position_m: [0,0,1], width: 10, height: 10, fov_x_deg: 200}]",
            "r.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("cameras[0].fov_x_deg"), "{err}");
        let err = Rig::from_yaml_str(
            "cameras: [{name: a, position_m: [0,0,1], width: 10, height: 10, fov_x_deg: 90, roll_deg: 1}]",
            "r.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("roll_deg"), "{err}");
    }
}
