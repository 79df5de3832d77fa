//! The spatial index ([`IndexedScene`]) changes nothing but the work: images bit-identical and counts equal
//! to [`Renderer::render`] without it, for cameras inside, at the edge of and outside a scene, both compat
//! modes, antialiased, with a ground plane, degenerate Gaussians mixed in, Gaussians placed on the frustum's
//! edges and near plane, a dynamic suffix replaced per tick, and many cameras rendered at once on 1 or 2
//! threads.

use glam::{Quat, Vec3};
use worldflow_protocol::{rigid_inverse, world_from_camera_look_at, Camera, Gaussians, Intrinsics};
use worldflow_splat::{Compat, Ground, Image, IndexedScene, RenderOptions, RenderStats, Renderer};

struct Rng(u32);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 8) as f32 / (1u32 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
}

fn push_random(g: &mut Gaussians, rng: &mut Rng, mean: Vec3, scale_max: f32) {
    let k = g.coeffs_per_gaussian();
    let scale = Vec3::new(rng.range(0.01, scale_max), rng.range(0.01, scale_max), rng.range(0.002, scale_max));
    let rot = Quat::from_xyzw(rng.next() - 0.5, rng.next() - 0.5, rng.next() - 0.5, rng.next() - 0.5);
    let sh: Vec<[f32; 3]> = (0..k).map(|_| [rng.next() - 0.5, rng.next() - 0.5, rng.next() - 0.5]).collect();
    let opacity = if rng.next() < 0.1 { rng.range(0.0, 0.01) } else { rng.range(0.05, 1.0) };
    g.push(g.len() as u64, mean, scale, rot, opacity, &sh);
}

/// A 60 m × 60 m × 8 m "town" of random Gaussians (SH degree 1), every 97th one degenerate or huge.
fn spread_scene(n: usize, seed: u32) -> Gaussians {
    let mut rng = Rng(seed);
    let mut g = Gaussians::new(1);
    for i in 0..n {
        let mean = Vec3::new(rng.range(-30.0, 30.0), rng.range(-30.0, 30.0), rng.range(0.0, 8.0));
        push_random(&mut g, &mut rng, mean, if i % 13 == 0 { 1.5 } else { 0.3 });
        let last = g.len() - 1;
        match i % 97 {
            0 => g.means[last].x = f32::NAN,
            1 => g.scales[last] = Vec3::splat(1e20),
            2 => g.means[last] = Vec3::new(1e30, 0.0, 3.0),
            3 => g.rotations[last] = Quat::from_xyzw(0.0, 0.0, 0.0, 0.0),
            4 => g.scales[last].y = -0.1,
            5 => g.opacities[last] = f32::NAN,
            6 => g.sh[last * 4] = [f32::NAN; 3],
            7 => g.opacities[last] = 7.0,
            8 => g.scales[last] = Vec3::new(40.0, 0.05, 0.05),
            _ => {}
        }
    }
    g
}

fn camera(eye: Vec3, target: Vec3, width: u32, height: u32, fov_x: f32) -> Camera {
    Camera {
        width,
        height,
        intrinsics: Intrinsics::from_fov_x(width, height, fov_x),
        camera_from_world: rigid_inverse(&world_from_camera_look_at(eye, target, Vec3::Z)),
    }
}

/// Cameras inside the scene (street level and above), at its edge, outside looking in and away, straight
/// down, with narrow and wide lenses and an off-centre principal point.
fn cameras() -> Vec<Camera> {
    let mut v = vec![
        camera(Vec3::new(0.0, 0.0, 1.6), Vec3::new(10.0, 0.0, 1.6), 96, 64, 1.6),
        camera(Vec3::new(3.0, -4.0, 15.0), Vec3::new(10.0, 5.0, 0.0), 80, 60, 1.4),
        camera(Vec3::new(-10.0, 12.0, 1.6), Vec3::new(-10.0, -20.0, 3.0), 64, 48, 0.4),
        camera(Vec3::new(30.0, 0.0, 2.0), Vec3::new(60.0, 3.0, 2.0), 64, 48, 1.2),
        camera(Vec3::new(30.0, 29.0, 2.0), Vec3::new(0.0, 29.0, 2.0), 64, 48, 2.6),
        camera(Vec3::new(-80.0, -5.0, 10.0), Vec3::new(0.0, 0.0, 2.0), 120, 72, 1.0),
        camera(Vec3::new(-80.0, -5.0, 10.0), Vec3::new(-200.0, 0.0, 2.0), 64, 48, 1.0),
        camera(Vec3::new(5.0, 5.0, 40.0), Vec3::new(5.0, 5.01, 0.0), 64, 64, 1.2),
        camera(Vec3::new(0.5, 0.2, 4.0), Vec3::new(0.6, 0.3, 3.9), 50, 40, 3.0),
    ];
    let mut off = camera(Vec3::new(-2.0, 3.0, 5.0), Vec3::new(20.0, 3.0, 0.0), 90, 50, 1.3);
    off.intrinsics.cx = 70.0;
    off.intrinsics.cy = 5.0;
    v.push(off);
    v
}

