//! The call interface of HY-WorldPlay's WAN-path transformer (`WanTransformer3DModel` of
//! `wan/models/dits/arwan_w_action_w_mem_relative_rope.py`) on a [`WanModel`] with
//! [`Layout::WorldPlay`](crate::Layout::WorldPlay):
//! - cameras come as `viewmats` (camera-from-world 4×4) and `Ks` (3×3, normalised intrinsics);
//! - RoPE rows are TOKEN ranges `[current_start, current_end)` of a `window_frames`-frame table, so
//!   frame `f` of a call sits at time `current_start / tokens_per_frame + f`;
//! - the memory call (`is_cache=True`) returns, per layer, `K = [k_rope | k_prope]`,
//!   `V = [v | v_prope]` ([`WorldPlayKv`]); the memory frames sit at relative times `0..M` and the
//!   chunk after them at `M..M+C` (pipeline :919-955);
//! - a chunk call attends to the memory tokens first, then its own (no mask).

use crate::error::{bad_input, Result};
use crate::model::{FrameCond, LayerKv, PastKv, SeqRequest, TextContext, WanModel};
use crate::prope::{inverse, Camera, Mat4};

/// One layer-list of keys/values a WorldPlay memory call returns (token-major [tokens, dim] per
/// branch, as [`LayerKv`]: `k`/`v` RoPE branch, `cam_k`/`cam_v` PRoPE branch).
#[derive(Clone, Debug, Default)]
pub struct WorldPlayKv {
    /// Memory tokens (frames × tokens per frame).
    pub tokens: usize,
    pub layers: Vec<LayerKv>,
}

impl PastKv for WorldPlayKv {
    fn tokens(&self) -> usize {
        self.tokens
    }
    fn segments(&self, layer: usize, cam: bool) -> Vec<(&[f32], &[f32])> {
        let l = &self.layers[layer];
        vec![if cam { (l.cam_k.as_slice(), l.cam_v.as_slice()) } else { (l.k.as_slice(), l.v.as_slice()) }]
    }
}

/// Token-major `[tokens, heads·hd]` (two branches) → official `[heads, tokens, 2·hd]`, branch `a` first.
fn to_official(a: &[f32], b: &[f32], tokens: usize, heads: usize, hd: usize) -> Vec<f32> {
    let d = heads * hd;
    let mut out = vec![0.0f32; heads * tokens * 2 * hd];
    for h in 0..heads {
        for t in 0..tokens {
            let o = (h * tokens + t) * 2 * hd;
            out[o..o + hd].copy_from_slice(&a[t * d + h * hd..t * d + (h + 1) * hd]);
            out[o + hd..o + 2 * hd].copy_from_slice(&b[t * d + h * hd..t * d + (h + 1) * hd]);
        }
    }
    out
}

/// Official `[heads, tokens, 2·hd]` → the two token-major branches.
fn from_official(x: &[f32], tokens: usize, heads: usize, hd: usize) -> (Vec<f32>, Vec<f32>) {
    let d = heads * hd;
    let (mut a, mut b) = (vec![0.0f32; tokens * d], vec![0.0f32; tokens * d]);
    for h in 0..heads {
        for t in 0..tokens {
            let o = (h * tokens + t) * 2 * hd;
            a[t * d + h * hd..t * d + (h + 1) * hd].copy_from_slice(&x[o..o + hd]);
            b[t * d + h * hd..t * d + (h + 1) * hd].copy_from_slice(&x[o + hd..o + 2 * hd]);
        }
    }
    (a, b)
}

impl WorldPlayKv {
    /// Layer `layer` in the official layout: `(K, V)`, each `[heads, tokens, 2·head_dim]`
    /// (batch 1 dropped) = `[k_rope | k_prope]`, `[v | v_prope]`.
    pub fn official_layer(&self, layer: usize, heads: usize, head_dim: usize) -> (Vec<f32>, Vec<f32>) {
        let l = &self.layers[layer];
        (
            to_official(&l.k, &l.cam_k, self.tokens, heads, head_dim),
            to_official(&l.v, &l.cam_v, self.tokens, heads, head_dim),
        )
    }

