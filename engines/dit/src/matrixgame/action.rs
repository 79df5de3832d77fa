//! The action module of Matrix-Game 2.0 (`ActionModule`, `wan/modules/action_module.py`), KV-cache
//! path, in the blocks listed by `action_config.blocks`, between cross-attention and FFN.
//!
//! Actions are per pixel frame; a call for latent frames `start..start+T` gets the first
//! `1 + r·(start+T−1)` of them (`r` = `vae_time_compression_ratio`). `pad = r·windows_size` copies of
//! action 0 are put in front; latent frame `f` sees padded rows `[r·f, r·f + pad)`.
//!
//! - Mouse: per spatial token, `mouse_mlp(cat[x, flat(pad × mouse)])` (Linear, GELU-tanh, Linear,
//!   LayerNorm) → `t_qkv` split q|k|v outermost, weightless per-head RMSNorm on q, k, the action RoPE
//!   by latent frame, then attention over time per spatial token through its own cache;
//!   `x += proj_mouse(attn)`.
//! - Keyboard: `keyboard_embed` (Linear, SiLU, Linear) per padded pixel frame, each latent frame's
//!   `pad` embeddings flattened into `keyboard_attn_kv` → k | v; the query is `mouse_attn_q(x)`;
//!   weightless RMSNorm on both, RoPE by latent frame, every token attends the cached keyboard frames;
//!   `x += proj_keyboard(attn)`.
//! - The action RoPE: a table over the head width split `mouse_qk_dim_list` ([8, 28, 28]) with θ =
//!   `rope_theta` (256), on the grid [frames, 1, 1], so only the first part rotates (by the latent
//!   frame index; adjacent pairs, f32); the other parts sit at position 0, the identity. The head
//!   width is read from the weights and must equal the split's sum (upstream hard-codes 64).
//! - Both caches hold `local_attn_size` frames and roll without a sink (upstream hard-codes 0).

use rayon::prelude::*;

use super::cache::RollingKv;
use super::config::ActionConfig;
use super::nn::{attend_few, layernorm_rows, rms_heads_inplace};
use super::weights::Weights;
use crate::error::{bad_input, DitError, Result};
use crate::linear::Linear;
use crate::ops::silu;

const RMS_EPS: f32 = 1e-6;
const LN_EPS: f32 = 1e-5;

struct MouseBranch {
    mlp1: Linear,
    mlp2: Linear,
    ln: (Vec<f32>, Vec<f32>),
    qkv: Linear,
    proj: Linear,
    width: usize,
}

struct KeyboardBranch {
    embed1: Linear,
    embed2: Linear,
    q: Linear,
    kv: Linear,
    proj: Linear,
    width: usize,
}

/// Per-pixel-frame actions of a whole stream so far: `mouse` [N, mouse_dim_in] (empty when the model
/// has no mouse branch) and `keyboard` [N, keyboard_dim_in].
#[derive(Clone, Copy, Debug)]
pub struct Actions<'a> {
    pub mouse: &'a [f32],
    pub keyboard: &'a [f32],
    pub pixel_frames: usize,
}

pub(crate) struct ActionModule {
    cfg: ActionConfig,
    dim: usize,
    heads: usize,
    head_dim: usize,
    mouse: Option<MouseBranch>,
    keyboard: Option<KeyboardBranch>,
    /// Frequencies of the rotating (first) part of the action RoPE, f32 as upstream.
    rope_freqs: Vec<f32>,
    window_frames: usize,
}

