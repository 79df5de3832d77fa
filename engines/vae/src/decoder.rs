//! The Wan2.1 causal 3D VAE decoder (`conv2` + `Decoder3d` of upstream `WanVAE_`).
//!
//! Matches github.com/Wan-Video/Wan2.1 `wan/modules/vae.py` (decoder half), checked against goldens of
//! the official code (`tests/conformance.rs`) and of an independent PyTorch re-implementation
//! (`reference/make_goldens.py`, `tests/goldens.rs`).
//!
//! Layout: `z` (normalised latents) → `z·std + mean` → `conv2` (1×1×1) → `conv1` (3×3×3) →
//! middle [res, attn, res] → per stage: (num_res_blocks + 1) res blocks [+ attn], then a resample
//! (upsample3d where time is upsampled, else upsample2d; none after the last stage) → RMS norm, SiLU,
//! `head` conv to RGB → clamp to [−1, 1].

use std::path::Path;
use std::sync::Arc;

use crate::blocks::{
    load_conv, load_gamma, norm_video, AttentionBlock, Resample, ResidualBlock, SlotCounter, StreamState,
};
use crate::config::VaeConfig;
use crate::conv::{CausalConv3d, ConvCache};
use crate::error::{input_err, Result};
use crate::tensor::Video;
use crate::weights::{read_file, WeightLoader};

enum Layer {
    Res(ResidualBlock),
    Attn(AttentionBlock),
    Up(Resample),
}

impl Layer {
    fn forward(&self, x: Video, st: &mut StreamState) -> Video {
        match self {
            Layer::Res(b) => b.forward(x, st),
            Layer::Attn(b) => b.forward(x),
            Layer::Up(b) => b.forward(x, st),
        }
    }
}

/// Decoder weights (immutable, shareable between streams via `Arc`).
pub struct VaeDecoder {
    cfg: VaeConfig,
    conv2: CausalConv3d,
    conv1: CausalConv3d,
    conv1_slot: usize,
    layers: Vec<Layer>,
    head_norm: Vec<f32>,
    head_conv: CausalConv3d,
    head_slot: usize,
    n_slots: usize,
}

impl VaeDecoder {
    /// Loads a safetensors checkpoint with upstream key names (`conv2.*`, `decoder.*`; encoder keys are
    /// ignored). F32, F16 and BF16 tensors are accepted.
    pub fn from_safetensors(cfg: &VaeConfig, path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        Self::from_safetensors_bytes(cfg, &bytes, &path.display().to_string())
    }

    /// As [`Self::from_safetensors`] from bytes; `source_name` labels errors.
    pub fn from_safetensors_bytes(cfg: &VaeConfig, bytes: &[u8], source_name: &str) -> Result<Self> {
        cfg.validate()?;
        let mut wl = WeightLoader::from_safetensors(bytes, source_name)?;
        let dec = Self::build(cfg, &mut wl);
        wl.finish()?;
        Ok(dec)
    }

    /// Seeded random weights (N(0, 0.05²), norm scales 1 ± 0.1) — for tests and benchmarks.
    pub fn random(cfg: &VaeConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut wl = WeightLoader::random(seed, 0.05);
        let dec = Self::build(cfg, &mut wl);
        wl.finish()?;
        Ok(dec)
    }

    fn build(cfg: &VaeConfig, wl: &mut WeightLoader<'_>) -> Self {
        let mut slots = SlotCounter::default();
        let z = cfg.z_dim;
        let dims = cfg.decoder_dims();
        let conv2 = load_conv(wl, "conv2", z, z, 1, 1, false);
        let conv1 = load_conv(wl, "decoder.conv1", z, dims[0], 3, 3, false);
        let conv1_slot = slots.next_slot();
        let mut layers = vec![
            Layer::Res(ResidualBlock::load(wl, &mut slots, "decoder.middle.0", dims[0], dims[0])),
            Layer::Attn(AttentionBlock::load(wl, "decoder.middle.1", dims[0])),
            Layer::Res(ResidualBlock::load(wl, &mut slots, "decoder.middle.2", dims[0], dims[0])),
        ];
        let n_stages = cfg.dim_mult.len();
        let mut scale = 1.0f32 / (1u64 << (n_stages - 2)) as f32;
        let mut idx = 0usize;
        for i in 0..n_stages {
            let mut cin = if i >= 1 { dims[i] / 2 } else { dims[i] };
            let cout = dims[i + 1];
            for _ in 0..cfg.num_res_blocks + 1 {
                let p = format!("decoder.upsamples.{idx}");
                layers.push(Layer::Res(ResidualBlock::load(wl, &mut slots, &p, cin, cout)));
                idx += 1;
                if cfg.attn_scales.iter().any(|s| (*s - scale).abs() < 1e-6) {
                    let p = format!("decoder.upsamples.{idx}");
                    layers.push(Layer::Attn(AttentionBlock::load(wl, &p, cout)));
                    idx += 1;
                }
                cin = cout;
            }
            if i != n_stages - 1 {
                let time = cfg.temperal_downsample[n_stages - 2 - i];
                let p = format!("decoder.upsamples.{idx}");
                layers.push(Layer::Up(Resample::load(wl, &mut slots, &p, cout, time)));
                idx += 1;
                scale *= 2.0;
            }
        }
        let last = dims[dims.len() - 1];
        let head_norm = load_gamma(wl, "decoder.head.0.gamma", last, false);
        let head_conv = load_conv(wl, "decoder.head.2", last, 3, 3, 3, false);
        let head_slot = slots.next_slot();
        Self { cfg: cfg.clone(), conv2, conv1, conv1_slot, layers, head_norm, head_conv, head_slot, n_slots: slots.0 }
    }

