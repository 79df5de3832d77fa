//! Properties of the renderer: determinism across thread counts, degenerate input, empty scenes,
//! culled Gaussians not changing the image, and optimised vs naive agreement on a larger random scene.

mod common;

use common::{all_cases, max_abs_diff};
use glam::{Quat, Vec3};
use worldflow_protocol::{rigid_inverse, world_from_camera_look_at, Camera, Gaussians, Intrinsics};
use worldflow_splat::{render_naive, Compat, Ground, Image, RenderOptions, Renderer};

fn camera(width: u32, height: u32) -> Camera {
    let c2w = world_from_camera_look_at(Vec3::new(0.0, -4.0, 0.5), Vec3::ZERO, Vec3::Z);
    Camera {
        width,
        height,
        intrinsics: Intrinsics::from_fov_x(width, height, 1.2),
        camera_from_world: rigid_inverse(&c2w),
    }
}

/// Deterministic pseudo-random scene of `n` Gaussians around the origin (SH degree 2).
fn random_scene(n: usize, seed: u32) -> Gaussians {
    let mut state = seed;
    let mut rnd = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32
    };
    let mut g = Gaussians::new(2);
    for i in 0..n {
        let mean = Vec3::new(rnd() * 4.0 - 2.0, rnd() * 4.0 - 2.0, rnd() * 3.0 - 1.5);
        let scale = Vec3::new(0.02 + 0.1 * rnd(), 0.02 + 0.1 * rnd(), 0.02 + 0.05 * rnd());
        let rot = Quat::from_xyzw(rnd() - 0.5, rnd() - 0.5, rnd() - 0.5, rnd() - 0.5).normalize();
        let sh: Vec<[f32; 3]> = (0..9).map(|_| [rnd() - 0.5, rnd() - 0.5, rnd() - 0.5]).collect();
        g.push(i as u64, mean, scale, rot, 0.05 + 0.95 * rnd(), &sh);
    }
    g
}

fn render_with_threads(threads: usize, g: &Gaussians, cam: &Camera, opts: RenderOptions) -> Image {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut image = Image::default();
        Renderer::new(opts).render(g, cam, &mut image).unwrap();
        image
    })
}

#[test]
fn bit_identical_across_thread_counts_and_runs() {
    let g = random_scene(20_000, 3);
    let cam = camera(203, 131);
    for compat in [Compat::Inria, Compat::Gsplat] {
        let opts = RenderOptions { compat, background: [0.2, 0.3, 0.4], ..Default::default() };
        let one = render_with_threads(1, &g, &cam, opts);
        let two = render_with_threads(2, &g, &cam, opts);
        let again = render_with_threads(2, &g, &cam, opts);
        assert!(one.data.iter().any(|&v| (v - 0.2).abs() > 0.05), "scene should not be empty");
        let bits = |im: &Image| im.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&two), "{compat:?}: 1 vs 2 threads");
        assert_eq!(bits(&two), bits(&again), "{compat:?}: repeated run");
    }
}

#[test]
fn optimised_matches_naive_on_a_larger_scene() {
    let g = random_scene(5_000, 11);
    let cam = camera(150, 97);
    for (compat, antialiased) in [(Compat::Inria, false), (Compat::Gsplat, true)] {
        let opts = RenderOptions { compat, antialiased, background: [1.0, 0.0, 0.5], ..Default::default() };
        let mut fast = Image::default();
        let mut slow = Image::default();
        let s1 = Renderer::new(opts).render(&g, &cam, &mut fast).unwrap();
        let s2 = render_naive(&g, &cam, &opts, &mut slow).unwrap();
        assert_eq!(s1, s2);
        let (err, _) = max_abs_diff(&fast, &slow);
        assert!(err <= 1e-5, "{compat:?}: {err}");
    }
}

#[test]
fn a_ground_plane_fills_the_background_below_the_horizon_only() {
    // The camera stands 0.5 m above z = 0 and looks slightly down: the ground plane fills the lower part of
    // the frame, behind the Gaussians; the optimised path matches the naive one with the plane too.
    let g = random_scene(2_000, 5);
    let cam = camera(150, 97);
    let sky = [0.55, 0.7, 0.9];
    let ground = Ground { up: [0.0, 0.0, 1.0], height_m: -1.6, rgb: [0.3, 0.4, 0.2], haze_m: 50.0 };
    for (compat, antialiased) in [(Compat::Inria, false), (Compat::Gsplat, true)] {
        let opts = RenderOptions { compat, antialiased, background: sky, ground: Some(ground), ..Default::default() };
        let (mut fast, mut slow) = (Image::default(), Image::default());
        let s1 = Renderer::new(opts).render(&g, &cam, &mut fast).unwrap();
        let s2 = render_naive(&g, &cam, &opts, &mut slow).unwrap();
        assert_eq!(s1, s2);
        let (err, _) = max_abs_diff(&fast, &slow);
        assert!(err <= 1e-5, "{compat:?}: {err}");
        // Without Gaussians: the top row is sky, the bottom row is (hazy) ground, darker than the sky.
        let mut empty = Image::default();
        Renderer::new(opts).render(&Gaussians::new(0), &cam, &mut empty).unwrap();
        let px = |v: usize| &empty.data[(v * 150 + 75) * 3..(v * 150 + 75) * 3 + 3];
        assert_eq!(px(0), &sky);
        assert!(px(96)[2] < 0.5 && px(96)[1] > px(96)[2], "bottom row {:?}", px(96));
    }
}

