//! Renders the garden scene repeatedly (for profilers such as `valgrind --tool=callgrind`).
//! Usage: `cargo run --release --example profile_garden -- [frames] [camera]`; scene path as in the bench.

use std::path::PathBuf;
use std::time::Instant;

use worldflow_splat::{gaussians_from_point_cloud, GardenScene, Image, PointCloudInit, RenderOptions, Renderer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let frames: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let cam: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let path = std::env::var_os("SPLAT_GARDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| worldflow_testkit::repo_root().join("../shared/data/gsplat_test_garden.npz"));
    let scene = GardenScene::read(&path).expect("garden npz");
    let colors: Vec<[f32; 3]> = scene.colors.iter().map(|c| c.map(|v| v as f32 / 255.0)).collect();
    let g = gaussians_from_point_cloud(&scene.points, &colors, &PointCloudInit::default()).unwrap();
    let mut renderer = Renderer::new(RenderOptions::default());
    let mut image = Image::default();
    let camera = &scene.cameras[cam];
    let t = Instant::now();
    let mut checksum = 0.0f64;
    for _ in 0..frames {
        let stats = renderer.render(&g, camera, &mut image).unwrap();
        checksum += image.data.iter().map(|&v| v as f64).sum::<f64>() + stats.tile_instances as f64;
    }
    println!(
        "{frames} frames, {:.2} ms/frame, checksum {checksum:.6}",
        t.elapsed().as_secs_f64() * 1e3 / frames as f64
    );
}
