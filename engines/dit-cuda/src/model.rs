//! `CudaDit`: the Wan2.1-family DiT forward on a CUDA device, the same math and the same API as the
//! CPU `WanModel` (engines/dit/src/model.rs), behind the [`DitBackend`] seam.
//!
//! Per forward: patchify on the host → patch embedding, per-frame time (+ action) embedding and
//! projection, then per block: modulated LayerNorm → q/k/v (cuBLAS) → qk RMSNorm → (PRoPE branch on
//! the un-rotated q/k/v) → 3D RoPE → attention over [cached K/V, new K/V] with the per-query prefix
//! limit (block-causal groups) → o → gated residual; cross-attention over the prompt's K/V (computed
//! once per prompt on the device and kept for the last few prompts); FFN with GELU-tanh → gated
//! residual; head (modulated LayerNorm + linear) → unpatchify on the host. RoPE tables and PRoPE
//! matrices are computed on the host in f64 exactly like the CPU path. The KV cache stays the
//! caller's (host memory, [`PastKv`]): it is uploaded per forward, and recorded K/V are downloaded.

use crate::error::{CudaError, Result};
use crate::gpu::{Gpu, MAX_HEAD_DIM};
use crate::weights::{DevBlock, DevWeights};
use cudarc::driver::CudaSlice;
use std::sync::{Arc, Mutex};
use worldflow_dit::{
    load_safetensors, patchify, random_weights, sinusoidal_embedding, unpatchify, Config, DitBackend, DitError,
    LayerKv, Layout, Mat4, PastKv, Rope3d, SeqRequest, TensorMap, TextContext, Trace,
};

/// How many prompts' cross-attention K/V stay on the device (CFG uses two).
const TEXT_CACHE_PROMPTS: usize = 4;

type TextKv = Arc<Vec<(CudaSlice<f32>, CudaSlice<f32>)>>;

/// The DiT on a CUDA device (f32 weights).
pub struct CudaDit {
    cfg: Config,
    gpu: Gpu,
    w: DevWeights,
    rope: Rope3d,
    texts: Mutex<Vec<(Vec<f32>, TextKv)>>,
}

const IDENTITY: Mat4 = [[1., 0., 0., 0.], [0., 1., 0., 0.], [0., 0., 1., 0.], [0., 0., 0., 1.]];

fn bad(name: &str, message: impl Into<String>) -> CudaError {
    CudaError::Dit(DitError::BadInput { name: name.to_owned(), message: message.into() })
}

/// Per-forward device inputs shared by every block.
struct Step {
    n: usize,
    tpf: usize,
    np: usize,
    e0: CudaSlice<f32>,
    cos: CudaSlice<f32>,
    sin: CudaSlice<f32>,
    limit: CudaSlice<i32>,
    text_limit: CudaSlice<i32>,
    /// PRoPE `P` and `P⁻¹` per frame [F, 16].
    cams: Option<(CudaSlice<f32>, CudaSlice<f32>)>,
    /// The prompt's cross-attention K/V per layer.
    text: TextKv,
}

/// This backend implements the Wan2.1 layout only (its kernels pad text, use f64 sinusoids, Wan2.1
/// names and centered PRoPE intrinsics); a WorldPlay config runs on the CPU `WanModel`.
fn refuse_unsupported_layout(cfg: &Config) -> Result<()> {
    match cfg.layout {
        Layout::Wan21 => Ok(()),
        Layout::WorldPlay => Err(CudaError::Unsupported(
            "the WorldPlay (diffusers WanTransformer3DModel) layout is not implemented by the CUDA backend; \
             run it on the CPU engine (worldflow_dit::WanModel)"
                .into(),
        )),
    }
}

