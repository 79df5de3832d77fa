//! Wan2.2's residual up block (diffusers `WanResidualUpBlock`): `num_res_blocks + 1` residual blocks,
//! an upsampler that keeps the width (`upsample3d` or `upsample2d`), and around both a parameter-free
//! `DupUp3D` shortcut from the block's input.
//!
//! `DupUp3D(cin → cout, factor_t, factor_s)`: every input channel is repeated `r = cout·ft·fs²/cin`
//! times; channel `j` of the repeated stack, read as `((co·ft + at)·fs + ah)·fs + aw`, becomes output
//! channel `co` at frame `t·ft + at`, pixel `(h·fs + ah, w·fs + aw)`. On the stream's first chunk the
//! first `ft − 1` output frames are dropped, as the main path's `upsample3d` passes the stream's first
//! frame through without doubling it (upstream `first_chunk`); both paths then have `ft·T − (ft − 1)`
//! frames.

use crate::blocks::{Resample, ResidualBlock, SlotCounter, StreamState};
use crate::config::WeightNames;
use crate::tensor::Video;
use crate::weights::WeightLoader;

/// diffusers `DupUp3D`: channel-to-space/time duplication, added onto the main path.
pub(crate) struct DupUp3d {
    cin: usize,
    cout: usize,
    factor_t: usize,
    factor_s: usize,
}

impl DupUp3d {
    fn repeats(&self) -> usize {
        self.cout * self.factor_t * self.factor_s * self.factor_s / self.cin
    }

    /// Adds the shortcut of `x` (`cin` channels) onto `out` (`cout` channels, `factor_s`× the size),
    /// dropping the first `factor_t − 1` frames when `first_chunk`.
    pub(crate) fn add_into(&self, x: &Video, out: &mut Video, first_chunk: bool) {
        let (ft, fs) = (self.factor_t, self.factor_s);
        let drop = if first_chunk { ft - 1 } else { 0 };
        let frames = (x.t * ft).saturating_sub(drop);
        assert_eq!(
            (out.t, out.c, out.h, out.w),
            (frames, self.cout, x.h * fs, x.w * fs),
            "DupUp3D shortcut and main path disagree in shape"
        );
        assert_eq!(x.c, self.cin, "DupUp3D input channels");
        let r = self.repeats();
        let (h, w, w2) = (x.h, x.w, x.w * fs);
        let plane = out.h * out.w;
        for t in 0..x.t {
            for at in 0..ft {
                let Some(ot) = (t * ft + at).checked_sub(drop) else { continue };
                let dst_frame = out.frame_mut(ot);
                for co in 0..self.cout {
                    let dst = &mut dst_frame[co * plane..(co + 1) * plane];
                    for ah in 0..fs {
                        for aw in 0..fs {
                            let j = ((co * ft + at) * fs + ah) * fs + aw;
                            let src = x.frame_channel(t, j / r);
                            for y in 0..h {
                                let drow = &mut dst[(y * fs + ah) * w2..][..w2];
                                for (xx, v) in src[y * w..(y + 1) * w].iter().enumerate() {
                                    drow[xx * fs + aw] += v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) struct ResidualUpBlock {
    resnets: Vec<ResidualBlock>,
    /// The upsampler and the shortcut around the block (absent on the last block).
    up: Option<(Resample, DupUp3d)>,
}

impl ResidualUpBlock {
    /// Keys `{prefix}.resnets.j` and `{prefix}.upsampler.{resample.1, time_conv}` (diffusers names).
    pub(crate) fn load(
        wl: &mut WeightLoader<'_>,
        slots: &mut SlotCounter,
        prefix: &str,
        (cin, cout): (usize, usize),
        num_res_blocks: usize,
        up: Option<bool>,
    ) -> Self {
        let mut c = cin;
        let resnets = (0..num_res_blocks + 1)
            .map(|j| {
                let b =
                    ResidualBlock::load(wl, slots, &format!("{prefix}.resnets.{j}"), c, cout, WeightNames::Diffusers);
                c = cout;
                b
            })
            .collect();
        let up = up.map(|time| {
            let resample = Resample::load(wl, slots, &format!("{prefix}.upsampler"), cout, cout, time);
            (resample, DupUp3d { cin, cout, factor_t: if time { 2 } else { 1 }, factor_s: 2 })
        });
        Self { resnets, up }
    }

    pub(crate) fn forward(&self, x: Video, st: &mut StreamState) -> Video {
        let first_chunk = !st.started;
        let x_in = self.up.as_ref().map(|_| x.clone());
        let mut y = x;
        for r in &self.resnets {
            y = r.forward(y, st);
        }
        if let (Some((resample, shortcut)), Some(x_in)) = (&self.up, x_in) {
            y = resample.forward(y, st);
            shortcut.add_into(&x_in, &mut y, first_chunk);
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// diffusers' `DupUp3D.forward` as its tensor ops: `repeat_interleave(r, dim=1)`, `view(co, ft, fs, fs,
    /// T, H, W)`, `permute(co, T, ft, H, fs, W, fs)` read in order (= `.contiguous().view(co, T·ft, H·fs,
    /// W·fs)`), then `[:, ft-1:]` on the first chunk. Returns `[C, T', H', W']`.
    fn reference(
        x_cthw: &[f32],
        (cin, t, h, w): (usize, usize, usize, usize),
        cout: usize,
        ft: usize,
        fs: usize,
        first: bool,
    ) -> Vec<f32> {
        let r = cout * ft * fs * fs / cin;
        // repeated[j, t, y, x] = x[j / r, t, y, x]; viewed as [co, at, s1, s2, t, y, x].
        let rep = |co: usize, at: usize, s1: usize, s2: usize, ti: usize, y: usize, xx: usize| {
            let j = ((co * ft + at) * fs + s1) * fs + s2;
            x_cthw[((j / r * t + ti) * h + y) * w + xx]
        };
        let mut out = vec![];
        for co in 0..cout {
            for ti in 0..t {
                for at in 0..ft {
                    for y in 0..h {
                        for s1 in 0..fs {
                            for xx in 0..w {
                                for s2 in 0..fs {
                                    out.push(rep(co, at, s1, s2, ti, y, xx));
                                }
                            }
                        }
                    }
                }
            }
        }
        if !first {
            return out;
        }
        let frame = h * fs * w * fs;
        let frames = t * ft;
        (0..cout).flat_map(|co| out[(co * frames + ft - 1) * frame..(co + 1) * frames * frame].to_vec()).collect()
    }

    #[test]
    fn dup_up_matches_the_reshape_chain_and_trims_the_first_chunk() {
        for (cin, cout, ft) in [(4, 2, 2), (4, 4, 2), (6, 3, 1)] {
            let (fs, t, h, w) = (2, 2, 2, 3);
            let x = Video { t, c: cin, h, w, data: (0..t * cin * h * w).map(|i| (i as f32 * 0.37).sin()).collect() };
            let d = DupUp3d { cin, cout, factor_t: ft, factor_s: fs };
            for first in [false, true] {
                let drop = if first { ft - 1 } else { 0 };
                let mut out = Video::zeros(t * ft - drop, cout, h * fs, w * fs);
                d.add_into(&x, &mut out, first);
                let want = reference(&x.to_cthw(), (cin, t, h, w), cout, ft, fs, first);
                assert_eq!(out.to_cthw(), want, "cin {cin} cout {cout} ft {ft} first_chunk {first}");
            }
        }
    }
}
