//! Blocked ("flash") multi-head attention on CPU with online softmax.
//!
//! Reference semantics: `softmax(q·kᵀ / √d) · v` per head (PyTorch `scaled_dot_product_attention`),
//! with an optional per-query key limit: query `i` sees keys `0..limit[i]` only (block-causal masks
//! are prefix masks because keys are stored in time order). Every limit must be ≥ 1.
//!
//! Work is split into (query tile of [`BQ`] rows, head) tasks run with rayon, × key tiles of [`BK`];
//! for each tile the scores (BQ × BK) live in a small buffer, the running max / sum are updated
//! online and the output accumulator is rescaled — no (N × N) score matrix is ever formed.
//! The tile products use the dense GEMM's register-blocked micro-kernel (`worldflow-gemm`,
//! `MicroKernel::detect`) on 16-wide strips: 12×16 tiles with AVX-512F, 6×16 with AVX2 + FMA on
//! x86_64 or NEON on aarch64; each tile's softmax loops are compiled with AVX2 + FMA (x86_64, both
//! kernels) or NEON.

use rayon::prelude::*;
use worldflow_base::DisjointWriter;
use worldflow_gemm::{micro_tiles, MatMut, MatRef, MicroKernel};

use crate::ops::exp2_approx;

pub const BQ: usize = 60;
pub const BK: usize = 128;

/// Keys and values prepared for attention: per head, `kt` = Kᵀ in panels of 16 keys, [nk_pad/16, d, 16]
/// (each panel is the contiguous `d × 16` block the micro-kernel streams through; a plain [d, nk_pad]
/// layout put its rows a power of two apart for 1024 keys, so they all fell into the same few L1 sets),
/// and `v` [nk_pad, dp] (zero padded: `nk_pad` to a multiple of 16, `dp` = d rounded up to 16).
#[derive(Clone, Debug, Default)]
pub struct PackedKv {
    pub heads: usize,
    pub d: usize,
    pub dp: usize,
    pub nk: usize,
    pub nk_pad: usize,
    pub kt: Vec<f32>,
    pub v: Vec<f32>,
}

fn round16(x: usize) -> usize {
    x.div_ceil(16) * 16
}

impl PackedKv {
    /// Packs token-major `k`, `v` given as a list of segments, each [n_i, heads·d], concatenated
    /// in order (e.g. cached frames followed by the current tokens).
    pub fn pack(segments: &[(&[f32], &[f32])], heads: usize, d: usize) -> Self {
        let mut kv = PackedKv::default();
        kv.pack_from(segments, heads, d);
        kv
    }

    /// [`PackedKv::pack`] into this one, reusing its buffers.
    pub fn pack_from(&mut self, segments: &[(&[f32], &[f32])], heads: usize, d: usize) {
        let row = heads * d;
        let nk: usize = segments.iter().map(|(k, _)| k.len() / row).sum();
        let (nk_pad, dp) = (round16(nk), round16(d));
        *self = PackedKv { heads, d, dp, nk, nk_pad, kt: std::mem::take(&mut self.kt), v: std::mem::take(&mut self.v) };
        let (kt, v) = (&mut self.kt, &mut self.v);
        kt.clear();
        kt.resize(heads * d * nk_pad, 0.0);
        v.clear();
        v.resize(heads * nk_pad * dp, 0.0);
        let keys: Vec<(&[f32], &[f32])> =
            segments.iter().flat_map(|(ks, vs)| ks.chunks_exact(row).zip(vs.chunks_exact(row))).collect();
        kt.par_chunks_mut(d * nk_pad).zip(v.par_chunks_mut(nk_pad * dp)).enumerate().for_each(|(h, (kt_h, v_h))| {
            // Kᵀ panel by panel: the panel's 16 key rows stay in L1 while it is written in order.
            for (p, panel) in kt_h.chunks_exact_mut(d * 16).enumerate() {
                let rows = &keys[p * 16..keys.len().min(p * 16 + 16)];
                for (c, out) in panel.chunks_exact_mut(16).enumerate() {
                    for (o, (kr, _)) in out.iter_mut().zip(rows) {
                        *o = kr[h * d + c];
                    }
                }
            }
            for (j, (_, vr)) in keys.iter().enumerate() {
                v_h[j * dp..j * dp + d].copy_from_slice(&vr[h * d..(h + 1) * d]);
            }
        });
    }
}

