//! `MODEL=worldplay-wan`: the node runs HY-WorldPlay's WAN-path DiT (`worldflow_dit`'s
//! `Layout::WorldPlay`: Wan2.2-TI2V-5B shape, 48 latent channels, discrete actions + PRoPE cameras)
//! with the conventions of its pipeline (`wan/inference/pipeline_wan_w_mem_relative_rope.py`):
//! - the few-step schedule t = 1000, 960, 888.8889, 727.2728 → 0, Euler on the flow ([`WORLDPLAY_SIGMAS`]);
//! - memory frames recomputed at t = 14 and placed at RoPE times 0..M−1, the chunk after them
//!   ([`MEMORY_TIMESTEP`], the generator's Rebuild policy);
//! - cameras with normalised intrinsics (`fx/W`, `fy/H`, as the pipeline's `helper.KS`);
//! - no text encoder in the loop: the empty prompt is `text_len` zero rows, as the pipeline pads.
//!
//! Settings: `CONFIG` (preset `worldplay_tiny`, the default without `WEIGHTS`: 2 layers of 2×32 with
//! SEEDED RANDOM WEIGHTS; `worldplay_wan`: the real 5B shape; or the checkpoint's `config.json`),
//! `WEIGHTS` (a `.safetensors` file, a `*.safetensors.index.json` or a checkpoint folder; a folder's
//! `config.json` is used when `CONFIG` is unset), `LATENT_HEIGHT`/`LATENT_WIDTH`, `QUANTIZE`, `DEVICE`
//! (CPU only: the CUDA backend refuses this layout), `SEED`, `FOV_X_DEG`, `OUT_DIR`. `CONTROLS`, `STEPS`
//! and `SHIFT` are fixed by the model and refused when set.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use worldflow_dit::{CachePolicy, Camera, Config, GenConfig, Layout, SamplerKind};
use worldflow_dit_cuda::Device;
use worldflow_memory::chunking::{LatentCond, CHUNK_LATENTS};
use worldflow_node_kit::{Env, SettingError};
use worldflow_protocol::{mat4_to_rows, Intrinsics};

use super::{DitModel, Settings, MAX_LATENT_SIDE, VAE_STRIDE};

/// The `MODEL` value.
pub const MODEL_NAME: &str = "worldplay-wan";

/// σ = t/1000 of the pipeline's denoising steps (t = 1000, 960, 888.8889, 727.2728; then 0).
pub const WORLDPLAY_SIGMAS: [f32; 4] = [1.0, 0.96, 0.888_888_9, 0.727_272_8];

/// The timestep the memory frames are recomputed at (stabilization level − 1).
pub const MEMORY_TIMESTEP: f32 = 14.0;

/// The presets `CONFIG` accepts with this model.
fn preset(name: &str) -> Option<Config> {
    match name {
        "worldplay_tiny" | "worldplay_wan" => Config::preset(name),
        _ => None,
    }
}

/// `WEIGHTS`: a file or a checkpoint folder that exists.
fn weights_path(env: &Env) -> Result<Option<PathBuf>, SettingError> {
    let Some(value) = env.get("WEIGHTS")? else { return Ok(None) };
    let path = PathBuf::from(&value);
    if !path.exists() {
        return Err(SettingError::NoSuchFile {
            name: "WEIGHTS".into(),
            value,
            expected: "a WorldPlay checkpoint: a .safetensors file, a *.safetensors.index.json or a folder".into(),
        });
    }
    Ok(Some(path))
}

/// `CONFIG`, or the `config.json` beside the checkpoint when `CONFIG` is unset and `WEIGHTS` is a folder.
fn config(env: &Env, weights: Option<&Path>) -> anyhow::Result<(Config, String)> {
    let beside = weights.map(|w| w.join("config.json")).filter(|p| p.is_file());
    if let (None, Some(path)) = (env.get("CONFIG")?, beside) {
        let cfg = Config::from_file(&path)
            .with_context(|| format!("setting WEIGHTS=`{}`: its config.json", path.display()))?;
        return Ok((cfg, path.display().to_string()));
    }
    let choice = env.config("worldplay_tiny", preset, "worldplay_tiny, worldplay_wan", |path| {
        Config::from_file(path).map_err(Into::into)
    })?;
    Ok((choice.config, choice.name))
}

/// One latent side (`LATENT_HEIGHT` / `LATENT_WIDTH`): a multiple of the patch in 1..=MAX_LATENT_SIDE.
fn latent_side(env: &Env, name: &str, patch: usize, default: usize) -> Result<usize, SettingError> {
    env.parse_valid(name, default, &format!("a multiple of the patch {patch} in 1..={MAX_LATENT_SIDE}"), |v: &usize| {
        (1..=MAX_LATENT_SIDE).contains(v) && v.checked_rem(patch) == Some(0)
    })
}

