//! **dit-engine** node: chunk-wise causal generation of latents with a Wan2.1-family DiT
//! (`worldflow-dit`, reference/world-models.md §1–2).
//!
//! Input `action` (the action-encoder's dual action: one per tick = one latent, its 81-way label and camera
//! pose condition that latent) and, optionally, `context` (the memory-retriever's memory set per chunk).
//! Every 4 actions (one chunk) — and once the chunk's context is there when `context` is wired — it runs one
//! chunk of [`ChunkGenerator`] (Rebuild policy: the memory latents are prefilled as context at RoPE times
//! 0..K−1, the chunk denoised at K..K+3) and emits `latent` ([`wire`]).
//!
//! Settings: `WEIGHTS` (safetensors checkpoint; unset = seeded random weights, announced by the weights
//! notice), `QUANTIZE` (`none`, or `int8`: the block linear layers in Q8_0-style int8 blocks),
//! `CONFIG` (preset `tiny` / `small` / `wan2_1_1_3b`, or a `config.json`; default `small`), `CONTROLS`
//! (`actions,camera` by default for presets, `none`), `SEED`, `LATENT_HEIGHT` / `LATENT_WIDTH` (8 × 8),
//! `STEPS` (4), `SHIFT` (3), `FOV_X_DEG` (90, the camera of the PRoPE branch), `OUT_DIR`, `DEVICE` (`cpu`, the
//! default, or `cuda` / `cuda:N`: the CUDA backend of `worldflow-dit-cuda`, f32 weights only; without a driver
//! or device the node fails at start with a sentence saying so).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use dora_node_api::{DoraNode, Event, EventStream, StopCause};
use worldflow_dit::{
    random_weights, uniform_sigmas, Branch, CachePolicy, Camera, ChunkControls, ChunkGenerator, Config, DitBackend,
    GenConfig, Guidance, SamplerKind, WanModel, WeightFormat,
};
use worldflow_dit_cuda::{CudaDit, Device};
use worldflow_memory::chunking::{Chunk, ChunkAccumulator, LatentCond, CHUNK_LATENTS};
use worldflow_protocol::arrow_io::context::{self as ctx_wire, ContextMsg};
use worldflow_protocol::arrow_io::decode_action;
use worldflow_protocol::arrow_io::latent::{self as wire, LatentHeader};
use worldflow_protocol::weights_notice::{self as notice, WeightsSource};
use worldflow_protocol::{mat4_to_rows, Intrinsics};

/// The VAE's spatial factor: a latent cell is 8×8 pixels (camera intrinsics are in video pixels).
pub const VAE_STRIDE: usize = 8;

#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// `CONFIG` as given (preset name or file).
    pub config_name: String,
    pub weights: Option<PathBuf>,
    /// `QUANTIZE`: `none` (f32 weights) or `int8` (the block linear layers in Q8_0-style blocks).
    pub weight_format: WeightFormat,
    pub seed: u64,
    pub latent_height: usize,
    pub latent_width: usize,
    pub steps: usize,
    pub shift: f32,
    pub fov_x_deg: f32,
    pub out_dir: PathBuf,
    /// `DEVICE`: `cpu` (default) or `cuda` / `cuda:N`.
    pub device: Device,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn parse<T: std::str::FromStr>(name: &str, default: T, expected: &str) -> anyhow::Result<T> {
    match env(name) {
        Some(v) => v.parse().map_err(|_| anyhow::anyhow!("setting {name}=`{v}`: expected {expected}")),
        None => Ok(default),
    }
}

