//! A minimal owned f32 tensor and safetensors I/O (F32/F16/BF16 in, F32 out).
//!
//! Reading never panics on a malformed file: header, dtype and size errors name the file and tensor.

use crate::error::{DitError, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// Row-major f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "tensor shape/data mismatch");
        Tensor { shape, data }
    }
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Tensor { shape, data: vec![0.0; n] }
    }
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Named tensors, sorted by name.
pub type TensorMap = BTreeMap<String, Tensor>;

/// Reads every tensor of a safetensors file as f32. Integer tensors (e.g. the goldens' `seq_len`)
/// are converted too (I64/I32), so a case file loads whole.
pub fn load_safetensors(path: &Path) -> Result<TensorMap> {
    let bytes = std::fs::read(path).map_err(|source| DitError::Io { path: path.to_path_buf(), source })?;
    parse_safetensors(&bytes, &path.display().to_string())
}

/// Parses safetensors bytes; `origin` names the source in errors.
pub fn parse_safetensors(bytes: &[u8], origin: &str) -> Result<TensorMap> {
    let st =
        SafeTensors::deserialize(bytes).map_err(|source| DitError::Safetensors { path: origin.to_owned(), source })?;
    let mut out = TensorMap::new();
    for (name, view) in st.iter() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => raw.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => raw.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::I64 => {
                raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect()
            }
            Dtype::I32 => {
                raw.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as f32).collect()
            }
            other => {
                return Err(DitError::Dtype {
                    path: origin.to_owned(),
                    name: name.to_owned(),
                    dtype: format!("{other:?}"),
                })
            }
        };
        let shape = view.shape().to_vec();
        if shape.iter().product::<usize>() != data.len() {
            return Err(DitError::TensorSize { path: origin.to_owned(), name: name.to_owned(), shape });
        }
        out.insert(name.to_owned(), Tensor { shape, data });
    }
    Ok(out)
}

/// Serialises tensors as F32 safetensors bytes (through the `safetensors` crate).
pub fn serialize_safetensors(tensors: &TensorMap) -> Result<Vec<u8>> {
    const ORIGIN: &str = "(serialising)";
    let bytes: Vec<(&str, &[usize], Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| (name.as_str(), t.shape.as_slice(), t.data.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, shape, data) in &bytes {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.to_vec(), data).map_err(|_| {
            DitError::TensorSize { path: ORIGIN.to_owned(), name: (*name).to_owned(), shape: shape.to_vec() }
        })?;
        views.push((*name, view));
    }
    safetensors::serialize(views, None).map_err(|source| DitError::Safetensors { path: ORIGIN.to_owned(), source })
}

/// Writes tensors as an F32 safetensors file.
pub fn save_safetensors(path: &Path, tensors: &TensorMap) -> Result<()> {
    std::fs::write(path, serialize_safetensors(tensors)?)
        .map_err(|source| DitError::Write { path: path.to_path_buf(), source })
}
