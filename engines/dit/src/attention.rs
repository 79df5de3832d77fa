//! Blocked ("flash") multi-head attention on CPU with online softmax.
//!
//! Reference semantics: `softmax(q·kᵀ / √d) · v` per head (PyTorch `scaled_dot_product_attention`),
//! with an optional per-query key limit: query `i` sees keys `0..limit[i]` only (block-causal masks
//! are prefix masks because keys are stored in time order). Every limit must be ≥ 1.
//!
//! Work is split into query tiles of [`BQ`] rows (parallel with rayon) × key tiles of [`BK`];
//! for each tile the scores (BQ × BK) live in a small buffer, the running max / sum are updated
//! online and the output accumulator is rescaled — no (N × N) score matrix is ever formed.
//! The tile products use a 4×16 register-blocked micro-kernel compiled for AVX2+FMA when present.

use crate::ops::exp_approx;
use rayon::prelude::*;

pub const BQ: usize = 64;
pub const BK: usize = 128;

/// Keys and values prepared for attention: per head, `kt` = Kᵀ in panels of 16 keys, [nk_pad/16, d, 16]
/// (each panel is the contiguous `d × 16` block the micro-kernel streams through; a plain [d, nk_pad]
/// layout put its rows a power of two apart for 1024 keys, so they all fell into the same few L1 sets),
/// and `v` [nk_pad, dp] (zero padded: `nk_pad` to a multiple of 16, `dp` = d rounded up to 16).
#[derive(Clone, Debug)]
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
        let row = heads * d;
        let nk: usize = segments.iter().map(|(k, _)| k.len() / row).sum();
        let (nk_pad, dp) = (round16(nk), round16(d));
        let mut kt = vec![0.0f32; heads * d * nk_pad];
        let mut v = vec![0.0f32; heads * nk_pad * dp];
        kt.par_chunks_mut(d * nk_pad).zip(v.par_chunks_mut(nk_pad * dp)).enumerate().for_each(
            |(h, (kt_h, v_h))| {
                let mut j = 0;
                for (ks, vs) in segments {
                    for (kr, vr) in ks.chunks_exact(row).zip(vs.chunks_exact(row)) {
                        let (kh, vh) = (&kr[h * d..(h + 1) * d], &vr[h * d..(h + 1) * d]);
                        let panel = &mut kt_h[(j / 16) * d * 16..][..d * 16];
                        for c in 0..d {
                            panel[c * 16 + j % 16] = kh[c];
                        }
                        v_h[j * dp..j * dp + d].copy_from_slice(vh);
                        j += 1;
                    }
                }
            },
        );
        PackedKv { heads, d, dp, nk, nk_pad, kt, v }
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
    out.par_chunks_mut(BQ * row).enumerate().for_each(|(ti, out_tile)| {
        let q0 = ti * BQ;
        let rows = out_tile.len() / row;
        let lim: Vec<usize> = (0..rows).map(|i| limit.map_or(kv.nk, |l| l[q0 + i])).collect();
        let mut ws = Workspace::new(d, kv.dp);
        for h in 0..heads {
            tile(&q[q0 * row..(q0 + rows) * row], rows, h, kv, &lim, &mut ws, out_tile);
        }
    });
}

struct Workspace {
    q: Vec<f32>,
    s: Vec<f32>,
    acc: Vec<f32>,
    m: Vec<f32>,
    l: Vec<f32>,
}

impl Workspace {
    fn new(d: usize, dp: usize) -> Self {
        Workspace {
            q: vec![0.0; BQ * d],
            s: vec![0.0; BQ * BK],
            acc: vec![0.0; BQ * dp],
            m: vec![0.0; BQ],
            l: vec![0.0; BQ],
        }
    }
}

fn tile(q: &[f32], rows: usize, h: usize, kv: &PackedKv, lim: &[usize], ws: &mut Workspace, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn fast(q: &[f32], rows: usize, h: usize, kv: &PackedKv, lim: &[usize], ws: &mut Workspace, out: &mut [f32]) {
            tile_impl::<true>(q, rows, h, kv, lim, ws, out)
        }
        if crate::ops::has_avx2() {
            // SAFETY: AVX2 and FMA are present.
            return unsafe { fast(q, rows, h, kv, lim, ws, out) };
        }
    }
    tile_impl::<false>(q, rows, h, kv, lim, ws, out)
}

#[inline(always)]
fn fmadd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `c[4 × 16] (+)= a[4 × kk] · b[kk × 16]` (row-major with leading dims).
#[inline(always)]
fn micro_4x16<const FMA: bool, const ACC: bool>(
    kk: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    let mut acc = [[0.0f32; 16]; 4];
    let (a0, a1, a2, a3) = (&a[..kk], &a[lda..lda + kk], &a[2 * lda..2 * lda + kk], &a[3 * lda..3 * lda + kk]);
    for p in 0..kk {
        let br: &[f32; 16] = b[p * ldb..p * ldb + 16].try_into().expect("16 columns");
        let av = [a0[p], a1[p], a2[p], a3[p]];
        for r in 0..4 {
            for j in 0..16 {
                acc[r][j] = fmadd::<FMA>(av[r], br[j], acc[r][j]);
            }
        }
    }
    for r in 0..4 {
        let cr: &mut [f32; 16] = (&mut c[r * ldc..r * ldc + 16]).try_into().expect("16 columns");
        for j in 0..16 {
            cr[j] = if ACC { cr[j] + acc[r][j] } else { acc[r][j] };
        }
    }
}

