//! The Matrix-Game 2.0 `CausalWanModel` (`wan/modules/causal_model.py`), KV-cache inference path,
//! f32 on CPU.
//!
//! Forward of one call (a block of latent frames at `start_frame`):
//! `x = cat[noisy, cond_concat]` on channels (`in_dim` = 36: 16 noisy + 4 mask + 16 image latent) →
//! patch embedding → per-frame `e_f = time_embedding(sin(t_f))`, `e0_f = time_projection(e_f)` →
//! causal blocks (self-attention with RoPE time offset `start_frame` and the rolling cache,
//! cross-attention on the `img_emb` image context, action module, FFN) → head modulated per frame →
//! unpatchify. The context is only the CLIP image tokens: `img_emb = LN → Linear → GELU(erf) →
//! Linear → LN` (both LayerNorms eps 1e-5); there is no text embedding. The CLIP width (1280 in
//! production) is read from the weights.

use super::action::{ActionModule, Actions};
use super::block::{BlockRun, BlockTrace, CausalBlock, LayerCaches};
use super::cache::RollingKv;
use super::config::MatrixGameConfig;
use super::nn::{gelu_erf_inplace, layernorm_rows, patchify, unpatchify, Grid};
use super::weights::Weights;
use crate::attention::PackedKv;
use crate::error::{bad_input, Result};
use crate::linear::Linear;
use crate::model::sinusoidal_embedding;
use crate::ops::{layernorm_modulate_row, par_rows, rmsnorm_row, silu};
use crate::rope::Rope3d;
use crate::tensor::TensorMap;
use std::path::Path;

const IMG_LN_EPS: f32 = 1e-5;

/// A loaded Matrix-Game 2.0 causal DiT.
pub struct MatrixGameModel {
    cfg: MatrixGameConfig,
    clip_dim: usize,
    patch: Linear,
    time1: Linear,
    time2: Linear,
    time_proj: Linear,
    img_ln_in: (Vec<f32>, Vec<f32>),
    img1: Linear,
    img2: Linear,
    img_ln_out: (Vec<f32>, Vec<f32>),
    blocks: Vec<CausalBlock>,
    head_mod: Vec<f32>,
    head: Linear,
    rope: Rope3d,
}

/// The image context: `img_emb(visual_context)` [rows, dim] and every layer's cross-attention
/// keys/values (upstream's `crossattn_cache`, filled once).
pub struct VisualContext {
    pub embedded: Vec<f32>,
    pub rows: usize,
    layers: Vec<PackedKv>,
}

/// Every layer's caches: self-attention `[cache_frames·tokens_per_frame, dim]`, and for action
/// blocks mouse `[tokens_per_frame, cache_frames, heads·head_dim]` and keyboard `[1, cache_frames, …]`.
pub struct MatrixGameCaches {
    pub tokens_per_frame: usize,
    pub self_attn: Vec<RollingKv>,
    pub mouse: Vec<Option<RollingKv>>,
    pub keyboard: Vec<Option<RollingKv>>,
}

/// One model call: `frames` latent frames starting at latent frame `start_frame`.
#[derive(Clone, Copy, Debug)]
pub struct CallInput<'a> {
    /// `[out_dim, F, H, W]`.
    pub noisy: &'a [f32],
    /// `[in_dim − out_dim, F, H, W]` (mask + image latent).
    pub cond_concat: &'a [f32],
    pub grid: Grid,
    /// One timestep per latent frame.
    pub timesteps: &'a [f32],
    pub actions: Actions<'a>,
    pub start_frame: usize,
}

/// Module outputs of one call (the golden traces).
#[derive(Clone, Debug, Default)]
pub struct CallTrace {
    /// `time_projection` [F, 6·dim].
    pub time_projection: Vec<f32>,
    pub blocks: Vec<BlockTrace>,
    /// `head` [n, ph·pw·out_dim], before unpatchify.
    pub head: Vec<f32>,
}

