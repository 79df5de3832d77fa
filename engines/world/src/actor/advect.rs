//! Moving Gaussians along a flow field.
//!
//! Mean: explicit midpoint (RK2) — `x_mid = x + ½dt·v(x)`, `x' = x + dt·v(x_mid)` — with `v` sampled
//! trilinearly ([`crate::FlowField::sample_with_jacobian`]). Covariance: with `A = I + dt·J(x_mid)`,
//! either the full update `Σ' = A·Σ·Aᵀ` re-decomposed into rotation + scales (symmetric Jacobi eigen
//! solver), or the rigid part only — rotate by `exp(dt·ω)` with `ω` the axial vector of the skew part of
//! `J`, scales unchanged (exact for rigid bodies, whose `J` is skew). Band-1 SH follow the same rotation.
//!
//! Invariants: outputs are finite when inputs are; rotations stay unit; scales stay > 0 (floored at 1e-6).

use glam::{IVec3, Mat3, Quat, Vec3};

use crate::flow::FlowSampler;

/// How covariances follow the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CovarianceUpdate {
    /// Rotate by the skew (rigid) part of the flow Jacobian; scales unchanged.
    #[default]
    RigidPart,
    /// `Σ ← (I + dt·J) Σ (I + dt·J)ᵀ`, then re-decomposed.
    FullJacobian,
}

/// Result of advecting one Gaussian.
#[derive(Debug, Clone, Copy)]
pub struct Advected {
    pub mean: Vec3,
    pub scale: Vec3,
    pub rotation: Quat,
    /// Rotation applied this step (for the band-1 SH).
    pub delta_rotation: Quat,
}

/// A small direct-mapped cache of trilinear stencils (8 corner velocities) for one flow field: Gaussians of
/// one body share few stencils, and fetching corners is the cost of advection (random memory reads).
pub struct CornerCache<'a, S: FlowSampler> {
    flow: &'a S,
    keys: Vec<(IVec3, Option<u64>)>,
    values: Vec<[Option<Vec3>; 8]>,
}

const CACHE_SLOTS: usize = 1024;

impl<'a, S: FlowSampler> CornerCache<'a, S> {
    pub fn new(flow: &'a S) -> Self {
        Self { flow, keys: vec![(IVec3::MIN, None); CACHE_SLOTS], values: vec![[None; 8]; CACHE_SLOTS] }
    }

    fn corners(&mut self, base: IVec3, body: Option<u64>) -> [Option<Vec3>; 8] {
        let h = worldflow_base::rng::hash_keys(&[
            base.x as u64,
            base.y as u64,
            base.z as u64,
            body.map_or(u64::MAX, |b| b),
        ]);
        let slot = (h as usize) & (CACHE_SLOTS - 1);
        if self.keys[slot] != (base, body) {
            self.keys[slot] = (base, body);
            self.values[slot] = self.flow.corners(base, body);
        }
        self.values[slot]
    }
}

/// Advects one Gaussian; `None` when the flow is undefined at its mean (it does not move).
pub fn advect<S: FlowSampler>(
    cache: &mut CornerCache<'_, S>,
    body: Option<u64>,
    dt: f32,
    mean: Vec3,
    scale: Vec3,
    rotation: Quat,
    mode: CovarianceUpdate,
) -> Option<Advected> {
    // The midpoint usually stays in the same stencil: fetch the 8 corners once then.
    let flow = cache.flow;
    let (base, f) = flow.locate(mean);
    let corners = cache.corners(base, body);
    let v1 = flow.interpolate_value(&corners, f)?;
    let mid = mean + 0.5 * dt * v1;
    let (base_mid, f_mid) = flow.locate(mid);
    let corners_mid = if base_mid == base { corners } else { cache.corners(base_mid, body) };
    let sampled = flow.interpolate(&corners_mid, f_mid);
    let (v2, jac) = sampled.unwrap_or((v1, Mat3::ZERO));
    let new_mean = mean + dt * v2;
    let omega = 0.5 * Vec3::new(jac.y_axis.z - jac.z_axis.y, jac.z_axis.x - jac.x_axis.z, jac.x_axis.y - jac.y_axis.x);
    let delta_rotation = Quat::from_scaled_axis(omega * dt);
    let (scale, rotation) = match mode {
        CovarianceUpdate::RigidPart => (scale, (delta_rotation * rotation).normalize()),
        CovarianceUpdate::FullJacobian => {
            let a = Mat3::IDENTITY + jac * dt;
            let r = Mat3::from_quat(rotation);
            let sigma = r * Mat3::from_diagonal(scale * scale) * r.transpose();
            let sigma = a * sigma * a.transpose();
            let (values, vectors) = symmetric_eigen(sigma);
            let scale = values.max(Vec3::splat(1e-12)).map(f32::sqrt).max(Vec3::splat(1e-6));
            (scale, rotation_from_basis(vectors, rotation))
        }
    };
    Some(Advected { mean: new_mean, scale, rotation, delta_rotation })
}

