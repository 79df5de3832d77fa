//! **vae-decoder** node: streaming decode of the DiT's latents into video frames (`worldflow-vae`).
//!
//! Input `latent` (the dit-engine's chunks, `worldflow_protocol::arrow_io::latent`). Each latent is decoded as soon as
//! it is read, with the causal caches of one stream: the first latent of the run gives 1 frame, every later
//! one 4 (Wan's 4× temporal upsampling), so `n` latents give `1 + 4·(n−1)` frames ([`frames_for_latent`]).
//! Each frame leaves on `frame` as RGB8 written in place into dora's shared memory, with a `FrameHeader`
//! (camera `CAMERA`, default `neural`; `tick` = the frame's index in the video, `sim_time_ns` interpolated
//! between the latents' action times) and extra parameters `latent`, `action_tick` and `weights`
//! (`dit=…;vae=…`, e.g. `dit=random(seed=0);vae=random(seed=0)`).
//!
//! Settings: `WEIGHTS` (safetensors with the config's key names, F32/F16/BF16; unset = seeded random
//! weights, announced with the layout), `CONFIG` (preset `tiny` / `wan2_1` / `wan2.2-tiny` / `wan2.2`, or
//! a JSON config: worldflow's own or a checkpoint's diffusers `AutoencoderKLWan` config.json, e.g. the
//! Wan2.2 VAE's; default `tiny`), `SEED`, `FOV_X_DEG` (90), `CAMERA`, `OUT_DIR`.
//!
//! Frames are `s·h × s·w` for latents of `h × w`, s = 8 for Wan2.1 and 16 for Wan2.2 (48 latent channels).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters, Parameter, StopCause};
use worldflow_node_kit::{BoxError, Env, ErrorChain as _, SettingError};
use worldflow_protocol::arrow_io::latent::{read_latent, LatentHeader};
use worldflow_protocol::arrow_io::{frame as frame_io, latent as latent_io};
use worldflow_protocol::weights_notice::{self as notice, WeightsSource};
use worldflow_protocol::{mat4_from_rows, mat4_to_rows, rigid_inverse, ChunkMeta, Encoding, FrameHeader, Intrinsics};
use worldflow_vae::{StreamingDecoder, VaeConfig, VaeDecoder, PRESET_NAMES};

/// Video frames latent `i` of a stream decodes to: frame 0 for the first latent, then 4 per latent.
pub fn frames_for_latent(i: u64) -> Range<u64> {
    if i == 0 {
        0..1
    } else {
        1 + 4 * (i - 1)..1 + 4 * i
    }
}

/// Frames of a stream of `n` latents: `1 + 4·(n−1)`.
pub fn total_frames(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 + 4 * (n - 1)
    }
}

/// Simulated times of the frames of a latent at `cur` ns whose predecessor was at `prev`: the frames
/// split the interval evenly, the last one at `cur`.
pub fn frame_times(prev: Option<u64>, cur: u64, frames: usize) -> Vec<u64> {
    match prev {
        None => vec![cur; frames],
        Some(p) => (1..=frames as u64).map(|k| p + (cur.saturating_sub(p)) * k / frames as u64).collect(),
    }
}

