//! `check_decode`: file-in / file-out decode behind `worldflow model check` for the VAE, Wan2.1 or
//! Wan2.2 (the config file says which: see [`crate::VaeConfig::from_json`]).
//!
//! The latents are decoded one by one with the causal caches, as the pipelines stream them.
//!
//! Inputs (safetensors): `z`, normalised latents `[1, z_dim, T, h, w]` or `[z_dim, T, h, w]` (PyTorch
//! layout), F32. Optional references, each compared when present:
//! * `video` `[1?, 3, T', H, W]`: max |Δ| and max |Δ| / max |ref|;
//! * `stream.{i}.{post_quant_conv, decoder, video}` `[1?, C, T, H, W]`: latent i's intermediates (the
//!   decoder's output before unpatchify and clamp), max |Δ| / max |ref| each;
//! * `latents_mean`, `latents_std` `[z_dim]`: must equal the config's (else the case belongs to another
//!   config and the check refuses it).
//!
//! Output (safetensors): `video` `[3, T', s·h, s·w]` F32, PyTorch layout, as the Wan wrapper returns it.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use std::sync::Arc;

use crate::config::VaeConfig;
use crate::decoder::{StreamingDecoder, VaeDecoder};
use crate::error::{input_err, Result, VaeError};
use crate::tensor::Video;
use crate::weights::read_file;

/// What `check_decode` did.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// `[T, h, w]` of the latents.
    pub latent_shape: [usize; 3],
    /// `[3, T', H, W]` of the written video.
    pub video_shape: [usize; 4],
    /// Max |decoded − expected| when the inputs carried an expected `video`.
    pub max_abs_diff: Option<f32>,
    /// Max |decoded − expected| / max |expected| against that `video`.
    pub max_rel_err: Option<f32>,
    /// `(name, max rel err)` for every `stream.{i}.{post_quant_conv, decoder, video}` the inputs carried.
    pub stream_max_rel_err: Vec<(String, f32)>,
    /// The decoder layout ([`VaeConfig::describe`]).
    pub layout: String,
}

/// Max |a − b| / max |b| (NaN when any difference is NaN).
fn rel_err(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, |m, d| {
        if d.is_nan() || m.is_nan() {
            f32::NAN
        } else {
            m.max(d)
        }
    }) / scale
}

/// Compares `got` (frame-major) with reference `name` (`[1?, C, T, H, W]`), if the inputs carry it.
fn compare(st: &SafeTensors<'_>, name: &str, got: &Video, in_name: &str) -> Result<Option<(f32, f32)>> {
    let Some((s, want)) = read_f32(st, name, in_name)? else { return Ok(None) };
    let s: Vec<usize> = if s.len() == 5 && s[0] == 1 { s[1..].to_vec() } else { s };
    let shape = [got.c, got.t, got.h, got.w];
    if s != shape {
        return Err(input_err(name, format!("{in_name}: expected shape {shape:?} ([C, T, H, W]), found {s:?}")));
    }
    let cthw = got.to_cthw();
    let abs = cthw.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    Ok(Some((abs, rel_err(&cthw, &want))))
}

fn read_f32(st: &SafeTensors<'_>, name: &str, path: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
    let Ok(view) = st.tensor(name) else { return Ok(None) };
    if view.dtype() != Dtype::F32 {
        return Err(input_err(name, format!("{path}: expected F32, found {:?}", view.dtype())));
    }
    let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(Some((view.shape().to_vec(), data)))
}

/// The largest input the check decodes: frames, and latent pixels per frame (`h·w`).
pub const MAX_CHECK_LATENT_FRAMES: usize = 64;
pub const MAX_CHECK_LATENT_PIXELS: usize = 16_384;

/// Refuses latents larger than the check decodes, before any work.
fn check_latent_size([_, t, h, w]: [usize; 4], in_name: &str) -> Result<()> {
    if t > MAX_CHECK_LATENT_FRAMES || h.saturating_mul(w) > MAX_CHECK_LATENT_PIXELS {
        return Err(input_err(
            "z",
            format!(
                "{in_name}: {t} latent frames of {h}×{w}: the check decodes at most {MAX_CHECK_LATENT_FRAMES} frames of \
                 {MAX_CHECK_LATENT_PIXELS} latent pixels (the mid-block attention grows with the square of h·w; \
                 Wan 720p is 90×160)"
            ),
        ));
    }
    Ok(())
}

