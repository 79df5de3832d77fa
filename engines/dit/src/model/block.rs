//! One `WanAttentionBlock` (upstream order): `e = modulation + e0` split in 6 (shift, scale, gate) ×
//! (attn, ffn); `x += gate₁ · SelfAttn(LN(x)(1+scale₁)+shift₁)`; `x += CrossAttn(norm3(x), ctx)`;
//! `x += gate₂ · FFN(LN(x)(1+scale₂)+shift₂)`, with the optional PRoPE camera branch beside the
//! self-attention, and the per-thread scratch buffers it reuses.

use super::request::{LayerKv, PastKv, TextContext};
use crate::attention::{attention, PackedKv};
use crate::config::Config;
use crate::linear::Linear;
use crate::ops::{add_gated_row, layernorm_affine_row, layernorm_modulate_row, par_rows, rmsnorm_row};
use crate::prope::{apply_blocks, Mat4};
use crate::rope::{apply_rope, RopeTable};

pub(super) struct Block {
    pub(super) modulation: Vec<f32>,
    pub(super) q: Linear,
    pub(super) k: Linear,
    pub(super) v: Linear,
    pub(super) o: Linear,
    pub(super) norm_q: Option<Vec<f32>>,
    pub(super) norm_k: Option<Vec<f32>>,
    pub(super) prope_o: Option<Linear>,
    pub(super) norm3: Option<(Vec<f32>, Vec<f32>)>,
    pub(super) cq: Linear,
    pub(super) ck: Linear,
    pub(super) cv: Linear,
    pub(super) co: Linear,
    pub(super) cnorm_q: Option<Vec<f32>>,
    pub(super) cnorm_k: Option<Vec<f32>>,
    pub(super) ffn1: Linear,
    pub(super) ffn2: Linear,
}

impl Block {
    /// Layer `li` on the tokens `x` [n, dim] in place; returns the self-attention keys/values of
    /// the tokens.
    pub(super) fn forward(&self, li: usize, x: &mut [f32], ctx: &BlockCtx, ws: &mut BlockScratch) -> LayerKv {
        let (b, cfg, text, past) = (self, ctx.cfg, ctx.text, ctx.past);
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
        rec
    }
}

/// Per-thread buffers of [`WanModel::block_forward`], reused from call to call: allocating a fresh
/// megabyte-sized buffer for every intermediate made the allocator hand pages back to the kernel and
/// fault them in again (~10 % of a chunk step).
#[derive(Default)]
pub(super) struct BlockScratch {
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
    pub(super) fn take() -> Self {
        BLOCK_SCRATCH.with(|c| std::mem::take(&mut *c.borrow_mut()))
    }

    pub(super) fn put_back(self) {
        BLOCK_SCRATCH.with(|c| *c.borrow_mut() = self);
    }
}

/// `v` resized to `len` values (keeps its capacity; old contents stay: every caller overwrites the
/// whole slice before reading it).
fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    v.resize(len, 0.0);
    &mut v[..len]
}

/// What every block of one forward shares.
pub(super) struct BlockCtx<'a> {
    pub(super) cfg: &'a Config,
    /// Tokens of the request and tokens per frame.
    pub(super) n: usize,
    pub(super) tpf: usize,
    /// `e0_f` [F, 6·dim].
    pub(super) e0: &'a [f32],
    pub(super) table: &'a RopeTable,
    /// Keys visible to each query token.
    pub(super) limit: &'a [usize],
    /// PRoPE matrices (forward, inverse) per frame, with camera attention.
    pub(super) cams: Option<&'a [(Mat4, Mat4)]>,
    pub(super) text: &'a TextContext,
    pub(super) past: Option<&'a dyn PastKv>,
}