/// One decoded frame `[3, H, W]` in [−1, 1] → interleaved RGB8.
pub fn to_rgb8(planar: &[f32], hw: usize, out: &mut [u8]) {
    debug_assert_eq!(planar.len(), 3 * hw);
    debug_assert_eq!(out.len(), 3 * hw);
    for p in 0..hw {
        for c in 0..3 {
            let v = planar[c * hw + p];
            out[3 * p + c] = if v.is_nan() { 0 } else { ((v.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5) as u8 };
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub config: VaeConfig,
    pub config_name: String,
    pub weights: Option<PathBuf>,
    pub seed: u64,
    pub fov_x_deg: f32,
    pub camera: String,
    pub out_dir: PathBuf,
}

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] = &["WEIGHTS", "CONFIG", "SEED", "FOV_X_DEG", "CAMERA", "OUT_DIR"];

impl Settings {
    /// The settings of the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Env::from_process(SETTINGS))
    }

    /// The settings of `env`.
    pub fn from_settings(env: &Env) -> anyhow::Result<Self> {
        let choice = env.config(
            "tiny",
            |name| VaeConfig::preset(name).ok(),
            PRESET_NAMES,
            |path| -> Result<VaeConfig, BoxError> {
                let text = std::fs::read_to_string(path)?;
                Ok(VaeConfig::from_json(&text, &path.display().to_string())?)
            },
        )?;
        let (config, config_name) = (choice.config, choice.name);
        let weights = env.weights(&format!("a safetensors VAE checkpoint matching CONFIG=`{config_name}`"))?;
        let camera = env.get_or("CAMERA", "neural")?;
        if camera.contains(['/', '\\']) {
            return Err(SettingError::invalid("CAMERA", camera, "a camera name without a path separator").into());
        }
        Ok(Self {
            config,
            config_name,
            weights,
            seed: env.seed()?,
            fov_x_deg: env.fov_x_deg()?,
            camera,
            out_dir: env.out_dir()?,
        })
    }

    pub fn weights_source(&self) -> WeightsSource {
        match &self.weights {
            Some(path) => WeightsSource::Checkpoint { path: path.clone() },
            None => WeightsSource::Random { seed: self.seed },
        }
    }

    /// What the log and the weights notice call this decoder: the config's name and its layout, e.g.
    /// `VAE decoder [CONFIG=wan2.2-tiny: Wan2.2 (residual up blocks, 48 latents, …)]`.
    pub fn component(&self) -> String {
        format!("VAE decoder [CONFIG={}: {}]", self.config_name, self.config.describe())
    }

    pub fn load(&self) -> anyhow::Result<VaeDecoder> {
        match &self.weights {
            Some(path) => VaeDecoder::from_safetensors(&self.config, path)
                .with_context(|| format!("setting WEIGHTS=`{}` (CONFIG=`{}`)", path.display(), self.config_name)),
            None => VaeDecoder::random(&self.config, self.seed)
                .with_context(|| format!("setting CONFIG=`{}`", self.config_name)),
        }
    }
}

/// One frame ready to send.
pub struct Frame {
    pub header: FrameHeader,
    pub latent: u64,
    pub action_tick: u64,
    pub rgb: Vec<u8>,
}

/// The streaming state of one video: the VAE caches and the frame clock.
pub struct Stream {
    decoder: StreamingDecoder,
    z_dim: usize,
    up: usize,
    config_name: String,
    fov_x_deg: f32,
    camera: String,
    prev_sim: Option<u64>,
    agent: Option<u32>,
}

impl Stream {
    pub fn new(decoder: Arc<VaeDecoder>, settings: &Settings) -> Self {
        let z_dim = decoder.config().z_dim;
        let up = decoder.config().spatial_upsampling();
        Self {
            decoder: StreamingDecoder::new(decoder),
            z_dim,
            up,
            config_name: settings.config_name.clone(),
            fov_x_deg: settings.fov_x_deg,
            camera: settings.camera.clone(),
            prev_sim: None,
            agent: None,
        }
    }

    pub fn latents_seen(&self) -> u64 {
        self.decoder.latents_seen() as u64
    }

    /// Checks a chunk header before decoding: channels, agent, order. Returns a warning for a gap.
    pub fn check(&mut self, h: &LatentHeader) -> anyhow::Result<Option<String>> {
        if h.channels != self.z_dim {
            anyhow::bail!(
                "input `latent`: chunk {} has {} latent channels but the VAE (CONFIG=`{}`) expects z_dim = {}: the DiT's out_dim must equal the VAE's latent channels",
                h.chunk,
                h.channels,
                self.config_name,
                self.z_dim
            );
        }
        if *self.agent.get_or_insert(h.agent_id) != h.agent_id {
            anyhow::bail!(
                "input `latent`: chunk {} is of agent {}, the stream of agent {}: one vae-decoder per agent",
                h.chunk,
                h.agent_id,
                self.agent.unwrap_or(0)
            );
        }
        let seen = self.latents_seen();
        Ok((h.first_latent != seen).then(|| {
            format!("vae-decoder: WARNING: chunk {} starts at latent {} but {seen} latents were decoded (chunks dropped upstream?); the video continues", h.chunk, h.first_latent)
        }))
    }

    /// Decodes latent `i` of a chunk into frames.
    pub fn decode(&mut self, h: &LatentHeader, latent: &[f32], i: usize) -> anyhow::Result<Vec<Frame>> {
        let index = self.latents_seen();
        let video = self
            .decoder
            .decode_next(latent, h.height, h.width)
            .with_context(|| format!("decoding latent {} (chunk {})", h.first_latent + i as u64, h.chunk))?;
        let range = frames_for_latent(index);
        if video.t as u64 != range.end - range.start || video.c != 3 {
            anyhow::bail!(
                "latent {index}: the VAE gave {} frames of {} channels, the streaming rule says {} RGB frames",
                video.t,
                video.c,
                range.end - range.start
            );
        }
        let times = frame_times(self.prev_sim, h.sim_time_ns[i], video.t);
        self.prev_sim = Some(h.sim_time_ns[i]);
        let (fw, fh) = (h.width * self.up, h.height * self.up);
        let k = Intrinsics::from_fov_x(fw as u32, fh as u32, self.fov_x_deg.to_radians());
        let camera_from_world = mat4_to_rows(&rigid_inverse(&mat4_from_rows(&h.world_from_camera[i])));
        let hw = fw * fh;
        Ok(range
            .zip(times)
            .enumerate()
            .map(|(f, (frame_index, sim_time_ns))| {
                let mut rgb = vec![0u8; 3 * hw];
                to_rgb8(video.frame(f), hw, &mut rgb);
                Frame {
                    header: FrameHeader {
                        meta: ChunkMeta { agent_id: h.agent_id, tick: frame_index, sim_time_ns },
                        camera: self.camera.clone(),
                        width: fw as u32,
                        height: fh as u32,
                        encoding: Encoding::Rgb8,
                        intrinsics: [k.fx, k.fy, k.cx, k.cy],
                        camera_from_world,
                    },
                    latent: index,
                    action_tick: h.ticks[i],
                    rgb,
                }
            })
            .collect())
    }
}

pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let node_id = node.id().to_string();
    let source = settings.weights_source();
    let decoder = Arc::new(settings.load()?);
    let c = decoder.config();
    notice::announce(
        &settings.out_dir,
        &node_id,
        &settings.component(),
        &source,
        serde_json::json!({
            "config": settings.config_name,
            "layout": c.describe(),
            "dim": c.dim,
            "z_dim": c.z_dim,
            "num_res_blocks": c.num_res_blocks,
            "is_residual": c.is_residual,
            "patch_size": c.patch_size,
            "spatial_upsampling": c.spatial_upsampling(),
        }),
    )?;
    let vae_tag = source.tag();
    let mut stream = Stream::new(decoder, &settings);
    let mut frames_sent = 0u64;
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, metadata, data } if id.as_str() == "latent" => {
                let _span = tracing::info_span!("decode_latent").entered();
                let array = data.as_array();
                let bytes = frame_io::payload_bytes(array.as_ref()).context("input `latent`")?;
                let h = latent_io::decode(&metadata.parameters, bytes.len()).chain_context("input `latent`")?;
                if let Some(w) = stream.check(&h)? {
                    eprintln!("{w}");
                }
                let weights = format!("dit={};vae={vae_tag}", h.weights);
                let t0 = Instant::now();
                for i in 0..h.frames {
                    let latent = read_latent(bytes, &h, i);
                    for f in stream.decode(&h, &latent, i)? {
                        let mut p: MetadataParameters = frame_io::encode(&f.header);
                        p.insert("latent".into(), Parameter::Integer(f.latent as i64));
                        p.insert("action_tick".into(), Parameter::Integer(f.action_tick as i64));
                        p.insert("weights".into(), Parameter::String(weights.clone()));
                        let rgb = &f.rgb;
                        node.send_output_raw("frame".to_owned().into(), p, rgb.len(), |out| out.copy_from_slice(rgb))
                            .with_chain_context(|| format!("sending frame {}", f.header.meta.tick))?;
                        frames_sent += 1;
                    }
                }
                eprintln!(
                    "vae-decoder: chunk {} ({} latents) decoded in {:.0} ms; {frames_sent} frames so far",
                    h.chunk,
                    h.frames,
                    t0.elapsed().as_secs_f64() * 1e3
                );
            }
            // A manual stop ends the run now. `AllInputsClosed` is yielded *before* inputs still queued
            // (dora's scheduler puts control events first), so keep receiving: the stream ends by itself.
            Event::Stop(StopCause::Manual) => break,
            _ => {}
        }
    }
    eprintln!(
        "vae-decoder: {} latents → {frames_sent} frames (1 + 4·(n−1) = {}); weights vae={vae_tag}",
        stream.latents_seen(),
        total_frames(stream.latents_seen())
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_frame_count_rule() {
        assert_eq!(frames_for_latent(0), 0..1);
        assert_eq!(frames_for_latent(1), 1..5);
        assert_eq!(frames_for_latent(4), 13..17);
        assert_eq!(total_frames(0), 0);
        assert_eq!(total_frames(1), 1);
        assert_eq!(total_frames(16), 61);
        // The ranges tile the video: latent i ends where latent i+1 starts, and n latents end at total_frames(n).
        for i in 0..50 {
            assert_eq!(frames_for_latent(i).end, frames_for_latent(i + 1).start);
            assert_eq!(frames_for_latent(i).end, total_frames(i + 1));
        }
    }

    #[test]
    fn frame_times_split_the_latent_interval() {
        assert_eq!(frame_times(None, 0, 1), vec![0]);
        assert_eq!(frame_times(Some(100), 500, 4), vec![200, 300, 400, 500]);
    }

    #[test]
    fn rgb8_conversion() {
        let planar = [-1.0, 1.0, 0.0, 0.5, f32::NAN, 2.0];
        let mut out = [0u8; 6];
        to_rgb8(&planar, 2, &mut out);
        assert_eq!(out, [0, 128, 0, 255, 191, 255]);
    }

    fn settings() -> Settings {
        Settings {
            config: VaeConfig::tiny(),
            config_name: "tiny".into(),
            weights: None,
            seed: 1,
            fov_x_deg: 90.0,
            camera: "neural".into(),
            out_dir: std::env::temp_dir(),
        }
    }

    fn header(chunk: u64, channels: usize) -> LatentHeader {
        LatentHeader {
            agent_id: 0,
            chunk,
            first_latent: 4 * chunk,
            frames: 4,
            channels,
            height: 2,
            width: 3,
            ticks: (4 * chunk..4 * chunk + 4).collect(),
            sim_time_ns: (4 * chunk..4 * chunk + 4).map(|t| t * 100).collect(),
            world_from_camera: vec![mat4_to_rows(&glam::Mat4::IDENTITY); 4],
            weights: "random(seed=0)".into(),
            chunk_ms: 0.0,
        }
    }

    #[test]
    fn a_stream_of_chunks_gives_1_plus_4_per_latent_frames() {
        let s = settings();
        let mut stream = Stream::new(Arc::new(s.load().unwrap()), &s);
        let mut ticks = vec![];
        for chunk in 0..2 {
            let h = header(chunk, 16);
            assert!(stream.check(&h).unwrap().is_none());
            for i in 0..4 {
                let latent: Vec<f32> = (0..16 * 6).map(|v| ((v + i) as f32 * 0.37).sin()).collect();
                for f in stream.decode(&h, &latent, i).unwrap() {
                    assert_eq!((f.header.width, f.header.height, f.rgb.len()), (24, 16, 24 * 16 * 3));
                    assert_eq!(f.header.camera, "neural");
                    ticks.push(f.header.meta.tick);
                }
            }
        }
        assert_eq!(ticks, (0..total_frames(8)).collect::<Vec<_>>(), "frames 0..29 in order, none twice");
        // A gap is reported, not fatal.
        assert!(stream.check(&header(3, 16)).unwrap().unwrap().contains("latent 12"));
    }

    #[test]
    fn wan22_tiny_preset_gives_16x_frames_and_names_its_layout() {
        let env = Env::from_pairs(SETTINGS, &[("OUT_DIR", "/tmp/x"), ("CONFIG", "wan2.2-tiny")]);
        let s = Settings::from_settings(&env).unwrap();
        assert_eq!(s.config, VaeConfig::wan2_2_tiny());
        let c = s.component();
        assert!(c.contains("CONFIG=wan2.2-tiny") && c.contains("Wan2.2") && c.contains("48 latents"), "{c}");
        let mut stream = Stream::new(Arc::new(s.load().unwrap()), &s);
        let h = header(0, 48);
        assert!(stream.check(&h).unwrap().is_none());
        let mut ticks = vec![];
        for i in 0..2 {
            let latent: Vec<f32> = (0..48 * 6).map(|v| ((v + i) as f32 * 0.37).sin()).collect();
            for f in stream.decode(&h, &latent, i).unwrap() {
                // Latents of 2×3 → frames of 32×48 (16×).
                assert_eq!((f.header.width, f.header.height, f.rgb.len()), (48, 32, 48 * 32 * 3));
                ticks.push(f.header.meta.tick);
            }
        }
        assert_eq!(ticks, (0..5).collect::<Vec<_>>(), "1 + 4 frames");
        // The 16-channel Wan2.1 DiT output is refused with the reason.
        let e = stream.check(&header(1, 16)).unwrap_err().to_string();
        assert!(e.contains("z_dim = 48"), "{e}");
    }

    #[test]
    fn a_diffusers_config_json_is_read_as_it_is() {
        let path = std::env::temp_dir().join(format!("wf_vae_node_cfg_{}.json", std::process::id()));
        let text = serde_json::json!({
            "_class_name": "AutoencoderKLWan", "base_dim": 160, "decoder_base_dim": 6, "z_dim": 48,
            "num_res_blocks": 1, "is_residual": true, "in_channels": 12, "out_channels": 12, "patch_size": 2,
            "clip_output": false, "scale_factor_spatial": 16, "scale_factor_temporal": 4,
            "latents_mean": worldflow_vae::WAN2_2_LATENTS_MEAN.to_vec(),
            "latents_std": worldflow_vae::WAN2_2_LATENTS_STD.to_vec(),
        });
        std::fs::write(&path, text.to_string()).unwrap();
        let env = Env::from_pairs(SETTINGS, &[("CONFIG", path.to_str().unwrap())]);
        let s = Settings::from_settings(&env);
        std::fs::remove_file(&path).ok();
        assert_eq!(s.unwrap().config, VaeConfig::wan2_2_tiny());
    }

    #[test]
    fn settings_defaults_and_every_declared_setting_is_read() {
        let env = Env::from_pairs(SETTINGS, &[("OUT_DIR", "/tmp/x"), ("SEED", "4")]);
        let s = Settings::from_settings(&env).unwrap();
        assert_eq!((s.config_name.as_str(), s.seed, s.fov_x_deg, s.camera.as_str()), ("tiny", 4, 90.0, "neural"));
        assert_eq!((s.weights, s.out_dir), (None, PathBuf::from("/tmp/x")));
        assert_eq!(env.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
    }

    #[test]
    fn channel_mismatch_and_bad_settings_are_clear_errors() {
        let s = settings();
        let mut stream = Stream::new(Arc::new(s.load().unwrap()), &s);
        let e = stream.check(&header(0, 12)).unwrap_err().to_string();
        assert!(e.contains("12 latent channels") && e.contains("z_dim = 16"), "{e}");
        let e = Settings::from_settings(&Env::from_pairs(SETTINGS, &[("CONFIG", "no-such-preset")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CONFIG=`no-such-preset`") && e.contains("tiny, wan2_1, wan2.2-tiny, wan2.2"), "{e}");
        let e = Settings::from_settings(&Env::from_pairs(SETTINGS, &[("CAMERA", "a/b")])).unwrap_err().to_string();
        assert!(e.contains("CAMERA=`a/b`"), "{e}");
        let mut s = settings();
        s.weights = Some(std::env::temp_dir().join(format!("not-a-vae-{}.safetensors", std::process::id())));
        std::fs::write(s.weights.as_ref().unwrap(), b"garbage").unwrap();
        let e = format!("{:#}", s.load().err().unwrap());
        std::fs::remove_file(s.weights.as_ref().unwrap()).unwrap();
        assert!(e.contains("WEIGHTS"), "{e}");
    }
}
