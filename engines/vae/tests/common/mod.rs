//! Helpers shared by the integration tests: reading F32 tensors from safetensors, comparisons.

#![allow(dead_code)]

use safetensors::SafeTensors;
use worldflow_vae::Video;

pub fn tensor(st: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let v = st.tensor(name).unwrap_or_else(|_| panic!("golden lacks `{name}`"));
    assert_eq!(v.dtype(), safetensors::Dtype::F32, "{name}");
    let data = v.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    (v.shape().to_vec(), data)
}

/// Reads `[1, C, T, H, W]` or `[C, T, H, W]` into a frame-major video.
pub fn video(st: &SafeTensors<'_>, name: &str) -> Video {
    let (shape, data) = tensor(st, name);
    let s: Vec<usize> = if shape.len() == 5 { shape[1..].to_vec() } else { shape };
    Video::from_cthw(s[0], s[1], s[2], s[3], &data, name).unwrap()
}

/// max |got − want| / max(max |want|, 1e-6): the "relative" error of the tests.
pub fn rel_err(got: &Video, want: &Video) -> f32 {
    assert_eq!((got.t, got.c, got.h, got.w), (want.t, want.c, want.h, want.w), "shape");
    let scale = want.data.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    got.max_abs_diff(want) / scale
}