impl CudaDit {
    /// Uploads `tensors` (public Wan2.1 names, validated like the CPU model) to device `ordinal`.
    pub fn from_tensors(cfg: &Config, tensors: TensorMap, ordinal: usize) -> Result<Self> {
        cfg.validate()?;
        refuse_unsupported_layout(cfg)?;
        if cfg.head_dim() > MAX_HEAD_DIM {
            return Err(CudaError::Unsupported(format!("head dim {} > {MAX_HEAD_DIM}", cfg.head_dim())));
        }
        let gpu = Gpu::new(ordinal)?;
        let w = DevWeights::upload(&gpu, cfg, tensors)?;
        gpu.synchronize()?;
        Ok(CudaDit { cfg: cfg.clone(), gpu, w, rope: Rope3d::new(cfg.head_dim()), texts: Mutex::new(Vec::new()) })
    }

    /// Loads a safetensors checkpoint onto device `ordinal`.
    pub fn load(cfg: &Config, weights_path: &std::path::Path, ordinal: usize) -> Result<Self> {
        // Probe the device (and the layout) before reading gigabytes.
        refuse_unsupported_layout(cfg)?;
        crate::libs::driver()?;
        Self::from_tensors(cfg, load_safetensors(weights_path)?, ordinal)
    }

    /// Seeded random weights (the CPU `WanModel::random` tensors).
    pub fn random(cfg: &Config, seed: u64, ordinal: usize) -> Result<Self> {
        cfg.validate()?;
        refuse_unsupported_layout(cfg)?;
        crate::libs::driver()?;
        Self::from_tensors(cfg, random_weights(cfg, seed, 0.1), ordinal)
    }

    /// Uses the backend's own GEMM kernel instead of cuBLAS from now on (tests).
    pub fn force_kernel_gemm(&mut self) {
        self.gpu.drop_cublas();
    }

    /// Text embedding of a prompt, then every layer's cross-attention K/V, kept on the device.
    fn text_kv(&self, embedded: &[f32]) -> Result<TextKv> {
        if let Ok(cache) = self.texts.lock() {
            if let Some((_, kv)) = cache.iter().find(|(e, _)| e.as_slice() == embedded) {
                return Ok(kv.clone());
            }
        }
        let (l, d) = (self.cfg.text_len, self.cfg.dim);
        if embedded.len() != l * d {
            return Err(bad("text", format!("embedded context has {} values, expected {l}×{d}", embedded.len())));
        }
        let emb = self.gpu.upload(embedded)?;
        let eps = self.cfg.eps as f32;
        let mut layers = Vec::with_capacity(self.w.blocks.len());
        for b in &self.w.blocks {
            let mut k = self.gpu.linear(&emb, l, &b.ck)?;
            if let Some(wk) = &b.cnorm_k {
                self.gpu.rmsnorm(&mut k, wk, l, d, eps)?;
            }
            layers.push((k, self.gpu.linear(&emb, l, &b.cv)?));
        }
        let kv = Arc::new(layers);
        if let Ok(mut cache) = self.texts.lock() {
            if cache.len() >= TEXT_CACHE_PROMPTS {
                cache.remove(0);
            }
            cache.push((embedded.to_vec(), kv.clone()));
        }
        Ok(kv)
    }

    fn encode(&self, context: &[f32], rows: usize) -> Result<TextContext> {
        let c = &self.cfg;
        if rows > c.text_len || context.len() != rows * c.text_dim {
            return Err(bad(
                "context",
                format!(
                    "expected [rows ≤ {}, {}], got {} values for {rows} rows",
                    c.text_len,
                    c.text_dim,
                    context.len()
                ),
            ));
        }
        let mut padded = vec![0.0f32; c.text_len * c.text_dim];
        padded[..context.len()].copy_from_slice(context);
        let x = self.gpu.upload(&padded)?;
        let mut h = self.gpu.linear(&x, c.text_len, &self.w.text1)?;
        self.gpu.unary("gelu_tanh_inplace", &mut h, c.text_len * c.dim)?;
        let e = self.gpu.linear(&h, c.text_len, &self.w.text2)?;
        let embedded = self.gpu.download(&e, c.text_len * c.dim)?;
        self.text_kv(&embedded)?;
        Ok(TextContext::from_embedded(embedded))
    }