/// Decodes `z` from `inputs_path` latent by latent with the config (JSON: a full `VaeConfig`,
/// `{"preset": …}` or a diffusers `AutoencoderKLWan` config.json) and weights given, compares every
/// reference the inputs carry, and writes `video` to `out_path`.
pub fn check_decode(
    config_path: &Path,
    weights_path: &Path,
    inputs_path: &Path,
    out_path: &Path,
) -> Result<CheckReport> {
    let cfg_text = std::fs::read_to_string(config_path)
        .map_err(|source| VaeError::Io { path: config_path.to_path_buf(), source })?;
    let cfg = VaeConfig::from_json(&cfg_text, &config_path.display().to_string())?;
    let in_name = inputs_path.display().to_string();
    let bytes = read_file(inputs_path)?;
    let st =
        SafeTensors::deserialize(&bytes).map_err(|source| VaeError::Safetensors { path: in_name.clone(), source })?;
    for (name, want) in [("latents_mean", &cfg.latents_mean), ("latents_std", &cfg.latents_std)] {
        if let Some((_, given)) = read_f32(&st, name, &in_name)? {
            let same = given.len() == want.len()
                && given.iter().zip(want).all(|(a, b)| (a - b).abs() <= 1e-6 * b.abs().max(1.0));
            if !same {
                return Err(input_err(
                    name,
                    format!(
                        "{in_name}: the case's {} values differ from the config's {} ({}): the case belongs to another config",
                        given.len(),
                        want.len(),
                        config_path.display()
                    ),
                ));
            }
        }
    }
    let (shape, z) = read_f32(&st, "z", &in_name)?.ok_or_else(|| input_err("z", format!("{in_name}: missing")))?;
    let dims: [usize; 4] = match shape.as_slice() {
        [1, c, t, h, w] | [c, t, h, w] => [*c, *t, *h, *w],
        other => {
            return Err(input_err("z", format!("{in_name}: expected [1, C, T, H, W] or [C, T, H, W], found {other:?}")))
        }
    };
    check_latent_size(dims, &in_name)?;
    let latents = Video::from_cthw(dims[0], dims[1], dims[2], dims[3], &z, "z")?;
    let dec = Arc::new(VaeDecoder::from_safetensors(&cfg, weights_path)?);
    let up = cfg.spatial_upsampling();
    let mut video = Video::zeros(0, 3, latents.h * up, latents.w * up);
    let mut stream_max_rel_err = vec![];
    let mut stream = StreamingDecoder::new(dec);
    for i in 0..latents.t {
        let tr = stream.decode_next_traced(latents.frame(i), latents.h, latents.w)?;
        for (stage, got) in [("post_quant_conv", &tr.post_quant_conv), ("decoder", &tr.decoder), ("video", &tr.video)] {
            let name = format!("stream.{i}.{stage}");
            if let Some((_, rel)) = compare(&st, &name, got, &in_name)? {
                stream_max_rel_err.push((name, rel));
            }
        }
        video.append(&tr.video)?;
    }
    let video_shape = [video.c, video.t, video.h, video.w];
    let (max_abs_diff, max_rel_err) = compare(&st, "video", &video, &in_name)?.unzip();
    let cthw = video.to_cthw();
    let bytes_out: Vec<u8> = cthw.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(Dtype::F32, video_shape.to_vec(), &bytes_out)
        .map_err(|source| VaeError::Safetensors { path: out_path.display().to_string(), source })?;
    let out = safetensors::serialize([("video", view)], None)
        .map_err(|source| VaeError::Safetensors { path: out_path.display().to_string(), source })?;
    std::fs::write(out_path, out).map_err(|source| VaeError::Write { path: out_path.to_path_buf(), source })?;
    Ok(CheckReport {
        latent_shape: [dims[1], dims[2], dims[3]],
        video_shape,
        max_abs_diff,
        max_rel_err,
        stream_max_rel_err,
        layout: cfg.describe(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latents_larger_than_the_check_decodes_are_refused_first() {
        check_latent_size([16, 21, 90, 160], "z.safetensors").unwrap();
        for dims in [[16, 1, 1000, 1000], [16, 65, 8, 8], [16, 1, usize::MAX, 2]] {
            let e = check_latent_size(dims, "z.safetensors").unwrap_err().to_string();
            assert!(e.contains("the check decodes at most 64 frames of 16384 latent pixels"), "{e}");
        }
    }
}
