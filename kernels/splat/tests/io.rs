//! Scene I/O: .ply write → read round trip at every SH degree, .splat decoding, point-cloud init,
//! and malformed files producing errors that name the file and the property or vertex.

use glam::{Quat, Vec3};
use worldflow_protocol::Gaussians;
use worldflow_splat::{
    gaussians_from_point_cloud, load_scene, parse_npy, read_ply_bytes, read_splat_bytes, write_npy_f32,
    write_ply_bytes, Image, PointCloudInit, SplatError,
};

fn scene(degree: u8, n: usize) -> Gaussians {
    let mut g = Gaussians::new(degree);
    let k = (degree as usize + 1).pow(2);
    for i in 0..n {
        let f = i as f32;
        let sh: Vec<[f32; 3]> = (0..k).map(|c| [0.1 * c as f32 - f, 0.2 + f, -0.3 * c as f32]).collect();
        let q = Quat::from_xyzw(0.1 * f, -0.2, 0.3, 0.9).normalize();
        g.push(i as u64, Vec3::new(f, -f, 2.0 * f), Vec3::new(0.01 + f, 0.5, 2.0), q, 0.05 + 0.2 * f, &sh);
    }
    g
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn ply_round_trip_every_degree() {
    for degree in 0..=3u8 {
        let g = scene(degree, 4);
        let bytes = write_ply_bytes(&g).unwrap();
        assert_eq!(
            bytes.len() - (bytes.windows(11).position(|w| w == b"end_header\n").unwrap() + 11),
            4 * 4 * (17 + 3 * ((degree as usize + 1).pow(2) - 1))
        );
        let back = read_ply_bytes(&bytes, "rt.ply").unwrap();
        assert_eq!(back.sh_degree, degree);
        assert_eq!(back.ids, g.ids);
        assert_eq!(back.means, g.means);
        assert_eq!(back.sh, g.sh, "SH must survive the channel-major transpose exactly");
        for i in 0..g.len() {
            assert!(close(back.opacities[i], g.opacities[i]), "{} vs {}", back.opacities[i], g.opacities[i]);
            for a in 0..3 {
                assert!(close(back.scales[i][a], g.scales[i][a]));
            }
            assert!(back.rotations[i].abs_diff_eq(g.rotations[i], 1e-6));
        }
    }
}

/// Hand-built Inria record: checks raw → activated conversion and the f_rest transpose.
#[test]
fn ply_activations_and_f_rest_layout() {
    let mut header = String::from("ply\nformat binary_little_endian 1.0\ncomment made by hand\nelement vertex 1\n");
    let mut names: Vec<String> =
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"].map(String::from).to_vec();
    names.extend((0..9).map(|i| format!("f_rest_{i}")));
    names.extend(["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"].map(String::from));
    for n in &names {
        header.push_str(&format!("property float {n}\n"));
    }
    header.push_str("end_header\n");
    let mut values = vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.5, 0.6, 0.7];
    values.extend((0..9).map(|i| i as f32)); // r: 0 1 2, g: 3 4 5, b: 6 7 8
    values.extend([0.0, 0.0, 1.0f32.ln(), (-1.0f32), 2.0, 0.0, 0.0, 0.0]);
    let mut bytes = header.into_bytes();
    for v in values {
        bytes.extend_from_slice(&f32::to_le_bytes(v));
    }
    let g = read_ply_bytes(&bytes, "hand.ply").unwrap();
    assert_eq!(g.sh_degree, 1);
    assert_eq!(g.sh, vec![[0.5, 0.6, 0.7], [0.0, 3.0, 6.0], [1.0, 4.0, 7.0], [2.0, 5.0, 8.0]]);
    assert_eq!(g.opacities[0], 0.5);
    assert_eq!(g.scales[0], Vec3::new(1.0, 1.0, (-1.0f32).exp()));
    assert_eq!(g.rotations[0], Quat::IDENTITY);
}