    /// `e` [F, dim] (time + action embedding) and `e0` [F, 6·dim] on the device.
    fn frame_embeddings(&self, req: &SeqRequest) -> Result<(CudaSlice<f32>, CudaSlice<f32>)> {
        let (d, fd, frames) = (self.cfg.dim, self.cfg.freq_dim, req.frames);
        let mut sin_t = Vec::with_capacity(frames * fd);
        for c in req.conds {
            if !c.timestep.is_finite() {
                return Err(bad("t", format!("timestep {} is not finite", c.timestep)));
            }
            sin_t.extend(sinusoidal_embedding(fd, c.timestep as f64));
        }
        let mut h = self.gpu.linear(&self.gpu.upload(&sin_t)?, frames, &self.w.time1)?;
        self.gpu.unary("silu_inplace", &mut h, frames * d)?;
        let mut e = self.gpu.linear(&h, frames, &self.w.time2)?;
        if let (Some(a1), Some(a2)) = (&self.w.action1, &self.w.action2) {
            let classes = self.cfg.action_classes.unwrap_or(0);
            let (mut sin_a, mut mask) = (Vec::with_capacity(frames * fd), Vec::with_capacity(frames));
            for c in req.conds {
                match c.action {
                    Some(label) if label as usize >= classes => {
                        return Err(bad("action", format!("label {label} not in 0..{classes}")));
                    }
                    Some(label) => {
                        sin_a.extend(sinusoidal_embedding(fd, label as f64));
                        mask.push(1);
                    }
                    None => {
                        sin_a.extend(std::iter::repeat_n(0.0, fd));
                        mask.push(0);
                    }
                }
            }
            if mask.contains(&1) {
                let mut ha = self.gpu.linear(&self.gpu.upload(&sin_a)?, frames, a1)?;
                self.gpu.unary("silu_inplace", &mut ha, frames * d)?;
                let a = self.gpu.linear(&ha, frames, a2)?;
                self.gpu.add_rows_masked(&mut e, &a, &self.gpu.upload_i32(&mask)?, frames, d)?;
            }
        }
        let mut se = self.gpu.copy(&e)?;
        self.gpu.unary("silu_inplace", &mut se, frames * d)?;
        let e0 = self.gpu.linear(&se, frames, &self.w.time_proj)?;
        Ok((e, e0))
    }

    fn step_inputs(
        &self,
        req: &SeqRequest,
        past: Option<&dyn PastKv>,
        e0: CudaSlice<f32>,
        text: TextKv,
    ) -> Result<Step> {
        let [_, ph, pw] = self.cfg.patch_size;
        let (gh, gw) = (req.height / ph, req.width / pw);
        let tpf = gh * gw;
        let n = req.frames * tpf;
        let table = self.rope.table(&Rope3d::grid_positions(req.rope_time, gh, gw));
        let np = past.map_or(0, |p| p.tokens());
        let limit = req.key_limits(tpf, np);
        let limit: Vec<i32> = limit.into_iter().map(crate::gpu::int).collect::<Result<_>>()?;
        let cams = if self.cfg.camera_attention {
            let (mut fwd, mut inv) = (Vec::with_capacity(req.frames * 16), Vec::with_capacity(req.frames * 16));
            for (f, c) in req.conds.iter().enumerate() {
                let (p, pi) = match &c.camera {
                    None => (IDENTITY, IDENTITY),
                    Some(cam) => cam
                        .prope_matrices()
                        .ok_or_else(|| bad("camera", format!("frame {f}: singular or non-finite camera")))?,
                };
                fwd.extend(p.iter().flatten());
                inv.extend(pi.iter().flatten());
            }
            Some((self.gpu.upload(&fwd)?, self.gpu.upload(&inv)?))
        } else {
            None
        };
        Ok(Step {
            n,
            tpf,
            np,
            e0,
            cos: self.gpu.upload(&table.cos)?,
            sin: self.gpu.upload(&table.sin)?,
            limit: self.gpu.upload_i32(&limit)?,
            text_limit: self.gpu.upload_i32(&vec![crate::gpu::int(self.cfg.text_len)?; n])?,
            cams,
            text,
        })
    }

