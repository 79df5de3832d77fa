//! `worldflow bench world`: the main job's per-tick work in one process, stage by stage — Director step,
//! Actor step, rendering of 1 and of 4 rig cameras — at a chosen resolution. Complements the graph run's
//! `report.json` (end-to-end frames/s and action-to-frame latency through dora).

use std::time::Instant;

use glam::Vec3;
use serde::Serialize;
use worldflow_node_kit::ErrorChain as _;
use worldflow_protocol::{rigid_inverse, Camera, Intrinsics};
use worldflow_splat::{Image, RenderOptions, Renderer};
use worldflow_world::{
    Actor, ActorConfig, BicycleEgo, BicycleParams, Director, EgoState, ProceduralDirector, Rig, Scenario,
    VehicleControl,
};

#[derive(Debug, Serialize)]
pub struct StageStats {
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct WorldBench {
    pub ticks: usize,
    pub width: u32,
    pub height: u32,
    pub gaussians: usize,
    pub director: StageStats,
    pub actor: StageStats,
    pub render_one_camera: StageStats,
    pub render_four_cameras: StageStats,
    /// 1000 / (director + actor + one camera) mean: frames/s of a one-camera pipeline run serially.
    pub one_camera_fps_serial: f64,
    /// Ticks/s of the 4-camera rig run serially.
    pub four_camera_ticks_per_sec_serial: f64,
}

fn stats(mut v: Vec<f64>) -> StageStats {
    v.sort_by(f64::total_cmp);
    let pick = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    StageStats { mean_ms: v.iter().sum::<f64>() / v.len() as f64, p50_ms: pick(0.5), p99_ms: pick(0.99) }
}

pub fn world(scenario: &Scenario, ticks: usize, width: u32, height: u32) -> anyhow::Result<WorldBench> {
    let dt = 0.1;
    let mut director = ProceduralDirector::new(scenario).chain_context("scenario")?;
    let mut grid = director.static_grid().clone();
    let mut actor = Actor::new(ActorConfig::default(), &grid).chain_context("actor")?;
    let spawn = scenario.egos.first().ok_or_else(|| anyhow::anyhow!("scenario: the bench needs one ego"))?;
    let mut ego = BicycleEgo::new(BicycleParams::default(), spawn.x_m, spawn.y_m, spawn.yaw_deg.to_radians())
        .chain_context("scenario egos[0]")?;
    let rig = Rig::standard(width, height);
    let intrinsics = Intrinsics::from_fov_x(width, height, rig.cameras[0].fov_x_deg.to_radians());
    let mut renderer = Renderer::new(RenderOptions { background: [0.55, 0.7, 0.9], ..Default::default() });
    let mut image = Image::new(width, height);
    let (mut t_dir, mut t_act, mut t_one, mut t_four) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    director.reset(director.seed()).chain_context("director reset")?;
    for _ in 0..ticks {
        let pose = ego.step(&VehicleControl { throttle: 0.4, steer: 0.0, brake: 0.0 }, dt).chain_context("ego step")?;
        let state = EgoState {
            index: 0,
            world_from_base: pose,
            speed_mps: ego.speed_mps(),
            half_extent_m: Vec3::new(2.25, 0.9, 0.75),
        };
        let t = Instant::now();
        let out = director.step(dt, &[state]).chain_context("director step")?;
        t_dir.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        grid.apply(&out.changes).chain_context("grid changes")?;
        actor.step(&grid, &out).chain_context("actor step")?;
        t_act.push(t.elapsed().as_secs_f64() * 1e3);
        let cams: Vec<Camera> = (0..4)
            .map(|i| Camera {
                width,
                height,
                intrinsics,
                camera_from_world: rigid_inverse(&rig.world_from_camera(i, &pose).expect("4 cameras")),
            })
            .collect();
        let t = Instant::now();
        renderer.render(actor.gaussians(), &cams[0], &mut image).chain_context("rendering")?;
        t_one.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        for c in &cams {
            renderer.render(actor.gaussians(), c, &mut image).chain_context("rendering")?;
        }
        t_four.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (d, a, o, f) = (stats(t_dir), stats(t_act), stats(t_one), stats(t_four));
    Ok(WorldBench {
        ticks,
        width,
        height,
        gaussians: actor.gaussians().len(),
        one_camera_fps_serial: 1e3 / (d.mean_ms + a.mean_ms + o.mean_ms),
        four_camera_ticks_per_sec_serial: 1e3 / (d.mean_ms + a.mean_ms + f.mean_ms),
        director: d,
        actor: a,
        render_one_camera: o,
        render_four_cameras: f,
    })
}
