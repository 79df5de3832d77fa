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

use crate::attention::{attention, PackedKv};
use crate::config::Config;
use crate::error::{bad_input, Result};
use crate::linear::Linear;
use crate::ops::{
    add_gated_row, gelu_tanh_inplace, layernorm_affine_row, layernorm_modulate_row, par_rows, rmsnorm_row, silu,
};
use crate::prope::{apply_blocks, Camera, Mat4, IDENTITY};
use crate::quant::WeightFormat;
use crate::rope::{apply_rope, Rope3d, RopeTable};
use crate::tensor::{Tensor, TensorMap};
use crate::weights::{random_weights, validate};

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
        if r.frames == 0 || r.height % ph != 0 || r.width % pw != 0 || r.height == 0 || r.width == 0 {
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

struct Block {
    modulation: Vec<f32>,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    norm_q: Option<Vec<f32>>,
    norm_k: Option<Vec<f32>>,
    prope_o: Option<Linear>,
    norm3: Option<(Vec<f32>, Vec<f32>)>,
    cq: Linear,
    ck: Linear,
    cv: Linear,
    co: Linear,
    cnorm_q: Option<Vec<f32>>,
    cnorm_k: Option<Vec<f32>>,
    ffn1: Linear,
    ffn2: Linear,
}

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

/// Sinusoidal embedding of upstream `sinusoidal_embedding_1d`: `[cos(p·ω_j), sin(p·ω_j)]`,
/// `ω_j = 10000^(−j/half)`, computed in f64.
pub fn sinusoidal_embedding(dim: usize, position: f64) -> Vec<f32> {
    let half = dim / 2;
    let mut out = vec![0.0f32; dim];
    for j in 0..half {
        let a = position * 10000f64.powf(-(j as f64) / half as f64);
        out[j] = a.cos() as f32;
        out[half + j] = a.sin() as f32;
    }
    out
}

/// Patchify [C,F,H,W] → [N, C·ph·pw] with feature order (c, ph, pw) like the Conv3d weight.
pub fn patchify(cfg: &Config, r: &SeqRequest) -> Vec<f32> {
    let c = cfg.in_dim;
    let [_, ph, pw] = cfg.patch_size;
    let (gh, gw) = (r.height / ph, r.width / pw);
    let n = r.frames * gh * gw;
    let feat = c * ph * pw;
    let mut out = vec![0.0f32; n * feat];
    for f in 0..r.frames {
        for y in 0..gh {
            for x in 0..gw {
                let tok = (f * gh + y) * gw + x;
                for ci in 0..c {
                    for q in 0..ph {
                        for s in 0..pw {
                            out[tok * feat + (ci * ph + q) * pw + s] =
                                r.latents[((ci * r.frames + f) * r.height + y * ph + q) * r.width + x * pw + s];
                        }
                    }
                }
            }
        }
    }
    out
}

/// Unpatchify [N, ph·pw·C] (head output, feature order (ph, pw, c)) → [C, F, H, W].
pub fn unpatchify(cfg: &Config, h: &[f32], frames: usize, height: usize, width: usize) -> Vec<f32> {
    let c = cfg.out_dim;
    let [_, ph, pw] = cfg.patch_size;
    let (gh, gw) = (height / ph, width / pw);
    let feat = c * ph * pw;
    let mut out = vec![0.0f32; c * frames * height * width];
    for f in 0..frames {
        for y in 0..gh {
            for x in 0..gw {
                let tok = (f * gh + y) * gw + x;
                for q in 0..ph {
                    for s in 0..pw {
                        for ci in 0..c {
                            out[((ci * frames + f) * height + y * ph + q) * width + x * pw + s] =
                                h[tok * feat + (q * pw + s) * c + ci];
                        }
                    }
                }
            }
        }
    }
    out
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

    fn build(cfg: &Config, mut t: TensorMap) -> Result<Self> {
        cfg.validate()?;
        validate(cfg, &t)?;
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
            rope: Rope3d::new(cfg.head_dim()),
        })
    }

    /// Loads a safetensors checkpoint.
    pub fn load(cfg: &Config, weights_path: &std::path::Path) -> Result<Self> {
        Self::from_tensors(cfg, crate::tensor::load_safetensors(weights_path)?)
    }

    /// Loads a safetensors checkpoint, block linear weights in `format` (see [`WanModel::from_tensors_with`]).
    pub fn load_with(cfg: &Config, weights_path: &std::path::Path, format: WeightFormat) -> Result<Self> {
        Self::from_tensors_with(cfg, crate::tensor::load_safetensors(weights_path)?, format)
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
    /// upstream) and precomputes every layer's cross-attention keys/values.
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
        let mut padded = vec![0.0f32; cfg.text_len * cfg.text_dim];
        padded[..context.len()].copy_from_slice(context);
        let l = cfg.text_len;
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
        let mut e = Vec::with_capacity(conds.len() * d);
        for c in conds {
            if !c.timestep.is_finite() {
                return Err(bad_input("t", format!("timestep {} is not finite", c.timestep)));
            }
            let mut h = self.time1.forward_vec(&sinusoidal_embedding(fd, c.timestep as f64), 1);
            h.iter_mut().for_each(|x| *x = silu(*x));
            let mut ef = self.time2.forward_vec(&h, 1);
            if let (Some(a1), Some(a2), Some(label)) = (&self.action1, &self.action2, c.action) {
                let classes = self.cfg.action_classes.unwrap_or(0);
                if label as usize >= classes {
                    return Err(bad_input("action", format!("label {label} not in 0..{classes}")));
                }
                let mut h = a1.forward_vec(&sinusoidal_embedding(fd, label as f64), 1);
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
        let table = self.rope.table(&positions);
        let np = past.map_or(0, |p| p.tokens());
        let limit = req.key_limits(tpf, np);
        let cams: Option<Vec<(Mat4, Mat4)>> = if cfg.camera_attention {
            let mut v = Vec::with_capacity(req.frames);
            for (f, c) in req.conds.iter().enumerate() {
                v.push(match &c.camera {
                    None => (IDENTITY, IDENTITY),
                    Some(cam) => cam
                        .prope_matrices()
                        .ok_or_else(|| bad_input("camera", format!("frame {f}: singular or non-finite camera")))?,
                });
            }
            Some(v)
        } else {
            None
        };
        let ctx = BlockCtx { n, tpf, e0: &e0, table: &table, limit: &limit, cams: cams.as_deref(), np };
        let mut recorded = record.then(Vec::new);
        let mut ws = BlockScratch::take();
        for (li, block) in self.blocks.iter().enumerate() {
            let kv = self.block_forward(li, block, &mut x, &ctx, text, past, &mut ws);
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

    #[allow(clippy::too_many_arguments)]
    fn block_forward(
        &self,
        li: usize,
        b: &Block,
        x: &mut [f32],
        ctx: &BlockCtx,
        text: &TextContext,
        past: Option<&dyn PastKv>,
        ws: &mut BlockScratch,
    ) -> LayerKv {
        let cfg = &self.cfg;
        let (d, heads, hd, n, tpf) = (cfg.dim, cfg.num_heads, cfg.head_dim(), ctx.n, ctx.tpf);
        let eps = cfg.eps as f32;
        // modulation + e0 per frame: [F, 6, d].
        let frames = ctx.e0.len() / (6 * d);
        let m = sized(&mut ws.modulation, frames * 6 * d);
        for f in 0..frames {
            for j in 0..6 * d {
                m[f * 6 * d + j] = b.modulation[j] + ctx.e0[f * 6 * d + j];
            }
        }
        let m = &*m;
        let chunk =
            |tok: usize, i: usize| -> &[f32] { &m[(tok / tpf) * 6 * d + i * d..(tok / tpf) * 6 * d + (i + 1) * d] };

        // Self-attention.
        let h = sized(&mut ws.h, n * d);
        par_rows(h, d, |tok, row| {
            layernorm_modulate_row(&x[tok * d..(tok + 1) * d], chunk(tok, 0), chunk(tok, 1), eps, row)
        });
        let q = sized(&mut ws.q, n * d);
        b.q.forward(h, n, q);
        let (mut k, mut v) = (vec![0.0f32; n * d], vec![0.0f32; n * d]);
        b.k.forward(h, n, &mut k);
        b.v.forward(h, n, &mut v);
        if let Some(w) = &b.norm_q {
            par_rows(q, d, |_, r| rmsnorm_row(r, w, eps));
        }
        if let Some(w) = &b.norm_k {
            par_rows(&mut k, d, |_, r| rmsnorm_row(r, w, eps));
        }
        // PRoPE branch inputs use the normalised, un-rotated q/k.
        let cam_in = ctx.cams.map(|cams| {
            let fwd: Vec<&Mat4> = (0..n).map(|t| &cams[t / tpf].0).collect();
            let inv: Vec<&Mat4> = (0..n).map(|t| &cams[t / tpf].1).collect();
            let cq = sized(&mut ws.cam_q, n * d);
            cq.copy_from_slice(q);
            let (mut ck, mut cv) = (k.clone(), v.clone());
            apply_blocks(cq, d, &fwd, true);
            apply_blocks(&mut ck, d, &inv, false);
            apply_blocks(&mut cv, d, &inv, false);
            (ck, cv, fwd)
        });
        apply_rope(q, heads, ctx.table);
        apply_rope(&mut k, heads, ctx.table);
        let mut segs: Vec<(&[f32], &[f32])> = past.map_or(Vec::new(), |p| p.segments(li, false));
        segs.push((&k, &v));
        ws.kv.pack_from(&segs, heads, hd);
        let o = sized(&mut ws.o, n * d);
        attention(q, n, &ws.kv, Some(ctx.limit), o);
        let y = sized(&mut ws.y, n * d);
        b.o.forward(o, n, y);
        let mut rec = LayerKv { k, v, ..Default::default() };
        if let (Some((ck, cv, fwd)), Some(po)) = (cam_in, &b.prope_o) {
            let mut segs: Vec<(&[f32], &[f32])> = past.map_or(Vec::new(), |p| p.segments(li, true));
            segs.push((&ck, &cv));
            ws.kv.pack_from(&segs, heads, hd);
            attention(&ws.cam_q[..n * d], n, &ws.kv, Some(ctx.limit), o);
            apply_blocks(o, d, &fwd, false);
            let yc = sized(&mut ws.y_cam, n * d);
            po.forward(o, n, yc);
            y.iter_mut().zip(yc.iter()).for_each(|(a, b)| *a += b);
            rec.cam_k = ck;
            rec.cam_v = cv;
        }
        par_rows(x, d, |tok, row| add_gated_row(row, &y[tok * d..(tok + 1) * d], chunk(tok, 2)));

        // Cross-attention (no gate).
        match &b.norm3 {
            Some((w, bias)) => {
                par_rows(h, d, |tok, row| layernorm_affine_row(&x[tok * d..(tok + 1) * d], w, bias, eps, row))
            }
            None => h.copy_from_slice(x),
        }
        b.cq.forward(h, n, q);
        if let Some(w) = &b.cnorm_q {
            par_rows(q, d, |_, r| rmsnorm_row(r, w, eps));
        }
        attention(q, n, &text.layers[li], None, o);
        b.co.forward(o, n, y);
        x.iter_mut().zip(y.iter()).for_each(|(a, b)| *a += b);

        // FFN.
        par_rows(h, d, |tok, row| {
            layernorm_modulate_row(&x[tok * d..(tok + 1) * d], chunk(tok, 3), chunk(tok, 4), eps, row)
        });
        let f = sized(&mut ws.ffn, n * cfg.ffn_dim);
        b.ffn1.forward_gelu(h, n, f);
        b.ffn2.forward(f, n, y);
        par_rows(x, d, |tok, row| add_gated_row(row, &y[tok * d..(tok + 1) * d], chunk(tok, 5)));
        let _ = ctx.np;
        rec
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
        let ctx = BlockCtx { n, tpf, e0: &e0, table: &table, limit: &limit, cams: None, np: 0 };
        let mut ws = BlockScratch::take();
        self.block_forward(layer, &self.blocks[layer], x, &ctx, text, None, &mut ws);
        ws.put_back();
        Ok(())
    }
}

/// Per-thread buffers of [`WanModel::block_forward`], reused from call to call: allocating a fresh
/// megabyte-sized buffer for every intermediate made the allocator hand pages back to the kernel and
/// fault them in again (~10 % of a chunk step).
#[derive(Default)]
struct BlockScratch {
    modulation: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    cam_q: Vec<f32>,
    o: Vec<f32>,
    y: Vec<f32>,
    y_cam: Vec<f32>,
    ffn: Vec<f32>,
    kv: PackedKv,
}

thread_local! {
    static BLOCK_SCRATCH: std::cell::RefCell<BlockScratch> = std::cell::RefCell::new(BlockScratch::default());
}

impl BlockScratch {
    fn take() -> Self {
        BLOCK_SCRATCH.with(|c| std::mem::take(&mut *c.borrow_mut()))
    }

    fn put_back(self) {
        BLOCK_SCRATCH.with(|c| *c.borrow_mut() = self);
    }
}

/// `v` resized to `len` values (keeps its capacity; old contents stay: every caller overwrites the
/// whole slice before reading it).
fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    v.resize(len, 0.0);
    &mut v[..len]
}

struct BlockCtx<'a> {
    n: usize,
    tpf: usize,
    e0: &'a [f32],
    table: &'a RopeTable,
    limit: &'a [usize],
    cams: Option<&'a [(Mat4, Mat4)]>,
    np: usize,
}