    /// Uploads the cached K/V of `layer` (branch `cam`) and appends the new tokens' `k`/`v`.
    fn with_past(
        &self,
        past: Option<&dyn PastKv>,
        layer: usize,
        cam: bool,
        k: &CudaSlice<f32>,
        v: &CudaSlice<f32>,
        s: &Step,
    ) -> Result<(CudaSlice<f32>, CudaSlice<f32>)> {
        let d = self.cfg.dim;
        let total = (s.np + s.n) * d;
        let segs = past.map_or(Vec::new(), |p| p.segments(layer, cam));
        let ks: Vec<&[f32]> = segs.iter().map(|(k, _)| *k).collect();
        let vs: Vec<&[f32]> = segs.iter().map(|(_, v)| *v).collect();
        Ok((self.gpu.concat(&ks, k, s.n * d, total)?, self.gpu.concat(&vs, v, s.n * d, total)?))
    }

    fn block(
        &self,
        li: usize,
        b: &DevBlock,
        x: &mut CudaSlice<f32>,
        s: &Step,
        past: Option<&dyn PastKv>,
        record: bool,
    ) -> Result<Option<LayerKv>> {
        let g = &self.gpu;
        let c = &self.cfg;
        let (d, heads, hd, n, tpf) = (c.dim, c.num_heads, c.head_dim(), s.n, s.tpf);
        let eps = c.eps as f32;
        let frames = n / tpf;
        let m = g.modulation("frame_mod", &b.modulation, &s.e0, frames, 6 * d)?;

        // Self-attention.
        let h = g.ln_modulate(x, &m, 6 * d, 0, d, tpf, n, d, eps)?;
        let (mut q, mut k, v) = (g.linear(&h, n, &b.q)?, g.linear(&h, n, &b.k)?, g.linear(&h, n, &b.v)?);
        if let Some(w) = &b.norm_q {
            g.rmsnorm(&mut q, w, n, d, eps)?;
        }
        if let Some(w) = &b.norm_k {
            g.rmsnorm(&mut k, w, n, d, eps)?;
        }
        // PRoPE branch inputs: the normalised, un-rotated q/k/v.
        let cam_in = match (&s.cams, &b.prope_o) {
            (Some((fwd, inv)), Some(_)) => {
                let (mut cq, mut ck, mut cv) = (g.copy(&q)?, g.copy(&k)?, g.copy(&v)?);
                g.prope(&mut cq, fwd, n, d, tpf, true)?;
                g.prope(&mut ck, inv, n, d, tpf, false)?;
                g.prope(&mut cv, inv, n, d, tpf, false)?;
                Some((cq, ck, cv, fwd))
            }
            _ => None,
        };
        let half = hd / 2;
        g.rope(&mut q, &s.cos, &s.sin, n, heads, half)?;
        g.rope(&mut k, &s.cos, &s.sin, n, heads, half)?;
        let (kall, vall) = self.with_past(past, li, false, &k, &v, s)?;
        let o = g.attention(&q, &kall, &vall, &s.limit, n, s.np + n, heads, hd)?;
        drop((kall, vall));
        let mut y = g.linear(&o, n, &b.o)?;
        let mut rec = if record {
            Some(LayerKv { k: g.download(&k, n * d)?, v: g.download(&v, n * d)?, ..Default::default() })
        } else {
            None
        };
        if let (Some((cq, ck, cv, fwd)), Some(po)) = (cam_in, &b.prope_o) {
            let (kall, vall) = self.with_past(past, li, true, &ck, &cv, s)?;
            let mut oc = g.attention(&cq, &kall, &vall, &s.limit, n, s.np + n, heads, hd)?;
            g.prope(&mut oc, fwd, n, d, tpf, false)?;
            let yc = g.linear(&oc, n, po)?;
            g.add(&mut y, &yc, n * d)?;
            if let Some(r) = rec.as_mut() {
                r.cam_k = g.download(&ck, n * d)?;
                r.cam_v = g.download(&cv, n * d)?;
            }
        }
        g.add_gated(x, &y, &m, 6 * d, 2 * d, tpf, n, d)?;

        // Cross-attention (no gate).
        let h = match &b.norm3 {
            Some((w, bias)) => g.ln_affine(x, w, bias, n, d, eps)?,
            None => g.copy(x)?,
        };
        let mut q = g.linear(&h, n, &b.cq)?;
        if let Some(w) = &b.cnorm_q {
            g.rmsnorm(&mut q, w, n, d, eps)?;
        }
        let (tk, tv) = &s.text[li];
        let o = g.attention(&q, tk, tv, &s.text_limit, n, c.text_len, heads, hd)?;
        let y = g.linear(&o, n, &b.co)?;
        g.add(x, &y, n * d)?;

        // FFN.
        let h = g.ln_modulate(x, &m, 6 * d, 3 * d, 4 * d, tpf, n, d, eps)?;
        let mut f = g.linear(&h, n, &b.ffn1)?;
        g.unary("gelu_tanh_inplace", &mut f, n * c.ffn_dim)?;
        let y = g.linear(&f, n, &b.ffn2)?;
        g.add_gated(x, &y, &m, 6 * d, 5 * d, tpf, n, d)?;
        Ok(rec)
    }

