//! TensorRT engine plans through the C shim of `trt_shim/` (TensorRT has only a C++ API).
//!
//! [`TrtShim::open`] loads `libworldflow_trt_shim.so` at run time (a path, or `WORLDFLOW_TRT_SHIM`),
//! checks its ABI version and resolves every entry point; [`TrtPlan::deserialize`] builds the engine
//! and its execution context from plan bytes; [`TrtPlan::run_f32`] binds cudarc device buffers by
//! tensor name and enqueues on a cudarc stream.

use crate::error::{CudaError, Result};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The shim ABI this crate speaks (`WF_TRT_ABI_VERSION` in worldflow_trt_shim.h).
pub const TRT_ABI_VERSION: u32 = 1;
/// Environment variable naming the shim library.
pub const TRT_SHIM_ENV: &str = "WORLDFLOW_TRT_SHIM";
const MAX_DIMS: usize = 8;
const ERR_BYTES: usize = 1024;

type AbiVersionFn = unsafe extern "C" fn() -> u32;
type CreateFn = unsafe extern "C" fn(*const c_void, usize, *mut c_char, usize) -> *mut c_void;
type DestroyFn = unsafe extern "C" fn(*mut c_void);
type NumIoFn = unsafe extern "C" fn(*const c_void) -> i32;
type IoFn = unsafe extern "C" fn(
    *const c_void,
    i32,
    *mut *const c_char,
    *mut i32,
    *mut i32,
    *mut i32,
    *mut i64,
    *mut c_char,
    usize,
) -> i32;
type SetShapeFn = unsafe extern "C" fn(*mut c_void, *const c_char, i32, *const i64, *mut c_char, usize) -> i32;
type ContextShapeFn = unsafe extern "C" fn(*const c_void, *const c_char, *mut i32, *mut i64, *mut c_char, usize) -> i32;
type SetAddressFn = unsafe extern "C" fn(*mut c_void, *const c_char, u64, *mut c_char, usize) -> i32;
type EnqueueFn = unsafe extern "C" fn(*mut c_void, u64, *mut c_char, usize) -> i32;

fn trt(msg: impl Into<String>) -> CudaError {
    CudaError::Trt(msg.into())
}

/// The loaded shim library and its entry points.
pub struct TrtShim {
    path: PathBuf,
    create: CreateFn,
    destroy: DestroyFn,
    num_io: NumIoFn,
    io: IoFn,
    set_shape: SetShapeFn,
    context_shape: ContextShapeFn,
    set_address: SetAddressFn,
    enqueue: EnqueueFn,
    // Declared last: dropped after the function pointers above are no longer reachable.
    _lib: libloading::Library,
}

impl std::fmt::Debug for TrtShim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrtShim({})", self.path.display())
    }
}

