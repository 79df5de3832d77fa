//! Conformance with gsplat 1.5.3 (CUDA) in `--compat gsplat` mode, on the two golden cases that brush
//! ships (`../shared/data/brush-goldens/`, or `$BRUSH_GOLDENS`). Those files are not part of this
//! repository, so without them the test prints that it did not run (and fails when `CI` is set); the
//! committed NumPy goldens (`goldens.rs`) are the suite's own reference. Case format and camera: the
//! NOTICE.md beside the files.

use glam::{Quat, Vec3};
use worldflow_protocol::{Camera, Gaussians, Intrinsics};
use worldflow_splat::{Compat, Image, RenderOptions, Renderer};

/// gsplat renders in f32 on the GPU with its own operation order; measured here: 3.0e-7 (tiny) and
/// 5.1e-7 (basic). Same tolerance as the NumPy goldens.
const TOLERANCE: f32 = 1e-5;

#[test]
fn gsplat_mode_matches_gsplat_on_brush_cases() {
    let Some(dir) = worldflow_testkit::shared_data("brush-goldens", "BRUSH_GOLDENS", "tiny_case.safetensors") else {
        return;
    };
    for case in ["tiny_case", "basic_case"] {
        let t = worldflow_testkit::read_f32_tensors(&dir.join(format!("{case}.safetensors"))).unwrap();
        let (means, log_scales, quats, coeffs, logits) =
            (&t["means"].1, &t["scales"].1, &t["quats"].1, &t["coeffs"].1, &t["opacities"].1);
        let n = logits.len();
        assert_eq!(t["coeffs"].0, vec![n, 16, 3], "{case}: SH degree 3");
        let mut g = Gaussians::new(3);
        for i in 0..n {
            let v = |a: &[f32], k: usize| Vec3::new(a[k * i], a[k * i + 1], a[k * i + 2]);
            let q = &quats[4 * i..4 * i + 4]; // w, x, y, z
            let sh: Vec<[f32; 3]> = (0..16).map(|j| [0, 1, 2].map(|c| coeffs[i * 48 + j * 3 + c])).collect();
            let scale = Vec3::new(log_scales[3 * i].exp(), log_scales[3 * i + 1].exp(), log_scales[3 * i + 2].exp());
            let opacity = 1.0 / (1.0 + (-logits[i]).exp());
            g.push(i as u64, v(means, 3), scale, Quat::from_xyzw(q[1], q[2], q[3], q[0]), opacity, &sh);
        }
        let (w, h) = (123u32, 82u32);
        let f = 0.5 * w as f32; // 0.5·W / tan(45°)
        let camera = Camera {
            width: w,
            height: h,
            intrinsics: Intrinsics { fx: f, fy: f, cx: w as f32 / 2.0, cy: h as f32 / 2.0 },
            camera_from_world: glam::Mat4::from_translation(-Vec3::new(0.123, 0.456, -8.0)),
        };
        let mut renderer = Renderer::new(RenderOptions { compat: Compat::Gsplat, ..Default::default() });
        let mut image = Image::default();
        renderer.render(&g, &camera, &mut image).unwrap();
        let (shape, expected) = &t["out_img"];
        assert_eq!(shape, &vec![h as usize, w as usize, 4]);
        let mut worst = (0.0f32, 0usize);
        for p in 0..(w * h) as usize {
            for c in 0..3 {
                let d = (image.data[3 * p + c] - expected[4 * p + c]).abs();
                if d > worst.0 || d.is_nan() {
                    worst = (d, p);
                }
            }
        }
        println!("{case}: {n} Gaussians, max abs error {:e} vs gsplat 1.5.3", worst.0);
        assert!(worst.0 <= TOLERANCE, "{case}: max abs error {} at pixel {}", worst.0, worst.1);
        assert!(expected.chunks_exact(4).any(|px| px[0] > 0.01), "{case}: the golden image is not empty");
    }
}