/// Applies `CONTROLS` (`actions,camera`, `actions`, `camera`, `none`) to a config.
pub fn apply_controls(cfg: &mut Config, controls: &str) -> anyhow::Result<()> {
    cfg.action_classes = None;
    cfg.camera_attention = false;
    for word in controls.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word {
            "actions" => cfg.action_classes = Some(81),
            "camera" => cfg.camera_attention = true,
            "none" => {}
            other => anyhow::bail!(
                "setting CONTROLS=`{controls}`: unknown control `{other}` (expected actions, camera or none)"
            ),
        }
    }
    Ok(())
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let config_name = env("CONFIG").unwrap_or_else(|| "small".into());
        let (mut config, preset) = match Config::preset(&config_name) {
            Some(c) => (c, true),
            None => {
                let path = PathBuf::from(&config_name);
                if !path.is_file() {
                    anyhow::bail!("setting CONFIG=`{config_name}`: neither a preset (tiny, small, wan2_1_1_3b) nor an existing config.json file");
                }
                (Config::from_file(&path).map_err(|e| anyhow::anyhow!("setting CONFIG=`{config_name}`: {e}"))?, false)
            }
        };
        match env("CONTROLS") {
            Some(c) => apply_controls(&mut config, &c)?,
            None if preset => apply_controls(&mut config, "actions,camera")?,
            None => {}
        }
        if config.camera_attention && config.head_dim() % 4 != 0 {
            anyhow::bail!(
                "setting CONTROLS: camera attention needs a head dim divisible by 4; CONFIG=`{config_name}` has {}",
                config.head_dim()
            );
        }
        config.validate().map_err(|e| anyhow::anyhow!("setting CONFIG=`{config_name}` (with CONTROLS): {e}"))?;
        if config.in_dim != config.out_dim {
            anyhow::bail!("setting CONFIG=`{config_name}`: in_dim {} ≠ out_dim {}: a flow-matching generator feeds its output back as latents", config.in_dim, config.out_dim);
        }
        let weights = env("WEIGHTS").map(PathBuf::from);
        if let Some(w) = &weights {
            if !w.is_file() {
                anyhow::bail!("setting WEIGHTS=`{}`: no such file (expected a safetensors checkpoint matching CONFIG=`{config_name}`)", w.display());
            }
        }
        let [_, ph, pw] = config.patch_size;
        let latent_height: usize = parse("LATENT_HEIGHT", 8, "a latent height (a positive integer)")?;
        let latent_width: usize = parse("LATENT_WIDTH", 8, "a latent width (a positive integer)")?;
        if latent_height == 0 || latent_height.checked_rem(ph) != Some(0) {
            anyhow::bail!(
                "setting LATENT_HEIGHT={latent_height}: expected a positive multiple of the patch height {ph}"
            );
        }
        if latent_width == 0 || latent_width.checked_rem(pw) != Some(0) {
            anyhow::bail!("setting LATENT_WIDTH={latent_width}: expected a positive multiple of the patch width {pw}");
        }
        let steps: usize = parse("STEPS", 4, "a number of denoising steps (1..=100)")?;
        if !(1..=100).contains(&steps) {
            anyhow::bail!("setting STEPS={steps}: expected 1..=100 denoising steps");
        }
        let shift: f32 = parse("SHIFT", 3.0, "a positive number")?;
        if !(shift.is_finite() && shift > 0.0) {
            anyhow::bail!("setting SHIFT={shift}: expected a positive number");
        }
        let fov_x_deg: f32 = parse("FOV_X_DEG", 90.0, "degrees")?;
        if !(1.0..179.0).contains(&fov_x_deg) {
            anyhow::bail!("setting FOV_X_DEG={fov_x_deg}: expected 1..179 degrees");
        }
        let device: Device = match env("DEVICE") {
            Some(d) => d.parse().map_err(|e| anyhow::anyhow!("setting DEVICE: {e}"))?,
            None => Device::Cpu,
        };
        Ok(Self {
            device,
            config,
            config_name,
            weights,
            weight_format: match env("QUANTIZE").as_deref() {
                None | Some("none") => WeightFormat::F32,
                Some("int8") => WeightFormat::Int8,
                Some(other) => anyhow::bail!("setting QUANTIZE=`{other}`: expected none or int8"),
            },
            seed: parse("SEED", 0, "a non-negative integer")?,
            latent_height,
            latent_width,
            steps,
            shift,
            fov_x_deg,
            out_dir: worldflow_protocol::output_dir(),
        })
    }

    pub fn weights_source(&self) -> WeightsSource {
        match &self.weights {
            Some(path) => WeightsSource::Checkpoint { path: path.clone() },
            None => WeightsSource::Random { seed: self.seed },
        }
    }

    /// The model: the checkpoint of `WEIGHTS`, or seeded random weights.
    pub fn load_model(&self) -> anyhow::Result<WanModel> {
        match &self.weights {
            Some(path) => WanModel::load_with(&self.config, path, self.weight_format).map_err(|e| {
                anyhow::anyhow!("setting WEIGHTS=`{}` (CONFIG=`{}`): {e}", path.display(), self.config_name)
            }),
            None => self
                .config
                .validate()
                .and_then(|()| {
                    WanModel::from_tensors_with(
                        &self.config,
                        random_weights(&self.config, self.seed, 0.1),
                        self.weight_format,
                    )
                })
                .map_err(|e| anyhow::anyhow!("setting CONFIG=`{}`: {e}", self.config_name)),
        }
    }

    /// The network on `DEVICE`: [`Settings::load_model`] on the CPU, or the same weights on a CUDA device.
    pub fn load_backend(&self) -> anyhow::Result<Box<dyn DitBackend>> {
        let n = match self.device {
            Device::Cpu => return Ok(Box::new(self.load_model()?)),
            Device::Cuda(n) => n,
        };
        if self.weight_format != WeightFormat::F32 {
            anyhow::bail!(
                "setting DEVICE={}: the CUDA backend runs f32 weights; QUANTIZE={} is CPU only",
                self.device,
                self.weight_format
            );
        }
        let model = match &self.weights {
            Some(path) => CudaDit::load(&self.config, path, n).map_err(|e| {
                anyhow::anyhow!(
                    "setting DEVICE={} (WEIGHTS=`{}`, CONFIG=`{}`): {e}",
                    self.device,
                    path.display(),
                    self.config_name
                )
            })?,
            None => CudaDit::random(&self.config, self.seed, n)
                .map_err(|e| anyhow::anyhow!("setting DEVICE={} (CONFIG=`{}`): {e}", self.device, self.config_name))?,
        };
        Ok(Box::new(model))
    }

    pub fn gen_config(&self) -> GenConfig {
        GenConfig {
            chunk_frames: CHUNK_LATENTS,
            height: self.latent_height,
            width: self.latent_width,
            sigmas: uniform_sigmas(self.steps, self.shift),
            sampler: SamplerKind::EulerFlow,
            // Default memory when no `context` input is wired: the first chunk and the last 3 chunks.
            policy: CachePolicy::Rebuild { recent: 3 * CHUNK_LATENTS, first: CHUNK_LATENTS, context_timestep: 0.0 },
            cache_timestep: 0.0,
            seed: self.seed,
        }
    }

    /// The PRoPE camera of a latent: its pose and the intrinsics of the decoded video frame.
    pub fn camera(&self, c: &LatentCond) -> Camera {
        let k = Intrinsics::from_fov_x(
            (VAE_STRIDE * self.latent_width) as u32,
            (VAE_STRIDE * self.latent_height) as u32,
            self.fov_x_deg.to_radians(),
        );
        Camera { world_from_camera: mat4_to_rows(&c.world_from_camera), fx: k.fx, fy: k.fy, cx: k.cx, cy: k.cy }
    }
}