    /// A cache from the official per-layer `(K, V)` `[heads, tokens, 2·head_dim]`.
    pub fn from_official(layers: &[(Vec<f32>, Vec<f32>)], heads: usize, head_dim: usize) -> Result<Self> {
        let per_token = heads * 2 * head_dim;
        let tokens = layers.first().map_or(0, |(k, _)| k.len() / per_token.max(1));
        let mut out = Vec::with_capacity(layers.len());
        for (i, (k, v)) in layers.iter().enumerate() {
            if k.len() != tokens * per_token || v.len() != tokens * per_token {
                return Err(bad_input(
                    "kv_cache",
                    format!(
                        "layer {i}: K/V of {}/{} values, expected [{heads}, {tokens}, {}]",
                        k.len(),
                        v.len(),
                        2 * head_dim
                    ),
                ));
            }
            let ((k, cam_k), (v, cam_v)) =
                (from_official(k, tokens, heads, head_dim), from_official(v, tokens, heads, head_dim));
            out.push(LayerKv { k, v, cam_k, cam_v });
        }
        Ok(WorldPlayKv { tokens, layers: out })
    }
}

/// A WorldPlay camera: `viewmat` camera-from-world (row-major 4×4), `k` the 3×3 intrinsics
/// (normalised: only `fx = k[0][0]`, `fy = k[1][1]` enter PRoPE). `None` when the pose is singular.
pub fn camera_from_viewmat(viewmat: &Mat4, k: &[[f32; 3]; 3]) -> Option<Camera> {
    let c2w = inverse(&viewmat.map(|r| r.map(|x| x as f64)))?;
    Some(Camera {
        world_from_camera: c2w.map(|r| r.map(|x| x as f32)),
        fx: k[0][0],
        fy: k[1][1],
        cx: k[0][2],
        cy: k[1][2],
    })
}

/// RoPE time index of each of `frames` frames for the token range `[current_start, current_end)`.
pub fn rope_time_from_tokens(
    current_start: usize,
    current_end: usize,
    tokens_per_frame: usize,
    frames: usize,
) -> Result<Vec<usize>> {
    let ok = tokens_per_frame > 0
        && current_start.is_multiple_of(tokens_per_frame)
        && current_end >= current_start
        && current_end - current_start == frames * tokens_per_frame;
    if !ok {
        return Err(bad_input(
            "current_start/current_end",
            format!(
                "token range [{current_start}, {current_end}) must start on a frame and cover the call's {frames} frames of {tokens_per_frame} tokens"
            ),
        ));
    }
    Ok((0..frames).map(|f| current_start / tokens_per_frame + f).collect())
}

/// Per-frame conditions of a WorldPlay call: timesteps, action labels, `viewmats`, `Ks`.
pub fn worldplay_conds(
    timesteps: &[f32],
    actions: &[u32],
    viewmats: &[Mat4],
    ks: &[[[f32; 3]; 3]],
) -> Result<Vec<FrameCond>> {
    let n = timesteps.len();
    if actions.len() != n || viewmats.len() != n || ks.len() != n {
        return Err(bad_input(
            "conds",
            format!(
                "{n} timesteps, {} actions, {} viewmats, {} Ks: one each per frame",
                actions.len(),
                viewmats.len(),
                ks.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(n);
    for f in 0..n {
        let camera = camera_from_viewmat(&viewmats[f], &ks[f])
            .ok_or_else(|| bad_input("viewmats", format!("frame {f}: singular camera pose")))?;
        out.push(FrameCond { timestep: timesteps[f], action: Some(actions[f]), camera: Some(camera) });
    }
    Ok(out)
}

impl WanModel {
    /// WorldPlay's memory call (`is_cache=True`): the keys/values of `req`'s frames, every layer.
    /// Put the memory frames at relative times `0..M` (`req.rope_time`).
    pub fn worldplay_memory(&self, req: &SeqRequest, text: &TextContext) -> Result<WorldPlayKv> {
        let (_, layers) = self.forward_seq(req, text, None, true, None)?;
        let [_, ph, pw] = self.config().patch_size;
        let tokens = req.frames * (req.height / ph) * (req.width / pw);
        Ok(WorldPlayKv { tokens, layers: layers.unwrap_or_default() })
    }

    /// WorldPlay's chunk call: the prediction [C, F, H, W] of `req`'s frames attending to `memory`
    /// (if any) and to themselves.
    pub fn worldplay_chunk(
        &self,
        req: &SeqRequest,
        text: &TextContext,
        memory: Option<&WorldPlayKv>,
    ) -> Result<Vec<f32>> {
        if let Some(m) = memory {
            if m.layers.len() != self.config().num_layers {
                return Err(bad_input(
                    "kv_cache",
                    format!("{} layers, the model has {}", m.layers.len(), self.config().num_layers),
                ));
            }
        }
        Ok(self.forward_seq(req, text, memory.map(|m| m as &dyn PastKv), false, None)?.0)
    }
}
