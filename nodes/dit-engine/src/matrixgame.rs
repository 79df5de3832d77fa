//! `MODEL=matrix-game`: the dit-engine running Matrix-Game 2.0's causal DiT
//! ([`worldflow_dit::matrixgame`]) on the CPU, driven by keyboard and mouse actions per pixel frame.
//!
//! Each `action` message is one pixel frame. Its keys become Matrix-Game's universal controls as the
//! official interactive demo maps them: keyboard `[W, S, A, D]` (multi-hot; `keyboard_dim_in` 2 keeps
//! `[W, S]`), mouse `[pitch, yaw]` from the arrow keys, ±[`CAM_VALUE`] (up/down pitch, left/right yaw).
//! A block of 3 latents is generated once its actions are in (9 pixel frames for the first block,
//! 12 more for each next one) and sent as one `latent` message ([`worldflow_protocol::arrow_io::latent`]);
//! latent `f` answers pixel frame `0` (f = 0) or `4f`, whose tick and time it carries.
//!
//! There is no start image in this loop: the CLIP tokens are zeros ([`CLIP_TOKENS`] rows) and the
//! image latent of `cond_concat` is zero, with the mask set on latent 0 (as upstream sets it). Without
//! `WEIGHTS` the model has SEEDED RANDOM WEIGHTS of the right layout: the output is structured noise,
//! said in the log and in the weights notice.
//!
//! Settings (the node's [`crate::SETTINGS`]): `MODEL`, `CONFIG` (`tiny`, the default, or a
//! Matrix-Game `config.json`), `WEIGHTS` (one safetensors file of `CausalWanModel.state_dict()`),
//! `SEED`, `LATENT_HEIGHT` / `LATENT_WIDTH` (default 4 × 6; the real model runs 44 × 80), `STEPS`
//! (3: the distilled list [1000, 666, 333]), `SHIFT` (5), `DEVICE` (`cpu` only), `QUANTIZE` (`none`
//! only), `OUT_DIR`. `CONTROLS` and `FOV_X_DEG` do not apply and are refused when set.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use dora_node_api::{DoraNode, Event, EventStream, StopCause};
use worldflow_dit::matrixgame::{
    random_weights, FlowMatchScheduler, MatrixGameConfig, MatrixGameModel, MatrixGameStream, StreamSettings,
};
use worldflow_dit::Rng;
use worldflow_node_kit::{Env, ErrorChain as _};
use worldflow_protocol::arrow_io::latent::{self as wire, LatentHeader};
use worldflow_protocol::arrow_io::{action as action_io, latent as latent_io};
use worldflow_protocol::messages::{Action, Keys};
use worldflow_protocol::weights_notice::{self as notice, WeightsSource};

use crate::generated::Generated;
use crate::settings::MAX_LATENT_SIDE;

/// The mouse value of a held arrow key (upstream's `CAM_VALUE`).
pub const CAM_VALUE: f32 = 0.1;
/// CLIP image tokens of the context (ViT-H/14: 256 patches + the class token).
pub const CLIP_TOKENS: usize = 257;
/// CLIP width of random weights for a config other than `tiny` (the real CLIP's 1280).
const CLIP_DIM_REAL: usize = 1280;
/// CLIP width of the `tiny` layout (as the goldens make it).
const CLIP_DIM_TINY: usize = 32;

/// Keyboard row of `keys` for a model taking `width` keyboard values: `[W, S, A, D]` (4) or `[W, S]` (2).
pub fn keyboard_of(keys: Keys, width: usize) -> Vec<f32> {
    let bit = |k: Keys| if keys.contains(k) { 1.0 } else { 0.0 };
    [bit(Keys::W), bit(Keys::S), bit(Keys::A), bit(Keys::D)][..width.min(4)].to_vec()
}

/// Mouse row `[pitch, yaw]` of `keys`: up/down pitch ±CAM_VALUE, right/left yaw ±CAM_VALUE.
pub fn mouse_of(keys: Keys) -> [f32; 2] {
    let axis = |plus: Keys, minus: Keys| {
        (if keys.contains(plus) { CAM_VALUE } else { 0.0 }) - (if keys.contains(minus) { CAM_VALUE } else { 0.0 })
    };
    [axis(Keys::UP, Keys::DOWN), axis(Keys::RIGHT, Keys::LEFT)]
}

/// The settings of `MODEL=matrix-game`.
#[derive(Debug, Clone)]
pub struct MatrixGameSettings {
    pub config: MatrixGameConfig,
    pub config_name: String,
    pub weights: Option<PathBuf>,
    pub seed: u64,
    pub latent_height: usize,
    pub latent_width: usize,
    pub shift: f32,
    pub out_dir: PathBuf,
}