#[test]
fn renderer_reuse_across_sizes_and_scenes() {
    let mut renderer = Renderer::new(RenderOptions::default());
    let mut image = Image::default();
    let cases = all_cases();
    // Render every case twice with one renderer and one image (buffers shrink/grow between frames).
    for case in cases.iter().chain(cases.iter()) {
        renderer.set_options(case.options);
        renderer.render(&case.gaussians, &case.camera, &mut image).unwrap();
        let (err, _) = max_abs_diff(&image, &case.image);
        assert!(err <= 1e-5, "{}: {err}", case.name);
    }
}

#[test]
fn zero_gaussians_render_background() {
    let cam = camera(37, 29);
    let bg = [0.25, -0.5, 2.0];
    for compat in [Compat::Inria, Compat::Gsplat] {
        let mut image = Image::default();
        let stats = Renderer::new(RenderOptions { compat, background: bg, ..Default::default() })
            .render(&Gaussians::new(3), &cam, &mut image)
            .unwrap();
        assert_eq!(stats.visible, 0);
        assert_eq!(image.data.len(), 37 * 29 * 3);
        assert!(image.data.chunks(3).all(|p| p == bg));
    }
}

/// One Gaussian's arguments to `Gaussians::push`: mean, scale, rotation, opacity, SH coefficients.
type GaussianParams<'a> = (Vec3, Vec3, Quat, f32, &'a [[f32; 3]]);

#[test]
fn degenerate_gaussians_are_dropped_and_do_not_change_the_image() {
    let base = random_scene(300, 5);
    let cam = camera(64, 48);
    let mut polluted = base.clone();
    let sh = vec![[0.1f32; 3]; 9];
    let nan_sh = vec![[f32::NAN; 3]; 9];
    let ok = Vec3::new(0.0, 0.0, 0.0);
    let bad: Vec<GaussianParams> = vec![
        (Vec3::new(f32::NAN, 0.0, 0.0), Vec3::splat(0.1), Quat::IDENTITY, 0.5, &sh),
        (Vec3::new(f32::INFINITY, 0.0, 0.0), Vec3::splat(0.1), Quat::IDENTITY, 0.5, &sh),
        (ok, Vec3::splat(0.1), Quat::from_xyzw(0.0, 0.0, 0.0, 0.0), 0.5, &sh),
        (ok, Vec3::splat(0.1), Quat::from_xyzw(f32::NAN, 0.0, 0.0, 1.0), 0.5, &sh),
        (ok, Vec3::new(0.1, 0.0, 0.1), Quat::IDENTITY, 0.5, &sh),
        (ok, Vec3::new(0.1, -1.0, 0.1), Quat::IDENTITY, 0.5, &sh),
        (ok, Vec3::new(0.1, f32::NAN, 0.1), Quat::IDENTITY, 0.5, &sh),
        (ok, Vec3::splat(f32::INFINITY), Quat::IDENTITY, 0.5, &sh),
        (ok, Vec3::splat(0.1), Quat::IDENTITY, f32::NAN, &sh),
        (ok, Vec3::splat(0.1), Quat::IDENTITY, 0.5, &nan_sh),
        (ok, Vec3::splat(1e30), Quat::IDENTITY, 0.5, &sh),
        (Vec3::splat(1e35), Vec3::splat(0.1), Quat::IDENTITY, 0.5, &sh),
    ];
    let n_bad = bad.len();
    for (i, (m, s, q, o, c)) in bad.into_iter().enumerate() {
        polluted.push(10_000 + i as u64, m, s, q, o, c);
    }
    for compat in [Compat::Inria, Compat::Gsplat] {
        let opts = RenderOptions { compat, ..Default::default() };
        let (mut clean, mut dirty, mut dirty_naive) = (Image::default(), Image::default(), Image::default());
        let s_clean = Renderer::new(opts).render(&base, &cam, &mut clean).unwrap();
        let s_dirty = Renderer::new(opts).render(&polluted, &cam, &mut dirty).unwrap();
        render_naive(&polluted, &cam, &opts, &mut dirty_naive).unwrap();
        assert!(dirty.data.iter().all(|v| v.is_finite()));
        assert_eq!(s_dirty.input, s_clean.input + n_bad);
        // The 1e35 mean is legitimately culled (outside the view); every other one is invalid.
        assert_eq!(s_dirty.invalid, s_clean.invalid + n_bad - 1, "{s_dirty:?}");
        assert_eq!(s_dirty.culled, s_clean.culled + 1, "{s_dirty:?}");
        assert_eq!(clean.data, dirty.data, "{compat:?}");
        assert!(max_abs_diff(&clean, &dirty_naive).0 <= 1e-5);
    }
}

