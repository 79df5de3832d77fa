//! The node's settings (read through `worldflow-node-kit`) and what they build: the model on its device,
//! the generation config, the PRoPE camera of a latent.

use std::path::PathBuf;

use anyhow::Context as _;
use worldflow_dit::{
    random_weights, uniform_sigmas, CachePolicy, Camera, Config, DitBackend, GenConfig, SamplerKind, WanModel,
    WeightFormat,
};
use worldflow_dit_cuda::{CudaDit, Device};
use worldflow_memory::chunking::{LatentCond, CHUNK_LATENTS};
use worldflow_node_kit::{Env, ErrorChain as _, SettingError};
use worldflow_protocol::weights_notice::WeightsSource;
use worldflow_protocol::{mat4_to_rows, Intrinsics};

pub(crate) mod worldplay;

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] = &[
    "MODEL",
    "WEIGHTS",
    "QUANTIZE",
    "DEVICE",
    "CONFIG",
    "CONTROLS",
    "SEED",
    "LATENT_HEIGHT",
    "LATENT_WIDTH",
    "STEPS",
    "SHIFT",
    "FOV_X_DEG",
    "HISTORY_RAM_LATENTS",
    "OUT_DIR",
];

/// The VAE's spatial factor: a latent cell is 8×8 pixels (camera intrinsics are in video pixels).
pub const VAE_STRIDE: usize = 8;

/// `MODEL`: which network the node runs (`wan`, the default: the Wan2.1 family of `CONFIG`; `worldplay-wan`:
/// HY-WorldPlay's WAN path, see `worldplay.rs`; `matrix-game`: Matrix-Game 2.0, see `matrixgame.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DitModel {
    Wan,
    WorldPlayWan,
    MatrixGame,
}

/// Reads `QUANTIZE`: `none` (f32 weights, the default) or `int8`.
pub fn weight_format(env: &Env) -> Result<WeightFormat, SettingError> {
    env.choice("QUANTIZE", WeightFormat::F32, &[("none", WeightFormat::F32), ("int8", WeightFormat::Int8)])
}

/// Reads `MODEL`.
pub fn model_of(env: &Env) -> Result<DitModel, SettingError> {
    let models = [
        ("wan", DitModel::Wan),
        (worldplay::MODEL_NAME, DitModel::WorldPlayWan),
        ("matrix-game", DitModel::MatrixGame),
    ];
    env.choice("MODEL", DitModel::Wan, &models)
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub model: DitModel,
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
    /// `HISTORY_RAM_LATENTS`: generated latents kept in RAM; older ones (a memory set may still pick them) spill
    /// to an unnamed file in `OUT_DIR`.
    pub history_ram_latents: usize,
    /// `DEVICE`: `cpu` (default) or `cuda` / `cuda:N`.
    pub device: Device,
}

/// `HISTORY_RAM_LATENTS` (default 64, at least 16: the recent window of 12 and one chunk of 4).
pub fn history_ram_latents(env: &Env) -> Result<usize, SettingError> {
    env.parse_valid(
        "HISTORY_RAM_LATENTS",
        64,
        "at least 16 latents (older ones spill to a file in OUT_DIR)",
        |n: &usize| *n >= 16,
    )
}

/// Applies `CONTROLS` (`actions,camera`, `actions`, `camera`, `none`) to a config.
pub fn apply_controls(cfg: &mut Config, controls: &str) -> Result<(), SettingError> {
    cfg.action_classes = None;
    cfg.camera_attention = false;
    for word in controls.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word {
            "actions" => cfg.action_classes = Some(81),
            "camera" => cfg.camera_attention = true,
            "none" => {}
            other => {
                return Err(SettingError::invalid(
                    "CONTROLS",
                    controls,
                    format!("a comma-separated list of actions, camera or none (unknown control `{other}`)"),
                ))
            }
        }
    }
    Ok(())
}

/// The largest latent height or width (4096 pixels after the VAE's 8× upsampling; Wan 720p is 90×160).
pub const MAX_LATENT_SIDE: usize = 512;

