//! Cost of one tick of a car's camera rig in the Director–Actor town, as the renderer node draws it
//! (`IndexedScene` with the static part indexed once, the tick's dynamic part set, then `render_many` over
//! the rig's cameras), without building the node (no dora).
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release -p worldflow-splat --example rig_bench -- [ROUNDS] [RIGS]
//! ```
//!
//! Rigs (comma-separated, default `ego4,ad6`): `ego4` = the standard 4-camera rig at 640×360 (90°), `ad6` =
//! the six-camera nuScenes-style surround rig at 800×450 (`Rig::surround6`, graphs/ad6.rig.yaml). Poses: the
//! default scenario's ego spawn, and 20 m and 40 m ahead of it along its heading (the ego's own body stays at
//! the spawn). Rigs and poses are interleaved within every round; per rig the tick time (ms, set_dynamic +
//! render_many) is reported as min / median / max over rounds × poses, with per-camera Gaussian counts.

use std::time::Instant;

use glam::Mat4;
use worldflow_protocol::Camera;
use worldflow_splat::{Ground, Image, IndexedScene, RenderOptions, Renderer};
use worldflow_world::{Actor, ActorConfig, Director, Ego, ProceduralDirector, Rig, Scenario};

fn rig(name: &str) -> anyhow::Result<Rig> {
    Ok(match name {
        "ego4" => Rig::standard(640, 360),
        "ad6" => Rig::surround6(800, 450),
        other => anyhow::bail!("unknown rig `{other}` (expected ego4 or ad6)"),
    })
}

/// On-CPU time of all this process's threads, ns (Linux `/proc/self/task/*/schedstat`): the work of a tick
/// whatever else runs on the machine (wall time on a loaded machine mostly measures the others).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn quantiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(7).max(1);
    let rig_names = std::env::args().nth(2).unwrap_or_else(|| "ego4,ad6".into());
    let rigs: Vec<(&str, Rig)> = rig_names.split(',').map(|n| Ok((n, rig(n)?))).collect::<anyhow::Result<_>>()?;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all cores".into());

    let scenario = Scenario::default();
    let (director, out0) = ProceduralDirector::new_with_output(&scenario)?;
    let mut actor = Actor::new(ActorConfig::default(), director.grid())?;
    actor.step(director.grid(), &out0)?;
    let g = actor.gaussians();
    let (static_part, dynamic) = (g.slice(0..actor.static_count()), g.slice(actor.static_count()..g.len()));
    let mut scene = IndexedScene::new(static_part.clone());
    scene.set_dynamic(&dynamic)?;
    let spawn = Ego::from_spawn(&scenario.egos[0])?.world_from_base();
    let ahead = |m: f32| Mat4::from_translation(spawn.x_axis.truncate() * m) * spawn;
    let poses = [spawn, ahead(20.0), ahead(40.0)];
    println!(
        "RAYON_NUM_THREADS {threads}, rounds {rounds}; town: {} static + {} dynamic Gaussians; ego at {:?}",
        static_part.len(),
        dynamic.len(),
        spawn.w_axis.truncate()
    );

    let options = RenderOptions { background: [0.55, 0.7, 0.9], ground: Some(Ground::town()), ..Default::default() };
    let mut renderer = Renderer::new(options);
    let cameras: Vec<Vec<Vec<Camera>>> =
        rigs.iter().map(|(_, r)| poses.iter().map(|p| r.cameras(p)).collect()).collect();
    let mut images: Vec<Vec<Image>> = rigs.iter().map(|(_, r)| vec![Image::default(); r.cameras.len()]).collect();
    // Warm-up: every buffer grown once.
    for (r, cams) in cameras.iter().enumerate() {
        for c in cams {
            renderer.render_many(&scene, c, &mut images[r])?;
        }
    }
    let mut ticks: Vec<Vec<f64>> = vec![Vec::new(); rigs.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); rigs.len()];
    for _ in 0..rounds {
        for (r, cams) in cameras.iter().enumerate() {
            for c in cams {
                let (t, cpu0) = (Instant::now(), cpu_ns());
                scene.set_dynamic(&dynamic)?;
                renderer.render_many(&scene, c, &mut images[r])?;
                ticks[r].push(t.elapsed().as_secs_f64() * 1e3);
                cpu[r].push((cpu_ns() - cpu0) as f64 * 1e-6);
            }
        }
    }
    println!("\n| rig | cameras | tick min | median | max (ms) | ticks/s at the median | CPU ms per tick min / median | Gaussians blended per camera (spawn pose) | tile instances per camera |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (r, (name, rig)) in rigs.iter().enumerate() {
        let (min, median, max) = quantiles(ticks[r].clone());
        let (cpu_min, cpu_median, _) = quantiles(cpu[r].clone());
        let stats = renderer.render_many(&scene, &cameras[r][0], &mut images[r])?;
        let c0 = &rig.cameras[0];
        println!(
            "| {name} | {} × {}×{} | {min:.1} | {median:.1} | {max:.1} | {:.1} | {cpu_min:.1} / {cpu_median:.1} | {:?} | {:?} |",
            rig.cameras.len(),
            c0.width,
            c0.height,
            1e3 / median,
            stats.iter().map(|s| s.visible).collect::<Vec<_>>(),
            stats.iter().map(|s| s.tile_instances).collect::<Vec<_>>()
        );
    }
    if let Ok(dir) = std::env::var("RIG_BENCH_IMAGES") {
        // The spawn pose's frames as .npy (float RGB), to look at.
        for (r, (name, rig)) in rigs.iter().enumerate() {
            renderer.render_many(&scene, &cameras[r][0], &mut images[r])?;
            for (c, im) in rig.cameras.iter().zip(&images[r]) {
                let path = std::path::Path::new(&dir).join(format!("{name}_{}.npy", c.name));
                worldflow_splat::write_npy_f32(&path, im)?;
            }
        }
    }
    Ok(())
}
