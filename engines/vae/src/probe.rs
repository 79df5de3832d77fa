//! Timing one full-size decoder layer alone, and the arithmetic of a whole decode, so that a full decode
//! on a slow machine can be extrapolated from one layer instead of run (Wan2.2 at 704×1280 is tens of
//! TFLOP per latent).

use crate::blocks::{ResidualBlock, SlotCounter, StreamState};
use crate::config::{VaeConfig, WeightNames};
use crate::conv::ConvCache;
use crate::tensor::Video;
use crate::weights::WeightLoader;

/// One decoder residual block (RMS norm, SiLU, 3×3×3 causal conv, twice, plus the 1×1×1 shortcut when
/// the widths differ) with seeded random weights and its own causal caches.
pub struct ResidualBlockProbe {
    block: ResidualBlock,
    state: StreamState,
    cin: usize,
    cout: usize,
}

impl ResidualBlockProbe {
    pub fn random(cin: usize, cout: usize, seed: u64) -> Self {
        let mut wl = WeightLoader::random(seed, 0.05);
        let mut slots = SlotCounter::default();
        let block = ResidualBlock::load(&mut wl, &mut slots, "probe", cin, cout, WeightNames::Diffusers);
        let state = StreamState { caches: vec![ConvCache::default(); slots.0], started: false };
        Self { block, state, cin, cout }
    }

    /// Runs the block on `x` (`cin` channels), continuing its caches: from the third frame on every
    /// temporal tap is live, as in a stream's steady state.
    pub fn forward(&mut self, x: Video) -> Video {
        assert_eq!(x.c, self.cin, "probe input channels");
        self.block.forward(x, &mut self.state)
    }

    /// Floating-point operations (2 per multiply-add) of one steady-state call on `frames` frames of `h × w`,
    /// counted as a direct convolution (the Winograd 3×3 convs do 16/36 of the 3×3 multiply-adds: a rate
    /// from this count is a direct-equivalent rate).
    pub fn flops(&self, frames: usize, h: usize, w: usize) -> f64 {
        let px = (frames * h * w) as f64;
        let (cin, cout) = (self.cin as f64, self.cout as f64);
        let shortcut = if self.cin != self.cout { cin * cout } else { 0.0 };
        2.0 * px * (27.0 * cin * cout + 27.0 * cout * cout + shortcut)
    }
}

/// Floating-point operations (2 per multiply-add) of decoding one latent in the stream's steady state (4
/// frames out, every temporal tap live) at latent size `h × w`: every conv, the mid-block attention's
/// two products, and the 1×1 projections. Norms, SiLU, upsampling copies and the shortcut additions are
/// left out (memory-bound, a few % at most). Direct-convolution count, as [`ResidualBlockProbe::flops`].
pub fn decode_flops_per_latent(cfg: &VaeConfig, h: usize, w: usize) -> f64 {
    let dims = cfg.decoder_dims();
    let conv = |cin: usize, cout: usize, taps: usize, px: usize| 2.0 * (cin * cout * taps * px) as f64;
    let res = |cin: usize, cout: usize, px: usize| {
        conv(cin, cout, 27, px) + conv(cout, cout, 27, px) + if cin != cout { conv(cin, cout, 1, px) } else { 0.0 }
    };
    let (mut t, mut hh, mut ww) = (1usize, h, w);
    let z = cfg.z_dim;
    let mut f = conv(z, z, 1, h * w) + conv(z, dims[0], 27, h * w);
    let px = h * w;
    f += 2.0 * res(dims[0], dims[0], px) + conv(dims[0], 3 * dims[0], 1, px) + conv(dims[0], dims[0], 1, px);
    f += 2.0 * 2.0 * (px * px * dims[0]) as f64;
    let n = cfg.dim_mult.len();
    let time = cfg.temperal_upsample();
    for i in 0..n {
        let mut cin = if i >= 1 && !cfg.is_residual { dims[i] / 2 } else { dims[i] };
        let cout = dims[i + 1];
        for _ in 0..cfg.num_res_blocks + 1 {
            f += res(cin, cout, t * hh * ww);
            cin = cout;
        }
        if i != n - 1 {
            if time[i] {
                f += conv(cout, 2 * cout, 3, t * hh * ww);
                t *= 2;
            }
            hh *= 2;
            ww *= 2;
            let up_out = if cfg.is_residual { cout } else { cout / 2 };
            f += conv(cout, up_out, 9, t * hh * ww);
        }
    }
    f + conv(dims[n], cfg.out_channels, 27, t * hh * ww)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_model_of_the_released_wan22_decoder() {
        let cfg = VaeConfig::wan2_2();
        // 44×80 latents (704×1280): ≈ 66 TFLOP per latent, dominated by up blocks 2 and 3.
        let f = decode_flops_per_latent(&cfg, 44, 80);
        assert!((60e12..75e12).contains(&f), "{f:e}");
        // Linear in the pixels but for the mid-block attention.
        let small = decode_flops_per_latent(&cfg, 4, 8);
        assert!((f / small / 110.0 - 1.0).abs() < 0.05, "{}", f / small);
        let p = ResidualBlockProbe::random(1024, 512, 0);
        assert_eq!(p.flops(1, 1, 1), 2.0 * (27.0 * 1024.0 * 512.0 + 27.0 * 512.0 * 512.0 + 1024.0 * 512.0));
    }
}
