//! The Wan causal 3D VAE decoder: Wan2.1 (`conv2` + `Decoder3d` of upstream `WanVAE_`, or the same
//! under diffusers names) and Wan2.2 (diffusers `AutoencoderKLWan` with `is_residual`), one code path.
//!
//! Wan2.1 matches github.com/Wan-Video/Wan2.1 `wan/modules/vae.py` (decoder half), checked against goldens of
//! the official code (`tests/conformance.rs`) and of an independent PyTorch re-implementation
//! (`reference/make_goldens.py`, `tests/goldens.rs`). Wan2.2 matches diffusers 0.35 `AutoencoderKLWan` as
//! HY-WorldPlay drives it (`tests/worldplay_vae_goldens.rs`).
//!
//! Layout: `z` (normalised latents) → `z·std + mean` → `post_quant_conv` (1×1×1) → `conv_in` (3×3×3) →
//! middle [res, attn, res] → up stages → RMS norm, SiLU, `conv_out` → unpatchify (Wan2.2) → clamp to
//! [−1, 1]. Up stages:
//! * Wan2.1: per stage (num_res_blocks + 1) res blocks [+ attn], then a resample halving the width
//!   (upsample3d where time is upsampled, else upsample2d; none after the last stage); stages after the
//!   first take half the previous width.
//! * Wan2.2: per stage a residual up block (`up_block.rs`): the res blocks, a width-keeping resample and a
//!   `DupUp3D` shortcut from the stage's input.

use std::path::Path;
use std::sync::Arc;

use crate::blocks::{load_conv, load_gamma, AttentionBlock, Resample, ResidualBlock, SlotCounter, StreamState};
use crate::config::{VaeConfig, WeightNames};
use crate::conv::{CausalConv3d, ConvCache, Prep};
use crate::error::{input_err, Result};
use crate::ops::unpatchify_frame;
use crate::tensor::Video;
use crate::up_block::ResidualUpBlock;
use crate::weights::{read_file, WeightLoader};

/// One decode call's intermediate tensors, named after the diffusers modules that produce them.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeTrace {
    /// `post_quant_conv` output (`conv2` upstream): `[T, z_dim, h, w]`.
    pub post_quant_conv: Video,
    /// The decoder's output before unpatchify and clamp: `[T', out_channels, H/p, W/p]`.
    pub decoder: Video,
    /// The video: `[T', 3, H, W]`, clamped when the config says so.
    pub video: Video,
}

enum Layer {
    Res(ResidualBlock),
    Attn(AttentionBlock),
    Up(Resample),
    ResidualUp(ResidualUpBlock),
}

impl Layer {
    fn forward(&self, x: Video, st: &mut StreamState) -> Video {
        match self {
            Layer::Res(b) => b.forward(x, st),
            Layer::Attn(b) => b.forward(x),
            Layer::Up(b) => b.forward(x, st),
            Layer::ResidualUp(b) => b.forward(x, st),
        }
    }
}

