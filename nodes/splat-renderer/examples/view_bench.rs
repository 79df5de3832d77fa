//! Cost per camera with and without the spatial index (`IndexedScene`), as the node renders a tick.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release -p worldflow-splat-renderer --example view_bench -- [ROUNDS] [VIEW_DISTANCE_M]
//! ```
//!
//! 1. Drones: 1, 4, 16 and 64 forward-looking cameras of 160×120 (90°) spread over the default town at
//!    10–20 m, pitched 15–35° down; per tick (the dynamic part set — and indexed, for an indexed scene —
//!    then every camera rendered): `plain` = `Renderer::render` camera after camera (the node before the
//!    index), `many, no index` = `render_many` of an unindexed scene (parallel over cameras), `indexed one by
//!    one` = `render_indexed` camera after camera, then `render_many` with the frustum index only and with
//!    frustum + occlusion culling (what the node does).
//! 2. One 640×360 camera (90°) in the default town and in a town with twice the blocks in x and y (4× the
//!    area): the same 6 poses relative to the town centre (street level along a road, and above it); mean
//!    time per frame without the index, with the frustum index, with frustum + occlusion culling, and with
//!    frustum + occlusion + a view distance (`RenderOptions::max_depth_m`, default 100 m: the renderer's
//!    `VIEW_DISTANCE_M`), whose image change against the exact image is reported (PSNR, share of pixels off by
//!    more than 8/255).
//!
//! Variants are interleaved within every round; figures are medians over the rounds (ms).

use std::time::Instant;

use glam::Vec3;
use worldflow_protocol::{rigid_inverse, world_from_camera_look_at, Camera, Gaussians, Intrinsics};
use worldflow_splat::{Ground, Image, IndexedScene, RenderOptions, Renderer};
use worldflow_world::{Actor, ActorConfig, Director, ProceduralDirector, Scenario};

struct Town {
    extent: (f32, f32),
    static_part: Gaussians,
    dynamic: Gaussians,
    indexed: IndexedScene,
    unindexed: IndexedScene,
    index_build_ms: f64,
}

fn town(blocks: u32) -> anyhow::Result<Town> {
    let mut s = Scenario::default();
    s.town.blocks_x = blocks;
    s.town.blocks_y = blocks;
    let (d, out0) = ProceduralDirector::new_with_output(&s)?;
    let mut actor = Actor::new(ActorConfig::default(), d.grid())?;
    actor.step(d.grid(), &out0)?;
    let g = actor.gaussians();
    let static_part = g.slice(0..actor.static_count());
    let dynamic = g.slice(actor.static_count()..g.len());
    let t = Instant::now();
    let mut indexed = IndexedScene::new(static_part.clone());
    let index_build_ms = t.elapsed().as_secs_f64() * 1e3;
    indexed.set_dynamic(&dynamic)?;
    let mut unindexed = IndexedScene::unindexed(static_part.clone());
    unindexed.set_dynamic(&dynamic)?;
    Ok(Town { extent: s.extent_m(), static_part, dynamic, indexed, unindexed, index_build_ms })
}

fn camera(eye: Vec3, yaw: f32, pitch: f32, width: u32, height: u32) -> Camera {
    let dir = Vec3::new(yaw.cos() * pitch.cos(), yaw.sin() * pitch.cos(), pitch.sin());
    Camera {
        width,
        height,
        intrinsics: Intrinsics::from_fov_x(width, height, 90f32.to_radians()),
        camera_from_world: rigid_inverse(&world_from_camera_look_at(eye, eye + dir, Vec3::Z)),
    }
}

/// `n` drone cameras spread over the town (deterministic).
fn drones(n: usize, extent: (f32, f32)) -> Vec<Camera> {
    let mut state = 0x2545_F491u32;
    let mut rnd = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32
    };
    (0..n)
        .map(|_| {
            let eye = Vec3::new(rnd() * extent.0, rnd() * extent.1, 10.0 + 10.0 * rnd());
            let yaw = rnd() * std::f32::consts::TAU;
            camera(eye, yaw, -(15.0 + 20.0 * rnd()).to_radians(), 160, 120)
        })
        .collect()
}

