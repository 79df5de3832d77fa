//! `worldflow eval revisit`: consistency on revisit (the WorldPlay protocol, reference/world-models.md §8).
//!
//! An ego drives out along a road and comes back along the same path; the front camera's frames of the
//! return pass are compared with the outbound frames at the same poses (PSNR, SSIM). Two scores: the full
//! world (traffic has moved on in between, so it differs) and the static scene alone, which a consistent
//! world renders identically (PSNR = ∞, SSIM = 1). Runs the Director, Actor and renderer in-process.

use std::collections::{HashMap, HashSet};

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

/// Running sums of the pair scores (frames are scored as soon as both are rendered, then dropped).
#[derive(Debug, Default)]
struct ScoreSum {
    psnr_db: f64,
    finite: usize,
    ssim: f64,
    identical: usize,
    pairs: usize,
}

impl ScoreSum {
    fn add(&mut self, a: &[f32], b: &[f32], w: u32, h: u32) -> anyhow::Result<()> {
        let ia = RgbImage { width: w as usize, height: h as usize, data: a };
        let ib = RgbImage { width: w as usize, height: h as usize, data: b };
        let p = psnr(&ia, &ib).chain_context("PSNR")?;
        if p.is_finite() {
            self.psnr_db += p;
            self.finite += 1;
        } else {
            self.identical += 1;
        }
        self.ssim += ssim(&ia, &ib).chain_context("SSIM")?;
        self.pairs += 1;
        Ok(())
    }

    fn scores(&self) -> Scores {
        Scores {
            psnr_db_mean_finite: (self.finite > 0).then(|| self.psnr_db / self.finite as f64),
            ssim_mean: self.ssim / self.pairs.max(1) as f64,
            identical_pairs: self.identical,
        }
    }
}

/// The most memory the outbound frames kept for comparison may take (bytes).
pub const MAX_KEPT_FRAME_BYTES: u64 = 1 << 30;

/// Checks the image size and the memory the outbound frames will take, before anything is rendered.
fn check_sizes(opts: &RevisitOptions, outbound_frames: usize) -> anyhow::Result<()> {
    for (flag, v) in [("--width", opts.width), ("--height", opts.height)] {
        if !(16..=8192).contains(&v) {
            anyhow::bail!("{flag} {v}: expected 16..=8192 pixels");
        }
    }
    let bytes = outbound_frames as u64 * u64::from(opts.width) * u64::from(opts.height) * 12;
    if bytes > MAX_KEPT_FRAME_BYTES {
        anyhow::bail!(
            "--distance-m {} with --step-m {} keeps {outbound_frames} outbound frames of {}×{} ({:.1} GiB) until the return pass, more than the {} GiB budget: drive a shorter distance, take longer steps or render a smaller image",
            opts.straight_m,
            opts.step_m,
            opts.width,
            opts.height,
            bytes as f64 / f64::from(1u32 << 30),
            MAX_KEPT_FRAME_BYTES >> 30
        );
    }
    Ok(())
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
    check_sizes(opts, traj.pairs.len())?;
    let mut director = ProceduralDirector::new(&opts.scenario).chain_context("scenario")?;
    let mut grid = director.static_grid().clone();
    let mut actor = Actor::new(ActorConfig::default(), &grid).chain_context("actor")?;
    let static_count = actor.static_count();
    let mut renderer = Renderer::new(RenderOptions { background: [0.55, 0.7, 0.9], ..Default::default() });
    let mut image = Image::new(opts.width, opts.height);
    let rig = worldflow_world::Rig::standard(opts.width, opts.height);
    let intrinsics = Intrinsics::from_fov_x(opts.width, opts.height, rig.cameras[0].fov_x_deg.to_radians());
    // Outbound frames wait (in `kept`) for their return partner; static-scene pairs are rendered together.
    let return_partner: HashMap<usize, usize> = traj.pairs.iter().map(|&(a, b)| (b, a)).collect();
    let outbound_of_a_pair: HashSet<usize> = traj.pairs.iter().map(|&(a, _)| a).collect();
    let mut kept: HashMap<usize, Vec<f32>> = HashMap::new();
    let (mut full, mut static_scene) = (ScoreSum::default(), ScoreSum::default());
    let mut static_image = Image::new(opts.width, opts.height);
    let mut static_set: Option<Gaussians> = None;
    let camera_at = |pose: &glam::Mat4| {
        let front = rig.world_from_camera(0, pose).expect("the standard rig has a front camera");
        Camera { width: opts.width, height: opts.height, intrinsics, camera_from_world: rigid_inverse(&front) }
    };
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
        renderer.render(actor.gaussians(), &camera_at(pose), &mut image).chain_context("rendering")?;
        let static_set = static_set.get_or_insert_with(|| actor.gaussians().slice(0..static_count));
        if let Some(&outbound) = return_partner.get(&i) {
            let earlier = kept.remove(&outbound).expect("an outbound frame precedes its return partner");
            full.add(&earlier, &image.data, opts.width, opts.height)?;
            renderer.render(static_set, &camera_at(pose), &mut image).chain_context("rendering the static part")?;
            let outbound_pose = &traj.poses[outbound];
            renderer
                .render(static_set, &camera_at(outbound_pose), &mut static_image)
                .chain_context("rendering the static part")?;
            static_scene.add(&static_image.data, &image.data, opts.width, opts.height)?;
        } else if outbound_of_a_pair.contains(&i) {
            kept.insert(i, image.data.clone());
        }
    }
    Ok(RevisitReport {
        poses: traj.poses.len(),
        pairs: traj.pairs.len(),
        full: full.scores(),
        static_scene: static_scene.scores(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(straight_m: f32, width: u32, height: u32) -> RevisitOptions {
        RevisitOptions { scenario: Scenario::default(), straight_m, step_m: 1.0, dt_secs: 0.1, width, height }
    }

    #[test]
    fn sizes_are_checked_before_anything_is_rendered() {
        // 100000² tried to allocate a 120 GB image; 3 km kept 3000 frames (5.9 GB after 30 s).
        let e = revisit(&options(30.0, 100_000, 100_000)).unwrap_err().to_string();
        assert_eq!(e, "--width 100000: expected 16..=8192 pixels");
        let e = revisit(&options(3000.0, 320, 180)).unwrap_err().to_string();
        assert!(
            e.starts_with("--distance-m 3000 with --step-m 1 keeps 3000 outbound frames of 320×180 (1.9 GiB)"),
            "{e}"
        );
    }
}