#[inline(always)]
fn tile_impl<const FMA: bool>(
    q: &[f32],
    rows: usize,
    h: usize,
    kv: &PackedKv,
    lim: &[usize],
    ws: &mut Workspace,
    out: &mut [f32],
) {
    let (d, dp, nk_pad) = (kv.d, kv.dp, kv.nk_pad);
    let row = kv.heads * d;
    let rows4 = rows.div_ceil(4) * 4;
    let scale = 1.0 / (d as f32).sqrt();
    // Q tile of this head, scaled, rows padded with zeros to a multiple of 4.
    for i in 0..rows4 {
        let dst = &mut ws.q[i * d..(i + 1) * d];
        if i < rows {
            for (o, x) in dst.iter_mut().zip(&q[i * row + h * d..i * row + (h + 1) * d]) {
                *o = x * scale;
            }
        } else {
            dst.fill(0.0);
        }
    }
    ws.m[..rows4].fill(f32::NEG_INFINITY);
    ws.l[..rows4].fill(0.0);
    ws.acc[..rows4 * dp].fill(0.0);
    let kt = &kv.kt[h * d * nk_pad..(h + 1) * d * nk_pad];
    let vh = &kv.v[h * nk_pad * dp..(h + 1) * nk_pad * dp];
    let kmax = lim.iter().copied().max().unwrap_or(0);
    let kmin = lim.iter().copied().min().unwrap_or(0);
    let mut kb = 0;
    while kb < kmax {
        let bk = BK.min(kmax - kb);
        let bk16 = round16(bk);
        // Scores s[rows4 × bk16] = q · kᵀ.
        for i in (0..rows4).step_by(4) {
            for j in (0..bk16).step_by(16) {
                let panel = &kt[((kb + j) / 16) * d * 16..];
                micro_4x16::<FMA, false>(d, &ws.q[i * d..], d, panel, 16, &mut ws.s[i * BK + j..], BK);
            }
        }
        // Mask keys beyond each row's limit (and the padding), then the online softmax update.
        let need_mask = kb + bk16 > kmin;
        for i in 0..rows4 {
            let s = &mut ws.s[i * BK..i * BK + bk16];
            if need_mask {
                let li = if i < rows { lim[i] } else { kmax };
                let valid = li.saturating_sub(kb).min(bk16);
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
                continue; // every key so far masked for this row (padding rows only)
            }
            let alpha = exp_approx(ws.m[i] - m_new);
            for x in s.iter_mut() {
                *x = exp_approx(*x - m_new);
            }
            let mut s8 = [0.0f32; 8];
            for c in s.chunks_exact(8) {
                for j in 0..8 {
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
        // acc += p · v.
        for i in (0..rows4).step_by(4) {
            for c in (0..dp).step_by(16) {
                micro_4x16::<FMA, true>(bk16, &ws.s[i * BK..], BK, &vh[kb * dp + c..], dp, &mut ws.acc[i * dp + c..], dp);
            }
        }
        kb += bk;
    }
    for i in 0..rows {
        let inv = 1.0 / ws.l[i];
        let o = &mut out[i * row + h * d..i * row + (h + 1) * d];
        for (o, a) in o.iter_mut().zip(&ws.acc[i * dp..i * dp + d]) {
            *o = a * inv;
        }
    }
}

/// Plain reference attention (materialises scores; for tests).
pub fn attention_naive(q: &[f32], k: &[f32], v: &[f32], nq: usize, nk: usize, heads: usize, d: usize, limit: Option<&[usize]>) -> Vec<f32> {
    let row = heads * d;
    let mut out = vec![0.0f32; nq * row];
    let scale = 1.0 / (d as f64).sqrt();
    for h in 0..heads {
        for i in 0..nq {
            let li = limit.map_or(nk, |l| l[i]);
            let s: Vec<f64> = (0..li)
                .map(|j| (0..d).map(|c| q[i * row + h * d + c] as f64 * k[j * row + h * d + c] as f64).sum::<f64>() * scale)
                .collect();
            let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..d {
                out[i * row + h * d + c] = (0..li).map(|j| e[j] * v[j * row + h * d + c] as f64).sum::<f64>() as f32 / z as f32;
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
        let limit: Option<Vec<usize>> = causal_blocks.map(|b| {
            (0..nq).map(|i| ((nk - nq) + (i / b + 1) * b).min(nk)).collect()
        });
        let want = attention_naive(&q, &k, &v, nq, nk, heads, d, limit.as_deref());
        let kv = PackedKv::pack(&[(&k[..nk / 2 * row], &v[..nk / 2 * row]), (&k[nk / 2 * row..], &v[nk / 2 * row..])], heads, d);
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
