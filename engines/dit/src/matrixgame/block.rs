//! One `CausalWanAttentionBlock` (`causal_model.py`), KV-cache path: `e = modulation + e0_f` per
//! latent frame, split (shift, scale, gate) × (self-attention, FFN);
//! `x += gate₁ · SelfAttn(LN(x)(1+scale₁)+shift₁)` with the rolling cache;
//! `x += CrossAttn(norm3(x), img_emb context)` (no gate); the action module where configured;
//! `x += gate₂ · FFN(LN(x)(1+scale₂)+shift₂)`.

use super::action::{ActionModule, Actions};
use super::cache::RollingKv;
use crate::attention::{attention, PackedKv};
use crate::error::Result;
use crate::linear::Linear;
use crate::ops::{add_gated_row, layernorm_affine_row, layernorm_modulate_row, par_rows, rmsnorm_row};
use crate::rope::{apply_rope, RopeTable};

pub(crate) struct CausalBlock {
    pub(crate) modulation: Vec<f32>,
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) norm_q: Option<Vec<f32>>,
    pub(crate) norm_k: Option<Vec<f32>>,
    pub(crate) norm3: Option<(Vec<f32>, Vec<f32>)>,
    pub(crate) cq: Linear,
    pub(crate) ck: Linear,
    pub(crate) cv: Linear,
    pub(crate) co: Linear,
    pub(crate) cnorm_q: Option<Vec<f32>>,
    pub(crate) cnorm_k: Option<Vec<f32>>,
    pub(crate) ffn1: Linear,
    pub(crate) ffn2: Linear,
    pub(crate) ffn_dim: usize,
    pub(crate) action: Option<ActionModule>,
}

/// Outputs of one block's modules on one call (the golden traces' names).
#[derive(Clone, Debug, Default)]
pub struct BlockTrace {
    /// `blocks.i.self_attn`: the self-attention output after `o`, before the gate [n, dim].
    pub self_attn: Vec<f32>,
    /// `blocks.i.cross_attn`: the cross-attention output [n, dim].
    pub cross_attn: Vec<f32>,
    /// `blocks.i.action_model`: the hidden state after the action module [n, dim].
    pub action_model: Option<Vec<f32>>,
    /// `blocks.i`: the block output [n, dim].
    pub out: Vec<f32>,
}

/// What every block of one call shares.
pub(crate) struct BlockRun<'a> {
    pub(crate) dim: usize,
    pub(crate) heads: usize,
    pub(crate) eps: f32,
    pub(crate) tokens_per_frame: usize,
    pub(crate) frames: usize,
    pub(crate) start_frame: usize,
    /// Self-attention reads at most this many cached tokens.
    pub(crate) window_tokens: usize,
    /// `e0` [frames, 6·dim].
    pub(crate) e0: &'a [f32],
    pub(crate) table: &'a RopeTable,
    pub(crate) actions: &'a Actions<'a>,
}

/// One layer's caches.
pub(crate) struct LayerCaches<'a> {
    pub(crate) self_attn: &'a mut RollingKv,
    pub(crate) mouse: Option<&'a mut RollingKv>,
    pub(crate) keyboard: Option<&'a mut RollingKv>,
}

impl CausalBlock {
    pub(crate) fn forward(
        &self,
        x: &mut [f32],
        run: &BlockRun,
        context: &PackedKv,
        caches: LayerCaches,
        trace: Option<&mut BlockTrace>,
    ) -> Result<()> {
        let (d, heads, eps, tpf) = (run.dim, run.heads, run.eps, run.tokens_per_frame);
        let n = run.frames * tpf;
        let hd = d / heads;
        let mut m = vec![0.0f32; run.frames * 6 * d];
        for f in 0..run.frames {
            for j in 0..6 * d {
                m[f * 6 * d + j] = self.modulation[j] + run.e0[f * 6 * d + j];
            }
        }
        let chunk =
            |tok: usize, i: usize| -> &[f32] { &m[(tok / tpf) * 6 * d + i * d..(tok / tpf) * 6 * d + (i + 1) * d] };

        // Self-attention through the rolling cache.
        let mut h = vec![0.0f32; n * d];
        par_rows(&mut h, d, |tok, row| {
            layernorm_modulate_row(&x[tok * d..(tok + 1) * d], chunk(tok, 0), chunk(tok, 1), eps, row)
        });
        let (mut q, mut k, v) = (self.q.forward_vec(&h, n), self.k.forward_vec(&h, n), self.v.forward_vec(&h, n));
        if let Some(w) = &self.norm_q {
            par_rows(&mut q, d, |_, r| rmsnorm_row(r, w, eps));
        }
        if let Some(w) = &self.norm_k {
            par_rows(&mut k, d, |_, r| rmsnorm_row(r, w, eps));
        }
        apply_rope(&mut q, heads, run.table);
        apply_rope(&mut k, heads, run.table);
        let current_start = run.start_frame * tpf;
        let (lo, hi) = caches.self_attn.write("kv_cache", current_start, n, &k, &v, run.window_tokens)?;
        let (ks, vs) = caches.self_attn.slice(0, lo, hi);
        let kv = PackedKv::pack(&[(ks, vs)], heads, hd);
        let mut o = vec![0.0f32; n * d];
        attention(&q, n, &kv, None, &mut o);
        let y = self.o.forward_vec(&o, n);
        par_rows(x, d, |tok, row| add_gated_row(row, &y[tok * d..(tok + 1) * d], chunk(tok, 2)));
        let mut rec = trace;
        if let Some(t) = rec.as_deref_mut() {
            t.self_attn = y;
        }

        // Cross-attention on the image context (no gate).
        match &self.norm3 {
            Some((w, b)) => {
                par_rows(&mut h, d, |tok, row| layernorm_affine_row(&x[tok * d..(tok + 1) * d], w, b, eps, row))
            }
            None => h.copy_from_slice(x),
        }
        let mut cq = self.cq.forward_vec(&h, n);
        if let Some(w) = &self.cnorm_q {
            par_rows(&mut cq, d, |_, r| rmsnorm_row(r, w, eps));
        }
        attention(&cq, n, context, None, &mut o);
        let y = self.co.forward_vec(&o, n);
        x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
        if let Some(t) = rec.as_deref_mut() {
            t.cross_attn = y;
        }

        if let Some(a) = &self.action {
            a.forward(x, tpf, run.frames, run.start_frame, run.actions, caches.mouse, caches.keyboard)?;
            if let Some(t) = rec.as_deref_mut() {
                t.action_model = Some(x.to_vec());
            }
        }

        // FFN.
        par_rows(&mut h, d, |tok, row| {
            layernorm_modulate_row(&x[tok * d..(tok + 1) * d], chunk(tok, 3), chunk(tok, 4), eps, row)
        });
        let mut f = vec![0.0f32; n * self.ffn_dim];
        self.ffn1.forward_gelu(&h, n, &mut f);
        let y = self.ffn2.forward_vec(&f, n);
        par_rows(x, d, |tok, row| add_gated_row(row, &y[tok * d..(tok + 1) * d], chunk(tok, 5)));
        if let Some(t) = rec {
            t.out = x.to_vec();
        }
        Ok(())
    }
}
