//! Causal 3D convolution with a per-layer frame cache (Wan's `CausalConv3d`).
//!
//! Kernel `kt × k × k` (kt ∈ {1, 3}, k ∈ {1, 3}), spatial zero padding `k / 2`, and *causal* time
//! padding: output frame t sees input frames t−kt+1 ..= t; frames before the start of the stream are
//! zeros. The cache keeps the last `kt − 1` (= 2 = Wan's `CACHE_T`) input frames, so decoding a clip in
//! pieces gives exactly the frames a whole-clip decode gives.
//!
//! Implementation. A 3×3 (×kt) conv runs as Winograd F(2×2, 3×3) (`winograd.rs`): the frames are
//! zero-padded once (to whole 2×2 tiles), the input transform of each present frame is taken band by
//! band of tile rows (bounded memory), then per output frame 16 GEMMs `[cout × kt·cin] · [kt·cin ×
//! tiles]` (the time taps stacked on `k`, the transformed frames read in place) and the output transform
//! with the bias. A 1×1 (×kt) conv is one GEMM per output frame, `[cout × kt·cin] · [kt·cin × H·W]`, the
//! frames read where they lie (one `RowBlock` per time tap). Taps reading frames before the start of
//! the stream are zeros and are left out of `k`.

use rayon::prelude::*;

use crate::tensor::Video;
pub(crate) use crate::winograd::Prep;
use crate::winograd::{input_transform, output_transform, pad_plane, padded_dims, transform_weights};
use worldflow_gemm::{matmul_rows, MatMut, MatRef, RowBlock, KC};

/// Bound on `max(cin, cout) × tiles` of one band of a Winograd conv: its transformed input is 16 values
/// per `cin × tiles` and present frame (2 MiB a frame, 12 MiB for a 4-frame call: within the L3), its
/// transformed output 16 per `cout × tiles`. (16 K, 64 K and 128 K measured equal within noise.)
const BAND_VALUES: usize = 1 << 15;

/// Cached input frames of one causal conv (padded for a 3×3 conv), oldest first, at most `kt − 1`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConvCache {
    frames: Vec<Vec<f32>>,
}

impl ConvCache {
    pub(crate) fn bytes(&self) -> usize {
        self.frames.iter().map(|f| f.len() * 4).sum()
    }

