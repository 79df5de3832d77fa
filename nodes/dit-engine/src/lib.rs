//! **dit-engine** node: chunk-wise causal generation of latents with a Wan2.1-family DiT
//! (`worldflow-dit`, reference/world-models.md §1–2).
//!
//! Input `action` (the action-encoder's dual action: one per tick = one latent, its 81-way label and camera
//! pose condition that latent) and, optionally, `context` (the memory-retriever's memory set per chunk).
//! Every 4 actions (one chunk) — and once the chunk's context is there when `context` is wired — it runs one
//! chunk of [`worldflow_dit::ChunkGenerator`] (Rebuild policy: the memory latents are prefilled as context at RoPE times
//! 0..K−1, the chunk denoised at K..K+3) and emits `latent` ([`worldflow_protocol::arrow_io::latent`]).
//! With the optional input `context_hint` (the memory-retriever's guess at a chunk's context, sent one action
//! early) it prefills that memory while it waits for the chunk's last action; the chunk uses the prefill when its
//! real context names the same latents, and computes its own otherwise.
//!
//! `MODEL=worldplay-wan` runs HY-WorldPlay's WAN-path DiT instead (48 latent channels, the pipeline's
//! 4-step schedule, memory at t = 14, normalised camera intrinsics; tiny SEEDED RANDOM weights unless
//! `WEIGHTS` names a checkpoint): see `worldplay.rs`. `MODEL=matrix-game` runs Matrix-Game 2.0 (keyboard + mouse
//! actions per pixel frame, blocks of 3 latents; see [`matrixgame`]).
//!
//! Settings: `MODEL` (`wan`, the default, `worldplay-wan` or `matrix-game`), `WEIGHTS` (safetensors checkpoint; unset = seeded random weights, announced by the weights
//! notice), `QUANTIZE` (`none`, or `int8`: the block linear layers in Q8_0-style int8 blocks),
//! `CONFIG` (preset `tiny` / `small` / `wan2_1_1_3b`, or a `config.json`; default `small`), `CONTROLS`
//! (`actions,camera` by default for presets, `none`), `SEED`, `LATENT_HEIGHT` / `LATENT_WIDTH` (8 × 8),
//! `STEPS` (4), `SHIFT` (3), `FOV_X_DEG` (90, the camera of the PRoPE branch), `HISTORY_RAM_LATENTS` (64:
//! generated latents kept in RAM for the memory, older ones spill to an unnamed file in `OUT_DIR`), `OUT_DIR`,
//! `DEVICE` (`cpu`, the
//! default, or `cuda` / `cuda:N`: the CUDA backend of `worldflow-dit-cuda`, f32 weights only; without a driver
//! or device the node fails at start with a sentence saying so). Settings are read through
//! `worldflow-node-kit` (one rule for trimming, empty values and errors); [`SETTINGS`] lists them.
//!
//! Modules: `settings` (the settings and what they build: model, generation config, PRoPE cameras),
//! `settings/worldplay` (the same for `MODEL=worldplay-wan`), `generated` (a generated block of latents),
//! `scheduler` (pairs chunks of actions with their memory context, in order), `node` (the event loop).

mod generated;
pub mod matrixgame;
mod node;
mod scheduler;
mod settings;

