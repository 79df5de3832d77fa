//! The renderer's spatial index on the scenes the node serves: the built-in plaza and the Director–Actor town
//! (static part indexed once, dynamic part per tick, as the node streams them). Every image bit-identical and
//! every count equal to rendering without the index, for cameras inside, at the edge of and outside the
//! scene, both compat modes, with and without the ground plane; and the node's way of rendering a tick (all
//! poses × the rig through `render_many`) equal to rendering camera by camera.

use glam::{Mat4, Vec3};
use worldflow_protocol::{rigid_inverse, world_from_camera_look_at, Camera, Intrinsics};
use worldflow_splat::{Compat, Ground, Image, IndexedScene, RenderOptions, RenderStats, Renderer};
use worldflow_splat_renderer::{builtin, ego4};
use worldflow_world::{Actor, ActorConfig, Director, ProceduralDirector, Scenario};

fn look(eye: Vec3, target: Vec3, width: u32, height: u32, fov_x_deg: f32) -> Camera {
    Camera {
        width,
        height,
        intrinsics: Intrinsics::from_fov_x(width, height, fov_x_deg.to_radians()),
        camera_from_world: rigid_inverse(&world_from_camera_look_at(eye, target, Vec3::Z)),
    }
}

fn options() -> Vec<RenderOptions> {
    let sky = [0.55, 0.7, 0.9];
    let mut v = Vec::new();
    for compat in [Compat::Inria, Compat::Gsplat] {
        for ground in [None, Some(Ground::town())] {
            v.push(RenderOptions { compat, background: sky, ground, ..Default::default() });
        }
    }
    v
}

fn bits(image: &Image) -> Vec<u32> {
    image.data.iter().map(|v| v.to_bits()).collect()
}

/// Checks an indexed render against the plain one: the same image bits; the same counts with frustum
/// culling only; with occlusion culling, what it skipped counted as culled.
fn assert_same(plain: &(RenderStats, Vec<u32>), indexed: &(RenderStats, Vec<u32>), occlusion: bool, what: &str) {
    let ((sa, a), (sb, b)) = (plain, indexed);
    if occlusion {
        assert!(sb.input == sa.input && sb.visible <= sa.visible && sb.invalid <= sa.invalid, "{what}: {sa:?} {sb:?}");
        assert_eq!(sb.input, sb.visible + sb.invalid + sb.culled, "{what}");
    } else {
        assert_eq!(sa, sb, "{what}");
    }
    assert!(a == b, "{what}: images differ");
}

/// Renders `cameras` of `scene` with and without its index (one by one, then all at once), with and
/// without occlusion culling; asserts equality; returns the fraction of Gaussians the index let the cameras
/// project, and the fraction of the visible ones occlusion culling blended.
fn assert_identical(scene: &mut IndexedScene, cameras: &[Camera], what: &str) -> (f64, f64) {
    let g = scene.gaussians().clone();
    let (mut projected, mut total, mut visible, mut blended) = (0usize, 0usize, 0usize, 0usize);
    for occlusion in [false, true] {
        scene.set_occlusion(occlusion);
        for opts in options() {
            let (mut plain, mut indexed) = (Renderer::new(opts), Renderer::new(opts));
            let mut reference = Vec::new();
            for (c, cam) in cameras.iter().enumerate() {
                let (mut a, mut b) = (Image::default(), Image::default());
                let sa = plain.render(&g, cam, &mut a).unwrap();
                let sb = indexed.render_indexed(scene, cam, &mut b).unwrap();
                let what = format!("{what}: camera {c}, occlusion {occlusion}, {opts:?}");
                assert_same(&(sa, bits(&a)), &(sb, bits(&b)), occlusion, &what);
                if occlusion {
                    (visible, blended) = (visible + sa.visible, blended + sb.visible);
                } else {
                    projected += scene.candidate_count(cam, opts.compat);
                    total += g.len();
                }
                reference.push((sa, bits(&a)));
            }
            let mut images = vec![Image::default(); cameras.len()];
            let stats = indexed.render_many(scene, cameras, &mut images).unwrap();
            for (c, (s, im)) in stats.iter().zip(&images).enumerate() {
                let what = format!("{what}: render_many camera {c}, occlusion {occlusion}, {opts:?}");
                assert_same(&reference[c], &(*s, bits(im)), occlusion, &what);
            }
        }
    }
    scene.set_occlusion(true);
    (projected as f64 / total as f64, blended as f64 / visible as f64)
}