impl MatrixGameSettings {
    /// The settings of `env` (which selected `MODEL=matrix-game`).
    pub fn from_settings(env: &Env) -> anyhow::Result<Self> {
        let choice = env.config(
            "tiny",
            |n| (n == "tiny").then(MatrixGameConfig::tiny),
            "tiny",
            |path| MatrixGameConfig::from_file(path).map_err(Into::into),
        )?;
        let config = choice.config;
        let keyboard =
            config.action_config.as_ref().map_or(0, |a| if a.enable_keyboard { a.keyboard_dim_in } else { 0 });
        if ![0, 2, 4].contains(&keyboard) {
            anyhow::bail!(
                "setting CONFIG=`{}`: keyboard_dim_in {keyboard}: the keys map to Matrix-Game's universal [W, S, A, D] or GTA [W, S] controls only",
                choice.name
            );
        }
        if let Some(a) = config.action_config.as_ref().filter(|a| a.enable_mouse && a.mouse_dim_in != 2) {
            anyhow::bail!(
                "setting CONFIG=`{}`: mouse_dim_in {}: the arrow keys give [pitch, yaw]",
                choice.name,
                a.mouse_dim_in
            );
        }
        for name in ["CONTROLS", "FOV_X_DEG"] {
            if let Some(v) = env.get(name)? {
                anyhow::bail!(
                    "setting {name}=`{v}`: does not apply to MODEL=matrix-game (keyboard and mouse actions, no camera)"
                );
            }
        }
        if let Some(v) = env.get("DEVICE")?.filter(|v| v != "cpu") {
            anyhow::bail!("setting DEVICE=`{v}`: MODEL=matrix-game runs on the CPU engine only (DEVICE=cpu)");
        }
        if let Some(v) = env.get("QUANTIZE")?.filter(|v| v != "none") {
            anyhow::bail!("setting QUANTIZE=`{v}`: MODEL=matrix-game keeps f32 weights (QUANTIZE=none)");
        }
        env.parse_valid::<usize>("STEPS", 3, "3 (the distilled denoising list 1000, 666, 333)", |s| *s == 3)?;
        let [_, ph, pw] = config.patch_size;
        let side = |name: &str, default: usize, p: usize| {
            env.parse_valid(
                name,
                default,
                &format!("a multiple of the patch side {p} in 1..={MAX_LATENT_SIDE} (8 pixels per latent)"),
                |v: &usize| (1..=MAX_LATENT_SIDE).contains(v) && v.checked_rem(p) == Some(0),
            )
        };
        let latent_height = side("LATENT_HEIGHT", 4, ph)?;
        let latent_width = side("LATENT_WIDTH", 6, pw)?;
        Ok(Self {
            weights: env.weights(&format!("a Matrix-Game safetensors checkpoint matching CONFIG=`{}`", choice.name))?,
            config,
            config_name: choice.name,
            seed: env.seed()?,
            latent_height,
            latent_width,
            shift: env.parse_valid("SHIFT", 5.0, "a positive number", |s: &f32| s.is_finite() && *s > 0.0)?,
            out_dir: env.out_dir()?,
        })
    }

    pub fn weights_source(&self) -> WeightsSource {
        match &self.weights {
            Some(path) => WeightsSource::Checkpoint { path: path.clone() },
            None => WeightsSource::Random { seed: self.seed },
        }
    }

    /// The checkpoint of `WEIGHTS`, or seeded random weights of the config's layout.
    pub fn load_model(&self) -> anyhow::Result<MatrixGameModel> {
        match &self.weights {
            Some(path) => MatrixGameModel::load(&self.config, path)
                .with_context(|| format!("setting WEIGHTS=`{}` (CONFIG=`{}`)", path.display(), self.config_name)),
            None => {
                let clip = if self.config_name == "tiny" { CLIP_DIM_TINY } else { CLIP_DIM_REAL };
                MatrixGameModel::from_tensors(
                    &self.config,
                    random_weights(&self.config, clip, self.seed),
                    "random weights",
                )
                .with_context(|| format!("setting CONFIG=`{}`", self.config_name))
            }
        }
    }

    /// The sampler: the distilled denoising list warped by `SHIFT`.
    pub fn stream_settings(&self) -> StreamSettings {
        StreamSettings {
            timestep_shift: self.shift,
            timesteps: FlowMatchScheduler::new(self.shift, 1000).warp(&[1000, 666, 333]),
            ..StreamSettings::default()
        }
    }
}

/// Actions in, blocks of latents out.
pub struct MatrixGameGenerator<'m> {
    stream: MatrixGameStream<'m>,
    settings: MatrixGameSettings,
    rng: Rng,
    /// (agent, tick, sim_time_ns, world_from_camera) of every pixel frame so far.
    frames: Vec<(u32, u64, u64, [[f32; 4]; 4])>,
    keyboard_width: usize,
    mouse: bool,
    weights_tag: String,
    blocks: u64,
}