    /// Appends `new` frames and keeps the last `ctx`.
    fn push(&mut self, new: impl IntoIterator<Item = Vec<f32>>, ctx: usize) {
        self.frames.extend(new);
        let drop = self.frames.len().saturating_sub(ctx);
        self.frames.drain(..drop);
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CausalConv3d {
    pub cin: usize,
    pub cout: usize,
    pub kt: usize,
    pub k: usize,
    /// 1×1 kernels: `[cout][kt][cin]`, one row of `kt·cin` weights per output channel.
    /// 3×3 kernels: Winograd-transformed, `[16][cout][kt·cin]` ([`transform_weights`]).
    taps: Vec<f32>,
    bias: Vec<f32>,
}

impl CausalConv3d {
    /// `weight` in PyTorch layout `[cout, cin, kt, k, k]` (a Conv2d `[cout, cin, k, k]` is the kt = 1
    /// case), `k` 1 or 3.
    pub(crate) fn new(cin: usize, cout: usize, kt: usize, k: usize, weight: &[f32], bias: Vec<f32>) -> Self {
        assert!(k == 1 || k == 3, "CausalConv3d: spatial kernel {k}, supported are 1 and 3");
        assert_eq!(weight.len(), cout * cin * kt * k * k, "CausalConv3d: weight size");
        let taps = if k == 3 {
            transform_weights(weight, cin, cout, kt)
        } else {
            let mut taps = vec![0.0f32; weight.len()];
            for co in 0..cout {
                for ci in 0..cin {
                    for dt in 0..kt {
                        taps[(co * kt + dt) * cin + ci] = weight[(co * cin + ci) * kt + dt];
                    }
                }
            }
            taps
        };
        Self { cin, cout, kt, k, taps, bias }
    }

    /// One frame `[cin, h, w]` prepared (`prep`) and zero-padded for the Winograd tiles: `[cin, hp, wp]`
    /// ([`padded_dims`] of the frame the conv sees), the channels in parallel.
    fn pad(&self, frame: &[f32], h: usize, w: usize, prep: Prep) -> Vec<f32> {
        let (hc, wc) = if matches!(prep, Prep::Upsample2x) { (2 * h, 2 * w) } else { (h, w) };
        let (hp, wp) = padded_dims(hc, wc);
        let mut scale = Vec::new();
        if let Prep::Norm { .. } = prep {
            crate::ops::rms_scale(frame, self.cin, h * w, &mut scale);
        }
        let mut out = vec![0.0f32; self.cin * hp * wp];
        out.par_chunks_mut(hp * wp).zip(frame.par_chunks(h * w)).enumerate().for_each(|(ci, (dst, src))| {
            pad_plane(src, ci, h, w, prep, &scale, dst);
        });
        out
    }

    /// Convolves `x` (`cin` channels) given the frames cached from earlier calls, and updates the cache.
    pub(crate) fn forward(&self, x: &Video, cache: &mut ConvCache) -> Video {
        self.forward_prep(x, cache, Prep::Plain)
    }

    /// [`CausalConv3d::forward`] of `x` prepared by `prep` (a norm, an upsampling) on the way into the
    /// padded frames (3×3 kernels only; the cache then holds the prepared frames).
    pub(crate) fn forward_prep(&self, x: &Video, cache: &mut ConvCache, prep: Prep) -> Video {
        assert_eq!(x.c, self.cin, "CausalConv3d: input channels");
        if self.k == 3 {
            self.forward_winograd(x, cache, prep, None)
        } else {
            assert!(matches!(prep, Prep::Plain), "CausalConv3d: a 1×1 conv takes its input as given");
            self.forward_pointwise(x, cache)
        }
    }

    /// `residual + ` [`CausalConv3d::forward_prep`]`(x)`, the conv's output added into `residual`'s
    /// frames in place (no separate output and add pass).
    pub(crate) fn forward_prep_add(&self, x: &Video, cache: &mut ConvCache, prep: Prep, residual: Video) -> Video {
        assert_eq!(x.c, self.cin, "CausalConv3d: input channels");
        if self.k == 3 {
            return self.forward_winograd(x, cache, prep, Some(residual));
        }
        let mut out = self.forward_prep(x, cache, prep);
        assert_eq!((out.t, out.c, out.h, out.w), (residual.t, residual.c, residual.h, residual.w), "residual shape");
        out.data.iter_mut().zip(&residual.data).for_each(|(o, r)| *o += r);
        out
    }

    /// Output frame `t` reads sequence frames `t..t + kt`; the first `missing` of the sequence are
    /// before the stream start (zeros). Returns how many of its taps are left out and its first
    /// present frame (an index into cached ++ new frames).
    fn taps_of(&self, t: usize, missing: usize) -> (usize, usize) {
        let skip = missing.saturating_sub(t).min(self.kt);
        (skip, t + skip - missing)
    }

    fn forward_pointwise(&self, x: &Video, cache: &mut ConvCache) -> Video {
        let (h, w) = (x.h, x.w);
        let ctx = self.kt - 1;
        let missing = ctx - cache.frames.len().min(ctx);
        let present: Vec<&[f32]> = cache.frames.iter().map(Vec::as_slice).chain((0..x.t).map(|t| x.frame(t))).collect();
        let mut out = Video::zeros(x.t, self.cout, h, w);
        let frame_len = out.frame_len();
        let kk = self.kt * self.cin;
        out.data.par_chunks_mut(frame_len).enumerate().for_each(|(t, out)| {
            let (skip, first) = self.taps_of(t, missing);
            let b: Vec<RowBlock> =
                (0..self.kt - skip).map(|dt| RowBlock::new(present[first + dt], h * w, self.cin)).collect();
            let taps = MatRef::new(&self.taps[skip * self.cin..], self.cout, kk - skip * self.cin, kk);
            matmul_rows(MatMut::dense(out, self.cout, h * w), taps, &b, false);
            for (o, b) in out.chunks_exact_mut(h * w).zip(&self.bias) {
                o.iter_mut().for_each(|v| *v += b);
            }
        });
        let keep = x.t.saturating_sub(ctx);
        let new: Vec<Vec<f32>> = (keep..x.t).map(|t| x.frame(t).to_vec()).collect();
        cache.push(new, ctx);
        out
    }

    fn forward_winograd(&self, x: &Video, cache: &mut ConvCache, prep: Prep, residual: Option<Video>) -> Video {
        let (h, w, cin, cout) = match prep {
            Prep::Upsample2x => (2 * x.h, 2 * x.w, self.cin, self.cout),
            _ => (x.h, x.w, self.cin, self.cout),
        };
        let (hp, wp) = padded_dims(h, w);
        let (ty, tx) = (h.div_ceil(2), w.div_ceil(2));
        let ctx = self.kt - 1;
        let padded: Vec<Vec<f32>> = (0..x.t).into_par_iter().map(|t| self.pad(x.frame(t), x.h, x.w, prep)).collect();
        let missing = ctx - cache.frames.len().min(ctx);
        let present: Vec<&[f32]> = cache.frames.iter().chain(&padded).map(Vec::as_slice).collect();
        // Bands of tile rows, as even as the bound allows.
        let max_rows = (BAND_VALUES / (cin.max(cout) * tx)).clamp(1, ty);
        let band_rows = ty.div_ceil(ty.div_ceil(max_rows));
        let np_max = (band_rows * tx).next_multiple_of(16);
        let kk = self.kt * cin;
        // One (frame, channel) of the transformed input: 16 positions of `np` tiles, and one cache line
        // more, so that the GEMM's rows of `b` (that far apart) do not all fall into a few cache sets.
        let v_chunk = |np: usize| 16 * np + 16;
        let mut v = vec![0.0f32; present.len() * cin * v_chunk(np_max)];
        let mut m = vec![0.0f32; 16 * cout * np_max];
        let add = residual.is_some();
        let mut out = residual.unwrap_or_else(|| Video::zeros(x.t, cout, h, w));
        assert_eq!((out.t, out.c, out.h, out.w), (x.t, cout, h, w), "CausalConv3d: residual shape");
        for i0 in (0..ty).step_by(band_rows) {
            let rows = i0..(i0 + band_rows).min(ty);
            let np = (rows.len() * tx).next_multiple_of(16);
            let vs = v_chunk(np);
            let v = &mut v[..present.len() * cin * vs];
            v.par_chunks_mut(vs).enumerate().for_each_init(Vec::new, |scratch, (sc, dst)| {
                let plane = &present[sc / cin][(sc % cin) * hp * wp..][..hp * wp];
                input_transform(plane, wp, tx, rows.clone(), np, dst, scratch);
            });
            let v = &*v;
            for t in 0..x.t {
                let (skip, first) = self.taps_of(t, missing);
                let m = &mut m[..16 * cout * np];
                m.par_chunks_mut(cout * np).enumerate().for_each(|(p, mp)| {
                    let a = MatRef::new(&self.taps[p * cout * kk + skip * cin..], cout, kk - skip * cin, kk);
                    // k in even blocks of at most KC rows (no short last block).
                    let k = kk - skip * cin;
                    let blocks = k.div_ceil(KC);
                    let b: Vec<RowBlock> = (0..blocks)
                        .map(|i| {
                            let (r0, r1) = (k * i / blocks, k * (i + 1) / blocks);
                            RowBlock::new(&v[(first * cin + r0) * vs + p * np..], vs, r1 - r0)
                        })
                        .collect();
                    matmul_rows(MatMut::dense(mp, cout, np), a, &b, false);
                });
                let m = &*m;
                out.frame_mut(t).par_chunks_mut(h * w).enumerate().for_each(|(co, plane)| {
                    output_transform(&m[co * np..], cout * np, tx, rows.clone(), self.bias[co], plane, h, w, add);
                });
            }
        }
        cache.push(padded, ctx);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct 5-loop reference of a causal conv over a whole clip.
    fn naive(conv_w: &[f32], bias: &[f32], cin: usize, cout: usize, kt: usize, k: usize, x: &Video) -> Video {
        let p = (k / 2) as isize;
        let mut out = Video::zeros(x.t, cout, x.h, x.w);
        for t in 0..x.t {
            for co in 0..cout {
                for y in 0..x.h {
                    for xx in 0..x.w {
                        let mut s = bias[co];
                        for ci in 0..cin {
                            for dt in 0..kt {
                                let ti = t as isize + dt as isize - (kt as isize - 1);
                                if ti < 0 {
                                    continue;
                                }
                                for ky in 0..k {
                                    for kx in 0..k {
                                        let yi = y as isize + ky as isize - p;
                                        let xi = xx as isize + kx as isize - p;
                                        if yi < 0 || xi < 0 || yi >= x.h as isize || xi >= x.w as isize {
                                            continue;
                                        }
                                        let wv = conv_w[(((co * cin + ci) * kt + dt) * k + ky) * k + kx];
                                        s += wv
                                            * x.data
                                                [((ti as usize * cin + ci) * x.h + yi as usize) * x.w + xi as usize];
                                    }
                                }
                            }
                        }
                        out.data[((t * cout + co) * x.h + y) * x.w + xx] = s;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_naive_whole_and_chunked() {
        let (cin, cout, kt, k) = (3, 4, 3, 3);
        let mut rng = worldflow_base::SplitMix64::new(1);
        let wv: Vec<f32> = (0..cout * cin * kt * k * k).map(|_| crate::rng::standard_normal(&mut rng) as f32).collect();
        let b: Vec<f32> = (0..cout).map(|_| crate::rng::standard_normal(&mut rng) as f32).collect();
        let x = Video {
            t: 5,
            c: cin,
            h: 4,
            w: 5,
            data: (0..5 * cin * 20).map(|_| crate::rng::standard_normal(&mut rng) as f32).collect(),
        };
        let conv = CausalConv3d::new(cin, cout, kt, k, &wv, b.clone());
        let want = naive(&wv, &b, cin, cout, kt, k, &x);
        let got = conv.forward(&x, &mut ConvCache::default());
        assert!(got.max_abs_diff(&want) < 1e-4, "whole clip {}", got.max_abs_diff(&want));
        // Pieces of 1, 3, 1 frames through the cache.
        let mut cache = ConvCache::default();
        let mut streamed = Video::zeros(0, cout, 4, 5);
        for (a, bnd) in [(0, 1), (1, 4), (4, 5)] {
            streamed.append(&conv.forward(&x.frames(a, bnd), &mut cache)).unwrap();
        }
        assert!(streamed.max_abs_diff(&want) < 1e-4);
    }

    /// A norm (+ SiLU) or a 2× upsampling applied on the way into the padded frames gives what the
    /// conv gives on the prepared video.
    #[test]
    fn prepared_inputs_match_preparing_first() {
        let mut rng = worldflow_base::SplitMix64::new(3);
        let mut normal =
            |n: usize| -> Vec<f32> { (0..n).map(|_| crate::rng::standard_normal(&mut rng) as f32).collect() };
        let (cin, cout, t, h, w) = (5, 4, 3, 6, 7);
        let x = Video { t, c: cin, h, w, data: normal(t * cin * h * w) };
        let gamma: Vec<f32> = normal(cin);
        for (kt, silu) in [(3, true), (1, false)] {
            let conv = CausalConv3d::new(cin, cout, kt, 3, &normal(cout * cin * kt * 9), normal(cout));
            let mut normed = x.clone();
            crate::blocks::norm_video(&mut normed, &gamma, silu);
            let want = conv.forward(&normed, &mut ConvCache::default());
            let got = conv.forward_prep(&x, &mut ConvCache::default(), Prep::Norm { gamma: &gamma, silu });
            assert!(got.max_abs_diff(&want) < 1e-5, "norm kt {kt}: {}", got.max_abs_diff(&want));
            let mut up = Video::zeros(t, cin, 2 * h, 2 * w);
            for f in 0..t {
                up.frame_mut(f).copy_from_slice(&crate::ops::upsample2x(x.frame(f), cin, h, w));
            }
            let want = conv.forward(&up, &mut ConvCache::default());
            let got = conv.forward_prep(&x, &mut ConvCache::default(), Prep::Upsample2x);
            assert!(got.max_abs_diff(&want) < 1e-5, "upsample kt {kt}: {}", got.max_abs_diff(&want));
            let residual = Video { t, c: cout, h: 2 * h, w: 2 * w, data: normal(t * cout * 4 * h * w) };
            let mut want = want;
            want.data.iter_mut().zip(&residual.data).for_each(|(a, r)| *a += r);
            let got = conv.forward_prep_add(&x, &mut ConvCache::default(), Prep::Upsample2x, residual);
            assert!(got.max_abs_diff(&want) < 1e-5, "residual kt {kt}: {}", got.max_abs_diff(&want));
            // Odd width: the edge tiles' writes.
            let residual = Video { t, c: cout, h, w, data: normal(t * cout * h * w) };
            let mut want = conv.forward(&x, &mut ConvCache::default());
            want.data.iter_mut().zip(&residual.data).for_each(|(a, r)| *a += r);
            let got = conv.forward_prep_add(&x, &mut ConvCache::default(), Prep::Plain, residual);
            assert!(got.max_abs_diff(&want) < 1e-5, "odd residual kt {kt}: {}", got.max_abs_diff(&want));
        }
    }

    /// Odd sizes, a 1×1 conv with time taps, a 2D 3×3 conv, and a frame wide enough for several bands.
    #[test]
    fn matches_naive_other_shapes() {
        let mut rng = worldflow_base::SplitMix64::new(2);
        let mut normal =
            |n: usize| -> Vec<f32> { (0..n).map(|_| crate::rng::standard_normal(&mut rng) as f32).collect() };
        for (cin, cout, kt, k, t, h, w) in
            [(3, 5, 3, 3, 4, 5, 3), (4, 3, 3, 1, 4, 3, 4), (2, 3, 1, 3, 2, 6, 7), (4, 4, 3, 3, 3, 160, 1030)]
        {
            let wv = normal(cout * cin * kt * k * k);
            let b = normal(cout);
            let x = Video { t, c: cin, h, w, data: normal(t * cin * h * w) };
            let conv = CausalConv3d::new(cin, cout, kt, k, &wv, b.clone());
            let want = naive(&wv, &b, cin, cout, kt, k, &x);
            let mut cache = ConvCache::default();
            let mut got = conv.forward(&x.frames(0, 1), &mut cache);
            got.append(&conv.forward(&x.frames(1, t), &mut cache)).unwrap();
            let scale = want.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let e = got.max_abs_diff(&want) / scale;
            assert!(e < 1e-5, "cin {cin} cout {cout} kt {kt} k {k} {t}×{h}×{w}: rel err {e}");
        }
    }
}