/// Every combination the renderer distinguishes.
fn option_sets() -> Vec<RenderOptions> {
    let ground = Some(Ground::town());
    let mut v = Vec::new();
    for compat in [Compat::Inria, Compat::Gsplat] {
        for (antialiased, ground) in [(false, None), (true, None), (false, ground)] {
            v.push(RenderOptions { compat, antialiased, ground, background: [0.55, 0.7, 0.9], ..Default::default() });
        }
        // A view distance inside the scene: the index's far bound must agree with the projection's cull.
        v.push(RenderOptions { compat, ground, max_depth_m: Some(25.0), ..Default::default() });
    }
    v
}

fn bits(image: &Image) -> Vec<u32> {
    image.data.iter().map(|v| v.to_bits()).collect()
}

/// Renders every camera with and without the index; asserts equality; returns (candidates, all) summed.
/// Checks an indexed render against the plain one: the same image bits; the same counts with frustum
/// culling only; with occlusion culling, what it skipped counted as culled.
fn assert_same(plain: (RenderStats, &Image), indexed: (RenderStats, &Image), occlusion: bool, what: &str) {
    let ((sa, a), (sb, b)) = (plain, indexed);
    if occlusion {
        assert!(sb.input == sa.input && sb.visible <= sa.visible && sb.invalid <= sa.invalid, "{what}: {sa:?} {sb:?}");
        assert_eq!(sb.input, sb.visible + sb.invalid + sb.culled, "{what}");
    } else {
        assert_eq!(sa, sb, "{what}");
    }
    assert!(bits(a) == bits(b), "{what}: images differ");
}

fn assert_identical(g: &Gaussians, cameras: &[Camera], what: &str) -> (usize, usize) {
    let (mut projected, mut total) = (0, 0);
    for occlusion in [false, true] {
        projected += assert_identical_with(g, cameras, occlusion, &format!("{what}, occlusion {occlusion}")).0;
    }
    for _ in [false, true] {
        total += g.len() * cameras.len() * option_sets().len();
    }
    (projected, total)
}

fn assert_identical_with(g: &Gaussians, cameras: &[Camera], occlusion: bool, what: &str) -> (usize, usize) {
    let mut scene = IndexedScene::new(g.clone());
    scene.set_occlusion(occlusion);
    let (mut projected, mut total) = (0, 0);
    for opts in option_sets() {
        let (mut plain, mut indexed) = (Renderer::new(opts), Renderer::new(opts));
        let (mut a, mut b) = (Image::default(), Image::default());
        for (c, cam) in cameras.iter().enumerate() {
            let sa = plain.render(g, cam, &mut a).unwrap();
            let sb = indexed.render_indexed(&scene, cam, &mut b).unwrap();
            assert_same((sa, &a), (sb, &b), occlusion, &format!("{what}: camera {c}, {opts:?}"));
            projected += scene.candidate_count(cam, opts.depth_cull());
            total += g.len();
        }
    }
    (projected, total)
}

#[test]
fn indexed_rendering_is_identical_on_a_spread_scene() {
    let g = spread_scene(30_000, 7);
    let (projected, total) = assert_identical(&g, &cameras(), "spread scene");
    // The index does cull (most of these cameras see a large part of the scene; a third of the projections
    // are saved even so).
    assert!(projected * 3 < total * 2, "{projected} of {total} projected");
}

#[test]
fn gaussians_on_the_frustum_edges_and_near_plane_are_never_lost() {
    // For each camera, Gaussians whose means sit on and just around the image border and the near plane
    // (both modes' near distances), small and large, opaque and faint: the conservative bound is tested
    // where it is tightest.
    let mut rng = Rng(99);
    for (c, cam) in cameras().iter().enumerate() {
        let world_from_camera = cam.world_from_camera();
        let k = cam.intrinsics;
        let (w, h) = (cam.width as f32, cam.height as f32);
        let mut g = Gaussians::new(0);
        for _ in 0..6000 {
            let depth = [0.009, 0.0101, 0.05, 0.19, 0.2001, 0.21, 1.0, 7.0, 60.0][(rng.next() * 9.0) as usize % 9]
                * rng.range(0.98, 1.02);
            // A pixel coordinate near one of the four edges.
            let (mut u, mut v) = (rng.range(-0.2 * w, 1.2 * w), rng.range(-0.2 * h, 1.2 * h));
            match (rng.next() * 4.0) as u32 {
                0 => u = rng.range(-6.0, 3.0),
                1 => u = w + rng.range(-3.0, 6.0),
                2 => v = rng.range(-6.0, 3.0),
                _ => v = h + rng.range(-3.0, 6.0),
            }
            let p_cam = Vec3::new((u - k.cx) / k.fx * depth, (v - k.cy) / k.fy * depth, depth);
            let mean = world_from_camera.transform_point3(p_cam);
            let scale_max = [0.001, 0.02, 0.2][(rng.next() * 3.0) as usize % 3];
            push_random(&mut g, &mut rng, mean, scale_max);
        }
        assert_identical(&g, std::slice::from_ref(cam), &format!("edges of camera {c}"));
    }
}