/// Six 640×360 poses relative to the town centre (which lies on a road): street level (1.6 m) along the road
/// both ways and diagonally, and from 15 m looking along it, pitched 30° down.
fn big_views(extent: (f32, f32)) -> Vec<Camera> {
    let c = Vec3::new(extent.0 / 2.0, extent.1 / 2.0, 0.0);
    let deg = |d: f32| d.to_radians();
    [(1.6, 0.0, 0.0), (1.6, 180.0, 0.0), (1.6, 90.0, 0.0), (1.6, 45.0, 5.0), (15.0, 0.0, -30.0), (15.0, 270.0, -30.0)]
        .iter()
        .map(|&(z, yaw, pitch)| camera(c + Vec3::new(0.0, 0.0, z), deg(yaw), deg(pitch), 640, 360))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(5).max(1);
    let view_distance_m: f32 = std::env::args().nth(2).map(|a| a.parse()).transpose()?.unwrap_or(100.0);
    let options = RenderOptions { background: [0.55, 0.7, 0.9], ground: Some(Ground::town()), ..Default::default() };
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all cores".into());
    println!("RAYON_NUM_THREADS {threads}, rounds {rounds}");
    let mut small = town(4)?;
    println!(
        "default town: {} static + {} dynamic Gaussians, {:?} index leaves, static index built in {:.1} ms",
        small.static_part.len(),
        small.dynamic.len(),
        small.indexed.leaves(),
        small.index_build_ms
    );
    let mut renderer = Renderer::new(options);
    let counts = [1usize, 4, 16, 64];
    let mut images: Vec<Image> = vec![Image::default(); 64];
    let mut frustum_small = small.indexed.clone();
    frustum_small.set_occlusion(false);
    // [count][variant] → per-round ms. Variants: plain (each camera `render`, no index), many (no index),
    // indexed one by one (`render_indexed`, occlusion on), many + frustum index, many + frustum + occlusion.
    let mut times = vec![std::array::from_fn::<Vec<f64>, 5, _>(|_| Vec::new()); counts.len()];
    for _ in 0..rounds {
        for (c, &n) in counts.iter().enumerate() {
            let cams = drones(n, small.extent);
            for (variant, time) in times[c].iter_mut().enumerate() {
                let t = Instant::now();
                let scene = match variant {
                    0 | 1 => &mut small.unindexed,
                    3 => &mut frustum_small,
                    _ => &mut small.indexed,
                };
                scene.set_dynamic(&small.dynamic)?;
                match variant {
                    0 => {
                        for (cam, im) in cams.iter().zip(images.iter_mut()) {
                            renderer.render(scene.gaussians(), cam, im)?;
                        }
                    }
                    2 => {
                        for (cam, im) in cams.iter().zip(images.iter_mut()) {
                            renderer.render_indexed(scene, cam, im)?;
                        }
                    }
                    _ => {
                        renderer.render_many(scene, &cams, &mut images[..n])?;
                    }
                }
                time.push(ms(t));
            }
        }
    }
    println!("\nper tick (dynamic part set, every camera rendered), ms; ticks/s of the last column");
    println!("\n| drones 160×120 | plain | many, no index | indexed one by one | many + frustum index | many + frustum + occlusion | ticks/s | plain / last | projected | blended |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (c, &n) in counts.iter().enumerate() {
        let [p, m, s1, f, o] = times[c].clone().map(median);
        let cams = drones(n, small.extent);
        let projected: usize = cams.iter().map(|cam| small.indexed.candidate_count(cam, options.compat)).sum();
        let all = small.indexed.gaussians().len() * n;
        let blended: usize =
            renderer.render_many(&small.indexed, &cams, &mut images[..n])?.iter().map(|s| s.visible).sum();
        println!(
            "| {n} | {p:.1} | {m:.1} | {s1:.1} | {f:.1} | {o:.1} | {:.1} | {:.2}× | {:.1} % | {:.1} % |",
            1e3 / o,
            p / o,
            100.0 * projected as f64 / all as f64,
            100.0 * blended as f64 / all as f64
        );
    }

    let big = town(8)?;
    println!(
        "\nlarge town (8×8 blocks): {} static + {} dynamic Gaussians, static index built in {:.1} ms",
        big.static_part.len(),
        big.dynamic.len(),
        big.index_build_ms
    );
    let towns = [(&small, "default 4×4"), (&big, "large 8×8")];
    let frustum_only = |t: &Town| {
        let mut s = t.indexed.clone();
        s.set_occlusion(false);
        s
    };
    let frustum = [frustum_only(&small), frustum_only(&big)];
    let mut far_renderer = Renderer::new(RenderOptions { max_depth_m: Some(view_distance_m), ..options });
    // [town][variant: no index, frustum index, frustum + occlusion, + view distance] → per-round mean ms per
    // frame.
    let mut frame: [[Vec<f64>; 4]; 2] = Default::default();
    let mut image = Image::default();
    for _ in 0..rounds {
        for (t_i, (town, _)) in towns.iter().enumerate() {
            let views = big_views(town.extent);
            for (variant, scene) in
                [&town.unindexed, &frustum[t_i], &town.indexed, &town.indexed].into_iter().enumerate()
            {
                let r = if variant == 3 { &mut far_renderer } else { &mut renderer };
                let t = Instant::now();
                for cam in &views {
                    r.render_indexed(scene, cam, &mut image)?;
                }
                frame[t_i][variant].push(ms(t) / views.len() as f64);
            }
        }
    }
    println!("\nmean ms per frame over the 6 poses; Gaussians per frame: projected (frustum index), visible, blended (with occlusion)");
    println!("\n| one camera 640×360 | Gaussians | no index | frustum index | frustum + occlusion | + view distance {view_distance_m} m | projected | visible | blended | blended within {view_distance_m} m | PSNR vs exact | pixels off > 8/255 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut per = Vec::new();
    for (t_i, (town, name)) in towns.iter().enumerate() {
        let times = frame[t_i].clone().map(median);
        let views = big_views(town.extent);
        let (mut projected, mut visible, mut blended, mut blended_far) = (0, 0, 0, 0);
        let (mut squared_error, mut off, mut values) = (0.0f64, 0usize, 0usize);
        let mut exact = Image::default();
        for cam in &views {
            projected += town.indexed.candidate_count(cam, options.compat);
            visible += renderer.render_indexed(&frustum[t_i], cam, &mut image)?.visible;
            blended += renderer.render_indexed(&town.indexed, cam, &mut exact)?.visible;
            blended_far += far_renderer.render_indexed(&town.indexed, cam, &mut image)?.visible;
            for (a, b) in exact.data.iter().zip(&image.data) {
                let (a, b) = ((a.clamp(0.0, 1.0) * 255.0).round(), (b.clamp(0.0, 1.0) * 255.0).round());
                squared_error += ((a - b) as f64).powi(2);
                off += ((a - b).abs() > 8.0) as usize;
                values += 1;
            }
        }
        let psnr = 10.0 * (255.0f64.powi(2) / (squared_error / values.max(1) as f64)).log10();
        let k = views.len();
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} | {psnr:.1} dB | {:.2} % |",
            town.indexed.gaussians().len(),
            times[0],
            times[1],
            times[2],
            times[3],
            projected / k,
            visible / k,
            blended / k,
            blended_far / k,
            100.0 * off as f64 / values.max(1) as f64
        );
        per.push(times);
    }
    println!(
        "\nlarge / default per frame: no index {:.2}×, frustum index {:.2}×, frustum + occlusion {:.2}×, + view distance {view_distance_m} m {:.2}× (large with view distance / default exact with occlusion: {:.2}×)",
        per[1][0] / per[0][0],
        per[1][1] / per[0][1],
        per[1][2] / per[0][2],
        per[1][3] / per[0][3],
        per[1][3] / per[0][2]
    );
    Ok(())
}
