//! The Wan2.1 DiT (`WanModel` in `wan/modules/model.py` of github.com/Wan-Video/Wan2.1), f32.
//!
//! Forward = patch embedding (Conv3d with stride = kernel = patch, i.e. a matmul over patches) →
//! `WanAttentionBlock` × L → `Head` → unpatchify. Differences from upstream, all reducing to
//! upstream when unused:
//! - the timestep is per latent frame: frame `f` gets `e_f = time_embedding(sin(t_f))`, and its
//!   tokens use `e0_f = time_projection(e_f)` (upstream: one `t` per sample = all frames equal);
//! - the RoPE time index of each frame is an input (offsets / temporal reframing);
//! - attention may see a prefix of cached keys/values and a block-causal mask over frames;
//! - optional action embedding (added to `e_f`) and PRoPE camera branch (see `prope.rs`).
//!
//! Block (upstream order): `e = modulation + e0` split in 6 (shift, scale, gate) × (attn, ffn);
//! `x += gate₁ · SelfAttn(LN(x)(1+scale₁)+shift₁)`; `x += CrossAttn(norm3(x), ctx)`;
//! `x += gate₂ · FFN(LN(x)(1+scale₂)+shift₂)`. q/k RMSNorm is over the full `dim` (all heads).
//! Text context is zero-padded to `text_len` before `text_embedding` and not masked (as upstream).
//!
//! [`Layout::WorldPlay`] (HY-WorldPlay's diffusers `WanTransformer3DModel`) is the same computation
//! with: checkpoint names mapped on load (`weights.rs`), the text not padded, the sinusoids of
//! diffusers' `Timesteps` (f32), an action label required per frame, the diffusers RoPE table
//! (`Rope3d::diffusers`) with positions below `rope_max_seq_len`, and PRoPE with the config's
//! intrinsics convention. The WorldPlay KV cache `[k_rope | k_prope]`, `[v | v_prope]` is
//! [`LayerKv`]'s `k | cam_k`, `v | cam_v` (see `worldplay.rs`).
//!
//! Files: `request.rs` (inputs and outputs of a forward), `patch.rs` (patchify, sinusoids),
//! `block.rs` (one attention block and its scratch buffers), this file (the model: loading, text
//! encoding, frame embeddings, the forward).

mod block;
mod patch;
mod request;

pub use patch::{patchify, patchify_grid, sinusoidal_embedding, sinusoidal_embedding_f32, unpatchify, unpatchify_grid};
pub use request::{FrameCond, LayerKv, PastKv, SeqRequest, TextContext, Trace};

use block::{Block, BlockCtx, BlockScratch};

use crate::attention::PackedKv;
use crate::config::{Config, Layout};
use crate::error::{bad_input, Result};
use crate::linear::Linear;
use crate::ops::{gelu_tanh_inplace, layernorm_modulate_row, par_rows, rmsnorm_row, silu};
use crate::prope::{Mat4, IDENTITY};
use crate::quant::WeightFormat;
use crate::rope::{Rope3d, RopeTable};
use crate::tensor::{Tensor, TensorMap};
use crate::weights::{random_weights, to_internal_names, validate};

/// A Wan2.1-family DiT with loaded weights.
pub struct WanModel {
    cfg: Config,
    format: WeightFormat,
    patch: Linear,
    text1: Linear,
    text2: Linear,
    time1: Linear,
    time2: Linear,
    time_proj: Linear,
    action1: Option<Linear>,
    action2: Option<Linear>,
    blocks: Vec<Block>,
    head_mod: Vec<f32>,
    head: Linear,
    rope: Rope3d,
}

fn take(t: &mut TensorMap, name: &str) -> Vec<f32> {
    t.remove(name).map(|x| x.data).unwrap_or_default()
}

fn linear(t: &mut TensorMap, name: &str) -> Linear {
    let w = t.remove(&format!("{name}.weight")).expect("validated");
    let b = take(t, &format!("{name}.bias"));
    let (out_features, in_features) = (w.shape[0], w.data.len() / w.shape[0]);
    Linear::new(&w.data, b, in_features, out_features)
}