impl TrtShim {
    /// Opens the shim at `path`, or at `$WORLDFLOW_TRT_SHIM` when `None`.
    pub fn open(path: Option<&Path>) -> Result<Arc<Self>> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os(TRT_SHIM_ENV).filter(|v| !v.is_empty()) {
                Some(p) => PathBuf::from(p),
                None => {
                    return Err(trt(format!(
                        "no shim: set {TRT_SHIM_ENV} to the path of libworldflow_trt_shim.so (built by engines/dit-cuda/trt_shim/build.sh where TensorRT is installed)"
                    )))
                }
            },
        };
        let shown = path.display().to_string();
        if !path.is_file() {
            return Err(trt(format!("shim {shown}: no such file (build it with engines/dit-cuda/trt_shim/build.sh)")));
        }
        // SAFETY: loading runs the library's initialisers; the user names this library as the shim.
        let lib =
            unsafe { libloading::Library::new(&path) }.map_err(|e| trt(format!("shim {shown}: cannot load: {e}")))?;
        // SAFETY: the symbol is looked up with the type the shim header declares.
        let version: AbiVersionFn = unsafe { lib.get::<AbiVersionFn>(b"wf_trt_abi_version\0") }
            .map(|s| *s)
            .map_err(|_| trt(format!("shim {shown}: not a worldflow TensorRT shim (no wf_trt_abi_version)")))?;
        // SAFETY: a no-argument function returning the version.
        let v = unsafe { version() };
        if v != TRT_ABI_VERSION {
            return Err(trt(format!(
                "shim {shown}: ABI version {v}, this build expects {TRT_ABI_VERSION}: rebuild it with engines/dit-cuda/trt_shim/build.sh"
            )));
        }
        macro_rules! sym {
            ($name:literal, $ty:ty) => {
                // SAFETY: symbol types as declared in worldflow_trt_shim.h of this ABI version.
                unsafe { lib.get::<$ty>(concat!($name, "\0").as_bytes()) }
                    .map(|s| *s)
                    .map_err(|_| trt(format!("shim {shown}: ABI {v} but `{}` missing", $name)))?
            };
        }
        Ok(Arc::new(TrtShim {
            create: sym!("wf_trt_plan_create", CreateFn),
            destroy: sym!("wf_trt_plan_destroy", DestroyFn),
            num_io: sym!("wf_trt_plan_num_io", NumIoFn),
            io: sym!("wf_trt_plan_io", IoFn),
            set_shape: sym!("wf_trt_plan_set_input_shape", SetShapeFn),
            context_shape: sym!("wf_trt_plan_context_shape", ContextShapeFn),
            set_address: sym!("wf_trt_plan_set_address", SetAddressFn),
            enqueue: sym!("wf_trt_plan_enqueue", EnqueueFn),
            path,
            _lib: lib,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Element type of a TensorRT tensor (`nvinfer1::DataType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrtDataType {
    F32,
    F16,
    I8,
    I32,
    Bool,
    U8,
    Fp8,
    Bf16,
    I64,
    Other(i32),
}

impl TrtDataType {
    pub fn from_code(c: i32) -> Self {
        match c {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::I8,
            3 => Self::I32,
            4 => Self::Bool,
            5 => Self::U8,
            6 => Self::Fp8,
            7 => Self::Bf16,
            8 => Self::I64,
            other => Self::Other(other),
        }
    }
}

/// One I/O tensor of a plan; `dims` −1 = dynamic.
#[derive(Clone, Debug, PartialEq)]
pub struct TrtTensor {
    pub name: String,
    pub input: bool,
    pub dtype: TrtDataType,
    pub dims: Vec<i64>,
}

/// A deserialized engine with its execution context.
pub struct TrtPlan {
    shim: Arc<TrtShim>,
    handle: *mut c_void,
    tensors: Vec<TrtTensor>,
}

impl std::fmt::Debug for TrtPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrtPlan").field("shim", &self.shim.path).field("tensors", &self.tensors).finish()
    }
}

struct ErrBuf([u8; ERR_BYTES]);

impl ErrBuf {
    fn new() -> Self {
        ErrBuf([0; ERR_BYTES])
    }
    fn ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr().cast()
    }
    fn text(&self) -> String {
        CStr::from_bytes_until_nul(&self.0).map(|c| c.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

fn cname(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| trt(format!("tensor name {name:?} contains NUL")))
}

impl TrtPlan {
    /// Deserializes `plan` (bytes of a TensorRT engine file) on the CUDA context current on this
    /// thread (e.g. a cudarc `CudaContext` after `bind_to_thread`).
    pub fn deserialize(shim: Arc<TrtShim>, plan: &[u8]) -> Result<Self> {
        if plan.is_empty() {
            return Err(trt("empty plan"));
        }
        let mut err = ErrBuf::new();
        // SAFETY: `plan` is valid for its length; the error buffer for ERR_BYTES.
        let handle = unsafe { (shim.create)(plan.as_ptr().cast(), plan.len(), err.ptr(), ERR_BYTES) };
        if handle.is_null() {
            return Err(trt(format!("deserializing the plan ({} bytes): {}", plan.len(), err.text())));
        }
        let mut p = TrtPlan { shim, handle, tensors: Vec::new() };
        // SAFETY: live handle.
        let n = unsafe { (p.shim.num_io)(p.handle) };
        for i in 0..n.max(0) {
            let (mut name, mut input, mut dtype, mut nb) = (std::ptr::null::<c_char>(), 0i32, 0i32, 0i32);
            let mut dims = [0i64; MAX_DIMS];
            // SAFETY: every output pointer is valid; dims holds MAX_DIMS.
            let rc = unsafe {
                (p.shim.io)(
                    p.handle,
                    i,
                    &mut name,
                    &mut input,
                    &mut dtype,
                    &mut nb,
                    dims.as_mut_ptr(),
                    err.ptr(),
                    ERR_BYTES,
                )
            };
            if rc != 0 || name.is_null() {
                return Err(trt(format!("reading I/O tensor {i}: {}", err.text())));
            }
            // SAFETY: the shim returns a NUL-terminated name owned by the engine.
            let name = unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned();
            let nb = (nb.max(0) as usize).min(MAX_DIMS);
            p.tensors.push(TrtTensor {
                name,
                input: input != 0,
                dtype: TrtDataType::from_code(dtype),
                dims: dims[..nb].to_vec(),
            });
        }
        Ok(p)
    }

    pub fn tensors(&self) -> &[TrtTensor] {
        &self.tensors
    }

    /// Sets the shape of a dynamic input.
    pub fn set_input_shape(&mut self, name: &str, dims: &[i64]) -> Result<()> {
        if dims.len() > MAX_DIMS {
            return Err(trt(format!("{name}: {} dimensions (at most {MAX_DIMS})", dims.len())));
        }
        let (c, mut err) = (cname(name)?, ErrBuf::new());
        // SAFETY: live handle, valid name and dims.
        let rc = unsafe {
            (self.shim.set_shape)(self.handle, c.as_ptr(), dims.len() as i32, dims.as_ptr(), err.ptr(), ERR_BYTES)
        };
        if rc != 0 {
            return Err(trt(err.text()));
        }
        Ok(())
    }

    /// Shape of `name` as resolved by the execution context.
    pub fn context_shape(&self, name: &str) -> Result<Vec<i64>> {
        let (c, mut err) = (cname(name)?, ErrBuf::new());
        let (mut nb, mut dims) = (0i32, [0i64; MAX_DIMS]);
        // SAFETY: live handle; outputs valid.
        let rc = unsafe {
            (self.shim.context_shape)(self.handle, c.as_ptr(), &mut nb, dims.as_mut_ptr(), err.ptr(), ERR_BYTES)
        };
        if rc != 0 {
            return Err(trt(err.text()));
        }
        Ok(dims[..(nb.max(0) as usize).min(MAX_DIMS)].to_vec())
    }

    fn bind(&self, name: &str, address: u64, len: usize) -> Result<()> {
        let t = self.tensors.iter().find(|t| t.name == name).ok_or_else(|| trt(format!("no I/O tensor `{name}`")))?;
        if t.dtype != TrtDataType::F32 {
            return Err(trt(format!("`{name}` is {:?}; run_f32 binds f32 tensors only", t.dtype)));
        }
        let shape = self.context_shape(name)?;
        if shape.iter().any(|&d| d < 0) {
            return Err(trt(format!("`{name}` has unresolved shape {shape:?}: set the dynamic input shapes first")));
        }
        let need: i64 = shape.iter().product();
        if (len as i64) < need {
            return Err(trt(format!("`{name}` needs {need} floats ({shape:?}), the buffer holds {len}")));
        }
        let (c, mut err) = (cname(name)?, ErrBuf::new());
        // SAFETY: live handle; `address` is a device allocation of at least `need` floats.
        let rc = unsafe { (self.shim.set_address)(self.handle, c.as_ptr(), address, err.ptr(), ERR_BYTES) };
        if rc != 0 {
            return Err(trt(err.text()));
        }
        Ok(())
    }

    /// Runs the plan once on `stream`: every I/O tensor must be named exactly once in `inputs` or
    /// `outputs` (f32 device buffers); waits for completion.
    pub fn run_f32(
        &mut self,
        stream: &Arc<CudaStream>,
        inputs: &[(&str, &CudaSlice<f32>)],
        outputs: &mut [(&str, &mut CudaSlice<f32>)],
    ) -> Result<()> {
        for t in &self.tensors {
            let bound = if t.input {
                inputs.iter().filter(|(n, _)| *n == t.name).count()
            } else {
                outputs.iter().filter(|(n, _)| *n == t.name).count()
            };
            if bound != 1 {
                return Err(trt(format!(
                    "{} `{}` bound {bound} times (exactly once needed)",
                    if t.input { "input" } else { "output" },
                    t.name
                )));
            }
        }
        let mut guards = Vec::new();
        for (name, buf) in inputs {
            let (ptr, g) = buf.device_ptr(stream);
            self.bind(name, ptr, buf.len())?;
            guards.push(g);
        }
        for (name, buf) in outputs.iter_mut() {
            let len = buf.len();
            let (ptr, g) = buf.device_ptr_mut(stream);
            self.bind(name, ptr, len)?;
            guards.push(g);
        }
        let mut err = ErrBuf::new();
        // SAFETY: every tensor is bound to a live device buffer of sufficient size; the stream is live.
        let rc = unsafe { (self.shim.enqueue)(self.handle, stream.cu_stream() as u64, err.ptr(), ERR_BYTES) };
        if rc != 0 {
            return Err(trt(format!("enqueue: {}", err.text())));
        }
        stream.synchronize().map_err(|e| trt(format!("running the plan: {e:?}")))?;
        drop(guards);
        Ok(())
    }
}

impl Drop for TrtPlan {
    fn drop(&mut self) {
        // SAFETY: the handle came from wf_trt_plan_create and is destroyed once.
        unsafe { (self.shim.destroy)(self.handle) }
    }
}
