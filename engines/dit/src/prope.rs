//! PRoPE: cameras as relative positional encoding (Li et al. 2025, as used by WorldPlay).
//!
//! Per latent frame, `P = lift(K_norm) · camera_from_world` (4×4), with OpenCV camera axes and
//! intrinsics normalised to the image (`fx/(2cx)`, `fy/(2cy)`, principal point 0.5; `lift`
//! embeds the 3×3 in a 4×4 with a 1 in the corner). Applied per 4-dim block of the head dim:
//! `q' = Pᵀ q`, `k' = P⁻¹ k`, `v' = P⁻¹ v`, attention, then the output is multiplied by `P` of
//! the query's frame, so that scores depend on `P_i P_j⁻¹` only (relative camera transform).
//! A frame without a camera uses `P = I`.
//!
//! That is [`PropeIntrinsics::Centered`]. WorldPlay (`hyvideo/prope/camera_rope.py`) takes
//! intrinsics that are already normalised and zeroes the principal point: `K̂ = diag(fx, fy, 1)`
//! ([`PropeIntrinsics::Normalized`]).

use crate::config::PropeIntrinsics;

/// One camera: pose (camera-to-world, OpenCV axes, row-major 4×4) and pixel intrinsics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    pub world_from_camera: [[f32; 4]; 4],
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
}

pub type Mat4 = [[f32; 4]; 4];

pub const IDENTITY: Mat4 = [[1., 0., 0., 0.], [0., 1., 0., 0.], [0., 0., 1., 0.], [0., 0., 0., 1.]];

fn mul(a: &[[f64; 4]; 4], b: &[[f64; 4]; 4]) -> [[f64; 4]; 4] {
    let mut o = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..4 {
            o[i][j] = (0..4).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    o
}

/// Inverse by Gauss–Jordan with partial pivoting; `None` if singular.
pub(crate) fn inverse(m: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut a = *m;
    let mut inv = [[0.0; 4]; 4];
    (0..4).for_each(|i| inv[i][i] = 1.0);
    for c in 0..4 {
        let p = (c..4).max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        inv.swap(c, p);
        let s = 1.0 / a[c][c];
        for j in 0..4 {
            a[c][j] *= s;
            inv[c][j] *= s;
        }
        for r in 0..4 {
            if r != c {
                let f = a[r][c];
                for j in 0..4 {
                    a[r][j] -= f * a[c][j];
                    inv[r][j] -= f * inv[c][j];
                }
            }
        }
    }
    Some(inv)
}

fn to64(m: &Mat4) -> [[f64; 4]; 4] {
    m.map(|r| r.map(|x| x as f64))
}
fn to32(m: &[[f64; 4]; 4]) -> Mat4 {
    m.map(|r| r.map(|x| x as f32))
}

impl Camera {
    /// `(P, P⁻¹)` with [`PropeIntrinsics::Centered`]; `None` when the pose or intrinsics are singular
    /// (or not finite).
    pub fn prope_matrices(&self) -> Option<(Mat4, Mat4)> {
        self.prope_matrices_with(PropeIntrinsics::Centered)
    }

    /// `(P, P⁻¹)` with the intrinsics convention `intrinsics`.
    pub fn prope_matrices_with(&self, intrinsics: PropeIntrinsics) -> Option<(Mat4, Mat4)> {
        if !(self.fx * self.fy).is_normal() {
            return None;
        }
        let mut k = [[0.0f64; 4]; 4];
        match intrinsics {
            PropeIntrinsics::Centered => {
                if self.cx <= 0.0 || self.cy <= 0.0 {
                    return None;
                }
                k[0][0] = self.fx as f64 / (2.0 * self.cx as f64);
                k[1][1] = self.fy as f64 / (2.0 * self.cy as f64);
                k[0][2] = 0.5;
                k[1][2] = 0.5;
            }
            PropeIntrinsics::Normalized => {
                k[0][0] = self.fx as f64;
                k[1][1] = self.fy as f64;
            }
        }
        k[2][2] = 1.0;
        k[3][3] = 1.0;
        let c2w = to64(&self.world_from_camera);
        if c2w.iter().flatten().any(|x| !x.is_finite()) {
            return None;
        }
        let w2c = inverse(&c2w)?;
        let p = mul(&k, &w2c);
        let p_inv = inverse(&p)?;
        Some((to32(&p), to32(&p_inv)))
    }
}

/// `x ← M x` per 4-dim block of every row of `x` [tokens, dim]; `mats[token]` selects M.
/// With `transpose`, uses Mᵀ.
pub fn apply_blocks(x: &mut [f32], dim: usize, mats: &[&Mat4], transpose: bool) {
    crate::ops::par_rows(x, dim, |tok, row| {
        let m = mats[tok];
        for b in row.chunks_exact_mut(4) {
            let v = [b[0], b[1], b[2], b[3]];
            for i in 0..4 {
                b[i] = (0..4).map(|j| if transpose { m[j][i] } else { m[i][j] } * v[j]).sum();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_times_p_inv_is_identity() {
        let (s, c) = (0.3f32.sin(), 0.3f32.cos());
        let cam = Camera {
            world_from_camera: [[c, 0., s, 1.], [0., 1., 0., -2.], [-s, 0., c, 0.5], [0., 0., 0., 1.]],
            fx: 300.,
            fy: 310.,
            cx: 160.,
            cy: 120.,
        };
        let (p, pi) = cam.prope_matrices().expect("regular");
        #[allow(clippy::needless_range_loop, reason = "matrix indices, as in the product's formula")]
        for i in 0..4 {
            for j in 0..4 {
                let v: f32 = (0..4).map(|k| p[i][k] * pi[k][j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-5);
            }
        }
        let bad = Camera { fx: 0.0, ..cam };
        assert!(bad.prope_matrices().is_none());
    }
}