impl ActionModule {
    pub(crate) fn load(
        w: &mut Weights,
        prefix: &str,
        cfg: &ActionConfig,
        dim: usize,
        window_frames: usize,
    ) -> Result<Self> {
        let (heads, pad, bias) = (cfg.heads_num, cfg.window_pixel_frames(), cfg.qkv_bias);
        let split_sum: usize = cfg.mouse_qk_dim_list.iter().sum();
        let head_width = |what: &str, width: usize| -> Result<usize> {
            if !width.is_multiple_of(heads) || width / heads != split_sum {
                return Err(DitError::WeightMismatch(format!(
                    "{prefix}: {what} width {width} over {heads} heads must give heads of \
                     sum(mouse_qk_dim_list) = {split_sum} (the action RoPE table's width)"
                )));
            }
            Ok(width / heads)
        };
        let mut head_dim = split_sum;
        let mouse = if cfg.enable_mouse {
            // The branch width from the weights (`mouse_hidden_dim` upstream).
            let width = w.shape(&format!("{prefix}.mouse_mlp.0.weight"))?[0];
            head_dim = head_width("mouse_mlp", width)?;
            let inp = dim + cfg.mouse_dim_in * pad;
            let b = MouseBranch {
                mlp1: w.linear(&format!("{prefix}.mouse_mlp.0"), inp, width, true)?,
                mlp2: w.linear(&format!("{prefix}.mouse_mlp.2"), width, width, true)?,
                ln: w.norm(&format!("{prefix}.mouse_mlp.3"), width)?,
                qkv: w.linear(&format!("{prefix}.t_qkv"), width, 3 * width, bias)?,
                proj: w.linear(&format!("{prefix}.proj_mouse"), width, dim, bias)?,
                width,
            };
            // Weights of the weightless RMSNorms (the forward ignores them).
            w.discard(&format!("{prefix}.img_attn_q_norm.weight"));
            w.discard(&format!("{prefix}.img_attn_k_norm.weight"));
            Some(b)
        } else {
            None
        };
        let keyboard = if cfg.enable_keyboard {
            let width = w.shape(&format!("{prefix}.mouse_attn_q.weight"))?[0];
            head_dim = head_width("mouse_attn_q (keyboard query)", width)?;
            let hid = cfg.hidden_size;
            let b = KeyboardBranch {
                embed1: w.linear(&format!("{prefix}.keyboard_embed.0"), cfg.keyboard_dim_in, hid, true)?,
                embed2: w.linear(&format!("{prefix}.keyboard_embed.2"), hid, hid, true)?,
                q: w.linear(&format!("{prefix}.mouse_attn_q"), dim, width, bias)?,
                kv: w.linear(&format!("{prefix}.keyboard_attn_kv"), hid * pad, 2 * width, bias)?,
                proj: w.linear(&format!("{prefix}.proj_keyboard"), width, dim, bias)?,
                width,
            };
            w.discard(&format!("{prefix}.key_attn_q_norm.weight"));
            w.discard(&format!("{prefix}.key_attn_k_norm.weight"));
            Some(b)
        } else {
            None
        };
        let a0 = cfg.mouse_qk_dim_list[0];
        let theta = cfg.rope_theta as f32;
        let rope_freqs = (0..a0 / 2).map(|j| 1.0 / theta.powf((2 * j) as f32 / a0 as f32)).collect();
        Ok(ActionModule { cfg: cfg.clone(), dim, heads, head_dim, mouse, keyboard, rope_freqs, window_frames })
    }

    /// Empty mouse and keyboard caches for `tokens_per_frame` spatial tokens.
    pub(crate) fn new_caches(&self, tokens_per_frame: usize) -> (Option<RollingKv>, Option<RollingKv>) {
        let row = self.heads * self.head_dim;
        (
            self.mouse.as_ref().map(|_| RollingKv::new(tokens_per_frame, self.window_frames, row, 0)),
            self.keyboard.as_ref().map(|_| RollingKv::new(1, self.window_frames, row, 0)),
        )
    }

    /// Rotates every head of `row` by latent frame `frame` (first part of the split only).
    fn rope(&self, row: &mut [f32], frame: usize) {
        let d = self.head_dim;
        for head in row.chunks_exact_mut(d) {
            for (j, f) in self.rope_freqs.iter().enumerate() {
                let a = frame as f32 * f;
                let (s, c) = a.sin_cos();
                let (x0, x1) = (head[2 * j], head[2 * j + 1]);
                head[2 * j] = x0 * c - x1 * s;
                head[2 * j + 1] = x1 * c + x0 * s;
            }
        }
    }