const IDENTITY: [[f32; 4]; 4] =
    [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];

impl<'m> MatrixGameGenerator<'m> {
    pub fn new(model: &'m MatrixGameModel, settings: &MatrixGameSettings) -> anyhow::Result<Self> {
        let clip = vec![0.0f32; CLIP_TOKENS * model.clip_dim()];
        let stream = MatrixGameStream::new(
            model,
            &clip,
            CLIP_TOKENS,
            settings.latent_height,
            settings.latent_width,
            settings.stream_settings(),
        )
        .context("starting the Matrix-Game stream")?;
        let a = model.config().action_config.as_ref();
        Ok(Self {
            stream,
            settings: settings.clone(),
            rng: Rng::new(settings.seed),
            frames: Vec::new(),
            keyboard_width: a.map_or(0, |a| if a.enable_keyboard { a.keyboard_dim_in } else { 0 }),
            mouse: a.is_some_and(|a| a.enable_mouse),
            weights_tag: settings.weights_source().tag(),
            blocks: 0,
        })
    }

    /// `cond_concat` of the next block: mask channels (1 on latent 0) and a zero image latent.
    fn cond_concat(&self) -> Vec<f32> {
        let cfg = self.stream.block_grid();
        let channels = self.settings.config.in_dim - self.settings.config.out_dim;
        let plane = cfg.height * cfg.width;
        let mut cond = vec![0.0f32; channels * cfg.frames * plane];
        if self.stream.frames_done() == 0 {
            for c in 0..channels.min(4) {
                cond[c * cfg.frames * plane..c * cfg.frames * plane + plane].fill(1.0);
            }
        }
        cond
    }

    /// Takes one pixel frame's action; returns the block it completes, if any.
    pub fn push(&mut self, action: &Action) -> anyhow::Result<Option<Generated>> {
        let mouse = if self.mouse { mouse_of(action.keys).to_vec() } else { Vec::new() };
        self.stream.push_action(&mouse, &keyboard_of(action.keys, self.keyboard_width))?;
        let m = action.meta;
        self.frames.push((m.agent_id, m.tick, m.sim_time_ns, action.world_from_camera.unwrap_or(IDENTITY)));
        if self.stream.pixel_frames() < self.stream.pixel_frames_needed() {
            return Ok(None);
        }
        let first = self.stream.frames_done();
        let t0 = Instant::now();
        let cond = self.cond_concat();
        let cfhw = self
            .stream
            .next_block_seeded(&cond, &mut self.rng)
            .with_context(|| format!("generating block {}", self.blocks))?;
        let g = self.stream.block_grid();
        // Latent f answers pixel frame 0 (f = 0) or 4f.
        let answered: Vec<_> = (first..first + g.frames).map(|f| self.frames[if f == 0 { 0 } else { 4 * f }]).collect();
        let header = LatentHeader {
            agent_id: answered[0].0,
            chunk: self.blocks,
            first_latent: first as u64,
            frames: g.frames,
            channels: self.settings.config.out_dim,
            height: g.height,
            width: g.width,
            ticks: answered.iter().map(|a| a.1).collect(),
            sim_time_ns: answered.iter().map(|a| a.2).collect(),
            world_from_camera: answered.iter().map(|a| a.3).collect(),
            weights: self.weights_tag.clone(),
            chunk_ms: t0.elapsed().as_secs_f64() * 1e3,
        };
        self.blocks += 1;
        Ok(Some(Generated { header, cfhw }))
    }

    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Pixel frames pushed that no block has used yet.
    pub fn pending_pixel_frames(&self) -> usize {
        let used = if self.stream.frames_done() == 0 { 0 } else { 1 + 4 * (self.stream.frames_done() - 1) };
        self.stream.pixel_frames() - used
    }
}