impl WanModel {
    /// Builds the model from named tensors (public Wan2.1 key names), after validating every
    /// name and shape against the config. Weights stay f32.
    pub fn from_tensors(cfg: &Config, t: TensorMap) -> Result<Self> {
        Self::from_tensors_with(cfg, t, WeightFormat::F32)
    }

    /// [`WanModel::from_tensors`] keeping the block linear layers (self-attention q/k/v/o and
    /// PRoPE output, cross-attention q/k/v/o, FFN) in `format`. Embeddings, time projection, head,
    /// norms, biases and modulation tables stay f32.
    pub fn from_tensors_with(cfg: &Config, t: TensorMap, format: WeightFormat) -> Result<Self> {
        let mut model = Self::build(cfg, t)?;
        if format == WeightFormat::Int8 {
            for b in &mut model.blocks {
                for l in [
                    &mut b.q,
                    &mut b.k,
                    &mut b.v,
                    &mut b.o,
                    &mut b.cq,
                    &mut b.ck,
                    &mut b.cv,
                    &mut b.co,
                    &mut b.ffn1,
                    &mut b.ffn2,
                ] {
                    l.quantize();
                }
                if let Some(l) = b.prope_o.as_mut() {
                    l.quantize();
                }
            }
        }
        model.format = format;
        Ok(model)
    }

