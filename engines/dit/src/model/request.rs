//! The inputs and outputs of a forward: per-frame conditions, the sequence request, cached and
//! recorded keys/values, the encoded prompt and the trace of intermediate values.

use crate::attention::PackedKv;
use crate::config::Config;
use crate::error::{bad_input, Result};
use crate::prope::Camera;

/// Conditioning of one latent frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameCond {
    /// Diffusion timestep in [0, 1000] (σ · 1000).
    pub timestep: f32,
    /// Discrete action label in `0..action_classes` (ignored by models without actions).
    pub action: Option<u32>,
    /// Camera of the frame (ignored by models without camera attention; `None` = identity).
    pub camera: Option<Camera>,
}

impl FrameCond {
    pub fn at(timestep: f32) -> Self {
        FrameCond { timestep, action: None, camera: None }
    }
}

/// Self-attention keys/values of a set of tokens for one layer, token-major [tokens, dim].
/// `k` is after RMSNorm and RoPE; `cam_k`/`cam_v` (PRoPE branch) are empty without cameras.
#[derive(Clone, Debug, Default)]
pub struct LayerKv {
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub cam_k: Vec<f32>,
    pub cam_v: Vec<f32>,
}

/// Cached keys/values visible to every query of a forward (ordered in time), per layer.
pub trait PastKv {
    /// Number of cached tokens.
    fn tokens(&self) -> usize;
    /// Segments `(k, v)` of layer `layer`, `cam` selecting the PRoPE branch.
    fn segments(&self, layer: usize, cam: bool) -> Vec<(&[f32], &[f32])>;
}

/// A prompt's cross-attention keys/values for every layer (computed once per prompt).
#[derive(Clone, Debug)]
pub struct TextContext {
    pub(crate) layers: Vec<PackedKv>,
    /// `text_embedding(context)` [text_len, dim] (the golden trace `text_embedding`).
    pub embedded: Vec<f32>,
}

impl TextContext {
    /// A context holding only `embedded` [text_len, dim], for backends that derive the cross-attention
    /// keys/values on their device. The CPU [`WanModel`] rejects it (it reads its own packed K/V).
    pub fn from_embedded(embedded: Vec<f32>) -> Self {
        TextContext { layers: Vec::new(), embedded }
    }
}

/// One forward over a frame-major sequence of latent frames.
pub struct SeqRequest<'a> {
    /// Latents [C, F, H, W].
    pub latents: &'a [f32],
    pub frames: usize,
    pub height: usize,
    pub width: usize,
    pub conds: &'a [FrameCond],
    /// RoPE time index of each frame.
    pub rope_time: &'a [usize],
    /// Sizes (in frames) of consecutive block-causal groups; `None` = one group (full attention).
    pub groups: Option<&'a [usize]>,
}

impl SeqRequest<'_> {
    /// Per query token, how many keys it sees (`np` past tokens first, then this request's tokens in
    /// order): all of them, or with `groups` up to the end of its own group (block-causal).
    pub fn key_limits(&self, tokens_per_frame: usize, np: usize) -> Vec<usize> {
        let n = self.frames * tokens_per_frame;
        match self.groups {
            None => vec![np + n; n],
            Some(groups) => {
                let mut limit = Vec::with_capacity(n);
                let mut end = 0;
                for &g in groups {
                    end += g * tokens_per_frame;
                    limit.extend(std::iter::repeat_n(np + end, g * tokens_per_frame));
                }
                limit
            }
        }
    }

    /// Checks sizes, grid, per-frame conditions, groups and finiteness against `c`.
    pub fn check(&self, c: &Config) -> Result<()> {
        let r = self;
        let [_, ph, pw] = c.patch_size;
        if r.latents.len() != c.in_dim * r.frames * r.height * r.width {
            return Err(bad_input(
                "x",
                format!("expected {}×{}×{}×{} values, got {}", c.in_dim, r.frames, r.height, r.width, r.latents.len()),
            ));
        }
        if r.frames == 0 || !r.height.is_multiple_of(ph) || !r.width.is_multiple_of(pw) || r.height == 0 || r.width == 0
        {
            return Err(bad_input(
                "x",
                format!("grid {}×{}×{} not divisible by patch {:?}", r.frames, r.height, r.width, c.patch_size),
            ));
        }
        if r.conds.len() != r.frames || r.rope_time.len() != r.frames {
            return Err(bad_input("conds", "one condition and one RoPE time index per frame required"));
        }
        if let Some(g) = r.groups {
            if g.iter().sum::<usize>() != r.frames || g.contains(&0) {
                return Err(bad_input("groups", format!("group sizes {g:?} must be positive and sum to {}", r.frames)));
            }
        }
        if r.latents.iter().any(|x| !x.is_finite()) {
            return Err(bad_input("x", "latents contain NaN or infinity"));
        }
        Ok(())
    }
}

/// Intermediate values of a forward (the names of the goldens' `trace.*`).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub patch_embedding: Vec<f32>,
    pub time_embedding: Vec<f32>,
    pub time_projection: Vec<f32>,
    pub blocks: Vec<Vec<f32>>,
    pub head: Vec<f32>,
}