/// The settings of `env` with `MODEL=worldplay-wan`.
pub fn settings(env: &Env) -> anyhow::Result<Settings> {
    for fixed in ["CONTROLS", "STEPS", "SHIFT"] {
        if let Some(v) = env.get(fixed)? {
            anyhow::bail!(
                "setting {fixed}=`{v}`: MODEL={MODEL_NAME} fixes it (actions + cameras, the pipeline's 4-step schedule)"
            );
        }
    }
    let weights = weights_path(env)?;
    let (config, config_name) = config(env, weights.as_deref())?;
    if config.layout != Layout::WorldPlay {
        anyhow::bail!(
            "setting CONFIG=`{config_name}`: MODEL={MODEL_NAME} needs a WorldPlay config (a diffusers WanTransformer3DModel config.json, or preset worldplay_tiny / worldplay_wan)"
        );
    }
    if config.action_classes.is_none() || !config.camera_attention {
        anyhow::bail!("setting CONFIG=`{config_name}`: MODEL={MODEL_NAME} drives the action and camera branches; the config turns one off");
    }
    config.validate().with_context(|| format!("setting CONFIG=`{config_name}`"))?;
    let [_, ph, pw] = config.patch_size;
    Ok(Settings {
        model: DitModel::WorldPlayWan,
        latent_height: latent_side(env, "LATENT_HEIGHT", ph, 8)?,
        latent_width: latent_side(env, "LATENT_WIDTH", pw, 8)?,
        config,
        config_name,
        weights,
        weight_format: super::weight_format(env)?,
        seed: env.seed()?,
        steps: WORLDPLAY_SIGMAS.len(),
        shift: 1.0,
        fov_x_deg: env.fov_x_deg()?,
        out_dir: env.out_dir()?,
        history_ram_latents: super::history_ram_latents(env)?,
        device: env.parse("DEVICE", "cpu, cuda or cuda:N")?.unwrap_or(Device::Cpu),
    })
}

/// The generation config: WorldPlay's schedule, memory rebuilt per chunk at t = 14.
pub fn gen_config(s: &Settings) -> GenConfig {
    GenConfig {
        chunk_frames: CHUNK_LATENTS,
        height: s.latent_height,
        width: s.latent_width,
        sigmas: WORLDPLAY_SIGMAS.to_vec(),
        sampler: SamplerKind::EulerFlow,
        policy: CachePolicy::Rebuild {
            recent: 3 * CHUNK_LATENTS,
            first: CHUNK_LATENTS,
            context_timestep: MEMORY_TIMESTEP,
        },
        cache_timestep: MEMORY_TIMESTEP,
        seed: s.seed,
    }
}

/// The PRoPE camera of a latent with normalised intrinsics (`fx/W`, `fy/H`, principal point 0.5).
pub fn camera(s: &Settings, c: &LatentCond) -> Camera {
    let (w, h) = ((VAE_STRIDE * s.latent_width) as u32, (VAE_STRIDE * s.latent_height) as u32);
    let k = Intrinsics::from_fov_x(w, h, s.fov_x_deg.to_radians());
    Camera {
        world_from_camera: mat4_to_rows(&c.world_from_camera),
        fx: k.fx / w as f32,
        fy: k.fy / h as f32,
        cx: k.cx / w as f32,
        cy: k.cy / h as f32,
    }
}

/// The empty prompt as the pipeline feeds it: `text_len` zero rows (values, rows).
pub fn empty_prompt(cfg: &Config) -> (Vec<f32>, usize) {
    (vec![0.0; cfg.text_len * cfg.text_dim], cfg.text_len)
}