    fn forward(
        &self,
        req: &SeqRequest,
        text: &TextContext,
        past: Option<&dyn PastKv>,
        record: bool,
        mut trace: Option<&mut Trace>,
    ) -> Result<(Vec<f32>, Option<Vec<LayerKv>>)> {
        req.check(&self.cfg)?;
        let c = &self.cfg;
        let (d, n) = (c.dim, req.frames * (req.height / c.patch_size[1]) * (req.width / c.patch_size[2]));
        let text_kv = self.text_kv(&text.embedded)?;
        let patches = patchify(c, req);
        let mut x = self.gpu.linear(&self.gpu.upload(&patches)?, n, &self.w.patch)?;
        let (e, e0) = self.frame_embeddings(req)?;
        if let Some(t) = trace.as_deref_mut() {
            t.patch_embedding = self.gpu.download(&x, n * d)?;
            t.time_embedding = self.gpu.download(&e, req.frames * d)?;
            t.time_projection = self.gpu.download(&e0, req.frames * 6 * d)?;
        }
        let step = self.step_inputs(req, past, e0, text_kv)?;
        let mut recorded = record.then(Vec::new);
        for (li, b) in self.w.blocks.iter().enumerate() {
            let kv = self.block(li, b, &mut x, &step, past, record)?;
            if let (Some(r), Some(kv)) = (recorded.as_mut(), kv) {
                r.push(kv);
            }
            if let Some(t) = trace.as_deref_mut() {
                t.blocks.push(self.gpu.download(&x, n * d)?);
            }
        }
        let hmod = self.gpu.modulation("head_mod", &self.w.head_mod, &e, req.frames, d)?;
        let hn = self.gpu.ln_modulate(&x, &hmod, 2 * d, 0, d, step.tpf, n, d, c.eps as f32)?;
        let h = self.gpu.linear(&hn, n, &self.w.head)?;
        let h = self.gpu.download(&h, n * c.head_features())?;
        if let Some(t) = trace {
            t.head = h.clone();
        }
        Ok((unpatchify(c, &h, req.frames, req.height, req.width), recorded))
    }
}

impl DitBackend for CudaDit {
    fn device(&self) -> String {
        self.gpu.label.clone()
    }
    fn config(&self) -> &Config {
        &self.cfg
    }
    fn encode_text(&self, context: &[f32], rows: usize) -> worldflow_dit::Result<TextContext> {
        Ok(self.encode(context, rows)?)
    }
    fn forward_seq(
        &self,
        req: &SeqRequest,
        text: &TextContext,
        past: Option<&dyn PastKv>,
        record: bool,
        trace: Option<&mut Trace>,
    ) -> worldflow_dit::Result<(Vec<f32>, Option<Vec<LayerKv>>)> {
        Ok(self.forward(req, text, past, record, trace)?)
    }
}
