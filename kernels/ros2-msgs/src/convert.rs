//! From worldflow's types to ROS 2 messages: simulation time → `Time`, intrinsics → `CameraInfo`, RGB8 frames
//! → `Image`, `a_from_b` poses → `Pose` / `TransformStamped` / `Odometry`, and `Twist` commands back.
//!
//! Frames: worldflow's world is z-up ENU metres (REP-103: ROS calls it `map`), its body frame x forward /
//! y left / z up (`agentN/base_link`), and its cameras are already optical (x right, y down, z forward:
//! `agentN/CAM_optical`), so poses carry over unchanged; only the pixel convention differs. worldflow puts
//! pixel centres at `u + 0.5` (a centred principal point is `cx = W/2`, see `worldflow_protocol::geometry`);
//! ROS (OpenCV) puts them at integers, so `K`'s principal point is shifted by −0.5 px.

use glam::{Mat3, Mat4, Quat};
use worldflow_protocol::{AckermannCommand, CommandError, Intrinsics, VelocityCommand};

use crate::ackermann_msgs::AckermannDrive;
use crate::builtin_interfaces::Time;
use crate::geometry_msgs::{
    Point, Pose, PoseWithCovariance, Quaternion, Transform, TransformStamped, Twist, TwistWithCovariance, Vector3,
};
use crate::nav_msgs::Odometry;
use crate::sensor_msgs::{CameraInfo, Image, RegionOfInterest};
use crate::std_msgs::Header;

/// A value worldflow cannot express as the ROS message asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    /// Simulation time past `i32::MAX` seconds (year 2038 of the simulated clock).
    #[error("simulation time {sim_time_ns} ns does not fit builtin_interfaces/Time (sec is an int32)")]
    TimeOverflow {
        /// The simulation time.
        sim_time_ns: u64,
    },
    /// An RGB8 frame whose byte count is not `3 · width · height`.
    #[error("rgb8 image {width}×{height}: expected {expected} bytes, found {found}")]
    ImageSize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// `3 · width · height`.
        expected: usize,
        /// The bytes given.
        found: usize,
    },
}

/// Simulation time (nanoseconds since the start of the run) as a ROS `Time` (`/clock` and every stamp).
pub fn time_from_sim_ns(sim_time_ns: u64) -> Result<Time, ConvertError> {
    let sec = i32::try_from(sim_time_ns / 1_000_000_000).map_err(|_| ConvertError::TimeOverflow { sim_time_ns })?;
    // The remainder is below 10⁹, so it fits a u32.
    Ok(Time { sec, nanosec: (sim_time_ns % 1_000_000_000) as u32 })
}

/// A header stamped with simulation time.
pub fn header(sim_time_ns: u64, frame_id: impl Into<String>) -> Result<Header, ConvertError> {
    Ok(Header { stamp: time_from_sim_ns(sim_time_ns)?, frame_id: frame_id.into() })
}

/// `sensor_msgs/Image` of an RGB8 frame, rows top to bottom: `encoding = "rgb8"`, `step = 3·width`.
pub fn image_rgb8(header: Header, width: u32, height: u32, rgb: Vec<u8>) -> Result<Image, ConvertError> {
    let expected = 3 * width as usize * height as usize;
    if rgb.len() != expected {
        return Err(ConvertError::ImageSize { width, height, expected, found: rgb.len() });
    }
    Ok(Image { header, height, width, encoding: "rgb8".to_owned(), is_bigendian: 0, step: 3 * width, data: rgb })
}

