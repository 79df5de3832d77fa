//! The backend's CUDA C kernels (`kernels.cu`) and their compilation with NVRTC.

use crate::error::{CudaError, Result};
use crate::libs;
use cudarc::nvrtc::{result, sys};
use std::ffi::CString;

/// The CUDA C source of every kernel.
pub const KERNEL_SOURCE: &str = include_str!("kernels.cu");

/// Every `extern "C"` entry point of [`KERNEL_SOURCE`].
pub const KERNEL_NAMES: &[&str] = &[
    "fill_rows",
    "silu_inplace",
    "gelu_tanh_inplace",
    "add_inplace",
    "add_rows_masked",
    "frame_mod",
    "head_mod",
    "ln_modulate",
    "ln_affine",
    "rmsnorm_inplace",
    "add_gated",
    "rope_inplace",
    "prope_apply",
    "attention",
    "gemm_wt",
];

/// What NVRTC produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// PTX for a virtual architecture, e.g. `compute_70`.
    Ptx(String),
    /// Machine code (CUBIN) for a real architecture, e.g. `sm_90`: loads on any driver of the same
    /// CUDA major version, unlike PTX, which needs a driver at least as new as NVRTC.
    Cubin(String),
}

/// A compiled module image.
#[derive(Clone, Debug)]
pub enum Image {
    Ptx(String),
    Cubin(Vec<u8>),
}

struct Program(sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: created by nvrtcCreateProgram and destroyed once.
        let _ = unsafe { result::destroy_program(self.0) };
    }
}

fn c_chars_to_string(v: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = v.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Compiles [`KERNEL_SOURCE`] for `target`. Needs only NVRTC (no driver, no GPU).
pub fn compile(target: &Target) -> Result<Image> {
    libs::nvrtc()?;
    let arch = match target {
        Target::Ptx(a) | Target::Cubin(a) => a,
    };
    let options = vec![format!("--gpu-architecture={arch}"), "--std=c++14".to_owned()];
    let fail = |message: String, log: String| CudaError::Compile { options: options.join(" "), message, log };
    let src = CString::new(KERNEL_SOURCE).map_err(|e| fail(e.to_string(), String::new()))?;
    let prog = Program(
        result::create_program(&src, Some(c"worldflow_dit_kernels.cu"))
            .map_err(|e| fail(format!("{e:?}"), String::new()))?,
    );
    // SAFETY: `prog` is a live program; options are plain strings.
    if let Err(e) = unsafe { result::compile_program(prog.0, &options) } {
        // SAFETY: as above.
        let log = unsafe { result::get_program_log(prog.0) }.map(|l| c_chars_to_string(&l)).unwrap_or_default();
        return Err(fail(format!("{e:?}"), log));
    }
    match target {
        Target::Ptx(_) => {
            // SAFETY: compiled program.
            let ptx =
                unsafe { result::get_ptx(prog.0) }.map_err(|e| fail(format!("reading PTX: {e:?}"), String::new()))?;
            Ok(Image::Ptx(c_chars_to_string(&ptx)))
        }
        Target::Cubin(_) => {
            let mut size = 0usize;
            // SAFETY: compiled program; `size` is written by NVRTC.
            unsafe { sys::nvrtcGetCUBINSize(prog.0, &mut size) }
                .result()
                .map_err(|e| fail(format!("CUBIN size: {e:?}"), String::new()))?;
            let mut buf = vec![0u8; size];
            // SAFETY: `buf` holds `size` bytes as NVRTC asked.
            unsafe { sys::nvrtcGetCUBIN(prog.0, buf.as_mut_ptr().cast()) }
                .result()
                .map_err(|e| fail(format!("CUBIN: {e:?}"), String::new()))?;
            Ok(Image::Cubin(buf))
        }
    }
}

/// The version of the NVRTC in use, `(major, minor)`.
pub fn nvrtc_version() -> Result<(i32, i32)> {
    libs::nvrtc()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (checked above); both outputs are written.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }.result().map_err(|e| CudaError::Compile {
        options: String::new(),
        message: format!("nvrtcVersion: {e:?}"),
        log: String::new(),
    })?;
    Ok((major, minor))
}