/// `out[nq, heads·d] = attention(q[nq, heads·d], kv)`; `limit` (len nq) restricts each query to
/// a key prefix, `None` = all keys.
pub fn attention(q: &[f32], nq: usize, kv: &PackedKv, limit: Option<&[usize]>, out: &mut [f32]) {
    let (heads, d) = (kv.heads, kv.d);
    let row = heads * d;
    assert_eq!(q.len(), nq * row);
    assert_eq!(out.len(), nq * row);
    if let Some(l) = limit {
        assert_eq!(l.len(), nq);
        assert!(l.iter().all(|&x| x >= 1 && x <= kv.nk), "attention limits must be in 1..=nk");
    }
    // The GEMM's micro-kernel (AVX-512F, else AVX2 + FMA, NEON on aarch64); the tiles run compiled
    // with AVX2 + FMA (x86_64) or NEON exactly when it is a SIMD one.
    let kernel = MicroKernel::detect();
    let dst = DisjointWriter::new(out);
    let tiles = nq.div_ceil(BQ);
    (0..tiles * heads).into_par_iter().for_each_init(
        || Workspace::new(kv.d, kv.dp),
        |ws, t| {
            let (ti, h) = (t / heads, t % heads);
            let (q0, rows) = (ti * BQ, BQ.min(nq - ti * BQ));
            ws.lim.clear();
            ws.lim.extend((q0..q0 + rows).map(|i| limit.map_or(kv.nk, |l| l[i])));
            // SAFETY: task (ti, h) writes rows q0..q0+rows, columns h·d..(h+1)·d of `out` only:
            // disjoint between tasks and inside `out` (asserted above).
            unsafe { tile(kernel, &q[q0 * row..(q0 + rows) * row], rows, h, kv, ws, dst, q0 * row + h * d) };
        },
    );
}

struct Workspace {
    q: Vec<f32>,
    s: Vec<f32>,
    acc: Vec<f32>,
    m: Vec<f32>,
    l: Vec<f32>,
    lim: Vec<usize>,
}

impl Workspace {
    fn new(d: usize, dp: usize) -> Self {
        Workspace {
            q: vec![0.0; BQ * d],
            s: vec![0.0; BQ * BK],
            acc: vec![0.0; BQ * dp],
            m: vec![0.0; BQ],
            l: vec![0.0; BQ],
            lim: Vec::with_capacity(BQ),
        }
    }
}

/// One query tile × one head; writes `rows` rows of `d` values to `out` from `offset`, rows
/// `heads·d` apart.
///
/// # Safety
/// No other thread may touch those values of `out` meanwhile.
#[allow(clippy::too_many_arguments, reason = "one tile's inputs; bundling them would only rename them")]
unsafe fn tile(
    kernel: MicroKernel,
    q: &[f32],
    rows: usize,
    h: usize,
    kv: &PackedKv,
    ws: &mut Workspace,
    out: DisjointWriter<f32>,
    offset: usize,
) {
    // One wrapper per architecture's SIMD level: the tile's softmax loops are compiled for it, and run when
    // the micro-kernel is a SIMD one (a `MicroKernel` is so only after detecting its features; the AVX-512
    // one only where the CPU has AVX2 and FMA too).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        #[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
        #[cfg_attr(target_arch = "aarch64", target_feature(enable = "neon"))]
        #[allow(clippy::too_many_arguments, reason = "the arguments of `tile`")]
        unsafe fn fast(
            kernel: MicroKernel,
            q: &[f32],
            rows: usize,
            h: usize,
            kv: &PackedKv,
            ws: &mut Workspace,
            out: DisjointWriter<f32>,
            offset: usize,
        ) {
            // SAFETY: forwarded.
            unsafe { tile_impl(kernel, q, rows, h, kv, ws, out, offset) }
        }
        if kernel.is_fused() {
            // SAFETY: the features `fast` is compiled with are present (see above).
            return unsafe { fast(kernel, q, rows, h, kv, ws, out, offset) };
        }
    }
    // SAFETY: forwarded.
    unsafe { tile_impl(kernel, q, rows, h, kv, ws, out, offset) }
}