fn ply_err(bytes: &[u8]) -> String {
    match read_ply_bytes(bytes, "bad.ply") {
        Err(e @ SplatError::Format { .. }) => e.to_string(),
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn malformed_ply_files_are_named_errors() {
    let good = write_ply_bytes(&scene(1, 3)).unwrap();
    let text = String::from_utf8_lossy(&good[..good.windows(11).position(|w| w == b"end_header\n").unwrap() + 11])
        .into_owned();
    let body = &good[text.len()..];
    let with_header = |h: String| [h.as_bytes(), body].concat();

    let e = ply_err(&good[..good.len() - 5]);
    assert!(e.starts_with("bad.ply: truncated data") && e.contains("vertex 2"), "{e}");
    let e = ply_err(&[good.as_slice(), &[0u8; 4]].concat());
    assert!(e.contains("unexpected bytes after the last vertex"), "{e}");
    let e =
        ply_err(&with_header(text.replace(
            "property float f_dc_1\nproperty float f_dc_2\n",
            "property float f_dc_2\nproperty float f_dc_1\n",
        )));
    assert!(e.contains("property 7 is 'f_dc_2', expected 'f_dc_1'"), "{e}");
    let e = ply_err(&with_header(text.replace("property float opacity", "property double opacity")));
    assert!(e.contains("'opacity' has type 'double'"), "{e}");
    let e = ply_err(&with_header(text.replace("binary_little_endian", "ascii")));
    assert!(e.contains("format 'ascii' unsupported"), "{e}");
    let e = ply_err(&with_header(text.replace("property float f_rest_8\n", "")));
    assert!(e.contains("8 f_rest properties"), "{e}");
    let e = ply_err(&with_header(text.replace("property float rot_3\n", "")));
    assert!(e.contains("missing property 'rot_3'"), "{e}");
    let e = ply_err(b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n");
    assert!(e.contains("end_header"), "{e}");
    let e = ply_err(&with_header(text.replace("element vertex 3", "element face 3")));
    assert!(e.contains("element 'face'"), "{e}");
    let e = ply_err(b"PLY?\nend_header\n");
    assert!(e.contains("expected 'ply'"), "{e}");
}

#[test]
fn splat_file_decoding() {
    let mut bytes = Vec::new();
    for v in [1.0f32, 2.0, 3.0, 0.1, 0.2, 0.3] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&[255, 0, 128, 51]); // RGBA
    bytes.extend_from_slice(&[255, 128, 128, 128]); // q ≈ (1, 0, 0, 0) as w, x, y, z
    let g = read_splat_bytes(&bytes, "one.splat").unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(g.means[0], Vec3::new(1.0, 2.0, 3.0));
    assert_eq!(g.scales[0], Vec3::new(0.1, 0.2, 0.3));
    assert!((g.opacities[0] - 0.2).abs() < 1e-6);
    assert_eq!(g.rotations[0], Quat::IDENTITY);
    let rgb: Vec<f32> = g.sh[0].iter().map(|d| 0.5 + worldflow_protocol::SH_C0 * d).collect();
    for (got, want) in rgb.iter().zip([1.0, 0.0, 128.0 / 255.0]) {
        assert!((got - want).abs() < 1e-6, "{rgb:?}");
    }
    let e = read_splat_bytes(&bytes[..31], "short.splat").unwrap_err().to_string();
    assert!(e.starts_with("short.splat:") && e.contains("not a multiple of 32"), "{e}");
}

#[test]
fn point_cloud_init_follows_3dgs() {
    let points = [Vec3::ZERO, Vec3::X, Vec3::Y, Vec3::Z, Vec3::new(10.0, 10.0, 10.0)];
    let colors = [[1.0, 0.0, 0.5]; 5];
    let g = gaussians_from_point_cloud(&points, &colors, &PointCloudInit { opacity: 0.3, scale_factor: 1.0 }).unwrap();
    assert_eq!(g.len(), 5);
    assert_eq!(g.sh_degree, 0);
    assert_eq!(g.scales[0], Vec3::ONE); // three neighbours at distance 1
    assert!((g.scales[1].x - (5.0f32 / 3.0).sqrt()).abs() < 1e-6); // squared distances 1, 2, 2
    assert!(g.rotations.iter().all(|q| *q == Quat::IDENTITY));
    assert!(g.opacities.iter().all(|&o| o == 0.3));
    let c = 0.5 + worldflow_protocol::SH_C0 * g.sh[0][2];
    assert!((c - 0.5).abs() < 1e-6);
    assert!(gaussians_from_point_cloud(&points, &colors[..4], &PointCloudInit::default()).is_err());
}

#[test]
fn load_scene_by_extension_and_npy_image_output() {
    let dir = std::env::temp_dir().join(format!("worldflow-splat-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ply = dir.join("s.ply");
    std::fs::write(&ply, write_ply_bytes(&scene(2, 3)).unwrap()).unwrap();
    assert_eq!(load_scene(&ply, &PointCloudInit::default()).unwrap().len(), 3);
    let e = load_scene(&dir.join("s.obj"), &PointCloudInit::default()).unwrap_err().to_string();
    assert!(e.contains("s.obj") && e.contains("unknown scene extension"), "{e}");
    let e = load_scene(&dir.join("missing.ply"), &PointCloudInit::default()).unwrap_err().to_string();
    assert!(e.contains("missing.ply: cannot read"), "{e}");

    let image = Image { width: 2, height: 1, data: vec![0.0, 0.5, 1.0, -1.0, 2.0, 0.25] };
    let npy = dir.join("img.npy");
    write_npy_f32(&npy, &image).unwrap();
    let a = parse_npy(&std::fs::read(&npy).unwrap(), "img.npy").unwrap();
    assert_eq!(a.shape, vec![1, 2, 3]);
    assert_eq!(a.to_f32(), image.data);
    assert_eq!(image.to_rgb8(), vec![0, 128, 255, 0, 255, 64]);
    std::fs::remove_dir_all(&dir).unwrap();
}