    fn build(cfg: &Config, t: TensorMap) -> Result<Self> {
        cfg.validate()?;
        validate(cfg, &t)?;
        let mut t = to_internal_names(cfg, t);
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let b = format!("blocks.{i}");
            let opt = |t: &mut TensorMap, n: String| t.remove(&n).map(|x| x.data);
            blocks.push(Block {
                modulation: take(&mut t, &format!("{b}.modulation")),
                q: linear(&mut t, &format!("{b}.self_attn.q")),
                k: linear(&mut t, &format!("{b}.self_attn.k")),
                v: linear(&mut t, &format!("{b}.self_attn.v")),
                o: linear(&mut t, &format!("{b}.self_attn.o")),
                norm_q: opt(&mut t, format!("{b}.self_attn.norm_q.weight")),
                norm_k: opt(&mut t, format!("{b}.self_attn.norm_k.weight")),
                prope_o: cfg.camera_attention.then(|| linear(&mut t, &format!("{b}.self_attn.prope_o"))),
                norm3: if cfg.cross_attn_norm {
                    Some((take(&mut t, &format!("{b}.norm3.weight")), take(&mut t, &format!("{b}.norm3.bias"))))
                } else {
                    None
                },
                cq: linear(&mut t, &format!("{b}.cross_attn.q")),
                ck: linear(&mut t, &format!("{b}.cross_attn.k")),
                cv: linear(&mut t, &format!("{b}.cross_attn.v")),
                co: linear(&mut t, &format!("{b}.cross_attn.o")),
                cnorm_q: opt(&mut t, format!("{b}.cross_attn.norm_q.weight")),
                cnorm_k: opt(&mut t, format!("{b}.cross_attn.norm_k.weight")),
                ffn1: linear(&mut t, &format!("{b}.ffn.0")),
                ffn2: linear(&mut t, &format!("{b}.ffn.2")),
            });
        }
        let patch = linear(&mut t, "patch_embedding");
        Ok(WanModel {
            cfg: cfg.clone(),
            format: WeightFormat::F32,
            patch,
            text1: linear(&mut t, "text_embedding.0"),
            text2: linear(&mut t, "text_embedding.2"),
            time1: linear(&mut t, "time_embedding.0"),
            time2: linear(&mut t, "time_embedding.2"),
            time_proj: linear(&mut t, "time_projection.1"),
            action1: cfg.action_classes.map(|_| linear(&mut t, "action_embedding.0")),
            action2: cfg.action_classes.map(|_| linear(&mut t, "action_embedding.2")),
            blocks,
            head_mod: take(&mut t, "head.modulation"),
            head: linear(&mut t, "head.head"),
            rope: match cfg.layout {
                Layout::Wan21 => Rope3d::new(cfg.head_dim()),
                Layout::WorldPlay => Rope3d::diffusers(cfg.head_dim()),
            },
        })
    }

    /// Loads a checkpoint: a safetensors file, a shard index (`*.safetensors.index.json`) or a folder
    /// holding one; F16/BF16 tensors become f32 one at a time ([`crate::load_checkpoint`]).
    pub fn load(cfg: &Config, weights_path: &std::path::Path) -> Result<Self> {
        Self::from_tensors(cfg, crate::checkpoint::load_checkpoint(weights_path)?)
    }

    /// [`WanModel::load`] with the block linear weights in `format` (see [`WanModel::from_tensors_with`]).
    pub fn load_with(cfg: &Config, weights_path: &std::path::Path, format: WeightFormat) -> Result<Self> {
        Self::from_tensors_with(cfg, crate::checkpoint::load_checkpoint(weights_path)?, format)
    }

    /// How the block linear weights are kept.
    pub fn weight_format(&self) -> WeightFormat {
        self.format
    }

    /// Bytes held by the block linear layers (weights + biases): the part `format` changes.
    pub fn block_linear_bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| {
                [&b.q, &b.k, &b.v, &b.o, &b.cq, &b.ck, &b.cv, &b.co, &b.ffn1, &b.ffn2]
                    .iter()
                    .map(|l| l.bytes())
                    .sum::<usize>()
                    + b.prope_o.as_ref().map_or(0, |l| l.bytes())
            })
            .sum()
    }

    /// Seeded random weights (std 0.1 like the goldens; norm scales 1 ± 0.1).
    pub fn random(cfg: &Config, seed: u64) -> Result<Self> {
        cfg.validate()?;
        Self::from_tensors(cfg, random_weights(cfg, seed, 0.1))
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Embeds a prompt (`context` [rows, text_dim], rows ≤ text_len, zero-padded to text_len like
    /// upstream Wan2.1; not padded with [`Layout::WorldPlay`], whose pipeline pads before the model)
    /// and precomputes every layer's cross-attention keys/values.
    pub fn encode_text(&self, context: &[f32], rows: usize) -> Result<TextContext> {
        let cfg = &self.cfg;
        if rows > cfg.text_len || context.len() != rows * cfg.text_dim {
            return Err(bad_input(
                "context",
                format!(
                    "expected [rows ≤ {}, {}], got {} values for {rows} rows",
                    cfg.text_len,
                    cfg.text_dim,
                    context.len()
                ),
            ));
        }
        let l = match cfg.layout {
            Layout::Wan21 => cfg.text_len,
            Layout::WorldPlay => rows,
        };
        if l == 0 {
            return Err(bad_input("context", "no rows (the WorldPlay layout attends to the rows as given)"));
        }
        let mut padded = vec![0.0f32; l * cfg.text_dim];
        padded[..context.len()].copy_from_slice(context);
        let mut h = self.text1.forward_vec(&padded, l);
        gelu_tanh_inplace(&mut h);
        let embedded = self.text2.forward_vec(&h, l);
        let layers = self
            .blocks
            .iter()
            .map(|b| {
                let mut k = b.ck.forward_vec(&embedded, l);
                if let Some(w) = &b.cnorm_k {
                    par_rows(&mut k, cfg.dim, |_, r| rmsnorm_row(r, w, cfg.eps as f32));
                }
                let v = b.cv.forward_vec(&embedded, l);
                PackedKv::pack(&[(&k, &v)], cfg.num_heads, cfg.head_dim())
            })
            .collect();
        Ok(TextContext { layers, embedded })
    }

    /// Per-frame `e_f` [F, dim] (time + action embedding) and `e0_f` [F, 6·dim].
    fn frame_embeddings(&self, conds: &[FrameCond]) -> Result<(Vec<f32>, Vec<f32>)> {
        let (d, fd) = (self.cfg.dim, self.cfg.freq_dim);
        let worldplay = self.cfg.layout == Layout::WorldPlay;
        let sinusoid = |p: f32| {
            if worldplay {
                sinusoidal_embedding_f32(fd, p)
            } else {
                sinusoidal_embedding(fd, p as f64)
            }
        };
        let mut e = Vec::with_capacity(conds.len() * d);
        for (f, c) in conds.iter().enumerate() {
            if !c.timestep.is_finite() {
                return Err(bad_input("t", format!("timestep {} is not finite", c.timestep)));
            }
            if worldplay && self.action1.is_some() && c.action.is_none() {
                return Err(bad_input(
                    "action",
                    format!(
                        "frame {f}: the WorldPlay layout needs an action label per frame (its model always adds one)"
                    ),
                ));
            }
            let mut h = self.time1.forward_vec(&sinusoid(c.timestep), 1);
            h.iter_mut().for_each(|x| *x = silu(*x));
            let mut ef = self.time2.forward_vec(&h, 1);
            if let (Some(a1), Some(a2), Some(label)) = (&self.action1, &self.action2, c.action) {
                let classes = self.cfg.action_classes.unwrap_or(0);
                if label as usize >= classes {
                    return Err(bad_input("action", format!("label {label} not in 0..{classes}")));
                }
                let mut h = a1.forward_vec(&sinusoid(label as f32), 1);
                h.iter_mut().for_each(|x| *x = silu(*x));
                for (x, a) in ef.iter_mut().zip(a2.forward_vec(&h, 1)) {
                    *x += a;
                }
            }
            e.extend_from_slice(&ef);
        }
        let se: Vec<f32> = e.iter().map(|&x| silu(x)).collect();
        let e0 = self.time_proj.forward_vec(&se, conds.len());
        Ok((e, e0))
    }

    /// One forward over `req` with optional cached prefix. Returns the velocity/flow prediction
    /// [C, F, H, W] and, with `record`, every layer's self-attention K/V of the new tokens.
    pub fn forward_seq(
        &self,
        req: &SeqRequest,
        text: &TextContext,
        past: Option<&dyn PastKv>,
        record: bool,
        mut trace: Option<&mut Trace>,
    ) -> Result<(Vec<f32>, Option<Vec<LayerKv>>)> {
        req.check(&self.cfg)?;
        if text.layers.len() != self.cfg.num_layers {
            return Err(bad_input("text", "context was not encoded by this CPU model (no packed keys/values)"));
        }
        let cfg = &self.cfg;
        let d = cfg.dim;
        let [_, ph, pw] = cfg.patch_size;
        let tpf = (req.height / ph) * (req.width / pw);
        let n = req.frames * tpf;
        let patches = patchify(cfg, req);
        let mut x = self.patch.forward_vec(&patches, n);
        let (e, e0) = self.frame_embeddings(req.conds)?;
        if let Some(t) = trace.as_deref_mut() {
            t.patch_embedding = x.clone();
            t.time_embedding = e.clone();
            t.time_projection = e0.clone();
        }
        let positions = Rope3d::grid_positions(req.rope_time, req.height / ph, req.width / pw);
        if cfg.layout == Layout::WorldPlay {
            if let Some(p) = positions.iter().find(|p| p.iter().any(|&x| x >= cfg.rope_max_seq_len)) {
                return Err(bad_input(
                    "rope_time",
                    format!("RoPE position {p:?} is outside the table (rope_max_seq_len {})", cfg.rope_max_seq_len),
                ));
            }
        }
        let table = self.rope.table(&positions);
        let np = past.map_or(0, |p| p.tokens());
        let limit = req.key_limits(tpf, np);
        let cams: Option<Vec<(Mat4, Mat4)>> = if cfg.camera_attention {
            let mut v = Vec::with_capacity(req.frames);
            for (f, c) in req.conds.iter().enumerate() {
                v.push(match &c.camera {
                    None => (IDENTITY, IDENTITY),
                    Some(cam) => cam
                        .prope_matrices_with(cfg.prope_intrinsics)
                        .ok_or_else(|| bad_input("camera", format!("frame {f}: singular or non-finite camera")))?,
                });
            }
            Some(v)
        } else {
            None
        };
        let ctx = BlockCtx { cfg, n, tpf, e0: &e0, table: &table, limit: &limit, cams: cams.as_deref(), text, past };
        let mut recorded = record.then(Vec::new);
        let mut ws = BlockScratch::take();
        for (li, block) in self.blocks.iter().enumerate() {
            let kv = block.forward(li, &mut x, &ctx, &mut ws);
            if let Some(r) = recorded.as_mut() {
                r.push(kv);
            }
            if let Some(t) = trace.as_deref_mut() {
                t.blocks.push(x.clone());
            }
        }
        ws.put_back();
        // Head: LN(x)(1 + scale) + shift with (shift, scale) = head.modulation + e_f.
        let mut hmod = vec![0.0f32; req.frames * 2 * d];
        for f in 0..req.frames {
            for j in 0..2 * d {
                hmod[f * 2 * d + j] = self.head_mod[j] + e[f * d + j % d];
            }
        }
        let mut hn = vec![0.0f32; n * d];
        par_rows(&mut hn, d, |tok, row| {
            let m = &hmod[(tok / tpf) * 2 * d..];
            layernorm_modulate_row(&x[tok * d..(tok + 1) * d], &m[..d], &m[d..2 * d], cfg.eps as f32, row);
        });
        let h = self.head.forward_vec(&hn, n);
        if let Some(t) = trace {
            t.head = h.clone();
        }
        Ok((unpatchify(cfg, &h, req.frames, req.height, req.width), recorded))
    }

    /// Upstream-equivalent forward: `x` [C, F, H, W], one timestep for all frames (or one per
    /// frame), `context` [rows, text_dim]. Returns the prediction [C, F, H, W].
    pub fn forward(&self, x: &Tensor, timesteps: &[f32], context: &Tensor) -> Result<(Tensor, Trace)> {
        let (frames, height, width) = match x.shape.as_slice() {
            [c, f, h, w] if *c == self.cfg.in_dim => (*f, *h, *w),
            s => return Err(bad_input("x", format!("shape {s:?}, expected [{}, F, H, W]", self.cfg.in_dim))),
        };
        let conds: Vec<FrameCond> = match timesteps.len() {
            1 => vec![FrameCond::at(timesteps[0]); frames],
            l if l == frames => timesteps.iter().map(|&t| FrameCond::at(t)).collect(),
            l => return Err(bad_input("t", format!("{l} timesteps for {frames} frames (expected 1 or {frames})"))),
        };
        let rows = match context.shape.as_slice() {
            [l, td] if *td == self.cfg.text_dim => *l,
            s => return Err(bad_input("context", format!("shape {s:?}, expected [L, {}]", self.cfg.text_dim))),
        };
        let text = self.encode_text(&context.data, rows)?;
        let rope_time: Vec<usize> = (0..frames).collect();
        let req =
            SeqRequest { latents: &x.data, frames, height, width, conds: &conds, rope_time: &rope_time, groups: None };
        let mut trace = Trace::default();
        let (out, _) = self.forward_seq(&req, &text, None, false, Some(&mut trace))?;
        Ok((Tensor::new(vec![self.cfg.out_dim, frames, height, width], out), trace))
    }

    /// Runs block `layer` alone on `x` [tokens, dim] (benchmarks): every frame at `timestep`,
    /// `frames` frames of equal size, full attention.
    pub fn bench_block(
        &self,
        layer: usize,
        x: &mut [f32],
        frames: usize,
        grid_hw: (usize, usize),
        timestep: f32,
        text: &TextContext,
    ) -> Result<()> {
        let tpf = grid_hw.0 * grid_hw.1;
        let n = frames * tpf;
        if x.len() != n * self.cfg.dim || layer >= self.blocks.len() {
            return Err(bad_input("x", "bench_block: wrong size or layer"));
        }
        let conds = vec![FrameCond::at(timestep); frames];
        let (_, e0) = self.frame_embeddings(&conds)?;
        let rope_time: Vec<usize> = (0..frames).collect();
        let table: RopeTable = self.rope.table(&Rope3d::grid_positions(&rope_time, grid_hw.0, grid_hw.1));
        let limit = vec![n; n];
        let ctx =
            BlockCtx { cfg: &self.cfg, n, tpf, e0: &e0, table: &table, limit: &limit, cams: None, text, past: None };
        let mut ws = BlockScratch::take();
        self.blocks[layer].forward(layer, x, &ctx, &mut ws);
        ws.put_back();
        Ok(())
    }
}
