//! worldflow messages → ROS 2 messages, without DDS: what the bridge publishes, in the order it publishes it.
//!
//! Per tick of an agent `agentN`: `/clock` first (simulation time, one value per tick: when a message of a
//! later tick arrives before those of the ticks in between — inputs of different nodes are not ordered with
//! each other — the ticks in between are published first, so `/clock` is strictly increasing and has no
//! gaps), then `/agentN/odom` and `/tf` (`map → agentN/base_link`) from the director's ego pose,
//! and `/agentN/camera/CAM/image_raw` + `/agentN/camera/CAM/camera_info` (same stamp) from each rendered frame.
//! The first frame of a camera whose tick also has an ego pose gives the rig transform `agentN/base_link →
//! agentN/CAM_optical` for `/tf_static` (the rig is rigid: computed once per camera; every `/tf_static` message
//! carries all static transforms known so far, as ROS's static broadcaster does).

use std::collections::{BTreeMap, VecDeque};

use glam::{EulerRot, Mat4};
use worldflow_protocol::{mat4_from_rows, Encoding, FrameHeader, Intrinsics, StampedPose};
use worldflow_ros2_msgs::convert::{self, ConvertError};
use worldflow_ros2_msgs::geometry_msgs::TransformStamped;
use worldflow_ros2_msgs::nav_msgs::Odometry;
use worldflow_ros2_msgs::rosgraph_msgs::Clock;
use worldflow_ros2_msgs::sensor_msgs::{CameraInfo, Image};
use worldflow_ros2_msgs::tf2_msgs::TFMessage;

/// The world frame (REP-105).
pub const MAP_FRAME: &str = "map";
/// How many recent ego poses per agent are kept to pair frames (which lag) with the pose of their tick.
const POSE_HISTORY: usize = 64;

/// `agentN/base_link`.
pub fn base_frame(agent: u32) -> String {
    format!("agent{agent}/base_link")
}

/// `agentN/CAM_optical`.
pub fn optical_frame(agent: u32, camera: &str) -> String {
    format!("agent{agent}/{camera}_optical")
}

/// One message to publish, with the ROS topic it goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// `/clock`.
    Clock(Clock),
    /// `/agentN/odom`.
    Odometry { topic: String, msg: Box<Odometry> },
    /// `/tf`.
    Tf(TFMessage),
    /// `/tf_static` (TransientLocal).
    TfStatic(TFMessage),
    /// `/agentN/camera/CAM/image_raw`.
    Image { topic: String, msg: Image },
    /// `/agentN/camera/CAM/camera_info`.
    CameraInfo { topic: String, msg: Box<CameraInfo> },
}

impl Outgoing {
    /// The ROS topic name.
    pub fn topic(&self) -> &str {
        match self {
            Self::Clock(_) => "/clock",
            Self::Tf(_) => "/tf",
            Self::TfStatic(_) => "/tf_static",
            Self::Odometry { topic, .. } | Self::Image { topic, .. } | Self::CameraInfo { topic, .. } => topic,
        }
    }
}

/// What the bridge cannot translate.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("agent {agent} tick {tick}: {source}")]
    Convert {
        agent: u32,
        tick: u64,
        #[source]
        source: ConvertError,
    },
    #[error("agent {agent} camera `{camera}` tick {tick}: {encoding:?} frames are not published (only rgb8)")]
    Encoding { agent: u32, camera: String, tick: u64, encoding: Encoding },
    #[error("agent {agent} tick {tick}: ego pose `{field}` is not a rigid transform")]
    NotRigid { agent: u32, tick: u64, field: &'static str },
}

#[derive(Debug, Default)]
struct AgentState {
    /// Recent `(tick, sim_time_ns, world_from_base)`, oldest first.
    poses: VecDeque<(u64, u64, Mat4)>,
}

/// The translation state: last `/clock`, recent ego poses, the static transforms found so far.
#[derive(Debug, Default)]
pub struct Translator {
    /// The last `/clock` published: (tick, simulation time in ns).
    last_clock: Option<(u64, u64)>,
    agents: BTreeMap<u32, AgentState>,
    /// `(agent, camera)` → `base_link → CAM_optical`, published on `/tf_static`.
    statics: BTreeMap<(u32, String), TransformStamped>,
}