#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "the arguments of `tile`")]
unsafe fn tile_impl(
    kernel: MicroKernel,
    q: &[f32],
    rows: usize,
    h: usize,
    kv: &PackedKv,
    ws: &mut Workspace,
    out: DisjointWriter<f32>,
    offset: usize,
) {
    let (d, dp, nk_pad) = (kv.d, kv.dp, kv.nk_pad);
    let row = kv.heads * d;
    // Scores in base 2: q·k/√d·log₂e, so that the softmax runs on exp2.
    let scale = std::f32::consts::LOG2_E / (d as f32).sqrt();
    // Q tile of this head, scaled.
    for i in 0..rows {
        for (o, x) in ws.q[i * d..(i + 1) * d].iter_mut().zip(&q[i * row + h * d..i * row + (h + 1) * d]) {
            *o = x * scale;
        }
    }
    ws.m[..rows].fill(f32::NEG_INFINITY);
    ws.l[..rows].fill(0.0);
    ws.acc[..rows * dp].fill(0.0);
    let kt = &kv.kt[h * d * nk_pad..(h + 1) * d * nk_pad];
    let vh = &kv.v[h * nk_pad * dp..(h + 1) * nk_pad * dp];
    let lim = &ws.lim[..rows];
    let kmax = lim.iter().copied().max().unwrap_or(0);
    let kmin = lim.iter().copied().min().unwrap_or(0);
    let mut kb = 0;
    while kb < kmax {
        let bk = BK.min(kmax - kb);
        let bk16 = round16(bk);
        // Scores s[rows × bk16] = q · kᵀ, one 16-key panel at a time (it stays in L1 across the rows).
        for j in (0..bk16).step_by(16) {
            let panel = &kt[((kb + j) / 16) * d * 16..][..d * 16];
            // The Q tile (rows × d) times the panel (d × 16) into the score rows (16 values from
            // column j, BK apart).
            let (a, b) = (MatRef::dense(&ws.q[..rows * d], rows, d), MatRef::dense(panel, d, 16));
            micro_tiles(kernel, a, b, MatMut::new(&mut ws.s[j..], rows, 16, BK), false);
        }
        // Mask keys beyond each row's limit (and the padding), then the online softmax update.
        let need_mask = kb + bk16 > kmin;
        for (i, &lim_i) in lim.iter().enumerate() {
            let s = &mut ws.s[i * BK..i * BK + bk16];
            if need_mask {
                let valid = lim_i.saturating_sub(kb).min(bk16);
                s[valid..].fill(f32::NEG_INFINITY);
            }
            // Lane-wise reductions (8 independent accumulators) so that LLVM vectorises them.
            let mut m8 = [f32::NEG_INFINITY; 8];
            for c in s.chunks_exact(8) {
                for j in 0..8 {
                    m8[j] = m8[j].max(c[j]);
                }
            }
            let mx = m8.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let m_new = ws.m[i].max(mx);
            if m_new == f32::NEG_INFINITY {
                s.fill(0.0); // no key seen yet for this row (not reached: limits are ≥ 1)
                continue;
            }
            let alpha = exp2_approx(ws.m[i] - m_new);
            let mut s8 = [0.0f32; 8];
            for c in s.chunks_exact_mut(8) {
                for j in 0..8 {
                    c[j] = exp2_approx(c[j] - m_new);
                    s8[j] += c[j];
                }
            }
            let sum: f32 = s8.iter().sum();
            ws.l[i] = ws.l[i] * alpha + sum;
            ws.m[i] = m_new;
            if alpha != 1.0 {
                for a in ws.acc[i * dp..(i + 1) * dp].iter_mut() {
                    *a *= alpha;
                }
            }
        }
        // acc += p · v, one 16-column slice of V at a time.
        for c in (0..dp).step_by(16) {
            // The score rows (bk16 values, BK apart) times V rows kb..kb+bk16 (16 values from c, dp
            // apart), added to the acc rows (16 values from c, dp apart).
            let (a, b) = (MatRef::new(&ws.s, rows, bk16, BK), MatRef::new(&vh[kb * dp + c..], bk16, 16, dp));
            micro_tiles(kernel, a, b, MatMut::new(&mut ws.acc[c..], rows, 16, dp), true);
        }
        kb += bk;
    }
    for i in 0..rows {
        let inv = 1.0 / ws.l[i];
        let start = offset + i * row;
        assert!(start + d <= out.len(), "attention: output row past the buffer");
        // SAFETY: row i of this tile's output block (d values, inside `out` as asserted), this
        // task's alone (the caller's contract).
        let o = unsafe { std::slice::from_raw_parts_mut(out.ptr_at(start), d) };
        for (o, a) in o.iter_mut().zip(&ws.acc[i * dp..i * dp + d]) {
            *o = a * inv;
        }
    }
}

