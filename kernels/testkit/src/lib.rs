//! Helpers for the workspace's tests (a dev-dependency only; nothing here ships in a binary).
//!
//! - [`max_rel_err`] / [`assert_close`]: the one comparison the numeric tests use: the largest absolute
//!   difference divided by the largest magnitude of the reference (floored at 1e-6), so a tolerance
//!   reads as "a fraction of the tensor's scale".
//! - [`shared_data`]: finds `../shared/data/<name>` beside the repository (the conformance goldens,
//!   never committed). Without the `CI` variable a missing folder is a skip with a printed reason; with
//!   `CI` set (CI always has `../shared` beside the clone) it is a failure.
//! - [`read_f32_tensors`]: every F32 tensor of a safetensors file, through the `safetensors` crate.
//! - [`project_python`] / [`run_python_check`]: the project's Python venv (`.cache/py`, made by
//!   `scripts/setup.sh`: rosbags, cyclonedds, mcap) and running a committed reference script in it; a missing
//!   venv is a skip without `CI`, a failure with it.
//! - [`netns`]: fake machines on one host (network namespaces joined by veth links, each process with its own
//!   `/dev/shm`) for the fleet tests and benchmarks; needs root: a skip without `CI`, a failure with it.
//! - [`fuzz`]: a seeded mutation fuzzer (panics caught with their input, slow inputs, peak memory).

pub mod fuzz;
pub mod netns;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `max |got − want| / max(max |want|, 1e-6)`. Panics (naming `what`) when the lengths differ;
/// a NaN anywhere in `got` gives NaN, which fails every `<` comparison.
pub fn max_rel_err(what: &str, got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length {} != reference length {}", got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    let mut worst = 0.0f32;
    for (a, b) in got.iter().zip(want) {
        let d = (a - b).abs();
        if d.is_nan() {
            return f32::NAN;
        }
        worst = worst.max(d);
    }
    worst / scale
}

/// Asserts `max_rel_err(got, want) < tolerance` (see the crate header), printing the error found.
/// Returns the error so callers can report it.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tolerance: f32) -> f32 {
    let e = max_rel_err(what, got, want);
    eprintln!("{what}: max rel err {e:.2e} (tolerance {tolerance:.0e})");
    assert!(e < tolerance, "{what}: max rel err {e:.3e} ≥ tolerance {tolerance:.0e}");
    e
}

/// The repository root (the workspace directory), found from this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/data/<name>` relative to the repository root, or `$override_var` when that is set.
/// Returns `None` (after printing why the caller will not run) when the folder, or `marker` inside it,
/// is missing and `CI` is unset; panics when it is missing and `CI` is set.
#[track_caller]
pub fn shared_data(name: &str, override_var: &str, marker: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(override_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data").join(name));
    if dir.join(marker).exists() {
        return Some(dir);
    }
    let why = format!("{} not found (set {override_var} to another folder)", dir.join(marker).display());
    if std::env::var_os("CI").is_some() {
        panic!("CI is set and shared data is missing: {why}");
    }
    println!("SKIP: {why}; without CI set this test does not run");
    None
}

/// The project venv's interpreter, `.cache/py/bin/python`, when it exists and can `import module`. Returns
/// `None` (after printing why the caller will not run) when it cannot, and `CI` is unset; panics when `CI` is set.
#[track_caller]
pub fn project_python(module: &str) -> Option<PathBuf> {
    let python = repo_root().join(".cache/py/bin/python");
    let ok = python.is_file()
        && std::process::Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    let why = format!("{} cannot import {module} (run scripts/setup.sh)", python.display());
    if std::env::var_os("CI").is_some() {
        panic!("CI is set and the project's Python venv is missing: {why}");
    }
    println!("SKIP: {why}; without CI set this test does not run");
    None
}

/// Runs `python script args…`, prints its output and panics (naming `what`) unless it exits 0. Returns stdout.
#[track_caller]
pub fn run_python_check(python: &Path, script: &Path, args: &[&std::ffi::OsStr], what: &str) -> String {
    let out = std::process::Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e}", python.display(), script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{what} ({}):\n{stdout}\n{stderr}", out.status);
    stdout
}

/// A safetensors error or a non-F32 tensor, naming the file and the tensor.
#[derive(Debug)]
pub struct TensorReadError(pub String);

impl std::fmt::Display for TensorReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for TensorReadError {}

/// Tensors by name: (shape, values in row-major order).
pub type F32Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Every tensor of a safetensors file as f32 (F32 only): name → (shape, values).
pub fn read_f32_tensors(path: &Path) -> Result<F32Tensors, TensorReadError> {
    let err = |m: String| TensorReadError(format!("{}: {m}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(err(format!("tensor `{name}`: expected F32, found {:?}", view.dtype())));
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_is_scaled_by_the_reference() {
        assert_eq!(max_rel_err("x", &[1.0, 2.5], &[1.0, 2.0]), 0.25);
        assert!(max_rel_err("x", &[f32::NAN], &[1.0]).is_nan());
        assert_eq!(max_rel_err("zeros", &[0.0], &[0.0]), 0.0);
    }

    #[test]
    #[should_panic(expected = "tolerance")]
    fn assert_close_fails_beyond_tolerance() {
        assert_close("x", &[1.1], &[1.0], 1e-3);
    }
}