    /// Checks the action counts against the call (the upstream asserts of the cached path).
    fn check_actions(&self, acts: &Actions, start_frame: usize, frames: usize) -> Result<()> {
        let r = self.cfg.vae_time_compression_ratio;
        let want = 1 + r * (start_frame + frames - 1);
        if acts.pixel_frames != want {
            return Err(bad_input(
                "actions",
                format!(
                    "{} pixel frames for latent frames {start_frame}..{} (expected 1 + {r}·{} = {want})",
                    acts.pixel_frames,
                    start_frame + frames,
                    start_frame + frames - 1
                ),
            ));
        }
        let check = |name: &str, data: &[f32], width: usize, used: bool| {
            if used && data.len() != acts.pixel_frames * width {
                return Err(bad_input(
                    name,
                    format!("{} values for {} pixel frames × {width}", data.len(), acts.pixel_frames),
                ));
            }
            Ok(())
        };
        check("mouse", acts.mouse, self.cfg.mouse_dim_in, self.mouse.is_some())?;
        check("keyboard", acts.keyboard, self.cfg.keyboard_dim_in, self.keyboard.is_some())
    }

    /// The `pad` padded action rows latent frame `frame` sees, flattened: `[pad · width]`.
    fn window(&self, data: &[f32], width: usize, frame: usize) -> Vec<f32> {
        let (r, pad) = (self.cfg.vae_time_compression_ratio, self.cfg.window_pixel_frames());
        let mut out = Vec::with_capacity(pad * width);
        for i in 0..pad {
            let src = (r * frame + i).saturating_sub(pad);
            out.extend_from_slice(&data[src * width..(src + 1) * width]);
        }
        out
    }