pub use generated::Generated;
pub use node::{generate, run};
pub use scheduler::{memory_indices, ScheduleError, Scheduler};
pub use settings::worldplay::{MEMORY_TIMESTEP, WORLDPLAY_SIGMAS};
pub use settings::{apply_controls, model_of, DitModel, Settings, SETTINGS, VAE_STRIDE};

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{Mat4, Vec3};
    use worldflow_dit::{Branch, ChunkGenerator, Config, Guidance, WeightFormat};
    use worldflow_dit_cuda::Device;
    use worldflow_memory::chunking::{Chunk, LatentCond, CHUNK_LATENTS};
    use worldflow_node_kit::Env;
    use worldflow_protocol::arrow_io::context::ContextMsg;

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
        assert!(s.add_chunk(chunk(1)).unwrap_err().to_string().contains("twice"));
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
        assert!(err.unwrap().to_string().contains("memory-retriever"));
        let mut bad = ctx(2, vec![]);
        bad.first_latent = 5;
        assert!(Scheduler::new(true).add_context(bad).unwrap_err().to_string().contains("first_latent 5"));
    }

    #[test]
    fn memory_glue_checks_the_history() {
        assert_eq!(memory_indices(None, 8, vec![0, 1]).unwrap(), vec![0, 1]);
        assert_eq!(memory_indices(Some(&ctx(2, vec![0, 1, 2, 3, 6])), 8, vec![]).unwrap(), vec![0, 1, 2, 3, 6]);
        let e = memory_indices(Some(&ctx(2, vec![0])), 4, vec![]).unwrap_err().to_string();
        assert!(e.contains("4 latents have been generated"), "{e}");
    }

    fn tiny_settings() -> Settings {
        let mut config = Config::tiny();
        apply_controls(&mut config, "actions,camera").unwrap();
        Settings {
            model: DitModel::Wan,
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
            history_ram_latents: 64,
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
        let from = |pairs: &[(&str, &str)]| Settings::from_settings(&Env::from_pairs(SETTINGS, pairs));
        let e = from(&[("WEIGHTS", "/nonexistent/model.safetensors")]).unwrap_err().to_string();
        assert!(e.contains("WEIGHTS") && e.contains("/nonexistent/model.safetensors"), "{e}");
        let e = from(&[("QUANTIZE", "int4")]).unwrap_err().to_string();
        assert!(e.contains("QUANTIZE=`int4`") && e.contains("none or int8"), "{e}");
        let e = from(&[("DEVICE", "tpu")]).unwrap_err().to_string();
        assert!(e.contains("DEVICE") && e.contains("expected cpu, cuda or cuda:N"), "{e}");
        let e = from(&[("STEPS", "0")]).unwrap_err().to_string();
        assert!(e.contains("STEPS=`0`") && e.contains("1..=100"), "{e}");
        let e = from(&[("LATENT_WIDTH", "7"), ("CONFIG", "tiny")]).unwrap_err().to_string();
        assert!(e.contains("LATENT_WIDTH=`7`") && e.contains("multiple of the patch width"), "{e}");
        // 100000 latents a side asked for gigabytes of tokens; the bound is checked with the setting.
        let e = from(&[("LATENT_HEIGHT", "100000"), ("CONFIG", "tiny")]).unwrap_err().to_string();
        assert!(e.contains("LATENT_HEIGHT=`100000`") && e.contains("in 1..=512"), "{e}");
        let e = from(&[("CONFIG", "no-such-preset")]).unwrap_err().to_string();
        assert!(e.contains("CONFIG=`no-such-preset`") && e.contains("wan2_1_1_3b"), "{e}");
    }

    #[test]
    fn defaults_and_every_declared_setting_is_read() {
        let env = Env::from_pairs(SETTINGS, &[("OUT_DIR", "/tmp/x")]);
        let s = Settings::from_settings(&env).unwrap();
        assert_eq!((s.config_name.as_str(), s.seed, s.steps, s.latent_height, s.latent_width), ("small", 0, 4, 8, 8));
        assert_eq!((s.shift, s.fov_x_deg, s.weight_format, s.device), (3.0, 90.0, WeightFormat::F32, Device::Cpu));
        assert_eq!(s.out_dir, std::path::PathBuf::from("/tmp/x"));
        assert!(s.config.camera_attention && s.config.action_classes == Some(81), "presets default to actions,camera");
        assert_eq!(env.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
    }

    #[test]
    fn device_cuda_without_a_gpu_is_a_clear_error() {
        let s = Settings { device: Device::Cuda(0), ..tiny_settings() };
        match s.load_backend() {
            Ok(m) => assert!(m.device().starts_with("cuda:0"), "{}", m.device()),
            Err(e) => {
                let e = format!("{e:#}");
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
        let e = format!("{:#}", s.load_model().err().unwrap());
        assert!(e.contains("WEIGHTS") && e.contains("action_embedding"), "{e}");
        s.config = Config::tiny();
        assert!(s.load_model().is_ok(), "the matching config loads");
        let _ = std::fs::remove_dir_all(dir);
    }
}