/// Plain reference attention (materialises scores; for tests).
#[allow(clippy::too_many_arguments, reason = "the reference takes the unpacked tensors and their shape as they are")]
pub fn attention_naive(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    nq: usize,
    nk: usize,
    heads: usize,
    d: usize,
    limit: Option<&[usize]>,
) -> Vec<f32> {
    let row = heads * d;
    let mut out = vec![0.0f32; nq * row];
    let scale = 1.0 / (d as f64).sqrt();
    for h in 0..heads {
        for i in 0..nq {
            let li = limit.map_or(nk, |l| l[i]);
            let s: Vec<f64> = (0..li)
                .map(|j| {
                    (0..d).map(|c| q[i * row + h * d + c] as f64 * k[j * row + h * d + c] as f64).sum::<f64>() * scale
                })
                .collect();
            let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..d {
                out[i * row + h * d + c] =
                    (0..li).map(|j| e[j] * v[j * row + h * d + c] as f64).sum::<f64>() as f32 / z as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::Rng;

    fn check(nq: usize, nk: usize, heads: usize, d: usize, causal_blocks: Option<usize>) {
        let mut rng = Rng::new(7);
        let row = heads * d;
        let q = rng.normal_vec(nq * row, 1.5);
        let k = rng.normal_vec(nk * row, 1.5);
        let v = rng.normal_vec(nk * row, 1.0);
        let limit: Option<Vec<usize>> =
            causal_blocks.map(|b| (0..nq).map(|i| ((nk - nq) + (i / b + 1) * b).min(nk)).collect());
        let want = attention_naive(&q, &k, &v, nq, nk, heads, d, limit.as_deref());
        let kv = PackedKv::pack(
            &[(&k[..nk / 2 * row], &v[..nk / 2 * row]), (&k[nk / 2 * row..], &v[nk / 2 * row..])],
            heads,
            d,
        );
        let mut got = vec![0.0; nq * row];
        attention(&q, nq, &kv, limit.as_deref(), &mut got);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 2e-5, "{a} vs {b} (nq {nq} nk {nk} d {d})");
        }
    }

    #[test]
    fn blocked_attention_matches_naive() {
        check(70, 300, 3, 16, None);
        check(130, 130, 2, 24, None);
        check(5, 7, 1, 64, None);
    }

    #[test]
    fn block_causal_limits_match_naive() {
        check(96, 96, 2, 16, Some(32));
        check(50, 200, 2, 16, Some(7));
    }
}