/// `sensor_msgs/CameraInfo` of an undistorted pinhole: `plumb_bob` with five zero coefficients, `R = I`,
/// `P = [K | 0]`, principal point shifted to ROS's pixel-centre convention (module header).
pub fn camera_info(header: Header, width: u32, height: u32, k: &Intrinsics) -> CameraInfo {
    let (fx, fy) = (f64::from(k.fx), f64::from(k.fy));
    let (cx, cy) = (f64::from(k.cx) - 0.5, f64::from(k.cy) - 0.5);
    CameraInfo {
        header,
        height,
        width,
        distortion_model: "plumb_bob".to_owned(),
        d: vec![0.0; 5],
        k: [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p: [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
        binning_x: 0,
        binning_y: 0,
        roi: RegionOfInterest::default(),
    }
}

/// The rotation of a rigid `a_from_b` as a unit quaternion (w ≥ 0, so one rotation has one encoding).
fn quaternion(a_from_b: &Mat4) -> Quaternion {
    let q = Quat::from_mat3(&Mat3::from_mat4(*a_from_b)).normalize();
    let q = if q.w < 0.0 { -q } else { q };
    Quaternion { x: f64::from(q.x), y: f64::from(q.y), z: f64::from(q.z), w: f64::from(q.w) }
}

/// The pose of frame `b` in frame `a` (a rigid `a_from_b`).
pub fn pose(a_from_b: &Mat4) -> Pose {
    let t = a_from_b.w_axis;
    Pose {
        position: Point { x: f64::from(t.x), y: f64::from(t.y), z: f64::from(t.z) },
        orientation: quaternion(a_from_b),
    }
}

/// A `/tf` or `/tf_static` entry: `header.frame_id` is the parent `a`, `child_frame_id` is `b`.
pub fn transform_stamped(header: Header, child_frame_id: impl Into<String>, a_from_b: &Mat4) -> TransformStamped {
    let p = pose(a_from_b);
    TransformStamped {
        header,
        child_frame_id: child_frame_id.into(),
        transform: Transform {
            translation: Vector3 { x: p.position.x, y: p.position.y, z: p.position.z },
            rotation: p.orientation,
        },
    }
}

/// `nav_msgs/Odometry` of an ego: pose `world_from_base` in `header.frame_id` (the world, `map`), twist in
/// the body frame `child_frame_id` (REP-105): forward speed in m/s and yaw rate in rad/s, positive = left.
/// Covariances are zero: the simulation knows the state exactly.
pub fn odometry(
    header: Header,
    child_frame_id: impl Into<String>,
    world_from_base: &Mat4,
    forward_mps: f32,
    yaw_rate_rad_per_s: f32,
) -> Odometry {
    Odometry {
        header,
        child_frame_id: child_frame_id.into(),
        pose: PoseWithCovariance { pose: pose(world_from_base), covariance: [0.0; 36] },
        twist: TwistWithCovariance {
            twist: Twist {
                linear: Vector3 { x: f64::from(forward_mps), y: 0.0, z: 0.0 },
                angular: Vector3 { x: 0.0, y: 0.0, z: f64::from(yaw_rate_rad_per_s) },
            },
            covariance: [0.0; 36],
        },
    }
}

/// Reads a `cmd_vel` `Twist` as a body-frame velocity set-point (REP-103: `linear` x forward / y left / z up,
/// `angular.z` positive = turn left; `angular.x`/`angular.y` are not used). A NaN, infinite or absurd
/// component is an error naming the field; the caller names the topic and keeps its last valid command.
pub fn velocity_command(twist: &Twist) -> Result<VelocityCommand, CommandError> {
    let c = VelocityCommand {
        forward_mps: twist.linear.x as f32,
        left_mps: twist.linear.y as f32,
        up_mps: twist.linear.z as f32,
        yaw_rate_rps: twist.angular.z as f32,
    };
    c.validate()?;
    Ok(c)
}

/// Reads an `AckermannDrive` as a speed and wheel-angle set-point (positive angle = left). The rate, acceleration
/// and jerk limits are not used: the car reaches the set-point as fast as its own limits allow.
pub fn ackermann_command(drive: &AckermannDrive) -> Result<AckermannCommand, CommandError> {
    let c = AckermannCommand { speed_mps: drive.speed, steering_angle_rad: drive.steering_angle };
    c.validate()?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use glam::{Vec3, Vec4};

    use super::*;

    #[test]
    fn time_splits_seconds_and_nanoseconds() {
        assert_eq!(time_from_sim_ns(0).unwrap(), Time { sec: 0, nanosec: 0 });
        assert_eq!(time_from_sim_ns(12_345_678_901).unwrap(), Time { sec: 12, nanosec: 345_678_901 });
        assert!(matches!(time_from_sim_ns(u64::MAX), Err(ConvertError::TimeOverflow { .. })));
    }

    #[test]
    fn camera_info_shifts_the_principal_point_to_integer_pixel_centres() {
        let k = Intrinsics::from_fov_x(640, 360, 90f32.to_radians());
        let info = camera_info(header(0, "agent0/front_optical").unwrap(), 640, 360, &k);
        // A centred camera: worldflow cx = W/2; ROS/OpenCV cx = (W − 1)/2.
        assert_eq!((info.k[2], info.k[5]), (319.5, 179.5));
        assert!((info.k[0] - 320.0).abs() < 1e-3 && info.k[0] == info.k[4], "fx = fy = 320 at 90°");
        assert_eq!(info.k[8], 1.0);
        assert_eq!(&info.p[..4], &[info.k[0], 0.0, 319.5, 0.0]);
        assert_eq!((info.distortion_model.as_str(), info.d.len()), ("plumb_bob", 5));
        // Projecting a point with P gives the pixel OpenCV would: on the optical axis → the image centre.
        let (x, y, z) = (0.0, 0.0, 5.0);
        let u = (info.p[0] * x + info.p[2] * z) / z;
        let v = (info.p[5] * y + info.p[6] * z) / z;
        assert_eq!((u, v), (319.5, 179.5));
    }

    #[test]
    fn image_checks_its_size_and_sets_the_step() {
        let img = image_rgb8(Header::default(), 4, 2, vec![7; 24]).unwrap();
        assert_eq!((img.step, img.encoding.as_str(), img.is_bigendian), (12, "rgb8", 0));
        let e = image_rgb8(Header::default(), 4, 2, vec![7; 23]).unwrap_err();
        assert_eq!(e.to_string(), "rgb8 image 4×2: expected 24 bytes, found 23");
    }

    #[test]
    fn poses_carry_position_and_rotation() {
        // A car at (3, −2, 0) facing north (+y): yaw +90° about z (REP-103: counter-clockwise from east).
        let world_from_base =
            Mat4::from_rotation_translation(Quat::from_rotation_z(90f32.to_radians()), Vec3::new(3.0, -2.0, 0.0));
        let p = pose(&world_from_base);
        assert_eq!((p.position.x, p.position.y, p.position.z), (3.0, -2.0, 0.0));
        let half = std::f64::consts::FRAC_1_SQRT_2;
        let q = p.orientation;
        assert!(
            (q.z - half).abs() < 1e-6 && (q.w - half).abs() < 1e-6 && q.x.abs() < 1e-7 && q.y.abs() < 1e-7,
            "{q:?}"
        );
        // The quaternion rotates the body's forward axis onto the world's +y, as the matrix does.
        let r = Quat::from_xyzw(q.x as f32, q.y as f32, q.z as f32, q.w as f32);
        assert!((r * Vec3::X - world_from_base.transform_vector3(Vec3::X)).length() < 1e-6);
        // w ≥ 0 always: a rotation by 270° is written as −90°.
        let q = pose(&Mat4::from_rotation_z(270f32.to_radians())).orientation;
        assert!(q.w >= 0.0 && q.z < 0.0, "{q:?}");
    }

    #[test]
    fn transforms_name_parent_and_child() {
        let base_from_camera = Mat4::from_cols(
            Vec4::new(0.0, -1.0, 0.0, 0.0), // optical x (right) = body −y
            Vec4::new(0.0, 0.0, -1.0, 0.0), // optical y (down) = body −z
            Vec4::new(1.0, 0.0, 0.0, 0.0),  // optical z (forward) = body x
            Vec4::new(1.5, 0.0, 1.4, 1.0),
        );
        let tf = transform_stamped(header(0, "agent0/base_link").unwrap(), "agent0/front_optical", &base_from_camera);
        assert_eq!(
            (tf.header.frame_id.as_str(), tf.child_frame_id.as_str()),
            ("agent0/base_link", "agent0/front_optical")
        );
        assert_eq!((tf.transform.translation.x, tf.transform.translation.z), (1.5, 1.399_999_976_158_142));
        let q = tf.transform.rotation;
        let r = Quat::from_xyzw(q.x as f32, q.y as f32, q.z as f32, q.w as f32);
        assert!((r * Vec3::Z - Vec3::X).length() < 1e-6, "the optical axis looks along the body's x");
    }

    #[test]
    fn odometry_twist_is_in_the_body_frame() {
        let odom = odometry(header(100, "map").unwrap(), "agent0/base_link", &Mat4::IDENTITY, 4.5, -0.25);
        assert_eq!((odom.twist.twist.linear.x, odom.twist.twist.angular.z), (4.5, -0.25));
        assert_eq!(odom.child_frame_id, "agent0/base_link");
        assert_eq!(odom.header.stamp, Time { sec: 0, nanosec: 100 });
    }

    #[test]
    fn commands_must_be_finite_and_in_range() {
        let mut t = Twist::default();
        t.linear.x = 2.0;
        t.angular.z = 0.5;
        t.linear.y = -0.5;
        let c = velocity_command(&t).unwrap();
        assert_eq!((c.forward_mps, c.left_mps, c.up_mps, c.yaw_rate_rps), (2.0, -0.5, 0.0, 0.5));
        t.angular.z = f64::NAN;
        assert_eq!(velocity_command(&t).unwrap_err().field, "yaw_rate_rps");
        t.angular.z = 0.0;
        t.linear.x = 1e300;
        assert_eq!(velocity_command(&t).unwrap_err().field, "forward_mps");
        let d = AckermannDrive { steering_angle: -0.2, speed: 3.0, ..Default::default() };
        assert_eq!(ackermann_command(&d).unwrap(), AckermannCommand { speed_mps: 3.0, steering_angle_rad: -0.2 });
        let d = AckermannDrive { speed: f32::INFINITY, ..d };
        assert_eq!(ackermann_command(&d).unwrap_err().field, "speed_mps");
    }
}