#[test]
fn what_an_opaque_wall_hides_is_skipped_and_the_image_is_unchanged() {
    // Four layers of opaque Gaussians (a wall at x ≈ 5 m, 20 m wide, 6 m high) in front of 40,000 random
    // ones: pixels behind the wall terminate there, so the leaves behind it are skipped.
    let mut rng = Rng(17);
    let mut g = Gaussians::new(1);
    for layer in 0..4 {
        for iy in 0..200 {
            for iz in 0..60 {
                let mean = Vec3::new(5.0 + 0.05 * layer as f32, -10.0 + 0.1 * iy as f32, 0.1 * iz as f32);
                let sh = [[0.2, 0.1 * layer as f32, 0.3], [0.0; 3], [0.0; 3], [0.0; 3]];
                g.push(g.len() as u64, mean, Vec3::new(0.01, 0.08, 0.08), Quat::IDENTITY, 0.99, &sh);
            }
        }
    }
    for _ in 0..40_000 {
        let mean = Vec3::new(rng.range(8.0, 60.0), rng.range(-30.0, 30.0), rng.range(0.0, 8.0));
        push_random(&mut g, &mut rng, mean, 0.3);
    }
    let cams = [
        camera(Vec3::new(0.0, 0.0, 2.0), Vec3::new(10.0, 0.0, 2.5), 96, 64, 1.4),
        camera(Vec3::new(0.0, 4.0, 1.0), Vec3::new(10.0, 8.0, 1.0), 160, 120, 1.6),
        camera(Vec3::new(-20.0, 0.0, 3.0), Vec3::new(10.0, 0.0, 3.0), 320, 180, 1.0),
    ];
    let mut scene = IndexedScene::new(g.clone());
    for opts in option_sets() {
        let (mut plain, mut indexed) = (Renderer::new(opts), Renderer::new(opts));
        let (mut a, mut b) = (Image::default(), Image::default());
        for (c, cam) in cams.iter().enumerate() {
            let sa = plain.render(&g, cam, &mut a).unwrap();
            for occlusion in [true, false] {
                scene.set_occlusion(occlusion);
                let sb = indexed.render_indexed(&scene, cam, &mut b).unwrap();
                assert_same((sa, &a), (sb, &b), occlusion, &format!("wall: camera {c}, {opts:?}"));
                if occlusion && opts.max_depth_m.is_none() {
                    // Camera 0 faces the wall; the others also see past its ends.
                    let bound = [sa.visible / 2, sa.visible * 9 / 10, sa.visible][c];
                    assert!(sb.visible < bound, "camera {c}: {} of {} blended", sb.visible, sa.visible);
                }
            }
        }
    }
}

#[test]
fn a_dynamic_suffix_is_indexed_per_tick() {
    let town = spread_scene(12_000, 3);
    let mut scene = IndexedScene::new(town.clone());
    let mut frustum_only = IndexedScene::new(town.clone());
    frustum_only.set_occlusion(false);
    let mut rng = Rng(5);
    let cams = cameras();
    let opts = RenderOptions { compat: Compat::Inria, ground: Some(Ground::town()), ..Default::default() };
    let (mut plain, mut indexed) = (Renderer::new(opts), Renderer::new(opts));
    let (mut a, mut b) = (Image::default(), Image::default());
    for tick in 0..4 {
        let mut dynamic = Gaussians::new(1);
        for _ in 0..(500 + 300 * tick) {
            let mean = Vec3::new(rng.range(-30.0, 30.0), rng.range(-30.0, 30.0), rng.range(0.0, 2.0));
            push_random(&mut dynamic, &mut rng, mean, 0.4);
        }
        scene.set_dynamic(&dynamic).unwrap();
        frustum_only.set_dynamic(&dynamic).unwrap();
        let mut whole = town.clone();
        whole.extend_from(&dynamic).unwrap();
        // (NaN means in the set: compared by ids and sizes.)
        assert!(scene.gaussians().ids == whole.ids && scene.gaussians().sh.len() == whole.sh.len());
        for cam in &cams {
            let sa = plain.render(&whole, cam, &mut a).unwrap();
            let sb = indexed.render_indexed(&scene, cam, &mut b).unwrap();
            assert_same((sa, &a), (sb, &b), true, &format!("tick {tick}"));
            let sb = indexed.render_indexed(&frustum_only, cam, &mut b).unwrap();
            assert_same((sa, &a), (sb, &b), false, &format!("tick {tick}"));
        }
    }
    // A dynamic set of another SH degree is refused.
    assert!(scene.set_dynamic(&Gaussians::new(2)).is_err());
}