/// The start-up log line: which weights, said plainly.
pub fn describe(s: &Settings) -> String {
    match &s.weights {
        Some(w) => format!("MODEL={MODEL_NAME}: HY-WorldPlay WAN-path DiT, checkpoint {}", w.display()),
        None => format!(
            "MODEL={MODEL_NAME}: HY-WorldPlay WAN-path DiT layout with SEEDED RANDOM WEIGHTS (seed {}, CONFIG={}): \
             the latents are structured noise, not WorldPlay's output; set WEIGHTS to a WorldPlay checkpoint",
            s.seed, s.config_name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::generate;
    use crate::settings::SETTINGS;
    use glam::{Mat4, Vec3};
    use worldflow_dit::{Branch, ChunkGenerator, Guidance};
    use worldflow_memory::chunking::Chunk;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut all = vec![("MODEL", MODEL_NAME), ("OUT_DIR", "/tmp/x"), ("LATENT_HEIGHT", "4"), ("LATENT_WIDTH", "6")];
        all.extend_from_slice(pairs);
        Env::from_pairs(SETTINGS, &all)
    }

    fn chunk(index: u64) -> Chunk {
        let latents = (0..CHUNK_LATENTS as u64)
            .map(|j| {
                let tick = index * CHUNK_LATENTS as u64 + j;
                LatentCond {
                    agent_id: 0,
                    tick,
                    sim_time_ns: tick * 100,
                    label: (tick * 10 % 81) as u8,
                    world_from_camera: Mat4::from_translation(Vec3::Z * 0.2 * tick as f32),
                }
            })
            .collect();
        Chunk { index, latents }
    }

    /// Two chunks (the second with the first as memory) on the CPU model of `s`.
    fn two_chunks(s: &Settings) -> Vec<f32> {
        let model = s.load_model().unwrap();
        let (prompt, rows) = s.empty_prompt();
        let text = model.encode_text(&prompt, rows).unwrap();
        let branch = Branch { text, use_actions: true, use_camera: true };
        let mut gen = ChunkGenerator::new(&model, s.gen_config(), Guidance::None, vec![branch]).unwrap();
        let a = generate(&mut gen, s, "w", &chunk(0), None).unwrap();
        let b = generate(&mut gen, s, "w", &chunk(1), None).unwrap();
        assert_eq!((a.header.channels, b.header.first_latent), (48, 4));
        [a.cfhw, b.cfhw].concat()
    }

    #[test]
    fn defaults_generate_with_random_tiny_weights_and_read_every_setting() {
        let e = env(&[("SEED", "3")]);
        let s = Settings::from_settings(&e).unwrap();
        assert_eq!(
            (s.model, s.config_name.as_str(), s.weights.as_ref()),
            (DitModel::WorldPlayWan, "worldplay_tiny", None)
        );
        assert_eq!(s.config, Config::worldplay_tiny());
        assert_eq!(e.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
        assert!(describe(&s).contains("SEEDED RANDOM WEIGHTS"));
        let g = s.gen_config();
        assert_eq!(g.sigmas, WORLDPLAY_SIGMAS);
        assert!(
            matches!(g.policy, CachePolicy::Rebuild { context_timestep, .. } if context_timestep == MEMORY_TIMESTEP)
        );
        let out = two_chunks(&s);
        assert_eq!(out.len(), 2 * 48 * CHUNK_LATENTS * 4 * 6);
        assert!(out.iter().all(|v| v.is_finite()));
        assert_eq!(two_chunks(&s), out, "seeded: identical runs give identical latents");
    }

    #[test]
    fn cameras_use_normalised_intrinsics() {
        let s = Settings::from_settings(&env(&[])).unwrap();
        let c = camera(&s, &chunk(0).latents[1]);
        // FOV 90° across 6 latents × 8 px = 48 px wide, 32 px high: fx/W = 0.5, fy/H = 0.75.
        assert!((c.fx - 0.5).abs() < 1e-6 && (c.fy - 0.75).abs() < 1e-6 && (c.cx - 0.5).abs() < 1e-6, "{c:?}");
        assert_eq!(c.world_from_camera[2][3], 0.2);
    }

    #[test]
    fn a_checkpoint_folder_brings_its_config_and_loads() {
        let dir = std::env::temp_dir().join(format!("worldflow-dit-engine-wp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = Config::worldplay_tiny();
        let tensors = worldflow_dit::random_weights(&cfg, 3, 0.1);
        worldflow_dit::save_safetensors(&dir.join("diffusion_pytorch_model.safetensors"), &tensors).unwrap();
        std::fs::write(dir.join("config.json"), serde_json::to_string(&cfg).unwrap()).unwrap();
        let folder = dir.display().to_string();
        let s = Settings::from_settings(&env(&[("WEIGHTS", &folder), ("SEED", "3")])).unwrap();
        assert!(s.config_name.ends_with("config.json") && s.weights.is_some(), "{}", s.config_name);
        assert!(describe(&s).contains("checkpoint"));
        let random = Settings::from_settings(&env(&[("SEED", "3")])).unwrap();
        assert_eq!(two_chunks(&s), two_chunks(&random), "the saved seed-3 weights are the seed-3 random weights");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_worldplay_settings_name_the_setting() {
        let err = |pairs: &[(&str, &str)]| format!("{:#}", Settings::from_settings(&env(pairs)).unwrap_err());
        let e = err(&[("STEPS", "8")]);
        assert!(e.contains("STEPS=`8`") && e.contains("fixes it"), "{e}");
        let e = err(&[("CONFIG", "tiny")]);
        assert!(e.contains("CONFIG=`tiny`") && e.contains("worldplay_tiny, worldplay_wan"), "{e}");
        let e = err(&[("WEIGHTS", "/nonexistent/wp")]);
        assert!(e.contains("WEIGHTS") && e.contains("/nonexistent/wp"), "{e}");
        let e = format!("{:#}", Settings::from_settings(&Env::from_pairs(SETTINGS, &[("MODEL", "wp")])).unwrap_err());
        assert!(e.contains("MODEL=`wp`") && e.contains(MODEL_NAME), "{e}");
        let s = Settings { device: Device::Cuda(0), ..Settings::from_settings(&env(&[])).unwrap() };
        let e = format!("{:#}", s.load_backend().err().expect("refused"));
        assert!(e.contains("WorldPlay") && e.contains("CPU"), "{e}");
    }
}
