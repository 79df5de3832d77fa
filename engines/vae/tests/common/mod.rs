//! Helpers shared by the integration tests that read goldens (`conformance.rs`, `goldens.rs`):
//! F32 tensors of a safetensors file as videos, and the relative error of two videos of one shape.

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

/// `worldflow_testkit::max_rel_err` of two videos, after checking they have the same shape.
pub fn rel_err(what: &str, got: &Video, want: &Video) -> f32 {
    assert_eq!((got.t, got.c, got.h, got.w), (want.t, want.c, want.h, want.w), "{what}: shape");
    worldflow_testkit::max_rel_err(what, &got.data, &want.data)
}
