//! Rigid bodies of the world (vehicles, pedestrians, car and drone egos) as a Director reports them, and the grid
//! cells a body's box covers.
//!
//! Body frame: origin at the centre of the box, x forward, y left, z up (world z up, metres).

use glam::{Mat3, Mat4, Quat, UVec3, Vec3};
use worldflow_protocol::rigid_inverse;

use crate::grid::{GridSpec, SemanticClass};

/// Body id of ego `k` is `EGO_BODY_ID_BASE + k` (vehicles count from 0, pedestrians from
/// [`crate::PEDESTRIAN_ID_BASE`]).
pub const EGO_BODY_ID_BASE: u64 = 1 << 48;

/// A rigid body of the world (a vehicle, …).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RigidBody {
    pub id: u64,
    pub class: SemanticClass,
    /// Body frame: origin at the centre of the box, x forward, y left, z up.
    pub world_from_body: Mat4,
    /// Half extents of the box along body x, y, z, metres.
    pub half_extent_m: Vec3,
    /// Velocity of the body origin (world frame, m/s) at this tick.
    pub velocity_mps: Vec3,
    /// Angular velocity (world frame, rad/s) at this tick.
    pub angular_velocity_rps: Vec3,
    /// Seeded appearance key in [0, 1) (paint colour, …).
    pub appearance_key: f32,
}

impl RigidBody {
    /// Whether a world point lies in the body's box grown by `margin_m` on every side.
    pub fn contains(&self, p: Vec3, margin_m: f32) -> bool {
        let local = rigid_inverse(&self.world_from_body).transform_point3(p);
        (local.abs() - self.half_extent_m - Vec3::splat(margin_m)).max_element() <= 0.0
    }
}

/// Quaternion of a body pose (helper for callers that want it).
pub fn body_rotation(world_from_body: &Mat4) -> Quat {
    Quat::from_mat3(&Mat3::from_mat4(*world_from_body)).normalize()
}

/// Calls `f(index, local_position)` for every grid cell whose centre lies in the body box grown by `margin_m`.
pub(crate) fn for_cells_in_box(spec: &GridSpec, body: &RigidBody, margin_m: f32, mut f: impl FnMut(u32, Vec3)) {
    let half = body.half_extent_m + Vec3::splat(margin_m);
    let rot = Mat3::from_mat4(body.world_from_body);
    let centre = body.world_from_body.w_axis.truncate();
    let world_half = rot.x_axis.abs() * half.x + rot.y_axis.abs() * half.y + rot.z_axis.abs() * half.z;
    let lo = spec.cell_coords_signed(centre - world_half).max(glam::IVec3::ZERO);
    let hi = spec.cell_coords_signed(centre + world_half).min(spec.dims.as_ivec3() - glam::IVec3::ONE);
    let rot_t = rot.transpose();
    for k in lo.z..=hi.z {
        for j in lo.y..=hi.y {
            for i in lo.x..=hi.x {
                let c = UVec3::new(i as u32, j as u32, k as u32);
                let local = rot_t * (spec.centre_of(c) - centre);
                if (local.abs() - half).max_element() <= 0.0 {
                    f(spec.index(c), local);
                }
            }
        }
    }
}