impl MatrixGameModel {
    /// Builds the model from a `CausalWanModel.state_dict()` (official key names; a checkpoint of
    /// the `WanDiffusionWrapper`, whose keys carry `model.` in front, is taken too); every shape is
    /// checked and left-over tensors are an error. `origin` names the source in errors.
    pub fn from_tensors(cfg: &MatrixGameConfig, mut tensors: TensorMap, origin: &str) -> Result<Self> {
        cfg.validate()?;
        if !tensors.contains_key("patch_embedding.weight") && tensors.contains_key("model.patch_embedding.weight") {
            tensors = tensors
                .into_iter()
                .map(|(k, v)| (k.strip_prefix("model.").map_or(k.clone(), str::to_owned), v))
                .collect();
        }
        let mut w = Weights::new(tensors, origin);
        let (d, [pt, ph, pw]) = (cfg.dim, cfg.patch_size);
        let pw_w = w.take("patch_embedding.weight", &[d, cfg.in_dim, pt, ph, pw])?;
        let patch = Linear::new(&pw_w, w.take("patch_embedding.bias", &[d])?, cfg.in_dim * pt * ph * pw, d);
        let time1 = w.linear("time_embedding.0", cfg.freq_dim, d, true)?;
        let time2 = w.linear("time_embedding.2", d, d, true)?;
        let time_proj = w.linear("time_projection.1", d, 6 * d, true)?;
        // The CLIP width from the weights (upstream hard-codes MLPProj(1280, dim)).
        let clip_dim = w.shape("img_emb.proj.1.weight")?[1];
        let img_ln_in = w.norm("img_emb.proj.0", clip_dim)?;
        let img1 = w.linear("img_emb.proj.1", clip_dim, clip_dim, true)?;
        let img2 = w.linear("img_emb.proj.3", clip_dim, d, true)?;
        let img_ln_out = w.norm("img_emb.proj.4", d)?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let b = format!("blocks.{i}");
            let qk = |w: &mut Weights, n: &str| -> Result<Option<Vec<f32>>> {
                cfg.qk_norm.then(|| w.take(&format!("{b}.{n}.weight"), &[d])).transpose()
            };
            blocks.push(CausalBlock {
                modulation: w.take(&format!("{b}.modulation"), &[1, 6, d])?,
                q: w.linear(&format!("{b}.self_attn.q"), d, d, true)?,
                k: w.linear(&format!("{b}.self_attn.k"), d, d, true)?,
                v: w.linear(&format!("{b}.self_attn.v"), d, d, true)?,
                o: w.linear(&format!("{b}.self_attn.o"), d, d, true)?,
                norm_q: qk(&mut w, "self_attn.norm_q")?,
                norm_k: qk(&mut w, "self_attn.norm_k")?,
                norm3: cfg.cross_attn_norm.then(|| w.norm(&format!("{b}.norm3"), d)).transpose()?,
                cq: w.linear(&format!("{b}.cross_attn.q"), d, d, true)?,
                ck: w.linear(&format!("{b}.cross_attn.k"), d, d, true)?,
                cv: w.linear(&format!("{b}.cross_attn.v"), d, d, true)?,
                co: w.linear(&format!("{b}.cross_attn.o"), d, d, true)?,
                cnorm_q: qk(&mut w, "cross_attn.norm_q")?,
                cnorm_k: qk(&mut w, "cross_attn.norm_k")?,
                ffn1: w.linear(&format!("{b}.ffn.0"), d, cfg.ffn_dim, true)?,
                ffn2: w.linear(&format!("{b}.ffn.2"), cfg.ffn_dim, d, true)?,
                ffn_dim: cfg.ffn_dim,
                action: cfg
                    .action_for(i)
                    .map(|a| ActionModule::load(&mut w, &format!("{b}.action_model"), a, d, cfg.cache_frames()))
                    .transpose()?,
            });
        }
        let head_mod = w.take("head.modulation", &[1, 2, d])?;
        let head = w.linear("head.head", d, cfg.out_dim * pt * ph * pw, true)?;
        w.finish()?;
        Ok(MatrixGameModel {
            cfg: cfg.clone(),
            clip_dim,
            patch,
            time1,
            time2,
            time_proj,
            img_ln_in,
            img1,
            img2,
            img_ln_out,
            blocks,
            head_mod,
            head,
            rope: Rope3d::new(cfg.head_dim()),
        })
    }

    /// Loads `weights`: a safetensors file, a shard index or a folder (F32/BF16/F16; [`crate::load_checkpoint`]).
    pub fn load(cfg: &MatrixGameConfig, weights: &Path) -> Result<Self> {
        Self::from_tensors(cfg, crate::load_checkpoint(weights)?, &weights.display().to_string())
    }

    pub fn config(&self) -> &MatrixGameConfig {
        &self.cfg
    }

    /// Width of the CLIP image features `img_emb` takes (from the weights).
    pub fn clip_dim(&self) -> usize {
        self.clip_dim
    }

    /// Encodes the CLIP image tokens `visual_context` [rows, clip_dim] and every layer's
    /// cross-attention keys/values.
    pub fn encode_context(&self, visual_context: &[f32], rows: usize) -> Result<VisualContext> {
        let (d, c) = (self.cfg.dim, self.clip_dim);
        if rows == 0 || visual_context.len() != rows * c {
            return Err(bad_input(
                "visual_context",
                format!("{} values for {rows} rows × CLIP width {c}", visual_context.len()),
            ));
        }
        let h = layernorm_rows(visual_context, c, &self.img_ln_in.0, &self.img_ln_in.1, IMG_LN_EPS);
        let mut h = self.img1.forward_vec(&h, rows);
        gelu_erf_inplace(&mut h);
        let h = self.img2.forward_vec(&h, rows);
        let embedded = layernorm_rows(&h, d, &self.img_ln_out.0, &self.img_ln_out.1, IMG_LN_EPS);
        let eps = self.cfg.eps as f32;
        let layers = self
            .blocks
            .iter()
            .map(|b| {
                let mut k = b.ck.forward_vec(&embedded, rows);
                if let Some(w) = &b.cnorm_k {
                    par_rows(&mut k, d, |_, r| rmsnorm_row(r, w, eps));
                }
                let v = b.cv.forward_vec(&embedded, rows);
                PackedKv::pack(&[(&k, &v)], self.cfg.num_heads, self.cfg.head_dim())
            })
            .collect();
        Ok(VisualContext { embedded, rows, layers })
    }

    /// Empty caches for a latent grid with `tokens_per_frame` patch tokens per frame.
    pub fn new_caches(&self, tokens_per_frame: usize) -> MatrixGameCaches {
        let frames = self.cfg.cache_frames();
        let mut mouse = Vec::new();
        let mut keyboard = Vec::new();
        for b in &self.blocks {
            let (m, k) = b.action.as_ref().map_or((None, None), |a| a.new_caches(tokens_per_frame));
            mouse.push(m);
            keyboard.push(k);
        }
        MatrixGameCaches {
            tokens_per_frame,
            self_attn: (0..self.blocks.len())
                .map(|_| {
                    RollingKv::new(1, frames * tokens_per_frame, self.cfg.dim, self.cfg.sink_size * tokens_per_frame)
                })
                .collect(),
            mouse,
            keyboard,
        }
    }

    /// Patch tokens per latent frame of a `height × width` latent grid.
    pub fn tokens_per_frame(&self, height: usize, width: usize) -> usize {
        (height / self.cfg.patch_size[1]) * (width / self.cfg.patch_size[2])
    }

    /// Per-frame `e_f` [F, dim] and `e0_f` [F, 6·dim].
    fn frame_embeddings(&self, timesteps: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let mut e = Vec::with_capacity(timesteps.len() * self.cfg.dim);
        for &t in timesteps {
            if !t.is_finite() {
                return Err(bad_input("timestep", format!("{t} is not finite")));
            }
            let mut h = self.time1.forward_vec(&sinusoidal_embedding(self.cfg.freq_dim, t as f64), 1);
            h.iter_mut().for_each(|x| *x = silu(*x));
            e.extend(self.time2.forward_vec(&h, 1));
        }
        let se: Vec<f32> = e.iter().map(|&x| silu(x)).collect();
        let e0 = self.time_proj.forward_vec(&se, timesteps.len());
        Ok((e, e0))
    }

    fn check_call(&self, c: &CallInput, caches: &MatrixGameCaches) -> Result<usize> {
        let cfg = &self.cfg;
        let [_, ph, pw] = cfg.patch_size;
        let g = c.grid;
        if g.frames == 0 || g.height == 0 || g.width == 0 || !g.height.is_multiple_of(ph) || !g.width.is_multiple_of(pw)
        {
            return Err(bad_input("noisy", format!("latent grid {g:?} must be non-empty and divisible by the patch")));
        }
        let plane = g.frames * g.height * g.width;
        if c.noisy.len() != cfg.out_dim * plane {
            return Err(bad_input("noisy", format!("{} values, expected [{}, {g:?}]", c.noisy.len(), cfg.out_dim)));
        }
        if cfg.in_dim < cfg.out_dim || c.cond_concat.len() != (cfg.in_dim - cfg.out_dim) * plane {
            return Err(bad_input(
                "cond_concat",
                format!("{} values, expected [{}, {g:?}]", c.cond_concat.len(), cfg.in_dim.saturating_sub(cfg.out_dim)),
            ));
        }
        if c.timesteps.len() != g.frames {
            return Err(bad_input("timestep", format!("{} values for {} frames", c.timesteps.len(), g.frames)));
        }
        let tpf = self.tokens_per_frame(g.height, g.width);
        if tpf != caches.tokens_per_frame {
            return Err(bad_input(
                "kv_cache",
                format!("caches made for {} tokens per frame, call has {tpf}", caches.tokens_per_frame),
            ));
        }
        Ok(tpf)
    }

    /// One call (upstream `CausalWanModel._forward_inference`): returns the flow prediction
    /// `[out_dim, F, H, W]`; updates `caches`; fills `trace` when given.
    pub fn forward(
        &self,
        call: &CallInput,
        context: &VisualContext,
        caches: &mut MatrixGameCaches,
        mut trace: Option<&mut CallTrace>,
    ) -> Result<Vec<f32>> {
        let tpf = self.check_call(call, caches)?;
        if context.layers.len() != self.blocks.len() {
            return Err(bad_input("visual_context", "encoded by another model"));
        }
        let cfg = &self.cfg;
        let (d, g) = (cfg.dim, call.grid);
        let [_, ph, pw] = cfg.patch_size;
        let n = g.frames * tpf;
        let mut input = Vec::with_capacity(cfg.in_dim * g.frames * g.height * g.width);
        input.extend_from_slice(call.noisy);
        input.extend_from_slice(call.cond_concat);
        let mut x = self.patch.forward_vec(&patchify(&input, cfg.in_dim, g, ph, pw), n);
        let (e, e0) = self.frame_embeddings(call.timesteps)?;
        let times: Vec<usize> = (call.start_frame..call.start_frame + g.frames).collect();
        let table = self.rope.table(&Rope3d::grid_positions(&times, g.height / ph, g.width / pw));
        let run = BlockRun {
            dim: d,
            heads: cfg.num_heads,
            eps: cfg.eps as f32,
            tokens_per_frame: tpf,
            frames: g.frames,
            start_frame: call.start_frame,
            window_tokens: cfg.cache_frames() * tpf,
            e0: &e0,
            table: &table,
            actions: &call.actions,
        };
        if let Some(t) = trace.as_deref_mut() {
            t.time_projection = e0.clone();
            t.blocks.clear();
        }
        for (i, block) in self.blocks.iter().enumerate() {
            let layer = LayerCaches {
                self_attn: &mut caches.self_attn[i],
                mouse: caches.mouse[i].as_mut(),
                keyboard: caches.keyboard[i].as_mut(),
            };
            let mut bt = trace.is_some().then(BlockTrace::default);
            block.forward(&mut x, &run, &context.layers[i], layer, bt.as_mut())?;
            if let (Some(t), Some(bt)) = (trace.as_deref_mut(), bt) {
                t.blocks.push(bt);
            }
        }
        // Head: LN(x)(1 + scale) + shift, (shift, scale) = head.modulation + e_f.
        let mut hmod = vec![0.0f32; g.frames * 2 * d];
        for f in 0..g.frames {
            for j in 0..2 * d {
                hmod[f * 2 * d + j] = self.head_mod[j] + e[f * d + j % d];
            }
        }
        let mut hn = vec![0.0f32; n * d];
        let eps = cfg.eps as f32;
        par_rows(&mut hn, d, |tok, row| {
            let m = &hmod[(tok / tpf) * 2 * d..];
            layernorm_modulate_row(&x[tok * d..(tok + 1) * d], &m[..d], &m[d..2 * d], eps, row);
        });
        let h = self.head.forward_vec(&hn, n);
        let out = unpatchify(&h, cfg.out_dim, g, ph, pw);
        if let Some(t) = trace {
            t.head = h;
        }
        Ok(out)
    }
}
