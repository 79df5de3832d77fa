//! The flow field of rigid bodies: from each body's pose at ticks `t − 1` and `t`, the constant planar twist
//! that carries one to the other, written on the cells around the body's old box (see [`crate::flow`] for
//! how the Actor samples it). Usable by any Director that knows its bodies.

use glam::{Mat3, Mat4, Vec2, Vec3};

use crate::body::{for_cells_in_box, RigidBody, EGO_BODY_ID_BASE};
use crate::flow::{FlowCell, FlowError, FlowField};
use crate::grid::GridSpec;

/// The flow is defined in a band this many cells wide around each moving body, so that trilinear sampling
/// anywhere in the body (and half a cell around it) only reads defined corners — see [`crate::flow`].
pub const FLOW_BAND_CELLS: f32 = 2.0;

/// The constant twist that carries `old` to `new` in `dt_secs` (planar: yaw about z), as a flow field
/// `v(x) = v_c + ω × (x − c_old)`. With `θ = Δyaw`, the centre moves by `V(θ)·v_c·dt` where
/// `V(θ) = sinc(θ/2)·R(θ/2)`, so `v_c = R(−θ/2)·d / (dt·sinc(θ/2))`.
fn twist(old: &Mat4, new: &Mat4, dt_secs: f32) -> (Vec3, Vec3) {
    let yaw = |m: &Mat4| m.x_axis.y.atan2(m.x_axis.x);
    let mut dyaw = yaw(new) - yaw(old);
    dyaw = (dyaw + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI;
    let d = (new.w_axis - old.w_axis).truncate();
    let half = 0.5 * dyaw;
    let sinc = if half.abs() < 1e-4 { 1.0 - half * half / 6.0 } else { half.sin() / half };
    let d_xy = Vec2::from_angle(-half).rotate(d.truncate()) / sinc;
    let v_c = Vec3::new(d_xy.x, d_xy.y, d.z) / dt_secs;
    (v_c, Vec3::Z * (dyaw / dt_secs))
}

/// Width of the flow band of a body moving from `old` to `new`: a point of the body (or half a cell around
/// it) displaced by half the tick's motion (the RK2 midpoint) reads trilinear corners at most 1.5 cells + that
/// displacement away from the box; capped at [`FLOW_BAND_CELLS`] (slow walkers get narrow bands), metres.
fn flow_band_m(cell_size_m: f32, old: &RigidBody, new: &RigidBody) -> f32 {
    let e = old.half_extent_m;
    let moved = [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)]
        .iter()
        .map(|&(sx, sy)| {
            let local = Vec3::new(sx * e.x, sy * e.y, 0.0);
            (new.world_from_body.transform_point3(local) - old.world_from_body.transform_point3(local)).length()
        })
        .fold(0.0f32, f32::max);
    (1.5 * cell_size_m + 0.5 * moved + 0.05 * cell_size_m).min(FLOW_BAND_CELLS * cell_size_m)
}

/// The flow `F_{t−1→t}` of rigid bodies moving from `old` to `new` poses in `dt_secs` (pairs of the same
/// body): each body's constant twist ([`twist`]), defined on the cells within its band ([`flow_band_m`], at
/// most [`FLOW_BAND_CELLS`]) of its
/// *old* box, labelled with the body's id. A cell near several bodies holds one entry per body, the nearer
/// box first (ties: lower id) — see the motion layers of [`crate::flow`]. Usable by any Director that knows
/// its bodies.
pub fn rigid_flow(spec: &GridSpec, moves: &[(RigidBody, RigidBody)], dt_secs: f32) -> Result<FlowField, FlowError> {
    if !(dt_secs.is_finite() && dt_secs > 0.0) {
        return Err(FlowError::Interval { dt_secs });
    }
    let mut candidates: Vec<(u32, f32, u64, Vec3)> = Vec::new();
    for (old, new) in moves {
        let (v_c, omega) = twist(&old.world_from_body, &new.world_from_body, dt_secs);
        let rot = Mat3::from_mat4(old.world_from_body);
        let band = flow_band_m(spec.cell_size_m, old, new);
        for_cells_in_box(spec, old, band, |index, local| {
            let outside = (local.abs() - old.half_extent_m).max(Vec3::ZERO).length();
            // x − centre of the cell, from its body-frame position.
            candidates.push((index, outside, old.id, v_c + omega.cross(rot * local)));
        });
    }
    // Order: cell, then nearer box first, then lower id (`outside` ≥ 0, so its bits order like the value).
    let key = |c: &(u32, f32, u64, Vec3)| ((c.0 as u128) << 96) | ((c.1.to_bits() as u128) << 64) | c.2 as u128;
    candidates.sort_unstable_by_key(key);
    let cells = candidates
        .into_iter()
        .map(|(index, _, body, velocity_mps)| FlowCell { index, velocity_mps, body_id: Some(body) })
        .collect();
    FlowField::new(*spec, cells)
}

/// The flow of one tick from the bodies at its start (`previous`) and end (`current`), both ascending id: every
/// body present in both that moved contributes its twist — except the egos (ids from [`EGO_BODY_ID_BASE`]),
/// which the Director places at their commanded pose before the tick's motion, so they carry no flow. What
/// the Director computes, and what a receiver of its world deltas computes again from the bodies (the flow
/// itself never crosses the wire).
pub fn flow_between(
    spec: &GridSpec,
    previous: &[RigidBody],
    current: &[RigidBody],
    dt_secs: f32,
) -> Result<FlowField, FlowError> {
    let mut moves = Vec::new();
    let mut old = previous.iter().peekable();
    for new in current {
        while old.next_if(|o| o.id < new.id).is_some() {}
        if let Some(o) = old.next_if(|o| o.id == new.id) {
            if o.world_from_body != new.world_from_body && new.id < EGO_BODY_ID_BASE {
                moves.push((*o, *new));
            }
        }
    }
    rigid_flow(spec, &moves, dt_secs)
}

#[cfg(test)]
mod tests {
    use glam::Quat;

    use super::*;

    #[test]
    fn twist_reproduces_the_pose_change_exactly() {
        let old = Mat4::from_rotation_translation(Quat::from_rotation_z(0.3), Vec3::new(10.0, 5.0, 0.75));
        let new = Mat4::from_rotation_translation(Quat::from_rotation_z(0.55), Vec3::new(10.4, 5.2, 0.75));
        let dt = 0.05;
        let (v_c, omega) = twist(&old, &new, dt);
        // Integrate the steady field finely: a point of the body must land where the new pose puts it.
        let local = Vec3::new(2.0, -0.8, 0.3);
        let mut x = old.transform_point3(local);
        let c_old = old.w_axis.truncate();
        let n = 2000;
        for _ in 0..n {
            let v = |p: Vec3| v_c + omega.cross(p - c_old);
            let h = dt / n as f32;
            let mid = x + 0.5 * h * v(x);
            x += h * v(mid);
        }
        assert!((x - new.transform_point3(local)).length() < 1e-4, "{x}");
    }
}