/// Pairs complete chunks of actions with their memory context, in chunk order. Bounded: a chunk waiting
/// for a context that never comes (or the reverse) fails after [`Scheduler::MAX_PENDING`] entries.
#[derive(Debug)]
pub struct Scheduler {
    needs_context: bool,
    next: u64,
    chunks: BTreeMap<u64, Chunk>,
    contexts: BTreeMap<u64, ContextMsg>,
}

impl Scheduler {
    pub const MAX_PENDING: usize = 8;

    pub fn new(needs_context: bool) -> Self {
        Self { needs_context, next: 0, chunks: BTreeMap::new(), contexts: BTreeMap::new() }
    }

    pub fn add_chunk(&mut self, c: Chunk) -> Result<(), String> {
        if c.index < self.next || self.chunks.contains_key(&c.index) {
            return Err(format!("chunk {} of actions arrived twice", c.index));
        }
        self.chunks.insert(c.index, c);
        if self.chunks.len() > Self::MAX_PENDING {
            return Err(format!(
                "{} chunks of actions wait for the `context` of chunk {}: is the memory-retriever fed the same action stream?",
                self.chunks.len(),
                self.next
            ));
        }
        Ok(())
    }

    pub fn add_context(&mut self, c: ContextMsg) -> Result<(), String> {
        if !self.needs_context {
            return Err("got a `context` message but the scheduler was built without context".into());
        }
        if c.chunk < self.next || self.contexts.contains_key(&c.chunk) {
            return Err(format!("context of chunk {} arrived twice", c.chunk));
        }
        if c.first_latent != c.chunk * CHUNK_LATENTS as u64 || c.query_rope_time.len() != CHUNK_LATENTS {
            return Err(format!(
                "context of chunk {}: first_latent {} and {} query latents; this engine generates chunks of {CHUNK_LATENTS} latents starting at {}",
                c.chunk,
                c.first_latent,
                c.query_rope_time.len(),
                c.chunk * CHUNK_LATENTS as u64
            ));
        }
        self.contexts.insert(c.chunk, c);
        if self.contexts.len() > Self::MAX_PENDING {
            return Err(format!("{} contexts wait for the actions of chunk {}: is the engine fed the same action stream as the memory-retriever?", self.contexts.len(), self.next));
        }
        Ok(())
    }