/// Eigenvalues and eigenvectors (columns) of a symmetric 3×3 matrix, cyclic Jacobi.
pub fn symmetric_eigen(m: Mat3) -> (Vec3, Mat3) {
    let mut a = m.to_cols_array_2d(); // a[col][row]; symmetric so indexing order does not matter
    let mut v = Mat3::IDENTITY.to_cols_array_2d();
    for _sweep in 0..12 {
        let off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
        let scale = a[0][0] * a[0][0] + a[1][1] * a[1][1] + a[2][2] * a[2][2];
        if off <= 1e-14 * scale.max(1e-30) {
            break;
        }
        for (p, q) in [(0usize, 1usize), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-30 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            // A ← Jᵀ A J for the rotation J in the (p, q) plane.
            for row in &mut a {
                let (akp, akq) = (row[p], row[q]);
                row[p] = c * akp - s * akq;
                row[q] = s * akp + c * akq;
            }
            let (row_p, row_q) = (a[p], a[q]);
            a[p] = std::array::from_fn(|k| c * row_p[k] - s * row_q[k]);
            a[q] = std::array::from_fn(|k| s * row_p[k] + c * row_q[k]);
            for row in &mut v {
                let vp = row[p];
                let vq = row[q];
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    // `v` was built as rows-of-columns: v[k][p] is component k of eigenvector p, i.e. column-major transposed.
    let vectors = Mat3::from_cols_array_2d(&v).transpose();
    (Vec3::new(a[0][0], a[1][1], a[2][2]), vectors)
}

/// A proper rotation from an orthonormal eigenbasis, choosing each axis sign to stay close to `previous`.
fn rotation_from_basis(mut basis: Mat3, previous: Quat) -> Quat {
    let prev = Mat3::from_quat(previous);
    for (col, p) in [(0, prev.x_axis), (1, prev.y_axis), (2, prev.z_axis)] {
        if basis.col(col).dot(p) < 0.0 {
            *basis.col_mut(col) = -basis.col(col);
        }
    }
    if basis.determinant() < 0.0 {
        basis.z_axis = -basis.z_axis;
    }
    Quat::from_mat3(&basis).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_recovers_a_known_decomposition() {
        let r = Mat3::from_quat(Quat::from_euler(glam::EulerRot::XYZ, 0.4, -0.3, 1.2));
        let d = Vec3::new(0.04, 1.5, 0.3);
        let m = r * Mat3::from_diagonal(d) * r.transpose();
        let (values, vectors) = symmetric_eigen(m);
        let rebuilt = vectors * Mat3::from_diagonal(values) * vectors.transpose();
        let err = (rebuilt - m).to_cols_array().iter().fold(0.0f32, |a, v| a.max(v.abs()));
        assert!(err < 1e-5, "{err}");
        let mut sorted = values.to_array();
        sorted.sort_by(f32::total_cmp);
        assert!((sorted[0] - 0.04).abs() < 1e-5 && (sorted[2] - 1.5).abs() < 1e-5);
    }

    #[test]
    fn full_jacobian_update_matches_a_sigma_at() {
        use crate::flow::{FlowCell, FlowField};
        use crate::grid::GridSpec;
        let spec = GridSpec::new(Vec3::splat(-4.0), 1.0, glam::UVec3::splat(8)).unwrap();
        let j = Mat3::from_cols(Vec3::new(0.5, 0.1, 0.0), Vec3::new(-0.2, 0.3, 0.0), Vec3::new(0.0, 0.0, -0.1));
        let cells = (0..spec.cell_count() as u32)
            .map(|index| FlowCell { index, velocity_mps: j * spec.centre_of(spec.coords(index)), body_id: None })
            .collect();
        let flow = FlowField::new(spec, cells).unwrap();
        let (scale, rot) = (Vec3::new(0.3, 0.1, 0.02), Quat::from_rotation_x(0.3));
        let dt = 0.1;
        let out = advect(
            &mut CornerCache::new(&flow),
            None,
            dt,
            Vec3::new(0.2, 0.1, 0.0),
            scale,
            rot,
            CovarianceUpdate::FullJacobian,
        )
        .unwrap();
        let a = Mat3::IDENTITY + j * dt;
        let r = Mat3::from_quat(rot);
        let expected = a * r * Mat3::from_diagonal(scale * scale) * r.transpose() * a.transpose();
        let r2 = Mat3::from_quat(out.rotation);
        let got = r2 * Mat3::from_diagonal(out.scale * out.scale) * r2.transpose();
        let err = (got - expected).to_cols_array().iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(err < 1e-6, "{err}");
    }
}
