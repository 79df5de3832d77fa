//! Helpers shared by the integration tests: loading golden cases written by `reference/render_ref.py`.
#![allow(dead_code, reason = "each test binary that includes this module uses a different subset of it")]

use std::path::{Path, PathBuf};

use glam::{Quat, Vec3};
use worldflow_protocol::{mat4_from_rows, Camera, Gaussians, Intrinsics};
use worldflow_splat::{read_npz, Compat, Image, RenderOptions};

pub struct GoldenCase {
    pub name: String,
    pub gaussians: Gaussians,
    pub camera: Camera,
    pub options: RenderOptions,
    pub image: Image,
    /// visible, culled, invalid
    pub stats: [usize; 3],
}

pub fn goldens_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens")
}

pub fn load_case(path: &Path) -> GoldenCase {
    let a = read_npz(path).unwrap();
    let f = |k: &str| a[k].to_f32();
    let i = |k: &str| a[k].to_f32()[0] as i64;
    let (means, scales, quats, opac, sh) = (f("means"), f("scales"), f("quats"), f("opacities"), f("sh"));
    let degree = i("sh_degree") as u8;
    let k = (degree as usize + 1).pow(2);
    let mut g = Gaussians::new(degree);
    for n in 0..opac.len() {
        let coeffs: Vec<[f32; 3]> = (0..k)
            .map(|c| {
                let o = (n * k + c) * 3;
                [sh[o], sh[o + 1], sh[o + 2]]
            })
            .collect();
        g.push(
            n as u64,
            Vec3::from_slice(&means[3 * n..3 * n + 3]),
            Vec3::from_slice(&scales[3 * n..3 * n + 3]),
            Quat::from_xyzw(quats[4 * n + 1], quats[4 * n + 2], quats[4 * n + 3], quats[4 * n]),
            opac[n],
            &coeffs,
        );
    }
    let k4 = f("intrinsics");
    let v = f("camera_from_world");
    let mut rows = [[0.0f32; 4]; 4];
    for (r, row) in rows.iter_mut().enumerate() {
        row.copy_from_slice(&v[4 * r..4 * r + 4]);
    }
    let (w, h) = (i("width") as u32, i("height") as u32);
    let camera = Camera {
        width: w,
        height: h,
        intrinsics: Intrinsics { fx: k4[0], fy: k4[1], cx: k4[2], cy: k4[3] },
        camera_from_world: mat4_from_rows(&rows),
    };
    let bg = f("background");
    let sh_opt = i("sh_degree_option");
    let options = RenderOptions {
        compat: if i("compat") == 1 { Compat::Gsplat } else { Compat::Inria },
        background: [bg[0], bg[1], bg[2]],
        ground: None,
        sh_degree: (sh_opt >= 0).then_some(sh_opt as u8),
        antialiased: i("antialiased") != 0,
        max_depth_m: None,
    };
    let stats = f("stats");
    GoldenCase {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        gaussians: g,
        camera,
        options,
        image: Image { width: w, height: h, data: f("image") },
        stats: [stats[0] as usize, stats[1] as usize, stats[2] as usize],
    }
}

pub fn all_cases() -> Vec<GoldenCase> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(goldens_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "npz"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "golden cases missing from {}", goldens_dir().display());
    paths.iter().map(|p| load_case(p)).collect()
}

/// Largest |a − b| over all channels, and where.
pub fn max_abs_diff(a: &Image, b: &Image) -> (f32, usize) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).enumerate().fold((0.0, 0), |best, (i, d)| {
        if d > best.0 || d.is_nan() {
            (d, i)
        } else {
            best
        }
    })
}