impl Settings {
    /// The settings of the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Env::from_process(SETTINGS))
    }

    /// The settings of `env`.
    pub fn from_settings(env: &Env) -> anyhow::Result<Self> {
        match model_of(env)? {
            DitModel::Wan => {}
            DitModel::WorldPlayWan => return worldplay::settings(env),
            DitModel::MatrixGame => {
                anyhow::bail!("setting MODEL: the Wan settings were asked for Matrix-Game (see matrixgame.rs)")
            }
        }
        let choice = env.config("small", Config::preset, "tiny, small, wan2_1_1_3b", |path| {
            Config::from_file(path).map_err(Into::into)
        })?;
        let (mut config, config_name) = (choice.config, choice.name);
        match env.get("CONTROLS")? {
            Some(c) => apply_controls(&mut config, &c)?,
            None if choice.preset => apply_controls(&mut config, "actions,camera")?,
            None => {}
        }
        if config.camera_attention && config.head_dim() % 4 != 0 {
            anyhow::bail!(
                "setting CONTROLS: camera attention needs a head dim divisible by 4; CONFIG=`{config_name}` has {}",
                config.head_dim()
            );
        }
        config.validate().with_context(|| format!("setting CONFIG=`{config_name}` (with CONTROLS)"))?;
        if config.in_dim != config.out_dim {
            anyhow::bail!("setting CONFIG=`{config_name}`: in_dim {} ≠ out_dim {}: a flow-matching generator feeds its output back as latents", config.in_dim, config.out_dim);
        }
        let weights = env.weights(&format!("a safetensors checkpoint matching CONFIG=`{config_name}`"))?;
        let [_, ph, pw] = config.patch_size;
        let latent_height: usize = env.parse_valid(
            "LATENT_HEIGHT",
            8,
            &format!("a multiple of the patch height {ph} in 1..={MAX_LATENT_SIDE} (8 pixels per latent)"),
            |h: &usize| (1..=MAX_LATENT_SIDE).contains(h) && h.checked_rem(ph) == Some(0),
        )?;
        let latent_width: usize = env.parse_valid(
            "LATENT_WIDTH",
            8,
            &format!("a multiple of the patch width {pw} in 1..={MAX_LATENT_SIDE} (8 pixels per latent)"),
            |w: &usize| (1..=MAX_LATENT_SIDE).contains(w) && w.checked_rem(pw) == Some(0),
        )?;
        let steps: usize = env.parse_valid("STEPS", 4, "1..=100 denoising steps", |s| (1..=100).contains(s))?;
        let shift: f32 = env.parse_valid("SHIFT", 3.0, "a positive number", |s: &f32| s.is_finite() && *s > 0.0)?;
        let device: Device = env.parse("DEVICE", "cpu, cuda or cuda:N")?.unwrap_or(Device::Cpu);
        Ok(Self {
            model: DitModel::Wan,
            device,
            config,
            config_name,
            weights,
            weight_format: weight_format(env)?,
            seed: env.seed()?,
            latent_height,
            latent_width,
            steps,
            shift,
            fov_x_deg: env.fov_x_deg()?,
            out_dir: env.out_dir()?,
            history_ram_latents: history_ram_latents(env)?,
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
            Some(path) => WanModel::load_with(&self.config, path, self.weight_format)
                .with_context(|| format!("setting WEIGHTS=`{}` (CONFIG=`{}`)", path.display(), self.config_name)),
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
                .with_context(|| format!("setting CONFIG=`{}`", self.config_name)),
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
            Some(path) => CudaDit::load(&self.config, path, n).with_chain_context(|| {
                format!("setting DEVICE={} (WEIGHTS=`{}`, CONFIG=`{}`)", self.device, path.display(), self.config_name)
            })?,
            None => CudaDit::random(&self.config, self.seed, n)
                .with_chain_context(|| format!("setting DEVICE={} (CONFIG=`{}`)", self.device, self.config_name))?,
        };
        Ok(Box::new(model))
    }

    pub fn gen_config(&self) -> GenConfig {
        if self.model == DitModel::WorldPlayWan {
            return worldplay::gen_config(self);
        }
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
        if self.model == DitModel::WorldPlayWan {
            return worldplay::camera(self, c);
        }
        let k = Intrinsics::from_fov_x(
            (VAE_STRIDE * self.latent_width) as u32,
            (VAE_STRIDE * self.latent_height) as u32,
            self.fov_x_deg.to_radians(),
        );
        Camera { world_from_camera: mat4_to_rows(&c.world_from_camera), fx: k.fx, fy: k.fy, cx: k.cx, cy: k.cy }
    }

    /// The prompt the node feeds (no text encoder in the loop): values and rows. Wan2.1 pads zero rows
    /// itself; WorldPlay's pipeline hands the model `text_len` zero rows.
    pub fn empty_prompt(&self) -> (Vec<f32>, usize) {
        match self.model {
            DitModel::WorldPlayWan => worldplay::empty_prompt(&self.config),
            // (Matrix-Game has no text: its settings are not these.)
            DitModel::Wan | DitModel::MatrixGame => (Vec::new(), 0),
        }
    }
}