    /// The next chunk to generate, when it (and its context, if needed) is there.
    pub fn pop_ready(&mut self) -> Option<(Chunk, Option<ContextMsg>)> {
        if !self.chunks.contains_key(&self.next) || (self.needs_context && !self.contexts.contains_key(&self.next)) {
            return None;
        }
        let chunk = self.chunks.remove(&self.next)?;
        let ctx = self.contexts.remove(&self.next);
        self.next += 1;
        Some((chunk, ctx))
    }

    /// (chunks of actions, contexts) waiting for their counterpart.
    pub fn pending(&self) -> (usize, usize) {
        (self.chunks.len(), self.contexts.len())
    }

    /// Chunks generated (handed out) so far.
    pub fn handed_out(&self) -> u64 {
        self.next
    }
}

/// The memory set of a chunk as generator history indices: the context's latents (checked against what has
/// been generated), or the generator's default when no context is wired.
pub fn memory_indices(ctx: Option<&ContextMsg>, generated: usize, default: Vec<usize>) -> Result<Vec<usize>, String> {
    let Some(ctx) = ctx else { return Ok(default) };
    if ctx.first_latent != generated as u64 {
        return Err(format!(
            "context of chunk {} starts at latent {}, but {generated} latents have been generated",
            ctx.chunk, ctx.first_latent
        ));
    }
    ctx.check()?;
    Ok(ctx.context.iter().map(|&i| i as usize).collect())
}

/// One generated chunk: its header and its `[C, F, H, W]` latents.
pub struct Generated {
    pub header: LatentHeader,
    pub cfhw: Vec<f32>,
}

/// Generates one chunk with `gen`.
pub fn generate(
    gen: &mut ChunkGenerator<'_>,
    settings: &Settings,
    weights_tag: &str,
    chunk: &Chunk,
    ctx: Option<&ContextMsg>,
) -> anyhow::Result<Generated> {
    let cfg = &settings.config;
    let memory = memory_indices(ctx, gen.frames_generated(), gen.default_memory())
        .map_err(|e| anyhow::anyhow!("input `context`: {e}"))?;
    let controls = ChunkControls {
        actions: cfg.action_classes.map(|_| chunk.latents.iter().map(|l| l.label as u32).collect()),
        cameras: cfg.camera_attention.then(|| chunk.latents.iter().map(|l| settings.camera(l)).collect()),
    };
    let t0 = Instant::now();
    let latents =
        gen.next_chunk_with_memory(&controls, &memory).with_context(|| format!("generating chunk {}", chunk.index))?;
    let chunk_ms = t0.elapsed().as_secs_f64() * 1e3;
    let header = LatentHeader {
        agent_id: chunk.latents[0].agent_id,
        chunk: chunk.index,
        first_latent: chunk.first_latent(),
        frames: CHUNK_LATENTS,
        channels: cfg.out_dim,
        height: settings.latent_height,
        width: settings.latent_width,
        ticks: chunk.latents.iter().map(|l| l.tick).collect(),
        sim_time_ns: chunk.latents.iter().map(|l| l.sim_time_ns).collect(),
        world_from_camera: chunk.latents.iter().map(|l| mat4_to_rows(&l.world_from_camera)).collect(),
        weights: weights_tag.to_string(),
        chunk_ms,
    };
    if latents.data.len() != header.payload_len() / 4 {
        anyhow::bail!(
            "chunk {}: the generator returned {} values, expected {} ({:?})",
            chunk.index,
            latents.data.len(),
            header.payload_len() / 4,
            latents.shape
        );
    }
    Ok(Generated { header, cfhw: latents.data })
}

pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let node_id = node.id().to_string();
    let source = settings.weights_source();
    let cfg = &settings.config;
    let t0 = Instant::now();
    let model = settings.load_backend()?;
    notice::announce(
        &settings.out_dir,
        &node_id,
        "DiT",
        &source,
        serde_json::json!({
            "config": settings.config_name, "quantize": format!("{:?}", settings.weight_format), "device": model.device(),
            "dim": cfg.dim, "layers": cfg.num_layers, "heads": cfg.num_heads,
            "actions": cfg.action_classes.is_some(), "camera_attention": cfg.camera_attention,
            "latent": [cfg.out_dim, settings.latent_height, settings.latent_width],
            "steps": settings.steps,
        }),
    )?;
    let weights_tag = source.tag();
    eprintln!(
        "dit-engine: {} (dim {}, {} layers) on {}, latent {}×{}×{}, {} steps, loaded in {:.0} ms",
        settings.config_name,
        cfg.dim,
        cfg.num_layers,
        model.device(),
        cfg.out_dim,
        settings.latent_height,
        settings.latent_width,
        settings.steps,
        t0.elapsed().as_secs_f64() * 1e3
    );
    // No text encoder in the loop: the empty prompt (zero context, as upstream pads).
    let text = model.encode_text(&[], 0).context("encoding the empty prompt")?;
    let branch = Branch { text, use_actions: cfg.action_classes.is_some(), use_camera: cfg.camera_attention };
    let mut gen = ChunkGenerator::new(model.as_ref(), settings.gen_config(), Guidance::None, vec![branch])
        .context("starting the chunk generator")?;
    let needs_context = node.node_config().inputs.keys().any(|k| k.as_str() == "context");
    let mut acc = ChunkAccumulator::new();
    let mut sched = Scheduler::new(needs_context);
    let mut times = Vec::new();
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, data, .. } if id.as_str() == "action" => {
                let action = decode_action(data.as_array().as_ref()).context("input `action`")?;
                let cond = LatentCond::from_action(&action).map_err(|e| anyhow::anyhow!("input `action`: {e}"))?;
                if let Some(chunk) = acc.push(cond).map_err(|e| anyhow::anyhow!("input `action`: {e}"))? {
                    sched.add_chunk(chunk).map_err(|e| anyhow::anyhow!("input `action`: {e}"))?;
                }
            }
            Event::Input { id, data, .. } if id.as_str() == "context" => {
                let ctx =
                    ctx_wire::decode(data.as_array().as_ref()).map_err(|e| anyhow::anyhow!("input `context`: {e}"))?;
                sched.add_context(ctx).map_err(|e| anyhow::anyhow!("input `context`: {e}"))?;
            }
            // A manual stop ends the run now. `AllInputsClosed` is yielded *before* inputs still queued
            // (dora's scheduler puts control events first), so keep receiving: the stream ends by itself.
            Event::Stop(StopCause::Manual) => break,
            _ => {}
        }
        while let Some((chunk, ctx)) = sched.pop_ready() {
            let _span = tracing::info_span!("generate_chunk", chunk = chunk.index).entered();
            let g = generate(&mut gen, &settings, &weights_tag, &chunk, ctx.as_ref())?;
            eprintln!(
                "dit-engine: chunk {} (ticks {}..={}, {} context latents) in {:.0} ms",
                chunk.index,
                g.header.ticks[0],
                g.header.ticks[CHUNK_LATENTS - 1],
                ctx.as_ref()
                    .map(|c| c.context.len())
                    .unwrap_or_else(|| gen.default_memory().len().min(chunk.first_latent() as usize)),
                g.header.chunk_ms
            );
            times.push(g.header.chunk_ms);
            let (c, hw) = (g.header.channels, g.header.height * g.header.width);
            let cfhw = &g.cfhw;
            node.send_output_raw("latent".to_owned().into(), g.header.to_params(), g.header.payload_len(), |out| {
                wire::write_frame_major(cfhw, c, CHUNK_LATENTS, hw, out)
            })
            .map_err(|e| anyhow::anyhow!("sending the latents of chunk {}: {e}", chunk.index))?;
        }
    }
    let mean = if times.is_empty() { 0.0 } else { times.iter().sum::<f64>() / times.len() as f64 };
    eprintln!(
        "dit-engine: {} chunks ({} latents), mean {mean:.0} ms per chunk; {} trailing action(s) did not fill a chunk; {} chunk(s) of actions and {} context(s) left unmatched; weights {weights_tag}",
        sched.handed_out(),
        gen.frames_generated(),
        acc.incomplete(),
        sched.pending().0,
        sched.pending().1
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{Mat4, Vec3};

    fn chunk(index: u64) -> Chunk {
        let latents = (0..CHUNK_LATENTS as u64)
            .map(|j| {
                let tick = index * CHUNK_LATENTS as u64 + j;
                LatentCond {
                    agent_id: 0,
                    tick,
                    sim_time_ns: tick * 100,
                    label: (tick % 81) as u8,
                    world_from_camera: Mat4::from_translation(Vec3::Z * 0.1 * tick as f32),
                }
            })
            .collect();
        Chunk { index, latents }
    }

    fn ctx(chunk: u64, context: Vec<u32>) -> ContextMsg {
        let k = context.len() as u32;
        ContextMsg {
            agent_id: 0,
            chunk,
            first_latent: chunk * 4,
            context,
            context_rope_time: (0..k).collect(),
            query_rope_time: (k..k + 4).collect(),
            spatial_start: vec![],
            spatial_distance: vec![],
        }
    }

    #[test]
    fn scheduler_waits_for_context_in_chunk_order() {
        let mut s = Scheduler::new(true);
        s.add_context(ctx(1, vec![0, 1, 2, 3])).unwrap();
        s.add_chunk(chunk(0)).unwrap();
        assert!(s.pop_ready().is_none(), "chunk 0 has no context yet");
        s.add_chunk(chunk(1)).unwrap();
        s.add_context(ctx(0, vec![])).unwrap();
        let (c0, x0) = s.pop_ready().unwrap();
        assert_eq!((c0.index, x0.unwrap().chunk), (0, 0));
        let (c1, x1) = s.pop_ready().unwrap();
        assert_eq!((c1.index, x1.unwrap().context), (1, vec![0, 1, 2, 3]));
        assert!(s.pop_ready().is_none());
        assert!(s.add_chunk(chunk(1)).unwrap_err().contains("twice"));
    }

    #[test]
    fn scheduler_without_context_and_bounds() {
        let mut s = Scheduler::new(false);
        s.add_chunk(chunk(0)).unwrap();
        assert!(s.pop_ready().unwrap().1.is_none());
        assert!(s.add_context(ctx(1, vec![])).is_err());
        let mut s = Scheduler::new(true);
        let mut err = None;
        for i in 0..=Scheduler::MAX_PENDING as u64 {
            if let Err(e) = s.add_chunk(chunk(i)) {
                err = Some(e);
            }
        }
        assert!(err.unwrap().contains("memory-retriever"));
        let mut bad = ctx(2, vec![]);
        bad.first_latent = 5;
        assert!(Scheduler::new(true).add_context(bad).unwrap_err().contains("first_latent 5"));
    }

    #[test]
    fn memory_glue_checks_the_history() {
        assert_eq!(memory_indices(None, 8, vec![0, 1]).unwrap(), vec![0, 1]);
        assert_eq!(memory_indices(Some(&ctx(2, vec![0, 1, 2, 3, 6])), 8, vec![]).unwrap(), vec![0, 1, 2, 3, 6]);
        let e = memory_indices(Some(&ctx(2, vec![0])), 4, vec![]).unwrap_err();
        assert!(e.contains("4 latents have been generated"), "{e}");
    }

    fn tiny_settings() -> Settings {
        let mut config = Config::tiny();
        apply_controls(&mut config, "actions,camera").unwrap();
        Settings {
            config,
            config_name: "tiny".into(),
            weights: None,
            weight_format: WeightFormat::F32,
            seed: 3,
            latent_height: 4,
            latent_width: 6,
            steps: 2,
            shift: 3.0,
            fov_x_deg: 90.0,
            out_dir: std::env::temp_dir(),
            device: Device::Cpu,
        }
    }

    #[test]
    fn chunks_generate_with_the_retrieved_memory_and_are_deterministic() {
        let s = tiny_settings();
        let run = || {
            let model = s.load_model().unwrap();
            let text = model.encode_text(&[], 0).unwrap();
            let mut gen = ChunkGenerator::new(
                &model,
                s.gen_config(),
                Guidance::None,
                vec![Branch { text, use_actions: true, use_camera: true }],
            )
            .unwrap();
            let a = generate(&mut gen, &s, "random(seed=3)", &chunk(0), Some(&ctx(0, vec![]))).unwrap();
            let b = generate(&mut gen, &s, "random(seed=3)", &chunk(1), Some(&ctx(1, vec![0, 2]))).unwrap();
            assert!(
                generate(&mut gen, &s, "x", &chunk(2), Some(&ctx(2, vec![9]))).is_err(),
                "memory past the history is refused"
            );
            (a, b)
        };
        let (a, b) = run();
        assert_eq!(a.header.ticks, vec![0, 1, 2, 3]);
        assert_eq!(b.header.first_latent, 4);
        assert_eq!(b.cfhw.len(), 16 * 4 * 4 * 6);
        assert!(b.cfhw.iter().all(|v| v.is_finite()));
        assert_ne!(a.cfhw, b.cfhw);
        assert_eq!(run().1.cfhw, b.cfhw, "seeded: identical runs give identical latents");
    }

    #[test]
    fn quantize_int8_generates_close_to_f32() {
        let f32_settings = tiny_settings();
        let int8_settings = Settings { weight_format: WeightFormat::Int8, ..tiny_settings() };
        let latents = |s: &Settings| {
            let model = s.load_model().unwrap();
            let text = model.encode_text(&[], 0).unwrap();
            let mut gen = ChunkGenerator::new(
                &model,
                s.gen_config(),
                Guidance::None,
                vec![Branch { text, use_actions: true, use_camera: true }],
            )
            .unwrap();
            generate(&mut gen, s, "random(seed=3)", &chunk(0), Some(&ctx(0, vec![]))).unwrap().cfhw
        };
        let (a, b) = (latents(&f32_settings), latents(&int8_settings));
        assert_ne!(a, b, "int8 weights are really used");
        let rms = (a.iter().map(|v| v * v).sum::<f32>() / a.len() as f32).sqrt();
        let max_diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(max_diff / rms < 0.1, "int8 latents stay close to f32: max |Δ| / RMS = {}", max_diff / rms);
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let mut cfg = Config::small();
        assert!(apply_controls(&mut cfg, "actions,wind").unwrap_err().to_string().contains("CONTROLS"));
        std::env::set_var("WEIGHTS", "/nonexistent/model.safetensors");
        let e = Settings::from_env().unwrap_err().to_string();
        std::env::remove_var("WEIGHTS");
        assert!(e.contains("WEIGHTS") && e.contains("/nonexistent/model.safetensors"), "{e}");
        std::env::set_var("QUANTIZE", "int4");
        let e = Settings::from_env().unwrap_err().to_string();
        std::env::remove_var("QUANTIZE");
        assert!(e.contains("QUANTIZE=`int4`") && e.contains("none or int8"), "{e}");
        std::env::set_var("DEVICE", "tpu");
        let e = Settings::from_env().unwrap_err().to_string();
        std::env::remove_var("DEVICE");
        assert!(e.contains("DEVICE") && e.contains("expected cpu, cuda or cuda:N"), "{e}");
    }

    #[test]
    fn device_cuda_without_a_gpu_is_a_clear_error() {
        let s = Settings { device: Device::Cuda(0), ..tiny_settings() };
        match s.load_backend() {
            Ok(m) => assert!(m.device().starts_with("cuda:0"), "{}", m.device()),
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains("DEVICE=cuda:0") && e.contains("CUDA backend:"), "{e}");
                println!("{e}");
            }
        }
        let s = Settings { device: Device::Cuda(0), weight_format: WeightFormat::Int8, ..tiny_settings() };
        assert!(s.load_backend().err().unwrap().to_string().contains("QUANTIZE=int8 is CPU only"));
        assert_eq!(tiny_settings().load_backend().unwrap().device(), "cpu");
    }

    #[test]
    fn mismatched_checkpoint_is_a_clear_error() {
        // A checkpoint of the tiny config without controls, loaded as small with controls.
        let dir = std::env::temp_dir().join(format!("worldflow-dit-engine-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tiny.safetensors");
        worldflow_dit::save_safetensors(&path, &worldflow_dit::random_weights(&Config::tiny(), 1, 0.1)).unwrap();
        let mut s = tiny_settings();
        s.weights = Some(path.clone());
        let e = s.load_model().err().unwrap().to_string();
        assert!(e.contains("WEIGHTS") && e.contains("action_embedding"), "{e}");
        s.config = Config::tiny();
        assert!(s.load_model().is_ok(), "the matching config loads");
        let _ = std::fs::remove_dir_all(dir);
    }
}