    /// `x` [frames·S, dim] (frame-major) → updated in place (the residual is added here, as upstream).
    #[allow(clippy::too_many_arguments, reason = "one call's grid, actions and the two caches")]
    pub(crate) fn forward(
        &self,
        x: &mut [f32],
        tokens_per_frame: usize,
        frames: usize,
        start_frame: usize,
        acts: &Actions,
        mouse_cache: Option<&mut RollingKv>,
        keyboard_cache: Option<&mut RollingKv>,
    ) -> Result<()> {
        self.check_actions(acts, start_frame, frames)?;
        let (s_tok, d, dim) = (tokens_per_frame, self.head_dim, self.dim);
        let n = frames * s_tok;
        if let Some(m) = &self.mouse {
            let cache = mouse_cache.ok_or_else(|| bad_input("kv_cache_mouse", "missing for an action block"))?;
            let c = m.width;
            let cm = self.cfg.mouse_dim_in;
            let inp_w = dim + cm * self.cfg.window_pixel_frames();
            let wins: Vec<Vec<f32>> = (0..frames).map(|t| self.window(acts.mouse, cm, start_frame + t)).collect();
            // Rows ordered (spatial token, frame), as upstream's "(B S) T C".
            let mut inp = vec![0.0f32; n * inp_w];
            for s in 0..s_tok {
                for t in 0..frames {
                    let row = &mut inp[(s * frames + t) * inp_w..(s * frames + t + 1) * inp_w];
                    row[..dim].copy_from_slice(&x[(t * s_tok + s) * dim..(t * s_tok + s + 1) * dim]);
                    row[dim..].copy_from_slice(&wins[t]);
                }
            }
            let mut h1 = vec![0.0f32; n * c];
            m.mlp1.forward_gelu(&inp, n, &mut h1);
            let h2 = layernorm_rows(&m.mlp2.forward_vec(&h1, n), c, &m.ln.0, &m.ln.1, LN_EPS);
            let qkv = m.qkv.forward_vec(&h2, n);
            let (mut q, mut k, mut v) = (vec![0.0f32; n * c], vec![0.0f32; n * c], vec![0.0f32; n * c]);
            for r in 0..n {
                let src = &qkv[r * 3 * c..(r + 1) * 3 * c];
                q[r * c..(r + 1) * c].copy_from_slice(&src[..c]);
                k[r * c..(r + 1) * c].copy_from_slice(&src[c..2 * c]);
                v[r * c..(r + 1) * c].copy_from_slice(&src[2 * c..]);
            }
            if self.cfg.qk_norm {
                rms_heads_inplace(&mut q, d, RMS_EPS);
                rms_heads_inplace(&mut k, d, RMS_EPS);
            }
            for r in 0..n {
                let frame = start_frame + r % frames;
                self.rope(&mut q[r * c..(r + 1) * c], frame);
                self.rope(&mut k[r * c..(r + 1) * c], frame);
            }
            let (lo, hi) = cache.write("kv_cache_mouse", start_frame, frames, &k, &v, self.window_frames)?;
            let mut attn = vec![0.0f32; n * c];
            let cache = &*cache;
            attn.par_chunks_mut(frames * c).enumerate().for_each(|(s, out)| {
                let (ks, vs) = cache.slice(s, lo, hi);
                attend_few(&q[s * frames * c..(s + 1) * frames * c], ks, vs, self.heads, d, out);
            });
            // Back to token order (frame, spatial token).
            let mut tok = vec![0.0f32; n * c];
            for s in 0..s_tok {
                for t in 0..frames {
                    tok[(t * s_tok + s) * c..(t * s_tok + s + 1) * c]
                        .copy_from_slice(&attn[(s * frames + t) * c..(s * frames + t + 1) * c]);
                }
            }
            let y = m.proj.forward_vec(&tok, n);
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
        }
        if let Some(kb) = &self.keyboard {
            let cache = keyboard_cache.ok_or_else(|| bad_input("kv_cache_keyboard", "missing for an action block"))?;
            let (c, hid, ck, pad) =
                (kb.width, self.cfg.hidden_size, self.cfg.keyboard_dim_in, self.cfg.window_pixel_frames());
            let raw: Vec<f32> = (0..frames).flat_map(|t| self.window(acts.keyboard, ck, start_frame + t)).collect();
            let mut e = kb.embed1.forward_vec(&raw, frames * pad);
            e.iter_mut().for_each(|v| *v = silu(*v));
            let e = kb.embed2.forward_vec(&e, frames * pad);
            // [frames, pad·hid] → k | v.
            let kv = kb.kv.forward_vec(&e, frames);
            debug_assert_eq!(e.len(), frames * pad * hid);
            let (mut k, mut v) = (vec![0.0f32; frames * c], vec![0.0f32; frames * c]);
            for t in 0..frames {
                k[t * c..(t + 1) * c].copy_from_slice(&kv[t * 2 * c..t * 2 * c + c]);
                v[t * c..(t + 1) * c].copy_from_slice(&kv[t * 2 * c + c..(t + 1) * 2 * c]);
            }
            let mut q = kb.q.forward_vec(x, n);
            if self.cfg.qk_norm {
                rms_heads_inplace(&mut q, d, RMS_EPS);
                rms_heads_inplace(&mut k, d, RMS_EPS);
            }
            for r in 0..n {
                self.rope(&mut q[r * c..(r + 1) * c], start_frame + r / s_tok);
            }
            for t in 0..frames {
                self.rope(&mut k[t * c..(t + 1) * c], start_frame + t);
            }
            let (lo, hi) = cache.write("kv_cache_keyboard", start_frame, frames, &k, &v, self.window_frames)?;
            let (ks, vs) = cache.slice(0, lo, hi);
            let mut attn = vec![0.0f32; n * c];
            attn.par_chunks_mut(s_tok.max(1) * c).zip(q.par_chunks(s_tok.max(1) * c)).for_each(|(out, qq)| {
                attend_few(qq, ks, vs, self.heads, d, out);
            });
            let y = kb.proj.forward_vec(&attn, n);
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
        }
        Ok(())
    }
}