/// The keys of the layers outside the up stages, per naming.
struct StemKeys {
    post_quant_conv: &'static str,
    conv_in: &'static str,
    mid: [&'static str; 3],
    norm_out: &'static str,
    conv_out: &'static str,
}

impl StemKeys {
    fn of(names: WeightNames) -> Self {
        match names {
            WeightNames::Upstream => Self {
                post_quant_conv: "conv2",
                conv_in: "decoder.conv1",
                mid: ["decoder.middle.0", "decoder.middle.1", "decoder.middle.2"],
                norm_out: "decoder.head.0.gamma",
                conv_out: "decoder.head.2",
            },
            WeightNames::Diffusers => Self {
                post_quant_conv: "post_quant_conv",
                conv_in: "decoder.conv_in",
                mid: ["decoder.mid_block.resnets.0", "decoder.mid_block.attentions.0", "decoder.mid_block.resnets.1"],
                norm_out: "decoder.norm_out.gamma",
                conv_out: "decoder.conv_out",
            },
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
    /// Loads a safetensors checkpoint with the config's key names (upstream `conv2.*`, `decoder.*` or
    /// diffusers `post_quant_conv.*`, `decoder.*`; encoder keys are ignored). F32, F16 and BF16 tensors are
    /// accepted and converted to f32 tensor by tensor as they are read.
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
        let names = cfg.weight_names;
        let keys = StemKeys::of(names);
        let mut slots = SlotCounter::default();
        let z = cfg.z_dim;
        let dims = cfg.decoder_dims();
        let conv2 = load_conv(wl, keys.post_quant_conv, z, z, 1, 1, false);
        let conv1 = load_conv(wl, keys.conv_in, z, dims[0], 3, 3, false);
        let conv1_slot = slots.next_slot();
        let mut layers = vec![
            Layer::Res(ResidualBlock::load(wl, &mut slots, keys.mid[0], dims[0], dims[0], names)),
            Layer::Attn(AttentionBlock::load(wl, keys.mid[1], dims[0])),
            Layer::Res(ResidualBlock::load(wl, &mut slots, keys.mid[2], dims[0], dims[0], names)),
        ];
        match (names, cfg.is_residual) {
            (WeightNames::Upstream, _) => Self::upstream_stages(cfg, wl, &mut slots, &mut layers),
            (WeightNames::Diffusers, residual) => {
                let n_stages = cfg.dim_mult.len();
                let time = cfg.temperal_upsample();
                for i in 0..n_stages {
                    let p = format!("decoder.up_blocks.{i}");
                    let up = (i != n_stages - 1).then(|| time[i]);
                    if residual {
                        let b =
                            ResidualUpBlock::load(wl, &mut slots, &p, (dims[i], dims[i + 1]), cfg.num_res_blocks, up);
                        layers.push(Layer::ResidualUp(b));
                        continue;
                    }
                    let mut cin = if i >= 1 { dims[i] / 2 } else { dims[i] };
                    let cout = dims[i + 1];
                    for j in 0..cfg.num_res_blocks + 1 {
                        let r = ResidualBlock::load(wl, &mut slots, &format!("{p}.resnets.{j}"), cin, cout, names);
                        layers.push(Layer::Res(r));
                        cin = cout;
                    }
                    if let Some(time) = up {
                        let r = Resample::load(wl, &mut slots, &format!("{p}.upsamplers.0"), cout, cout / 2, time);
                        layers.push(Layer::Up(r));
                    }
                }
            }
        }
        let last = dims[dims.len() - 1];
        let head_norm = load_gamma(wl, keys.norm_out, last, false);
        let head_conv = load_conv(wl, keys.conv_out, last, cfg.out_channels, 3, 3, false);
        let head_slot = slots.next_slot();
        Self { cfg: cfg.clone(), conv2, conv1, conv1_slot, layers, head_norm, head_conv, head_slot, n_slots: slots.0 }
    }

    /// Wan2.1's up stages under upstream names: one flat `decoder.upsamples.{idx}` list.
    fn upstream_stages(cfg: &VaeConfig, wl: &mut WeightLoader<'_>, slots: &mut SlotCounter, layers: &mut Vec<Layer>) {
        let names = WeightNames::Upstream;
        let dims = cfg.decoder_dims();
        let n_stages = cfg.dim_mult.len();
        let mut scale = 1.0f32 / (1u64 << (n_stages - 2)) as f32;
        let mut idx = 0usize;
        for i in 0..n_stages {
            let mut cin = if i >= 1 { dims[i] / 2 } else { dims[i] };
            let cout = dims[i + 1];
            for _ in 0..cfg.num_res_blocks + 1 {
                let p = format!("decoder.upsamples.{idx}");
                layers.push(Layer::Res(ResidualBlock::load(wl, slots, &p, cin, cout, names)));
                idx += 1;
                if cfg.attn_scales.iter().any(|s| (*s - scale).abs() < 1e-6) {
                    let p = format!("decoder.upsamples.{idx}");
                    layers.push(Layer::Attn(AttentionBlock::load(wl, &p, cout)));
                    idx += 1;
                }
                cin = cout;
            }
            if i != n_stages - 1 {
                let time = cfg.temperal_upsample()[i];
                let p = format!("decoder.upsamples.{idx}");
                layers.push(Layer::Up(Resample::load(wl, slots, &p, cout, cout / 2, time)));
                idx += 1;
                scale *= 2.0;
            }
        }
    }

    pub fn config(&self) -> &VaeConfig {
        &self.cfg
    }

    pub(crate) fn new_state(&self) -> StreamState {
        StreamState { caches: vec![ConvCache::default(); self.n_slots], started: false }
    }

    /// Decodes `latents.t` latent frames continuing the stream in `st`; the intermediates are kept only
    /// when `trace`.
    pub(crate) fn forward_chunk(&self, latents: &Video, st: &mut StreamState, trace: bool) -> Result<DecodeTrace> {
        if latents.c != self.cfg.z_dim {
            return Err(input_err("z", format!("expected {} latent channels, found {}", self.cfg.z_dim, latents.c)));
        }
        if latents.h == 0 || latents.w == 0 {
            return Err(input_err("z", format!("empty spatial size {}×{}", latents.h, latents.w)));
        }
        if let Some(bad) = latents.data.iter().find(|v| !v.is_finite()) {
            return Err(input_err("z", format!("contains a non-finite value ({bad})")));
        }
        let p = self.cfg.patch_size;
        let up = self.cfg.spatial_upsampling();
        if latents.t == 0 {
            return Ok(DecodeTrace {
                post_quant_conv: Video::zeros(0, self.cfg.z_dim, latents.h, latents.w),
                decoder: Video::zeros(0, self.cfg.out_channels, latents.h * up / p, latents.w * up / p),
                video: Video::zeros(0, 3, latents.h * up, latents.w * up),
            });
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
        let pqc = self.conv2.forward(&z, &mut ConvCache::default());
        let mut x = self.conv1.forward(&pqc, &mut st.caches[self.conv1_slot]);
        for layer in &self.layers {
            x = layer.forward(x, st);
        }
        let head = Prep::Norm { gamma: &self.head_norm, silu: true };
        let decoder = self.head_conv.forward_prep(&x, &mut st.caches[self.head_slot], head);
        let unpatchify = |d: &Video| {
            let rgb = d.c / (p * p);
            let mut v = Video::zeros(d.t, rgb, d.h * p, d.w * p);
            for t in 0..d.t {
                unpatchify_frame(d.frame(t), rgb, p, d.h, d.w, v.frame_mut(t));
            }
            v
        };
        let (mut video, kept) = match (p, trace) {
            (1, false) => (decoder, None),
            (1, true) => (decoder.clone(), Some((pqc, decoder))),
            (_, false) => (unpatchify(&decoder), None),
            (_, true) => (unpatchify(&decoder), Some((pqc, decoder))),
        };
        if self.cfg.clamp_output {
            for v in &mut video.data {
                *v = v.clamp(-1.0, 1.0);
            }
        }
        st.started = true;
        let (post_quant_conv, decoder) = kept.unwrap_or_else(|| (Video::zeros(0, 0, 0, 0), Video::zeros(0, 0, 0, 0)));
        Ok(DecodeTrace { post_quant_conv, decoder, video })
    }

    /// Whole-clip decode: latents `[T, z_dim, h, w]` → video `[1 + 4(T−1), 3, s·h, s·w]` with
    /// s = [`VaeConfig::spatial_upsampling`] (8 for Wan2.1, 16 for Wan2.2).
    pub fn decode(&self, latents: &Video) -> Result<Video> {
        let mut st = self.new_state();
        Ok(self.forward_chunk(latents, &mut st, false)?.video)
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

    /// Decodes the next latent `[z_dim, h, w]` (row-major) into video frames `[n, 3, s·h, s·w]`
    /// (s = [`VaeConfig::spatial_upsampling`]): n = 1 for the first latent of the stream, 4 (the time
    /// upsampling) afterwards. The frames equal the corresponding frames of a whole-clip
    /// [`VaeDecoder::decode`].
    pub fn decode_next(&mut self, latent: &[f32], h: usize, w: usize) -> Result<Video> {
        Ok(self.next(latent, h, w, false)?.video)
    }

    /// As [`Self::decode_next`], also returning the intermediates (`post_quant_conv`, the decoder's
    /// output before unpatchify and clamp).
    pub fn decode_next_traced(&mut self, latent: &[f32], h: usize, w: usize) -> Result<DecodeTrace> {
        self.next(latent, h, w, true)
    }

    fn next(&mut self, latent: &[f32], h: usize, w: usize, trace: bool) -> Result<DecodeTrace> {
        if let Some((h0, w0)) = self.latent_hw {
            if (h0, w0) != (h, w) {
                return Err(input_err("latent", format!("stream started at {h0}×{w0}, this latent is {h}×{w}")));
            }
        }
        let z = Video::new(1, self.decoder.cfg.z_dim, h, w, latent.to_vec(), "latent")?;
        let out = self.decoder.forward_chunk(&z, &mut self.state, trace)?;
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
        let out = self.decoder.forward_chunk(latents, &mut self.state, false)?.video;
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