    pub fn config(&self) -> &VaeConfig {
        &self.cfg
    }

    pub(crate) fn new_state(&self) -> StreamState {
        StreamState { caches: vec![ConvCache::default(); self.n_slots], started: false }
    }

    /// Decodes `latents.t` latent frames continuing the stream in `st`.
    pub(crate) fn forward_chunk(&self, latents: &Video, st: &mut StreamState) -> Result<Video> {
        if latents.c != self.cfg.z_dim {
            return Err(input_err("z", format!("expected {} latent channels, found {}", self.cfg.z_dim, latents.c)));
        }
        if latents.h == 0 || latents.w == 0 {
            return Err(input_err("z", format!("empty spatial size {}×{}", latents.h, latents.w)));
        }
        if let Some(bad) = latents.data.iter().find(|v| !v.is_finite()) {
            return Err(input_err("z", format!("contains a non-finite value ({bad})")));
        }
        if latents.t == 0 {
            return Ok(Video::zeros(
                0,
                3,
                latents.h * self.cfg.spatial_upsampling(),
                latents.w * self.cfg.spatial_upsampling(),
            ));
        }
        let mut z = latents.clone();
        let hw = z.h * z.w;
        for t in 0..z.t {
            let f = z.frame_mut(t);
            for c in 0..self.cfg.z_dim {
                let (m, s) = (self.cfg.latents_mean[c], self.cfg.latents_std[c]);
                for v in &mut f[c * hw..(c + 1) * hw] {
                    *v = *v * s + m;
                }
            }
        }
        let x = self.conv2.forward(&z, &mut ConvCache::default());
        let mut x = self.conv1.forward(&x, &mut st.caches[self.conv1_slot]);
        for layer in &self.layers {
            x = layer.forward(x, st);
        }
        norm_video(&mut x, &self.head_norm, true);
        let mut out = self.head_conv.forward(&x, &mut st.caches[self.head_slot]);
        if self.cfg.clamp_output {
            for v in &mut out.data {
                *v = v.clamp(-1.0, 1.0);
            }
        }
        st.started = true;
        Ok(out)
    }

    /// Whole-clip decode: latents `[T, z_dim, h, w]` → video `[1 + 4(T−1), 3, 8h, 8w]` (Wan2.1 factors).
    pub fn decode(&self, latents: &Video) -> Result<Video> {
        let mut st = self.new_state();
        self.forward_chunk(latents, &mut st)
    }
}

/// Latent-by-latent decoder: holds the causal caches of one video stream.
pub struct StreamingDecoder {
    decoder: Arc<VaeDecoder>,
    state: StreamState,
    latent_hw: Option<(usize, usize)>,
    latents_seen: usize,
}

impl StreamingDecoder {
    pub fn new(decoder: Arc<VaeDecoder>) -> Self {
        let state = decoder.new_state();
        Self { decoder, state, latent_hw: None, latents_seen: 0 }
    }

    /// Decodes the next latent `[z_dim, h, w]` (row-major) into video frames `[n, 3, 8h, 8w]`:
    /// n = 1 for the first latent of the stream, 4 (the time upsampling) afterwards. The frames equal
    /// the corresponding frames of a whole-clip [`VaeDecoder::decode`].
    pub fn decode_next(&mut self, latent: &[f32], h: usize, w: usize) -> Result<Video> {
        if let Some((h0, w0)) = self.latent_hw {
            if (h0, w0) != (h, w) {
                return Err(input_err("latent", format!("stream started at {h0}×{w0}, this latent is {h}×{w}")));
            }
        }
        let z = Video::new(1, self.decoder.cfg.z_dim, h, w, latent.to_vec(), "latent")?;
        let out = self.decoder.forward_chunk(&z, &mut self.state)?;
        self.latent_hw = Some((h, w));
        self.latents_seen += 1;
        Ok(out)
    }

    /// Decodes several latents at once (`[T, z_dim, h, w]`), continuing the stream.
    pub fn decode_chunk(&mut self, latents: &Video) -> Result<Video> {
        if let Some((h0, w0)) = self.latent_hw {
            if (h0, w0) != (latents.h, latents.w) {
                return Err(input_err(
                    "latents",
                    format!("stream started at {h0}×{w0}, these are {}×{}", latents.h, latents.w),
                ));
            }
        }
        let out = self.decoder.forward_chunk(latents, &mut self.state)?;
        if latents.t > 0 {
            self.latent_hw = Some((latents.h, latents.w));
        }
        self.latents_seen += latents.t;
        Ok(out)
    }

    /// Latents decoded so far.
    pub fn latents_seen(&self) -> usize {
        self.latents_seen
    }

    /// Bytes held by the causal caches (Wan2.1 at 480×832: ≈ 3.8 GB in f32).
    pub fn cache_bytes(&self) -> usize {
        self.state.caches.iter().map(|c| c.bytes()).sum()
    }

    /// Starts a new video: drops all caches.
    pub fn reset(&mut self) {
        self.state = self.decoder.new_state();
        self.latent_hw = None;
        self.latents_seen = 0;
    }
}
