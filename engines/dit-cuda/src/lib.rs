//! CUDA backend of the Wan2.1-family DiT (`worldflow-dit`) and a TensorRT engine-plan runner.
//!
//! * [`CudaDit`] runs the DiT forward on a CUDA device behind the [`worldflow_dit::DitBackend`] seam
//!   (so `ChunkGenerator` and `check_forward_on` drive it unchanged): GEMMs through cuBLAS (or the
//!   crate's own GEMM kernel when libcublas is absent), everything else in CUDA C kernels
//!   (`kernels.cu`) compiled at run time by NVRTC for the device's architecture.
//! * [`TrtPlan`] runs a serialized TensorRT engine through a small C shim (`trt_shim/`) loaded at
//!   run time (`WORLDFLOW_TRT_SHIM`).
//!
//! Nothing is linked at build time: libcuda, libnvrtc, libcublas and the shim are opened when used,
//! and their absence is an error with a sentence saying what is missing (see [`libs`]).

mod check;
mod error;
mod gpu;
pub mod kernels;
pub mod libs;
mod model;
mod trt;
mod weights;

pub use check::check_forward_cuda;
/// The cudarc this crate is built with (device buffers and streams for [`TrtPlan::run_f32`]).
pub use cudarc;
pub use error::{CudaError, Result};
pub use model::CudaDit;
pub use trt::{TrtDataType, TrtPlan, TrtShim, TrtTensor, TRT_ABI_VERSION, TRT_SHIM_ENV};

/// Compute device of the DiT: `cpu` (the default) or `cuda` (`cuda:N` picks device N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

/// A device name that is not `cpu`, `cuda` or `cuda:N` ([`Device`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device `{given}`: expected cpu, cuda or cuda:N")]
pub struct ParseDeviceError {
    pub given: String,
}

impl std::str::FromStr for Device {
    type Err = ParseDeviceError;
    fn from_str(s: &str) -> std::result::Result<Self, ParseDeviceError> {
        match s.trim() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(Device::Cuda(n)),
                _ => Err(ParseDeviceError { given: other.to_owned() }),
            },
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}
