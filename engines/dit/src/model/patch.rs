//! Patchify / unpatchify between latents [C, F, H, W] and tokens, and the sinusoidal embedding of
//! timesteps and action labels.

use super::request::SeqRequest;
use crate::config::Config;

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

/// diffusers' `Timesteps(flip_sin_to_cos=True, downscale_freq_shift=0)` in f32, as WorldPlay runs it:
/// `ω_j = exp(−ln(10⁴)·j/half)` and `p·ω_j` in f32, then `[cos, sin]`.
pub fn sinusoidal_embedding_f32(dim: usize, position: f32) -> Vec<f32> {
    let half = dim / 2;
    let ln = -(10000f64.ln() as f32);
    let mut out = vec![0.0f32; dim];
    for j in 0..half {
        let a = position * ((ln * j as f32) / half as f32).exp();
        out[j] = (a as f64).cos() as f32;
        out[half + j] = (a as f64).sin() as f32;
    }
    out
}

/// Patchify [C,F,H,W] → [N, C·ph·pw] with feature order (c, ph, pw) like the Conv3d weight.
pub fn patchify(cfg: &Config, r: &SeqRequest) -> Vec<f32> {
    let [_, ph, pw] = cfg.patch_size;
    patchify_grid(r.latents, cfg.in_dim, (r.frames, r.height, r.width), (ph, pw))
}

/// Unpatchify [N, ph·pw·C] (head output, feature order (ph, pw, c)) → [C, F, H, W].
pub fn unpatchify(cfg: &Config, h: &[f32], frames: usize, height: usize, width: usize) -> Vec<f32> {
    let [_, ph, pw] = cfg.patch_size;
    unpatchify_grid(h, cfg.out_dim, (frames, height, width), (ph, pw))
}

/// `x` [C, F, H, W] with `(frames, height, width)` → patch rows [F·H'·W', C·ph·pw], feature order (c, ph, pw).
pub fn patchify_grid(
    x: &[f32],
    c: usize,
    (frames, height, width): (usize, usize, usize),
    (ph, pw): (usize, usize),
) -> Vec<f32> {
    let (gh, gw) = (height / ph, width / pw);
    let feat = c * ph * pw;
    let mut out = vec![0.0f32; frames * gh * gw * feat];
    for f in 0..frames {
        for y in 0..gh {
            for xx in 0..gw {
                let tok = (f * gh + y) * gw + xx;
                for ci in 0..c {
                    for q in 0..ph {
                        for s in 0..pw {
                            out[tok * feat + (ci * ph + q) * pw + s] =
                                x[((ci * frames + f) * height + y * ph + q) * width + xx * pw + s];
                        }
                    }
                }
            }
        }
    }
    out
}

/// Head rows [F·H'·W', ph·pw·C] (feature order (ph, pw, c)) → [C, F, H, W] with `(frames, height, width)`.
pub fn unpatchify_grid(
    h: &[f32],
    c: usize,
    (frames, height, width): (usize, usize, usize),
    (ph, pw): (usize, usize),
) -> Vec<f32> {
    let (gh, gw) = (height / ph, width / pw);
    let feat = c * ph * pw;
    let mut out = vec![0.0f32; c * frames * height * width];
    for f in 0..frames {
        for y in 0..gh {
            for xx in 0..gw {
                let tok = (f * gh + y) * gw + xx;
                for q in 0..ph {
                    for s in 0..pw {
                        for ci in 0..c {
                            out[((ci * frames + f) * height + y * ph + q) * width + xx * pw + s] =
                                h[tok * feat + (q * pw + s) * c + ci];
                        }
                    }
                }
            }
        }
    }
    out
}