#[test]
fn many_cameras_at_once_equal_one_by_one_on_any_thread_count() {
    let g = spread_scene(20_000, 11);
    let scene = IndexedScene::new(g.clone());
    let unindexed = IndexedScene::unindexed(g.clone());
    let cams = cameras();
    for opts in option_sets() {
        let mut reference: Vec<(RenderStats, Image)> = Vec::new();
        let mut r = Renderer::new(opts);
        for cam in &cams {
            let mut im = Image::default();
            let s = r.render(&g, cam, &mut im).unwrap();
            reference.push((s, im));
        }
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for s in [&scene, &unindexed] {
                let mut images = vec![Image::default(); cams.len()];
                let mut renderer = Renderer::new(opts);
                // Twice with one renderer: workers are reused.
                for _ in 0..2 {
                    let stats = pool.install(|| renderer.render_many(s, &cams, &mut images)).unwrap();
                    for (c, (st, im)) in stats.into_iter().zip(&images).enumerate() {
                        let what = format!("{threads} threads, indexed {}, camera {c}, {opts:?}", s.is_indexed());
                        assert_same((reference[c].0, &reference[c].1), (st, im), s.occlusion(), &what);
                    }
                }
            }
        }
    }
    let e = Renderer::default().render_many(&scene, &cams, &mut [Image::default()]).unwrap_err();
    assert!(e.to_string().contains("10 cameras but 1 images"), "{e}");
}

#[test]
fn empty_and_all_invalid_sets_render_the_background() {
    let mut bad = Gaussians::new(0);
    bad.push(0, Vec3::splat(f32::NAN), Vec3::splat(0.1), Quat::IDENTITY, 0.5, &[[0.0; 3]]);
    for g in [Gaussians::new(0), bad] {
        let scene = IndexedScene::new(g.clone());
        for cam in cameras() {
            let (mut a, mut b) = (Image::default(), Image::default());
            let sa = Renderer::default().render(&g, &cam, &mut a).unwrap();
            let sb = Renderer::default().render_indexed(&scene, &cam, &mut b).unwrap();
            assert_same((sa, &a), (sb, &b), true, "empty");
        }
    }
}

#[test]
fn the_view_distance_culls_by_depth_and_the_index_skips_what_lies_beyond() {
    let g = spread_scene(30_000, 11);
    let scene = IndexedScene::new(g.clone());
    let cams = cameras();
    let far = RenderOptions { max_depth_m: Some(25.0), ..Default::default() };
    let (mut fewer_candidates, mut fewer_visible) = (false, false);
    for cam in &cams {
        let (all, near) = (scene.candidate_count(cam, Compat::Inria), scene.candidate_count(cam, far.depth_cull()));
        assert!(near <= all);
        fewer_candidates |= near < all;
        let (mut a, mut b) = (Image::default(), Image::default());
        let exact = Renderer::new(RenderOptions::default()).render(&g, cam, &mut a).unwrap();
        let cut = Renderer::new(far).render(&g, cam, &mut b).unwrap();
        assert!(cut.visible <= exact.visible && cut.input == exact.input);
        fewer_visible |= cut.visible < exact.visible;
    }
    assert!(fewer_candidates && fewer_visible, "a 25 m view distance changed nothing in a scene 60 m wide");

    // Two Gaussians straight ahead at 10 m and 60 m: only the near one is drawn with a 40 m view distance.
    let mut two = spread_scene(2, 3);
    let cam = camera(Vec3::new(0.0, 0.0, 1.0), Vec3::new(100.0, 0.0, 1.0), 32, 32, 1.0);
    two.means = vec![Vec3::new(10.0, 0.0, 1.0), Vec3::new(60.0, 0.0, 1.0)];
    two.scales = vec![Vec3::splat(0.3); 2];
    two.opacities = vec![0.9, 0.9];
    let stats = |max_depth_m| {
        let opts = RenderOptions { max_depth_m, ..Default::default() };
        Renderer::new(opts).render(&two, &cam, &mut Image::default()).unwrap()
    };
    assert_eq!(stats(None).visible, 2);
    assert_eq!(stats(Some(40.0)).visible, 1);
}
