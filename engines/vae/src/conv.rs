//! Causal 3D convolution with a per-layer frame cache (Wan's `CausalConv3d`).
//!
//! Kernel `kt × k × k` (kt ∈ {1, 3}, k ∈ {1, 3}), spatial zero padding `k / 2`, and *causal* time
//! padding: output frame t sees input frames t−kt+1 ..= t; frames before the start of the stream are
//! zeros. The cache keeps the last `kt − 1` (= 2 = Wan's `CACHE_T`) input frames, so decoding a clip in
//! pieces gives exactly the frames a whole-clip decode gives.
//!
//! Implementation: an implicit im2col. Each input frame is zero-padded once to `[Cin, (H+2p)·(W+2p) + 2p]`;
//! in that flattened layout the input pixel under tap `(ky, kx)` of output pixel `y·Wp + x` sits at a
//! constant offset `ky·Wp + kx`, so row `(tap, ci)` of the im2col matrix is channel `ci` of the tap's
//! frame shifted by that offset — a slice, never copied as a whole. One GEMM per output frame,
//! `[Cout × taps·Cin] · [taps·Cin × H·W]`, reads those rows as one `RowBlock::image` per tap (the W real
//! pixels of each padded row; `worldflow_gemm::matmul_rows` copies them per cache block) and writes the
//! output frame directly; the bias is added in place.

use rayon::prelude::*;

use crate::tensor::Video;
use worldflow_gemm::{matmul_rows, MatMut, MatRef, RowBlock};

/// Cached (padded) input frames of one causal conv, oldest first, at most `kt − 1` of them.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConvCache {
    frames: Vec<Vec<f32>>,
}

impl ConvCache {
    pub(crate) fn bytes(&self) -> usize {
        self.frames.iter().map(|f| f.len() * 4).sum()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CausalConv3d {
    pub cin: usize,
    pub cout: usize,
    pub kt: usize,
    pub k: usize,
    /// `[cout][kt][ky][kx][cin]`: one row of `kt·k·k·cin` weights per output channel.
    taps: Vec<f32>,
    bias: Vec<f32>,
}

impl CausalConv3d {
    /// `weight` in PyTorch layout `[cout, cin, kt, k, k]` (a Conv2d `[cout, cin, k, k]` is the kt = 1 case).
    pub(crate) fn new(cin: usize, cout: usize, kt: usize, k: usize, weight: &[f32], bias: Vec<f32>) -> Self {
        debug_assert_eq!(weight.len(), cout * cin * kt * k * k);
        let mut taps = vec![0.0f32; weight.len()];
        let kk = kt * k * k;
        for co in 0..cout {
            for ci in 0..cin {
                for tap in 0..kk {
                    taps[(co * kk + tap) * cin + ci] = weight[(co * cin + ci) * kk + tap];
                }
            }
        }
        Self { cin, cout, kt, k, taps, bias }
    }

    fn pad(&self, frame: &[f32], h: usize, w: usize) -> Vec<f32> {
        let p = self.k / 2;
        if p == 0 {
            return frame.to_vec();
        }
        let (hp, wp) = (h + 2 * p, w + 2 * p);
        let plane = hp * wp + 2 * p;
        let mut out = vec![0.0f32; self.cin * plane];
        for ci in 0..self.cin {
            for y in 0..h {
                let src = &frame[(ci * h + y) * w..][..w];
                out[ci * plane + (y + p) * wp + p..][..w].copy_from_slice(src);
            }
        }
        out
    }

    /// Convolves `x` (`cin` channels) given the frames cached from earlier calls, and updates the cache.
    pub(crate) fn forward(&self, x: &Video, cache: &mut ConvCache) -> Video {
        debug_assert_eq!(x.c, self.cin);
        let (h, w) = (x.h, x.w);
        let p = self.k / 2;
        let wp = w + 2 * p;
        let plane = if p == 0 { h * w } else { (h + 2 * p) * wp + 2 * p };
        let padded: Vec<Vec<f32>> = (0..x.t).into_par_iter().map(|t| self.pad(x.frame(t), h, w)).collect();
        let ctx = self.kt - 1;
        let prev = &cache.frames;
        let missing = ctx - prev.len().min(ctx);
        let seq = |s: usize| -> Option<&[f32]> {
            if s < missing {
                None
            } else if s < missing + prev.len() {
                Some(&prev[s - missing])
            } else {
                Some(&padded[s - missing - prev.len()])
            }
        };
        let mut out = Video::zeros(x.t, self.cout, h, w);
        let frame_len = out.frame_len();
        out.data.par_chunks_mut(frame_len).enumerate().for_each(|(t, out)| {
            // Taps reading frames before the start of the stream see zeros and are left out: they
            // are the oldest, so the taps kept are a suffix `skip..` of each weight row.
            let kk = self.kt * self.k * self.k;
            let skip = (0..self.kt).take_while(|&dt| seq(t + dt).is_none()).count() * self.k * self.k;
            let b: Vec<RowBlock> = (skip..kk)
                .map(|tap| {
                    let (dt, ky, kx) = (tap / (self.k * self.k), tap / self.k % self.k, tap % self.k);
                    let src = seq(t + dt).expect("frames after the first present one exist");
                    RowBlock::image(&src[ky * wp + kx..], plane, self.cin, w, wp)
                })
                .collect();
            let taps = MatRef::new(&self.taps[skip * self.cin..], self.cout, (kk - skip) * self.cin, kk * self.cin);
            matmul_rows(MatMut::dense(out, self.cout, h * w), taps, &b, false);
            for (o, b) in out.chunks_exact_mut(h * w).zip(&self.bias) {
                o.iter_mut().for_each(|v| *v += b);
            }
        });
        if ctx > 0 {
            let mut all: Vec<Vec<f32>> = std::mem::take(&mut cache.frames);
            all.extend(padded);
            let drop = all.len().saturating_sub(ctx);
            cache.frames = all.split_off(drop);
        }
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
}
