//! The action encoder's PRoPE matrices (`camera_enc::prope_matrices`, glam f32, sent on `prope`) and the
//! DiT's (`worldflow_dit::Camera::prope_matrices`, f64 inside, used by camera attention) are one definition
//! written twice: this test pins them to each other on the same cameras, so neither can drift.
//!
//! Tolerance 1e-5 of the matrix scale: the encoder inverts a rigid pose and multiplies in f32 (a few ulps
//! per entry), the DiT in f64 rounded once to f32; anything above that is a different convention (axes,
//! normalisation, principal point), which moves entries by O(1).

use glam::{Mat4, Quat, Vec3};
use worldflow_action_encoder::camera_enc::prope_matrices;
use worldflow_protocol::{mat4_to_rows, rigid_inverse, Intrinsics};
use worldflow_testkit::assert_close;

fn row_major(m: &Mat4) -> Vec<f32> {
    m.transpose().to_cols_array().to_vec()
}

#[test]
fn encoder_and_dit_prope_agree() {
    let cameras = [
        (Mat4::IDENTITY, Intrinsics::from_fov_x(640, 352, 90f32.to_radians())),
        (
            Mat4::from_rotation_translation(Quat::from_rotation_y(0.7), Vec3::new(1.0, -2.0, 3.5)),
            Intrinsics::from_fov_x(64, 64, 60f32.to_radians()),
        ),
        (
            Mat4::from_rotation_translation(
                Quat::from_euler(glam::EulerRot::XYZ, 0.3, -1.1, 2.0),
                Vec3::new(-12.0, 0.5, 40.0),
            ),
            Intrinsics { fx: 300.0, fy: 280.0, cx: 160.0, cy: 90.0 },
        ),
    ];
    for (i, (world_from_camera, k)) in cameras.iter().enumerate() {
        let (p, p_inv) = prope_matrices(k, &rigid_inverse(world_from_camera));
        let camera = worldflow_dit::Camera {
            world_from_camera: mat4_to_rows(world_from_camera),
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
        };
        let (dit_p, dit_p_inv) = camera.prope_matrices().expect("a valid camera");
        let flat = |m: [[f32; 4]; 4]| m.iter().flatten().copied().collect::<Vec<f32>>();
        assert_close(&format!("camera {i}: P"), &row_major(&p), &flat(dit_p), 1e-5);
        assert_close(&format!("camera {i}: P⁻¹"), &row_major(&p_inv), &flat(dit_p_inv), 1e-5);
    }
}