/// The node loop of `MODEL=matrix-game`.
pub fn run(mut node: DoraNode, mut events: EventStream, env: &Env) -> anyhow::Result<()> {
    let settings = MatrixGameSettings::from_settings(env)?;
    let node_id = node.id().to_string();
    let source = settings.weights_source();
    let t0 = Instant::now();
    let model = settings.load_model()?;
    let cfg = model.config();
    notice::announce(
        &settings.out_dir,
        &node_id,
        "DiT",
        &source,
        serde_json::json!({
            "model": "matrix-game", "config": settings.config_name, "device": "cpu",
            "dim": cfg.dim, "layers": cfg.num_layers, "heads": cfg.num_heads, "clip_dim": model.clip_dim(),
            "latent": [cfg.out_dim, settings.latent_height, settings.latent_width], "steps": 3,
            "start_image": "none (zero CLIP tokens and image latent)",
        }),
    )?;
    eprintln!(
        "dit-engine: Matrix-Game 2.0 {} (dim {}, {} layers, CLIP width {}) on cpu, latent {}×{}×{}, 3 steps, {}, loaded in {:.0} ms; no start image (zero CLIP tokens and image latent)",
        settings.config_name,
        cfg.dim,
        cfg.num_layers,
        model.clip_dim(),
        cfg.out_dim,
        settings.latent_height,
        settings.latent_width,
        if source.is_random() { "SEEDED RANDOM WEIGHTS (structured noise, not a trained model)".to_owned() } else { source.tag() },
        t0.elapsed().as_secs_f64() * 1e3
    );
    let mut gen = MatrixGameGenerator::new(&model, &settings)?;
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, data, .. } if id.as_str() == "action" => {
                let action = action_io::decode(data.as_array().as_ref()).chain_context("input `action`")?;
                if let Some(g) = gen.push(&action)? {
                    eprintln!(
                        "dit-engine: block {} (latents {}..{}, ticks {:?}) in {:.0} ms",
                        g.header.chunk,
                        g.header.first_latent,
                        g.header.first_latent + g.header.frames as u64,
                        g.header.ticks,
                        g.header.chunk_ms
                    );
                    let (c, f, hw) = (g.header.channels, g.header.frames, g.header.height * g.header.width);
                    let cfhw = &g.cfhw;
                    node.send_output_raw(
                        "latent".to_owned().into(),
                        latent_io::encode(&g.header),
                        g.header.payload_len(),
                        |out| wire::write_frame_major(cfhw, c, f, hw, out),
                    )
                    .with_chain_context(|| format!("sending the latents of block {}", g.header.chunk))?;
                }
            }
            Event::Stop(StopCause::Manual) => break,
            _ => {}
        }
    }
    eprintln!(
        "dit-engine: Matrix-Game {} blocks; {} trailing pixel frame(s) did not complete a block; weights {}",
        gen.blocks(),
        gen.pending_pixel_frames(),
        source.tag()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SETTINGS;
    use worldflow_protocol::messages::ChunkMeta;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(SETTINGS, pairs)
    }

    #[test]
    fn keys_map_to_universal_controls() {
        let k = Keys::W.union(Keys::D).union(Keys::LEFT).union(Keys::UP);
        assert_eq!(keyboard_of(k, 4), vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(keyboard_of(Keys::S, 2), vec![0.0, 1.0]);
        assert_eq!(mouse_of(k), [CAM_VALUE, -CAM_VALUE]);
        assert_eq!(mouse_of(Keys::LEFT.union(Keys::RIGHT)), [0.0, 0.0]);
    }

    #[test]
    fn actions_make_blocks_of_three_latents() {
        let s = MatrixGameSettings::from_settings(&env(&[("MODEL", "matrix-game"), ("SEED", "2")])).unwrap();
        assert_eq!((s.latent_height, s.latent_width, s.config_name.as_str()), (4, 6, "tiny"));
        let model = s.load_model().unwrap();
        let mut gen = MatrixGameGenerator::new(&model, &s).unwrap();
        let mut out = Vec::new();
        for tick in 0..33u64 {
            let keys = if tick < 16 { Keys::W } else { Keys::RIGHT.union(Keys::A) };
            let a =
                Action { meta: ChunkMeta { agent_id: 0, tick, sim_time_ns: tick * 100 }, keys, ..Action::default() };
            if let Some(g) = gen.push(&a).unwrap() {
                out.push((tick, g));
            }
        }
        // Blocks complete at pixel frames 9, 21 and 33 (ticks 8, 20, 32).
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![8, 20, 32]);
        assert_eq!(out[1].1.header.ticks, vec![12, 16, 20]);
        assert_eq!(out[0].1.header.ticks, vec![0, 4, 8]);
        assert!(out.iter().all(|o| o.1.cfhw.len() == 16 * 3 * 4 * 6 && o.1.cfhw.iter().all(|v| v.is_finite())));
        assert_eq!(gen.pending_pixel_frames(), 0);
    }

    #[test]
    fn settings_that_do_not_apply_are_refused() {
        let e = |pairs: &[(&str, &str)]| MatrixGameSettings::from_settings(&env(pairs)).unwrap_err().to_string();
        assert!(e(&[("DEVICE", "cuda")]).contains("CPU engine only"));
        assert!(e(&[("CONTROLS", "actions")]).contains("does not apply"));
        assert!(e(&[("STEPS", "4")]).contains("STEPS=`4`"));
        assert!(e(&[("LATENT_WIDTH", "5")]).contains("LATENT_WIDTH=`5`"));
        assert!(e(&[("CONFIG", "small")]).contains("CONFIG=`small`"));
    }
}
