//! Real spherical harmonics up to degree 3, with the constants and sign conventions of the 3DGS reference.
//!
//! `coeffs[k]` is the RGB coefficient of basis function `k` (coefficient-major, as in
//! `worldflow_protocol::Gaussians`); `dir` must be a unit vector (world frame, camera → Gaussian).
//! The result excludes the `+0.5` offset and the clamp, which the caller applies.

use glam::Vec3;

pub(crate) const C0: f32 = 0.282_094_8;
pub(crate) const C1: f32 = 0.488_602_5;
pub(crate) const C2: [f32; 5] = [1.092_548_4, -1.092_548_4, 0.315_391_57, -1.092_548_4, 0.546_274_2];
pub(crate) const C3: [f32; 7] =
    [-0.590_043_6, 2.890_611_4, -0.457_045_8, 0.373_176_34, -0.457_045_8, 1.445_305_7, -0.590_043_6];

#[inline]
fn madd(acc: [f32; 3], w: f32, c: [f32; 3]) -> [f32; 3] {
    [acc[0] + w * c[0], acc[1] + w * c[1], acc[2] + w * c[2]]
}

/// Evaluates SH of `degree` (0..=3, `coeffs.len() >= (degree+1)²`) along `dir`.
#[inline(always)]
pub(crate) fn eval_sh(degree: u8, coeffs: &[[f32; 3]], dir: Vec3) -> [f32; 3] {
    let mut r = [C0 * coeffs[0][0], C0 * coeffs[0][1], C0 * coeffs[0][2]];
    if degree == 0 {
        return r;
    }
    let (x, y, z) = (dir.x, dir.y, dir.z);
    r = madd(r, -C1 * y, coeffs[1]);
    r = madd(r, C1 * z, coeffs[2]);
    r = madd(r, -C1 * x, coeffs[3]);
    if degree == 1 {
        return r;
    }
    let (xx, yy, zz) = (x * x, y * y, z * z);
    let (xy, yz, xz) = (x * y, y * z, x * z);
    r = madd(r, C2[0] * xy, coeffs[4]);
    r = madd(r, C2[1] * yz, coeffs[5]);
    r = madd(r, C2[2] * (2.0 * zz - xx - yy), coeffs[6]);
    r = madd(r, C2[3] * xz, coeffs[7]);
    r = madd(r, C2[4] * (xx - yy), coeffs[8]);
    if degree == 2 {
        return r;
    }
    r = madd(r, C3[0] * y * (3.0 * xx - yy), coeffs[9]);
    r = madd(r, C3[1] * xy * z, coeffs[10]);
    r = madd(r, C3[2] * y * (4.0 * zz - xx - yy), coeffs[11]);
    r = madd(r, C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy), coeffs[12]);
    r = madd(r, C3[4] * x * (4.0 * zz - xx - yy), coeffs[13]);
    r = madd(r, C3[5] * z * (xx - yy), coeffs[14]);
    r = madd(r, C3[6] * x * (xx - 3.0 * yy), coeffs[15]);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degree_zero_is_c0_times_dc() {
        let c = eval_sh(0, &[[1.0, 2.0, -1.0]], Vec3::Z);
        assert_eq!(c, [C0, 2.0 * C0, -C0]);
    }

    #[test]
    fn degree_one_signs_follow_reference() {
        // Only sh1 (the y basis, with a minus sign) set: looking along +y gives −C1.
        let mut coeffs = [[0.0f32; 3]; 4];
        coeffs[1] = [1.0, 1.0, 1.0];
        let c = eval_sh(1, &coeffs, Vec3::Y);
        assert!((c[0] + C1).abs() < 1e-7, "{c:?}");
    }
}
