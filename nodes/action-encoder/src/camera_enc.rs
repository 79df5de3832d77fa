//! Camera encodings for the DiT: PRoPE projection matrices and 6-channel ray maps.
//!
//! * PRoPE (reference/world-models.md §2): `P = lift(K_norm) · camera_from_world`, with `K_norm` the
//!   intrinsics normalised to the image (`fx/(2cx)`, `fy/(2cy)`, principal point 0.5) lifted to 4×4. The
//!   attention branch uses `P` and `P⁻¹` per frame.
//! * Ray map (ShareVerse, §6): per cell of the latent grid (`stride` pixels, 8 for the Wan VAE), the ray through
//!   the cell's centre pixel `(stride·j + stride/2, stride·i + stride/2)`: direction `d = R · K⁻¹ [u, v, 1]`
//!   (z component 1 in the camera before rotation), origin = camera centre minus `origin_offset` (the mean of
//!   the translations being centred). Layout channel-major `[6, H/stride, W/stride]`: dx dy dz ox oy oz.
//! * Latent packing: 4 consecutive frames concatenated on channels → `[24, h, w]`.

use glam::{Mat3, Mat4, Vec3};
use worldflow_protocol::Intrinsics;

/// `(P, P⁻¹)` for one frame.
pub fn prope_matrices(intrinsics: &Intrinsics, camera_from_world: &Mat4) -> (Mat4, Mat4) {
    let k = Mat4::from_cols(
        glam::Vec4::new(intrinsics.fx / (2.0 * intrinsics.cx), 0.0, 0.0, 0.0),
        glam::Vec4::new(0.0, intrinsics.fy / (2.0 * intrinsics.cy), 0.0, 0.0),
        glam::Vec4::new(0.5, 0.5, 1.0, 0.0),
        glam::Vec4::W,
    );
    let p = k * *camera_from_world;
    (p, p.inverse())
}

/// The 6-channel ray map of one frame on a grid of `stride`-pixel cells.
pub fn ray_map(
    intrinsics: &Intrinsics,
    world_from_camera: &Mat4,
    width: u32,
    height: u32,
    stride: u32,
    origin_offset: Vec3,
) -> Vec<f32> {
    let (gw, gh) = ((width / stride) as usize, (height / stride) as usize);
    let r = Mat3::from_mat4(*world_from_camera);
    let origin = world_from_camera.w_axis.truncate() - origin_offset;
    let plane = gw * gh;
    let mut out = vec![0.0f32; 6 * plane];
    let half = stride as f32 * 0.5;
    for i in 0..gh {
        for j in 0..gw {
            let u = stride as f32 * j as f32 + half;
            let v = stride as f32 * i as f32 + half;
            let d_cam = Vec3::new((u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, 1.0);
            let d = r * d_cam;
            let cell = i * gw + j;
            for (c, val) in [d.x, d.y, d.z, origin.x, origin.y, origin.z].into_iter().enumerate() {
                out[c * plane + cell] = val;
            }
        }
    }
    out
}

/// Ray maps that cannot be packed into one latent.
#[derive(Debug, thiserror::Error)]
#[error("ray maps to pack must be 4 maps of equal size, a multiple of 6 channels; found sizes {sizes:?}")]
pub struct PackError {
    pub sizes: [usize; 4],
}

/// Concatenates 4 consecutive `[6, h, w]` maps on channels into `[24, h, w]`.
pub fn pack_latent(frames: [&[f32]; 4]) -> Result<Vec<f32>, PackError> {
    let n = frames[0].len();
    if !n.is_multiple_of(6) || frames.iter().any(|f| f.len() != n) {
        return Err(PackError { sizes: frames.map(|f| f.len()) });
    }
    Ok(frames.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prope_of_identity_camera_is_normalised_k() {
        let k = Intrinsics { fx: 100.0, fy: 50.0, cx: 50.0, cy: 25.0 };
        let (p, p_inv) = prope_matrices(&k, &Mat4::IDENTITY);
        // A point on the optical axis at depth 2 projects to (0.5, 0.5) after dividing by z.
        let q = p * glam::Vec4::new(0.0, 0.0, 2.0, 1.0);
        assert!((q.x / q.z - 0.5).abs() < 1e-6 && (q.y / q.z - 0.5).abs() < 1e-6);
        // A point at the image's right edge (u = W = 2cx) projects to 1.0.
        let q = p * glam::Vec4::new(1.0, 0.0, 1.0, 1.0);
        assert!((q.x / q.z - 1.5).abs() < 1e-6, "x = fx/(2cx)·1 + 0.5 = 1.5");
        assert!(((p * p_inv) - Mat4::IDENTITY).to_cols_array().iter().all(|v| v.abs() < 1e-5));
    }

    #[test]
    fn ray_map_centre_ray_is_camera_forward() {
        let k = Intrinsics { fx: 8.0, fy: 8.0, cx: 8.0, cy: 8.0 };
        let c2w = Mat4::from_rotation_translation(
            glam::Quat::from_rotation_y(std::f32::consts::FRAC_PI_2),
            Vec3::new(1.0, 2.0, 3.0),
        );
        let m = ray_map(&k, &c2w, 16, 16, 8, Vec3::new(1.0, 0.0, 0.0));
        let plane = 4;
        // Cell (0, 0) has centre pixel (4, 4): camera direction (−0.5, −0.5, 1) rotated by +90° about y.
        let d = Vec3::new(m[0], m[plane], m[2 * plane]);
        let expected = c2w.transform_vector3(Vec3::new(-0.5, -0.5, 1.0));
        assert!((d - expected).length() < 1e-6, "{d} vs {expected}");
        assert_eq!([m[3 * plane], m[4 * plane], m[5 * plane]], [0.0, 2.0, 3.0]);
        let packed = pack_latent([&m, &m, &m, &m]).unwrap();
        assert_eq!(packed.len(), 24 * plane);
        assert!(pack_latent([&m, &m, &m, &m[..6]]).is_err());
    }
}
