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

/// Writes `tensors` (f32 values) as a safetensors file of `dtype` (F32, F16 or BF16), rounding to nearest.
#[allow(dead_code, reason = "not every test file writes checkpoints")]
pub fn write_safetensors(
    path: &std::path::Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    dtype: safetensors::Dtype,
) {
    use safetensors::Dtype;
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, d)| match dtype {
            Dtype::F32 => d.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::F16 => d.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
            Dtype::BF16 => d.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect(),
            other => panic!("write_safetensors: {other:?} not supported"),
        })
        .collect();
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| (n.as_str(), safetensors::tensor::TensorView::new(dtype, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// Every tensor of an F32 safetensors file: `(name, shape, values)`.
#[allow(dead_code, reason = "not every test file reads whole checkpoints")]
pub fn all_tensors(st: &SafeTensors<'_>) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let (s, d) = tensor(st, &n);
            (n, s, d)
        })
        .collect()
}
