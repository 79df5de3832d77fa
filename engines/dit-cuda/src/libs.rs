//! Finding libcuda, libnvrtc and libcublas at run time, without panicking.
//!
//! cudarc (feature `dynamic-loading`) opens these libraries by name the first time one of their
//! functions is called and panics when it cannot. Every public entry of this crate therefore probes
//! first and answers with a [`CudaError`] naming what is missing. A library given by path
//! (`WORLDFLOW_NVRTC_LIB`, `WORLDFLOW_CUBLAS_LIB`, or the project-local `.cache/` that
//! `scripts/setup.sh` fills) is loaded once and kept loaded: a later open by its soname (what cudarc
//! does) then finds it.

use crate::error::{CudaError, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable: path of a `libnvrtc.so.12` to use.
pub const NVRTC_ENV: &str = "WORLDFLOW_NVRTC_LIB";
/// Environment variable: path of a `libcublas.so.12` to use.
pub const CUBLAS_ENV: &str = "WORLDFLOW_CUBLAS_LIB";

/// Where `scripts/setup.sh` installs NVRTC, relative to the repository root.
pub const NVRTC_CACHE: &str = ".cache/nvrtc/nvidia/cuda_nvrtc/lib/libnvrtc.so.12";
/// Where a pip-installed cuBLAS would be, relative to the repository root (not installed by setup.sh).
pub const CUBLAS_CACHE: &str = ".cache/cublas/nvidia/cublas/lib/libcublas.so.12";

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default()
}

/// Runs a cudarc presence probe; a library that is found but lacks a symbol panics inside cudarc,
/// which becomes `Err(message)`.
fn probe(f: unsafe fn() -> bool) -> std::result::Result<bool, String> {
    // SAFETY: the probe only opens the library and resolves its symbols.
    std::panic::catch_unwind(|| unsafe { f() }).map_err(panic_text)
}

/// Loads `path` and keeps it loaded for the life of the process.
fn preload(path: &Path) -> std::result::Result<(), String> {
    // SAFETY: opening a shared library runs its initialisers; these are NVIDIA's libraries, chosen
    // by the user (environment) or installed by setup.sh.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
    // Never unloaded: the handle is kept (not dropped) for the life of the process.
    let _kept_loaded = std::mem::ManuallyDrop::new(lib);
    Ok(())
}

/// Candidate project-local copies: under the repository this crate was built from, and under the
/// current directory.
fn cache_candidates(relative: &str) -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
    vec![repo, PathBuf::from(relative)]
}

/// How a library was found: by soname on the system, or from a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    System,
    Path(PathBuf),
}

/// Finds a library: `env` (a path; an error if set and unusable), else the system search of cudarc,
/// else the project cache. `Ok(None)` when none is there.
fn find(env: &str, system: unsafe fn() -> bool, cache: &str) -> std::result::Result<Option<Found>, String> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        preload(&p).map_err(|e| format!("{env}={}: {e}", p.display()))?;
        return match probe(system)? {
            true => Ok(Some(Found::Path(p))),
            false => {
                Err(format!("{env}={}: loaded, but not under the name cudarc opens (a .so.12 expected)", p.display()))
            }
        };
    }
    if probe(system)? {
        return Ok(Some(Found::System));
    }
    for p in cache_candidates(cache) {
        if p.is_file() && preload(&p).is_ok() && probe(system)? {
            return Ok(Some(Found::Path(p)));
        }
    }
    Ok(None)
}

/// The NVIDIA driver library (libcuda.so.1); only the system copy is meaningful.
pub fn driver() -> Result<()> {
    static R: OnceLock<std::result::Result<bool, String>> = OnceLock::new();
    match R.get_or_init(|| probe(cudarc::driver::sys::is_culib_present)) {
        Ok(true) => Ok(()),
        Ok(false) => Err(CudaError::NoDriver),
        Err(e) => Err(CudaError::DriverUnusable(e.clone())),
    }
}

/// NVRTC: `WORLDFLOW_NVRTC_LIB`, the system, or `.cache/nvrtc` (scripts/setup.sh).
pub fn nvrtc() -> Result<Found> {
    static R: OnceLock<std::result::Result<Option<Found>, String>> = OnceLock::new();
    let tried = || {
        let cache: Vec<String> = cache_candidates(NVRTC_CACHE).iter().map(|p| p.display().to_string()).collect();
        format!("${NVRTC_ENV}, the system library path, {}", cache.join(", "))
    };
    match R.get_or_init(|| find(NVRTC_ENV, cudarc::nvrtc::sys::is_culib_present, NVRTC_CACHE)) {
        Ok(Some(f)) => Ok(f.clone()),
        Ok(None) => Err(CudaError::NoNvrtc { tried: tried() }),
        Err(e) => Err(CudaError::NoNvrtc { tried: format!("{}: {e}", tried()) }),
    }
}

/// cuBLAS, when present (`WORLDFLOW_CUBLAS_LIB`, the system, `.cache/cublas`); `None` → the backend's
/// own GEMM kernel is used.
pub fn cublas() -> Option<Found> {
    static R: OnceLock<Option<Found>> = OnceLock::new();
    R.get_or_init(|| find(CUBLAS_ENV, cudarc::cublas::sys::is_culib_present, CUBLAS_CACHE).ok().flatten()).clone()
}
