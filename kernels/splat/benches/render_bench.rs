//! Frames per second of the optimised renderer and the naive scalar path, on the gsplat garden scene
//! (if `shared/data/gsplat_test_garden.npz` is found beside the repository, or at `$SPLAT_GARDEN`) and
//! on synthetic scenes (scaling in Gaussian count and image size).
//!
//! Run: `cargo bench -p worldflow-splat --bench render_bench` (add `-- --quick` for fewer repeats).
//! Threads: rayon's default (all cores); set `RAYON_NUM_THREADS=2` to pin.

use std::path::PathBuf;
use std::time::Instant;

use glam::{Quat, Vec3};
use worldflow_protocol::{rigid_inverse, world_from_camera_look_at, Camera, Gaussians, Intrinsics};
use worldflow_splat::{
    gaussians_from_point_cloud, render_naive_counted, GardenScene, Image, PointCloudInit, RenderOptions, Renderer,
};

/// On-CPU time of all this process's threads, seconds (Linux `/proc/self/task/*/schedstat`; 0 elsewhere):
/// the work of a frame whatever else runs on the machine.
fn cpu_secs() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let ns: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 * 1e-9
}

/// [`time_frames`] that also returns the CPU seconds per frame (all threads).
fn time_frames_cpu(frames: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let c0 = cpu_secs();
    let wall = time_frames_no_warmup(frames, &mut f);
    (wall, (cpu_secs() - c0) / frames as f64)
}

fn time_frames_no_warmup(frames: usize, f: &mut impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..frames {
        f();
    }
    t.elapsed().as_secs_f64() / frames as f64
}

fn time_frames(frames: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up (first-frame allocations)
    let t = Instant::now();
    for _ in 0..frames {
        f();
    }
    t.elapsed().as_secs_f64() / frames as f64
}

fn garden_path() -> PathBuf {
    std::env::var_os("SPLAT_GARDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| worldflow_testkit::repo_root().join("../shared/data/gsplat_test_garden.npz"))
}

fn synthetic_scene(n: usize) -> Gaussians {
    let mut state = 0x1234_5678u32;
    let mut rnd = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32
    };
    let mut g = Gaussians::new(0);
    // Density-preserving: scales shrink as the count grows, like a real scene at finer detail.
    let s = 0.02 * (100_000.0 / n as f32).cbrt();
    for i in 0..n {
        let mean = Vec3::new(rnd() * 4.0 - 2.0, rnd() * 4.0 - 2.0, rnd() * 2.0 - 1.0);
        let scale = Vec3::new(s * (0.5 + rnd()), s * (0.5 + rnd()), s * (0.5 + rnd()));
        let rot = Quat::from_xyzw(rnd() - 0.5, rnd() - 0.5, rnd() - 0.5, rnd() - 0.5).normalize();
        g.push(
            i as u64,
            mean,
            scale,
            rot,
            0.1 + 0.8 * rnd(),
            &[[rnd() * 2.0 - 1.0, rnd() * 2.0 - 1.0, rnd() * 2.0 - 1.0]],
        );
    }
    g
}

fn synthetic_camera(width: u32, height: u32) -> Camera {
    let c2w = world_from_camera_look_at(Vec3::new(0.0, -4.5, 1.0), Vec3::ZERO, Vec3::Z);
    Camera {
        width,
        height,
        intrinsics: Intrinsics::from_fov_x(width, height, 1.2),
        camera_from_world: rigid_inverse(&c2w),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let frames = if quick { 5 } else { 30 };
    println!("threads: {}", rayon::current_num_threads());
    let mut renderer = Renderer::new(RenderOptions::default());
    let mut image = Image::default();

    let path = garden_path();
    if path.exists() {
        let t = Instant::now();
        let scene = GardenScene::read(&path).expect("garden npz");
        let colors: Vec<[f32; 3]> = scene.colors.iter().map(|c| c.map(|v| v as f32 / 255.0)).collect();
        let t_read = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let g = gaussians_from_point_cloud(&scene.points, &colors, &PointCloudInit::default()).unwrap();
        println!(
            "garden: {} Gaussians, read {:.3} s, point-cloud init (kNN) {:.3} s",
            g.len(),
            t_read,
            t.elapsed().as_secs_f64()
        );
        for (i, cam) in scene.cameras.iter().enumerate() {
            let mut stats = Default::default();
            let (fast, fast_cpu) = time_frames_cpu(frames, || stats = renderer.render(&g, cam, &mut image).unwrap());
            let mut pairs = Default::default();
            let (naive, naive_cpu) = time_frames_cpu(if quick { 1 } else { 2 }, || {
                pairs = render_naive_counted(&g, cam, &RenderOptions::default(), &mut Image::default()).unwrap().1;
            });
            println!(
                "garden cam {i} {}x{}: optimised {:.2} ms ({:.1} fps), naive {:.1} ms ({:.2} fps), speed-up {:.1}x; visible {}, tile instances {}",
                cam.width,
                cam.height,
                fast * 1e3,
                1.0 / fast,
                naive * 1e3,
                1.0 / naive,
                naive / fast,
                stats.visible,
                stats.tile_instances
            );
            // The work per (pixel, Gaussian) pair: CPU time over the pairs the frame blends (the same for
            // both paths: the same image), and over those the naive loop evaluates.
            let per_pair = |secs: f64| secs * 1e9 / pairs.blended.max(1) as f64;
            println!(
                "  CPU per frame: optimised {:.1} ms, naive {:.1} ms, ratio {:.1}x; pairs blended {}, evaluated by the naive loop {} ({:.2} per blended); CPU ns per blended pair: optimised {:.2}, naive {:.2}",
                fast_cpu * 1e3,
                naive_cpu * 1e3,
                naive_cpu / fast_cpu,
                pairs.blended,
                pairs.evaluated,
                pairs.evaluated as f64 / pairs.blended.max(1) as f64,
                per_pair(fast_cpu),
                per_pair(naive_cpu)
            );
        }
    } else {
        println!("garden: {} not found, skipped", path.display());
    }

    println!("scaling in Gaussian count (640x480):");
    let cam = synthetic_camera(640, 480);
    for n in [10_000, 100_000, 1_000_000] {
        let g = synthetic_scene(n);
        let mut stats = Default::default();
        let fast = time_frames(if n >= 1_000_000 { frames.min(10) } else { frames }, || {
            stats = renderer.render(&g, &cam, &mut image).unwrap()
        });
        println!(
            "  {n:>8} Gaussians: {:.2} ms ({:.1} fps), tile instances {}",
            fast * 1e3,
            1.0 / fast,
            stats.tile_instances
        );
    }
    println!("scaling in image size (100k Gaussians):");
    let g = synthetic_scene(100_000);
    for (w, h) in [(320, 240), (640, 480), (1280, 720), (1920, 1080)] {
        let cam = synthetic_camera(w, h);
        let fast = time_frames(frames, || {
            renderer.render(&g, &cam, &mut image).unwrap();
        });
        println!("  {w:>4}x{h:<4}: {:.2} ms ({:.1} fps)", fast * 1e3, 1.0 / fast);
    }
}
