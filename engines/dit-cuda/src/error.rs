//! Errors of the CUDA backend and the TensorRT runner. Missing libraries and devices are ordinary
//! errors with a sentence saying what is missing, never panics.

use worldflow_dit::DitError;

#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error("CUDA backend: libcuda.so not found (no NVIDIA driver on this machine)")]
    NoDriver,
    #[error("CUDA backend: the NVIDIA driver library could not be used: {0}")]
    DriverUnusable(String),
    #[error("CUDA backend: no CUDA device (the driver reports {count}; device {ordinal} requested)")]
    NoDevice { ordinal: usize, count: usize },
    #[error("CUDA backend: libnvrtc not found (tried {tried}); install the CUDA toolkit's NVRTC, or run `bash scripts/setup.sh` (it installs it into .cache/nvrtc) or set WORLDFLOW_NVRTC_LIB to a libnvrtc.so.12")]
    NoNvrtc { tried: String },
    #[error("CUDA backend: {what}: {source:?}")]
    Driver { what: String, source: cudarc::driver::DriverError },
    #[error("CUDA backend: NVRTC failed to compile the kernels ({options}): {message}\n{log}")]
    Compile { options: String, message: String, log: String },
    #[error("CUDA backend: cuBLAS: {what}: {source:?}")]
    Cublas { what: String, source: cudarc::cublas::result::CublasError },
    #[error("CUDA backend: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Dit(#[from] DitError),
    #[error("TensorRT: {0}")]
    Trt(String),
}

pub type Result<T> = std::result::Result<T, CudaError>;

impl From<CudaError> for DitError {
    fn from(e: CudaError) -> Self {
        match e {
            CudaError::Dit(d) => d,
            other => DitError::Backend(Box::new(other)),
        }
    }
}

/// Maps a driver error, naming the step that failed.
pub(crate) fn driver(what: &str) -> impl FnOnce(cudarc::driver::DriverError) -> CudaError + '_ {
    move |source| CudaError::Driver { what: what.to_owned(), source }
}
