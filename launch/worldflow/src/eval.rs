//! `worldflow eval revisit`: consistency on revisit (the WorldPlay protocol, reference/world-models.md §8).
//!
//! An ego drives out along a road and comes back along the same path; the front camera's frames of the
//! return pass are compared with the outbound frames at the same poses (PSNR, SSIM). Two scores: the full
//! world (traffic has moved on in between, so it differs) and the static scene alone, which a consistent
//! world renders identically (PSNR = ∞, SSIM = 1). Runs the Director, Actor and renderer in-process.

use glam::Vec3;
use serde::Serialize;
use worldflow_node_kit::ErrorChain as _;
use worldflow_protocol::{rigid_inverse, Camera, Gaussians, Intrinsics};
use worldflow_splat::{Image, RenderOptions, Renderer};
use worldflow_world::{
    out_and_back, psnr, ssim, Actor, ActorConfig, Director, EgoState, LoopSpec, ProceduralDirector, RgbImage, Scenario,
};

#[derive(Debug, Clone)]
pub struct RevisitOptions {
    pub scenario: Scenario,
    pub straight_m: f32,
    pub step_m: f32,
    pub dt_secs: f32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// Mean over pairs; ∞ PSNR is written as null in JSON and counted in `identical_pairs`.
    pub psnr_db_mean_finite: Option<f64>,
    pub ssim_mean: f64,
    pub identical_pairs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevisitReport {
    pub poses: usize,
    pub pairs: usize,
    pub full: Scores,
    pub static_scene: Scores,
}

fn scores(pairs: &[(Vec<f32>, Vec<f32>)], w: u32, h: u32) -> anyhow::Result<Scores> {
    let (mut psnr_sum, mut finite, mut ssim_sum, mut identical) = (0.0, 0usize, 0.0, 0usize);
    for (a, b) in pairs {
        let ia = RgbImage { width: w as usize, height: h as usize, data: a };
        let ib = RgbImage { width: w as usize, height: h as usize, data: b };
        let p = psnr(&ia, &ib).chain_context("PSNR")?;
        if p.is_finite() {
            psnr_sum += p;
            finite += 1;
        } else {
            identical += 1;
        }
        ssim_sum += ssim(&ia, &ib).chain_context("SSIM")?;
    }
    Ok(Scores {
        psnr_db_mean_finite: (finite > 0).then(|| psnr_sum / finite as f64),
        ssim_mean: ssim_sum / pairs.len().max(1) as f64,
        identical_pairs: identical,
    })
}

pub fn revisit(opts: &RevisitOptions) -> anyhow::Result<RevisitReport> {
    let spawn = opts
        .scenario
        .egos
        .first()
        .ok_or_else(|| anyhow::anyhow!("scenario: revisit needs one ego spawn to start from"))?;
    let spec = LoopSpec {
        start_x_m: spawn.x_m,
        start_y_m: spawn.y_m,
        start_z_m: 0.0,
        start_yaw_deg: spawn.yaw_deg,
        straight_m: opts.straight_m,
        turn_deg: 0.0,
        turn_radius_m: 10.0,
        step_m: opts.step_m,
    };
    let traj = out_and_back(&spec).chain_context("the revisit trajectory")?;
    let mut director = ProceduralDirector::new(&opts.scenario).chain_context("scenario")?;
    let mut grid = director.static_grid().clone();
    let mut actor = Actor::new(ActorConfig::default(), &grid).chain_context("actor")?;
    let static_count = actor.static_count();
    let mut renderer = Renderer::new(RenderOptions { background: [0.55, 0.7, 0.9], ..Default::default() });
    let mut image = Image::new(opts.width, opts.height);
    let rig = worldflow_world::Rig::standard(opts.width, opts.height);
    let intrinsics = Intrinsics::from_fov_x(opts.width, opts.height, rig.cameras[0].fov_x_deg.to_radians());
    let (mut full_frames, mut static_frames) = (Vec::new(), Vec::new());
    let mut static_set: Option<Gaussians> = None;
    for (i, pose) in traj.poses.iter().enumerate() {
        let ego = EgoState {
            index: 0,
            world_from_base: *pose,
            speed_mps: opts.step_m / opts.dt_secs,
            half_extent_m: Vec3::new(2.25, 0.9, 0.75),
        };
        let out = if i == 0 { director.reset(director.seed()) } else { director.step(opts.dt_secs, &[ego]) }
            .with_chain_context(|| format!("director at step {i}"))?;
        grid.apply(&out.changes).with_chain_context(|| format!("grid changes at step {i}"))?;
        actor.step(&grid, &out).with_chain_context(|| format!("actor at step {i}"))?;
        let front = rig.world_from_camera(0, pose).expect("the standard rig has a front camera");
        let camera =
            Camera { width: opts.width, height: opts.height, intrinsics, camera_from_world: rigid_inverse(&front) };
        renderer.render(actor.gaussians(), &camera, &mut image).chain_context("rendering")?;
        full_frames.push(image.data.clone());
        let s = static_set.get_or_insert_with(|| actor.gaussians().slice(0..static_count));
        renderer.render(s, &camera, &mut image).chain_context("rendering the static part")?;
        static_frames.push(image.data.clone());
    }
    let pick = |frames: &[Vec<f32>]| {
        traj.pairs.iter().map(|(a, b)| (frames[*a].clone(), frames[*b].clone())).collect::<Vec<_>>()
    };
    Ok(RevisitReport {
        poses: traj.poses.len(),
        pairs: traj.pairs.len(),
        full: scores(&pick(&full_frames), opts.width, opts.height)?,
        static_scene: scores(&pick(&static_frames), opts.width, opts.height)?,
    })
}
