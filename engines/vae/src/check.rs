//! `check_decode`: file-in / file-out decode behind `worldflow model check` for the VAE.
//!
//! Inputs (safetensors): `z`, normalised latents `[1, z_dim, T, h, w]` or `[z_dim, T, h, w]` (PyTorch
//! layout), F32. Optional `video` `[3, T', H, W]`: if present the report carries the max |Δ| against it.
//! Output (safetensors): `video` `[3, T', 8h, 8w]` F32, PyTorch layout, as the Wan wrapper returns it.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::config::VaeConfig;
use crate::decoder::VaeDecoder;
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
}

fn read_f32(st: &SafeTensors<'_>, name: &str, path: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
    let Ok(view) = st.tensor(name) else { return Ok(None) };
    if view.dtype() != Dtype::F32 {
        return Err(input_err(name, format!("{path}: expected F32, found {:?}", view.dtype())));
    }
    let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(Some((view.shape().to_vec(), data)))
}

/// Decodes `z` from `inputs_path` with the config (JSON, full or `{"preset": …}`) and weights given,
/// and writes `video` to `out_path`.
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

pub fn check_decode(
    config_path: &Path,
    weights_path: &Path,
    inputs_path: &Path,
    out_path: &Path,
) -> Result<CheckReport> {
    let cfg_text = std::fs::read_to_string(config_path)
        .map_err(|source| VaeError::Io { path: config_path.to_path_buf(), source })?;
    let cfg = VaeConfig::from_json(&cfg_text, &config_path.display().to_string())?;
    let dec = VaeDecoder::from_safetensors(&cfg, weights_path)?;
    let in_name = inputs_path.display().to_string();
    let bytes = read_file(inputs_path)?;
    let st =
        SafeTensors::deserialize(&bytes).map_err(|source| VaeError::Safetensors { path: in_name.clone(), source })?;
    let (shape, z) = read_f32(&st, "z", &in_name)?.ok_or_else(|| input_err("z", format!("{in_name}: missing")))?;
    let dims: [usize; 4] = match shape.as_slice() {
        [1, c, t, h, w] | [c, t, h, w] => [*c, *t, *h, *w],
        other => {
            return Err(input_err("z", format!("{in_name}: expected [1, C, T, H, W] or [C, T, H, W], found {other:?}")))
        }
    };
    check_latent_size(dims, &in_name)?;
    let latents = Video::from_cthw(dims[0], dims[1], dims[2], dims[3], &z, "z")?;
    let video = dec.decode(&latents)?;
    let video_shape = [video.c, video.t, video.h, video.w];
    let cthw = video.to_cthw();
    let max_abs_diff = match read_f32(&st, "video", &in_name)? {
        None => None,
        Some((s, want)) => {
            let s: Vec<usize> = if s.len() == 5 && s[0] == 1 { s[1..].to_vec() } else { s };
            if s != video_shape {
                return Err(input_err("video", format!("{in_name}: expected shape {video_shape:?}, found {s:?}")));
            }
            Some(cthw.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())))
        }
    };
    let bytes_out: Vec<u8> = cthw.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(Dtype::F32, video_shape.to_vec(), &bytes_out)
        .map_err(|source| VaeError::Safetensors { path: out_path.display().to_string(), source })?;
    let out = safetensors::serialize([("video", view)], None)
        .map_err(|source| VaeError::Safetensors { path: out_path.display().to_string(), source })?;
    std::fs::write(out_path, out).map_err(|source| VaeError::Write { path: out_path.to_path_buf(), source })?;
    Ok(CheckReport { latent_shape: [dims[1], dims[2], dims[3]], video_shape, max_abs_diff })
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