#[test]
fn culled_gaussians_do_not_change_the_image() {
    let base = random_scene(200, 9);
    let cam = camera(64, 48);
    let centre = cam.centre_in_world();
    let mut more = base.clone();
    let sh = vec![[1.0f32; 3]; 9];
    // Behind the camera, and far off to the side.
    more.push(1, centre - Vec3::new(0.0, 1.0, 0.0), Vec3::splat(0.5), Quat::IDENTITY, 1.0, &sh);
    more.push(2, Vec3::new(500.0, 0.0, 0.0), Vec3::splat(0.1), Quat::IDENTITY, 1.0, &sh);
    more.push(3, Vec3::ZERO, Vec3::splat(0.3), Quat::IDENTITY, 0.001, &sh); // opacity < 1/255
    let mut a = Image::default();
    let mut b = Image::default();
    let mut r = Renderer::new(RenderOptions::default());
    let sa = r.render(&base, &cam, &mut a).unwrap();
    let sb = r.render(&more, &cam, &mut b).unwrap();
    assert_eq!(sb.culled, sa.culled + 3);
    assert_eq!(a.data, b.data);
}

#[test]
fn invalid_inputs_give_clear_errors() {
    let cam = camera(16, 16);
    let mut g = random_scene(3, 1);
    g.opacities.pop();
    let e = Renderer::new(RenderOptions::default()).render(&g, &cam, &mut Image::default()).unwrap_err().to_string();
    assert!(e.contains("opacities"), "{e}");
    let mut bad_cam = cam;
    bad_cam.intrinsics.fx = 0.0;
    let e = Renderer::new(RenderOptions::default())
        .render(&random_scene(3, 1), &bad_cam, &mut Image::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("fx"), "{e}");
    let opts = RenderOptions { background: [f32::NAN, 0.0, 0.0], ..Default::default() };
    let e = render_naive(&random_scene(3, 1), &cam, &opts, &mut Image::default()).unwrap_err().to_string();
    assert!(e.contains("background"), "{e}");
}

#[test]
fn cameras_that_would_break_projection_are_refused() {
    // Reproducers of a camera that passed validation and then panicked in the tangent clamp (NaN limits).
    for (field, set) in [
        ("intrinsics.fy", (|k: &mut Intrinsics| k.fy = 1e-45) as fn(&mut Intrinsics)),
        ("intrinsics.fx", |k| k.fx = 1e-45),
        ("intrinsics.cy", |k| k.cy = 1e30),
        ("intrinsics.cx", |k| k.cx = -1e30),
    ] {
        let mut cam = camera(64, 48);
        set(&mut cam.intrinsics);
        let e = Renderer::new(RenderOptions::default())
            .render(&random_scene(50, 2), &cam, &mut Image::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
}

#[test]
fn frames_over_the_memory_budget_are_refused_before_allocating() {
    // A 16384² camera (a 3 GiB float image) and 20,000 Gaussians each covering a 4096² frame (1.3·10⁹ tile
    // slots, 5 GiB of tile lists; 65,537 of them used to wrap the u32 counter): both are errors, not gigabytes.
    let mut big = Gaussians::new(0);
    for i in 0..20_000 {
        big.push(i, Vec3::new(0.0, 0.0, 0.1 * (i % 7) as f32), Vec3::splat(30.0), Quat::IDENTITY, 0.9, &[[0.5; 3]]);
    }
    for (gaussians, size) in [(random_scene(50, 4), 16_384), (big, 4096)] {
        let cam = camera(size, size);
        let e = Renderer::new(RenderOptions::default())
            .render(&gaussians, &cam, &mut Image::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("a {size}×{size} image")) && e.contains("GiB budget"), "{e}");
    }
}

#[test]
fn sh_degree_option_caps_the_degree() {
    let g = random_scene(500, 21);
    let cam = camera(48, 40);
    let mut dc_only = g.clone();
    dc_only.sh_degree = 0;
    dc_only.sh = (0..g.len()).map(|i| g.sh_of(i)[0]).collect();
    let mut a = Image::default();
    let mut b = Image::default();
    Renderer::new(RenderOptions { sh_degree: Some(0), ..Default::default() }).render(&g, &cam, &mut a).unwrap();
    Renderer::new(RenderOptions::default()).render(&dc_only, &cam, &mut b).unwrap();
    assert_eq!(a.data, b.data);
    Renderer::new(RenderOptions::default()).render(&g, &cam, &mut b).unwrap();
    assert_ne!(a.data, b.data);
}