#[test]
fn the_plaza_renders_identically_with_the_index() {
    let mut scene = IndexedScene::new(builtin::plaza());
    let cams = [
        look(Vec3::new(0.0, -12.0, 1.7), Vec3::new(0.0, 0.0, 1.0), 96, 64, 90.0),
        look(Vec3::new(0.0, 0.0, 1.7), Vec3::new(10.0, 3.0, 1.7), 96, 64, 70.0),
        look(Vec3::new(-40.0, -40.0, 20.0), Vec3::ZERO, 80, 60, 60.0),
        look(Vec3::new(-40.0, -40.0, 20.0), Vec3::new(-80.0, -80.0, 20.0), 64, 48, 60.0),
        look(Vec3::new(3.0, 2.0, 30.0), Vec3::new(3.0, 2.1, 0.0), 64, 64, 100.0),
    ];
    let (fraction, _) = assert_identical(&mut scene, &cams, "plaza");
    assert!(fraction < 0.9, "the index culls on the plaza: {fraction}");
}

#[test]
fn the_town_renders_identically_with_the_index_tick_after_tick() {
    // As the node receives it: the Actor's static part once, then each tick's dynamic part.
    let s = Scenario::default();
    let (mut director, out0) = ProceduralDirector::new_with_output(&s).unwrap();
    let mut actor = Actor::new(ActorConfig::default(), director.grid()).unwrap();
    actor.step(director.grid(), &out0).unwrap();
    let statics = actor.static_count();
    let mut scene = IndexedScene::new(actor.gaussians().slice(0..statics));
    let (w, h) = s.extent_m();
    let centre = Vec3::new(w / 2.0, h / 2.0, 0.0);
    let cams = [
        // Street level along the central road, both ways.
        look(centre + Vec3::new(0.0, 0.0, 1.6), centre + Vec3::new(50.0, 0.0, 1.6), 96, 54, 90.0),
        look(centre + Vec3::new(0.0, 0.0, 1.6), centre + Vec3::new(-50.0, 1.0, 1.0), 96, 54, 90.0),
        // Drones above the town, looking forward and down.
        look(Vec3::new(20.0, 30.0, 15.0), Vec3::new(60.0, 50.0, 0.0), 80, 60, 90.0),
        look(Vec3::new(140.0, 20.0, 12.0), Vec3::new(100.0, 80.0, 2.0), 80, 60, 90.0),
        // At the edge looking out (ground only), and outside looking in.
        look(Vec3::new(w - 2.0, h / 2.0, 1.6), Vec3::new(w + 50.0, h / 2.0, 1.6), 64, 48, 90.0),
        look(Vec3::new(-60.0, -60.0, 40.0), centre, 96, 54, 60.0),
        // Straight down from high above.
        look(centre + Vec3::new(0.0, 0.0, 120.0), centre + Vec3::new(0.0, 0.5, 0.0), 64, 64, 90.0),
    ];
    for tick in 0..2 {
        if tick > 0 {
            let out = director.step(0.1, &[]).unwrap();
            actor.step(director.grid(), &out).unwrap();
        }
        let dynamic = actor.gaussians().slice(statics..actor.gaussians().len());
        assert!(!dynamic.is_empty());
        scene.set_dynamic(&dynamic).unwrap();
        assert!(scene.gaussians().ids == actor.gaussians().ids);
        let (fraction, blended) = assert_identical(&mut scene, &cams, &format!("town tick {tick}"));
        assert!(fraction < 0.75, "the index culls in the town: {fraction}");
        // Walls let a little light through (opacity 0.95), so pixels terminate only behind several
        // surfaces: occlusion culling skips a part of the visible Gaussians, not most.
        assert!(blended < 0.99, "occlusion culls in the town: {blended} of the visible Gaussians blended");
        println!("tick {tick}: projected {fraction:.3} of the Gaussians, blended {blended:.3} of the visible ones");
    }
}

#[test]
fn a_tick_of_rig_cameras_renders_identically_at_once() {
    // The node's tick: every pose × the ego4 rig (16 small cameras for 4 agents) through `render_many`.
    let mut g = builtin::plaza();
    g.truncate(g.len() / 2);
    let scene = IndexedScene::new(g.clone());
    let intrinsics = Intrinsics::from_fov_x(64, 36, 90f32.to_radians());
    let cameras: Vec<Camera> = (0..4)
        .flat_map(|a| {
            let world_from_base = Mat4::from_translation(Vec3::new(-6.0 + 4.0 * a as f32, -3.0 * a as f32, 0.0));
            ego4(64, 36, 90.0).into_iter().map(move |c| Camera {
                width: 64,
                height: 36,
                intrinsics,
                camera_from_world: rigid_inverse(&(world_from_base * c.base_from_camera)),
            })
        })
        .collect();
    let opts = RenderOptions { ground: Some(Ground::town()), ..Default::default() };
    let mut images = vec![Image::default(); cameras.len()];
    let stats = Renderer::new(opts).render_many(&scene, &cameras, &mut images).unwrap();
    let mut one = Renderer::new(opts);
    for (c, cam) in cameras.iter().enumerate() {
        let mut im = Image::default();
        let s = one.render(&g, cam, &mut im).unwrap();
        assert_same(&(s, bits(&im)), &(stats[c], bits(&images[c])), true, &format!("camera {c}"));
    }
}