impl Translator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulation time of the last `/clock` published (the latest tick), ns.
    pub fn last_clock_ns(&self) -> Option<u64> {
        self.last_clock.map(|(_, ns)| ns)
    }

    /// `/clock` up to `tick` (at `sim_time_ns`): every tick after the last one published, in order; the
    /// times of ticks in between are interpolated (exact for the fixed step of a run). Nothing for a tick
    /// already published.
    fn clock(&mut self, tick: u64, sim_time_ns: u64, out: &mut Vec<Outgoing>) -> Result<(), ConvertError> {
        let mut publish = |ns: u64| -> Result<(), ConvertError> {
            out.push(Outgoing::Clock(Clock { clock: convert::time_from_sim_ns(ns)? }));
            Ok(())
        };
        match self.last_clock {
            None => publish(sim_time_ns)?,
            Some((last_tick, _)) if tick <= last_tick => return Ok(()),
            Some((last_tick, last_ns)) => {
                let span = tick - last_tick;
                for j in 1..=span {
                    publish(last_ns + sim_time_ns.saturating_sub(last_ns) * j / span)?;
                }
            }
        }
        self.last_clock = Some((tick, sim_time_ns));
        Ok(())
    }

    /// The director's `ego_pose` of one agent and tick: `/clock` (if it moved on), `/agentN/odom`, `/tf`.
    /// The body twist comes from the previous pose of the agent (forward speed and yaw rate over the
    /// simulated time between them); the first pose has zero twist.
    pub fn on_pose(&mut self, p: &StampedPose) -> Result<Vec<Outgoing>, TranslateError> {
        let (agent, tick, t_ns) = (p.meta.agent_id, p.meta.tick, p.meta.sim_time_ns);
        let conv = |source| TranslateError::Convert { agent, tick, source };
        let world_from_base = mat4_from_rows(&p.world_from_frame);
        if !world_from_base.is_finite() || world_from_base.determinant().abs() < 1e-3 {
            return Err(TranslateError::NotRigid { agent, tick, field: "world_from_frame" });
        }
        let mut out = Vec::with_capacity(3);
        self.clock(tick, t_ns, &mut out).map_err(conv)?;
        let state = self.agents.entry(agent).or_default();
        let (mut forward, mut yaw_rate) = (0.0, 0.0);
        if let Some(&(_, prev_ns, prev)) = state.poses.back() {
            if t_ns > prev_ns {
                let dt = (t_ns - prev_ns) as f32 * 1e-9;
                let prev_from_now = prev.inverse() * world_from_base;
                forward = prev_from_now.w_axis.x / dt;
                let (yaw, _, _) = glam::Quat::from_mat4(&prev_from_now).to_euler(EulerRot::ZYX);
                yaw_rate = yaw / dt;
            }
        }
        state.poses.push_back((tick, t_ns, world_from_base));
        if state.poses.len() > POSE_HISTORY {
            state.poses.pop_front();
        }
        let header = convert::header(t_ns, MAP_FRAME).map_err(conv)?;
        out.push(Outgoing::Odometry {
            topic: format!("/agent{agent}/odom"),
            msg: Box::new(convert::odometry(header.clone(), base_frame(agent), &world_from_base, forward, yaw_rate)),
        });
        out.push(Outgoing::Tf(TFMessage {
            transforms: vec![convert::transform_stamped(header, base_frame(agent), &world_from_base)],
        }));
        Ok(out)
    }

    /// One rendered frame: `/clock` (if it moved on), `image_raw`, `camera_info` (intrinsics from the frame
    /// header, the ones the renderer drew with) and, the first time the camera's rig pose is known,
    /// `/tf_static`.
    pub fn on_frame(&mut self, h: &FrameHeader, rgb: &[u8]) -> Result<Vec<Outgoing>, TranslateError> {
        let (agent, tick, t_ns) = (h.meta.agent_id, h.meta.tick, h.meta.sim_time_ns);
        if h.encoding != Encoding::Rgb8 {
            return Err(TranslateError::Encoding { agent, camera: h.camera.clone(), tick, encoding: h.encoding });
        }
        let conv = |source| TranslateError::Convert { agent, tick, source };
        let mut out = Vec::with_capacity(4);
        self.clock(tick, t_ns, &mut out).map_err(conv)?;
        let optical = optical_frame(agent, &h.camera);
        let header = convert::header(t_ns, optical.clone()).map_err(conv)?;
        let [fx, fy, cx, cy] = h.intrinsics;
        let k = Intrinsics { fx, fy, cx, cy };
        let key = (agent, h.camera.clone());
        if !self.statics.contains_key(&key) {
            let pose = self.agents.get(&agent).and_then(|s| s.poses.iter().find(|(t, _, _)| *t == tick));
            if let Some(&(_, _, world_from_base)) = pose {
                let camera_from_world = mat4_from_rows(&h.camera_from_world);
                let base_from_camera = world_from_base.inverse() * camera_from_world.inverse();
                let static_header = convert::header(t_ns, base_frame(agent)).map_err(conv)?;
                self.statics.insert(key, convert::transform_stamped(static_header, optical.clone(), &base_from_camera));
                out.push(Outgoing::TfStatic(TFMessage { transforms: self.statics.values().cloned().collect() }));
            }
        }
        let prefix = format!("/agent{agent}/camera/{}", h.camera);
        out.push(Outgoing::Image {
            topic: format!("{prefix}/image_raw"),
            msg: convert::image_rgb8(header.clone(), h.width, h.height, rgb.to_vec()).map_err(conv)?,
        });
        out.push(Outgoing::CameraInfo {
            topic: format!("{prefix}/camera_info"),
            msg: Box::new(convert::camera_info(header, h.width, h.height, &k)),
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use glam::{Quat, Vec3};
    use worldflow_protocol::{mat4_to_rows, ChunkMeta};

    use super::*;

    fn pose(tick: u64, world_from_base: Mat4) -> StampedPose {
        StampedPose {
            meta: ChunkMeta { agent_id: 0, tick, sim_time_ns: tick * 100_000_000 },
            frame_id: "base_link".into(),
            world_from_frame: mat4_to_rows(&world_from_base),
        }
    }

    /// The front camera of a rig: 1.5 m forward, 1.4 m up, optical axes (x right, y down, z forward).
    fn base_from_front() -> Mat4 {
        Mat4::from_cols(
            glam::Vec4::new(0.0, -1.0, 0.0, 0.0),
            glam::Vec4::new(0.0, 0.0, -1.0, 0.0),
            glam::Vec4::new(1.0, 0.0, 0.0, 0.0),
            glam::Vec4::new(1.5, 0.0, 1.4, 1.0),
        )
    }

    fn frame(tick: u64, world_from_base: Mat4, w: u32, h: u32) -> FrameHeader {
        let k = Intrinsics::from_fov_x(w, h, 90f32.to_radians());
        FrameHeader {
            meta: ChunkMeta { agent_id: 0, tick, sim_time_ns: tick * 100_000_000 },
            camera: "front".into(),
            width: w,
            height: h,
            encoding: Encoding::Rgb8,
            intrinsics: [k.fx, k.fy, k.cx, k.cy],
            camera_from_world: mat4_to_rows(&(world_from_base * base_from_front()).inverse()),
        }
    }

    #[test]
    fn a_tick_publishes_clock_first_then_odom_tf_image_and_camera_info() {
        let mut t = Translator::new();
        let at = Mat4::from_translation(Vec3::new(3.0, -2.0, 0.0));
        let out = t.on_pose(&pose(0, at)).unwrap();
        let topics: Vec<_> = out.iter().map(Outgoing::topic).collect();
        assert_eq!(topics, ["/clock", "/agent0/odom", "/tf"]);
        let Outgoing::Odometry { msg, .. } = &out[1] else { panic!() };
        assert_eq!((msg.header.frame_id.as_str(), msg.child_frame_id.as_str()), ("map", "agent0/base_link"));
        assert_eq!(msg.pose.pose.position.x, 3.0);
        let out = t.on_frame(&frame(0, at, 8, 4), &[9; 96]).unwrap();
        let topics: Vec<_> = out.iter().map(Outgoing::topic).collect();
        assert_eq!(
            topics,
            ["/tf_static", "/agent0/camera/front/image_raw", "/agent0/camera/front/camera_info"],
            "no second /clock for the same tick; the rig transform once the tick's pose is known"
        );
        let (Outgoing::Image { msg: img, .. }, Outgoing::CameraInfo { msg: info, .. }) = (&out[1], &out[2]) else {
            panic!()
        };
        assert_eq!((img.width, img.height, img.step, img.encoding.as_str(), img.data.len()), (8, 4, 24, "rgb8", 96));
        assert_eq!(img.header, info.header);
        assert_eq!(img.header.frame_id, "agent0/front_optical");
        // The renderer's intrinsics (from_fov_x at 90°: fx = W/2), principal point in ROS's convention.
        assert_eq!((info.k[0], info.k[2], info.k[5]), (4.0, 3.5, 1.5));
        let Outgoing::TfStatic(stat) = &out[0] else { panic!() };
        let tf = &stat.transforms[0];
        assert_eq!(
            (tf.header.frame_id.as_str(), tf.child_frame_id.as_str()),
            ("agent0/base_link", "agent0/front_optical")
        );
        let v = tf.transform.translation;
        assert!((v.x - 1.5).abs() < 1e-5 && v.y.abs() < 1e-5 && (v.z - 1.4).abs() < 1e-5, "{v:?}");
        // Later frames of the same camera: no more /tf_static.
        t.on_pose(&pose(1, at)).unwrap();
        let out = t.on_frame(&frame(1, at, 8, 4), &[9; 96]).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn clock_is_strictly_increasing_and_twist_comes_from_consecutive_poses() {
        let mut t = Translator::new();
        t.on_pose(&pose(0, Mat4::IDENTITY)).unwrap();
        // 0.1 s later: 0.5 m forward and 0.02 rad to the left.
        let next = Mat4::from_rotation_translation(Quat::from_rotation_z(0.02), Vec3::new(0.5, 0.0, 0.0));
        let out = t.on_pose(&pose(1, next)).unwrap();
        let Outgoing::Odometry { msg, .. } = &out[1] else { panic!() };
        let tw = &msg.twist.twist;
        assert!((tw.linear.x - 5.0).abs() < 1e-4 && (tw.angular.z - 0.2).abs() < 1e-4, "{tw:?}");
        // A frame of an older tick does not move the clock back.
        let out = t.on_frame(&frame(0, Mat4::IDENTITY, 4, 2), &[0; 24]).unwrap();
        assert!(out.iter().all(|o| o.topic() != "/clock"));
    }

    #[test]
    fn a_later_tick_first_publishes_the_ticks_in_between_in_order() {
        let mut t = Translator::new();
        t.on_pose(&pose(0, Mat4::IDENTITY)).unwrap();
        // The renderer's frame of tick 3 overtakes the director's poses of ticks 1 and 2.
        let out = t.on_frame(&frame(3, Mat4::IDENTITY, 4, 2), &[0; 24]).unwrap();
        let clocks: Vec<u64> = out
            .iter()
            .filter_map(|o| match o {
                Outgoing::Clock(c) => Some(c.clock.sec as u64 * 1_000_000_000 + u64::from(c.clock.nanosec)),
                _ => None,
            })
            .collect();
        assert_eq!(clocks, [100_000_000, 200_000_000, 300_000_000], "ticks 1, 2, 3 in order, before the image");
        assert_eq!(out[3].topic(), "/agent0/camera/front/image_raw");
        // The late poses of ticks 1 and 2 publish no second /clock.
        let out = t.on_pose(&pose(1, Mat4::IDENTITY)).unwrap();
        assert!(out.iter().all(|o| o.topic() != "/clock"));
    }

    #[test]
    fn bad_frames_and_poses_are_errors_naming_agent_and_tick() {
        let mut t = Translator::new();
        let e = t.on_frame(&frame(3, Mat4::IDENTITY, 4, 2), &[0; 23]).unwrap_err().to_string();
        assert_eq!(e, "agent 0 tick 3: rgb8 image 4×2: expected 24 bytes, found 23");
        let mut h = frame(3, Mat4::IDENTITY, 4, 2);
        h.encoding = Encoding::Rgb32F;
        assert!(t.on_frame(&h, &[]).unwrap_err().to_string().contains("only rgb8"));
        let e = t.on_pose(&pose(5, Mat4::ZERO)).unwrap_err().to_string();
        assert_eq!(e, "agent 0 tick 5: ego pose `world_from_frame` is not a rigid transform");
    }
}
