//! Real checkpoints: a safetensors file, or shards listed by a `*.safetensors.index.json`
//! (`{"weight_map": {tensor: shard file}}`, as Hugging Face writes `model.safetensors.index.json` /
//! `diffusion_pytorch_model.safetensors.index.json`), or a folder holding either.
//!
//! Each tensor is read by itself (seek + read of its byte range) and converted to f32 at once
//! (F32, F16, BF16; I64/I32 for case files), so a file is never held in memory next to its f32
//! copy: the peak is the f32 tensors plus the largest tensor's raw bytes. The header is checked
//! (size, JSON, dtypes, offsets inside the file and matching the shape) before any data is read;
//! errors name the file and tensor.

use crate::error::{DitError, Result};
use crate::tensor::{Tensor, TensorMap};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The largest safetensors header accepted (the format's own limit is 100 MB).
const MAX_HEADER_BYTES: u64 = 100_000_000;

fn bad(path: &Path, message: impl Into<String>) -> DitError {
    DitError::Checkpoint { path: path.to_path_buf(), message: message.into() }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DitError + '_ {
    move |source| DitError::Io { path: path.to_path_buf(), source }
}

#[derive(Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// One tensor's place in a file.
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    begin: u64,
    end: u64,
}

/// Bytes per element of a supported dtype.
fn dtype_size(dtype: &str) -> Option<u64> {
    match dtype {
        "F32" | "I32" => Some(4),
        "F16" | "BF16" => Some(2),
        "I64" => Some(8),
        _ => None,
    }
}

fn to_f32(dtype: &str, raw: &[u8]) -> Vec<f32> {
    match dtype {
        "F32" => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        "F16" => raw.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        "BF16" => raw.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        "I64" => raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect(),
        "I32" => raw.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as f32).collect(),
        other => unreachable!("dtype {other} was checked in the header"),
    }
}

/// Reads and checks the header of `path`: every tensor's dtype, shape and absolute byte range.
fn read_header(path: &Path, file: &mut File) -> Result<BTreeMap<String, Entry>> {
    let file_len = file.metadata().map_err(io(path))?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|_| bad(path, format!("{file_len} bytes: too short for a safetensors header")))?;
    let n = u64::from_le_bytes(len_bytes);
    if n > MAX_HEADER_BYTES || 8 + n > file_len {
        return Err(bad(path, format!("header length {n} does not fit the {file_len}-byte file")));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(io(path))?;
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(path, format!("header is not a JSON object: {e}")))?;
    let data_start = 8 + n;
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let e: HeaderEntry =
            serde_json::from_value(value).map_err(|e| bad(path, format!("tensor `{name}`: header entry: {e}")))?;
        let size = dtype_size(&e.dtype).ok_or_else(|| DitError::Dtype {
            path: path.display().to_string(),
            name: name.clone(),
            dtype: e.dtype.clone(),
        })?;
        let numel = e.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let [b, end] = e.data_offsets;
        let fits = numel.and_then(|n| n.checked_mul(size)) == Some(end.wrapping_sub(b))
            && b <= end
            && data_start.checked_add(end).is_some_and(|x| x <= file_len);
        if !fits {
            return Err(bad(
                path,
                format!(
                    "tensor `{name}`: {} {:?} does not match byte range {b}..{end} of a {file_len}-byte file",
                    e.dtype, e.shape
                ),
            ));
        }
        out.insert(name, Entry { dtype: e.dtype, shape: e.shape, begin: data_start + b, end: data_start + end });
    }
    Ok(out)
}

/// Reads the tensors of one safetensors file accepted by `keep`, one tensor at a time, as f32.
fn read_file_filtered(path: &Path, keep: &dyn Fn(&str) -> bool) -> Result<TensorMap> {
    let mut file = File::open(path).map_err(io(path))?;
    let entries = read_header(path, &mut file)?;
    let mut out = TensorMap::new();
    let mut raw = Vec::new();
    for (name, e) in entries.into_iter().filter(|(n, _)| keep(n)) {
        raw.resize((e.end - e.begin) as usize, 0);
        file.seek(SeekFrom::Start(e.begin)).map_err(io(path))?;
        file.read_exact(&mut raw).map_err(io(path))?;
        let data = to_f32(&e.dtype, &raw);
        out.insert(name, Tensor { shape: e.shape, data });
    }
    Ok(out)
}

/// Every tensor of one safetensors file as f32, read tensor by tensor.
pub fn read_safetensors_file(path: &Path) -> Result<TensorMap> {
    read_file_filtered(path, &|_| true)
}

#[derive(Deserialize)]
struct Index {
    weight_map: BTreeMap<String, String>,
}

/// The tensors a shard index names, each read from its shard (relative to the index's folder).
pub fn read_sharded(index_path: &Path) -> Result<TensorMap> {
    let text = std::fs::read_to_string(index_path).map_err(io(index_path))?;
    let index: Index = serde_json::from_str(&text)
        .map_err(|e| bad(index_path, format!("not a shard index with a `weight_map` object: {e}")))?;
    let dir = index_path.parent().unwrap_or(Path::new("."));
    let mut by_shard: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (tensor, shard) in &index.weight_map {
        if shard.contains('/') || shard.contains('\\') || shard == ".." {
            return Err(bad(
                index_path,
                format!("tensor `{tensor}`: shard `{shard}` is not a file name in this folder"),
            ));
        }
        by_shard.entry(shard).or_default().push(tensor);
    }
    let mut out = TensorMap::new();
    for (shard, names) in by_shard {
        let shard_path = dir.join(shard);
        let wanted: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        let got = read_file_filtered(&shard_path, &|n| wanted.contains(n))?;
        if let Some(missing) = names.iter().find(|n| !got.contains_key(**n)) {
            return Err(bad(
                &shard_path,
                format!("tensor `{missing}` is listed in {} but not in this shard", index_path.display()),
            ));
        }
        out.extend(got);
    }
    Ok(out)
}

/// The file a checkpoint path means: the path itself when it is a file; in a folder, the one
/// `*.safetensors.index.json`, else the one `*.safetensors`.
pub fn checkpoint_file(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io(path))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let ends = |p: &PathBuf, s: &str| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(s));
    for suffix in [".safetensors.index.json", ".safetensors"] {
        let found: Vec<&PathBuf> = names.iter().filter(|p| ends(p, suffix)).collect();
        match found.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => continue,
            many => {
                return Err(bad(path, format!("{} `*{suffix}` files; name the one to load: {many:?}", many.len())));
            }
        }
    }
    Err(bad(path, "holds neither a `*.safetensors.index.json` nor a `*.safetensors` file"))
}

/// Loads a checkpoint (file, shard index or folder, see [`checkpoint_file`]) as f32 tensors.
pub fn load_checkpoint(path: &Path) -> Result<TensorMap> {
    let file = checkpoint_file(path)?;
    if file.extension().is_some_and(|e| e == "json") {
        read_sharded(&file)
    } else {
        read_safetensors_file(&file)
    }
}
