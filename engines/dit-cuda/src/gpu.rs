//! One CUDA device: context, stream, cuBLAS handle (or the fallback GEMM kernel) and the compiled
//! kernels, with a typed launcher per kernel. Buffers are `CudaSlice<f32>` [rows, cols] row-major.

use crate::error::{driver, CudaError, Result};
use crate::kernels::{self, Image, Target, KERNEL_NAMES};
use crate::libs;
use cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::sync::Arc;

const ROW_THREADS: u32 = 256;
const ELEMENT_THREADS: u32 = 256;
const ATT_THREADS: u32 = 128;
/// Largest head dim the attention kernel holds (`ATT_MAX_HEAD_DIM` in kernels.cu).
pub const MAX_HEAD_DIM: usize = 256;
const GEMM_TILE: u32 = 16;

/// A size as a kernel's `int` argument.
pub(crate) fn int(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| CudaError::Unsupported(format!("size {n} exceeds the kernels' 32-bit indexing")))
}

fn elementwise(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(ELEMENT_THREADS as usize).clamp(1, 65_535) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (ELEMENT_THREADS, 1, 1), shared_mem_bytes: 0 }
}

fn per_row(rows: usize) -> Result<LaunchConfig> {
    Ok(LaunchConfig { grid_dim: (int(rows)? as u32, 1, 1), block_dim: (ROW_THREADS, 1, 1), shared_mem_bytes: 0 })
}

/// A linear layer on the device: `w` [out, in] (PyTorch layout), optional bias [out].
pub(crate) struct DevLinear {
    pub w: CudaSlice<f32>,
    pub b: Option<CudaSlice<f32>>,
    pub inp: usize,
    pub out: usize,
}

pub(crate) struct Gpu {
    pub stream: Arc<CudaStream>,
    blas: Option<CudaBlas>,
    funcs: HashMap<&'static str, CudaFunction>,
    /// e.g. `cuda:0 (NVIDIA H100 80GB HBM3, sm_90, cuBLAS)`.
    pub label: String,
}

impl Gpu {
    /// Opens device `ordinal`: driver, context, kernels (NVRTC → CUBIN for the device), cuBLAS if present.
    pub fn new(ordinal: usize) -> Result<Self> {
        libs::driver()?;
        let count = match CudaContext::device_count() {
            Ok(c) => c.max(0) as usize,
            Err(e) if e.0 == cudarc::driver::sys::cudaError_enum::CUDA_ERROR_NO_DEVICE => 0,
            Err(e) => return Err(driver("initialising the driver (cuInit)")(e)),
        };
        if ordinal >= count {
            return Err(CudaError::NoDevice { ordinal, count });
        }
        let ctx = CudaContext::new(ordinal).map_err(driver("creating the context"))?;
        let (major, minor) = ctx.compute_capability().map_err(driver("reading the compute capability"))?;
        let arch = format!("sm_{major}{minor}");
        let cubin = match kernels::compile(&Target::Cubin(arch.clone()))? {
            Image::Cubin(b) => b,
            Image::Ptx(_) => return Err(CudaError::Unsupported("NVRTC returned PTX where a CUBIN was asked".into())),
        };
        let module = ctx.load_module(Ptx::from_binary(cubin)).map_err(driver("loading the kernels"))?;
        let mut funcs = HashMap::new();
        for &name in KERNEL_NAMES {
            funcs.insert(name, module.load_function(name).map_err(driver(name))?);
        }
        let stream = ctx.default_stream();
        let blas = match libs::cublas() {
            Some(_) => Some(
                CudaBlas::new(stream.clone())
                    .map_err(|source| CudaError::Cublas { what: "creating the handle".into(), source })?,
            ),
            None => None,
        };
        let name = ctx.name().unwrap_or_else(|_| "unknown device".into());
        let gemm = if blas.is_some() { "cuBLAS" } else { "kernel GEMM (no libcublas)" };
        Ok(Gpu { stream, blas, funcs, label: format!("cuda:{ordinal} ({name}, {arch}, {gemm})") })
    }

    /// Forces the fallback GEMM kernel (tests compare it with cuBLAS).
    pub fn drop_cublas(&mut self) {
        self.blas = None;
        self.label = self.label.replace("cuBLAS", "kernel GEMM (forced)");
    }

    fn func(&self, name: &str) -> Result<&CudaFunction> {
        self.funcs.get(name).ok_or_else(|| CudaError::Unsupported(format!("kernel `{name}` not loaded")))
    }

    pub fn upload(&self, host: &[f32]) -> Result<CudaSlice<f32>> {
        if host.is_empty() {
            return self.zeros(0);
        }
        self.stream.clone_htod(host).map_err(driver("copying to the device"))
    }

    pub fn upload_i32(&self, host: &[i32]) -> Result<CudaSlice<i32>> {
        self.stream.clone_htod(host).map_err(driver("copying to the device"))
    }

    pub fn zeros(&self, n: usize) -> Result<CudaSlice<f32>> {
        self.stream.alloc_zeros::<f32>(n.max(1)).map_err(driver("allocating device memory"))
    }

    pub fn download(&self, dev: &CudaSlice<f32>, n: usize) -> Result<Vec<f32>> {
        let mut v = self.stream.clone_dtoh(dev).map_err(driver("copying from the device"))?;
        v.truncate(n);
        Ok(v)
    }

    pub fn copy(&self, src: &CudaSlice<f32>) -> Result<CudaSlice<f32>> {
        self.stream.clone_dtod(src).map_err(driver("copying on the device"))
    }

    /// Concatenates host segments (each a whole number of rows) and then a device tail into one
    /// buffer of `rows_total · cols`.
    pub fn concat(
        &self,
        host: &[&[f32]],
        tail: &CudaSlice<f32>,
        tail_len: usize,
        total: usize,
    ) -> Result<CudaSlice<f32>> {
        let mut out = self.zeros(total)?;
        let mut off = 0;
        for seg in host {
            if seg.is_empty() {
                continue;
            }
            let end = off + seg.len();
            if end > total {
                return Err(CudaError::Unsupported("cached keys/values larger than announced".into()));
            }
            self.stream.memcpy_htod(*seg, &mut out.slice_mut(off..end)).map_err(driver("copying the KV cache"))?;
            off = end;
        }
        if off + tail_len != total {
            return Err(CudaError::Unsupported(format!("KV cache holds {off} values, expected {}", total - tail_len)));
        }
        self.stream
            .memcpy_dtod(&tail.slice(0..tail_len), &mut out.slice_mut(off..total))
            .map_err(driver("copying keys/values"))?;
        Ok(out)
    }

    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(driver("running the kernels"))
    }

    /// `out[rows, lin.out] = x[rows, lin.inp] · Wᵀ + b`.
    pub fn linear(&self, x: &CudaSlice<f32>, rows: usize, lin: &DevLinear) -> Result<CudaSlice<f32>> {
        let mut out = self.zeros(rows * lin.out)?;
        let accumulate = match &lin.b {
            Some(b) => {
                self.fill_rows(&mut out, b, rows, lin.out)?;
                true
            }
            None => false,
        };
        self.gemm_wt(x, rows, lin.inp, &lin.w, lin.out, &mut out, accumulate)?;
        Ok(out)
    }

    /// `out[m, n] (+)= x[m, k] · w[n, k]ᵀ`, all row-major. cuBLAS is column-major: row-major `out` is
    /// column-major `outᵀ` [n, m] = `w · xᵀ`, i.e. `op(A) = wᵀ` seen column-major (A = w, lda k,
    /// transposed) times `B = xᵀ` (B = x, ldb k, not transposed), ldc n.
    #[allow(
        clippy::too_many_arguments,
        reason = "the shape and strides of one cuBLAS call, named as cuBLAS names them"
    )]
    pub fn gemm_wt(
        &self,
        x: &CudaSlice<f32>,
        m: usize,
        k: usize,
        w: &CudaSlice<f32>,
        n: usize,
        out: &mut CudaSlice<f32>,
        accumulate: bool,
    ) -> Result<()> {
        if m == 0 || n == 0 {
            return Ok(());
        }
        let (mi, ni, ki) = (int(m)?, int(n)?, int(k)?);
        match &self.blas {
            Some(blas) => {
                let cfg = GemmConfig {
                    transa: cublasOperation_t::CUBLAS_OP_T,
                    transb: cublasOperation_t::CUBLAS_OP_N,
                    m: ni,
                    n: mi,
                    k: ki,
                    alpha: 1.0f32,
                    lda: ki,
                    ldb: ki,
                    beta: if accumulate { 1.0 } else { 0.0 },
                    ldc: ni,
                };
                // SAFETY: w holds n·k, x m·k and out m·n floats (allocated by the callers with these sizes).
                unsafe { blas.gemm(cfg, w, x, out) }
                    .map_err(|source| CudaError::Cublas { what: format!("sgemm {m}×{k}·{k}×{n}"), source })
            }
            None => {
                let f = self.func("gemm_wt")?;
                let cfg = LaunchConfig {
                    grid_dim: ((n as u32).div_ceil(GEMM_TILE), (m as u32).div_ceil(GEMM_TILE), 1),
                    block_dim: (GEMM_TILE, GEMM_TILE, 1),
                    shared_mem_bytes: 0,
                };
                let acc = accumulate as i32;
                let mut b = self.stream.launch_builder(f);
                b.arg(x).arg(w).arg(out).arg(&mi).arg(&ni).arg(&ki).arg(&acc);
                // SAFETY: sizes as above; the kernel bounds-checks every index.
                unsafe { b.launch(cfg) }.map(|_| ()).map_err(driver("gemm_wt"))
            }
        }
    }

    pub fn fill_rows(&self, out: &mut CudaSlice<f32>, bias: &CudaSlice<f32>, rows: usize, cols: usize) -> Result<()> {
        let (r, c) = (int(rows)?, int(cols)?);
        let mut b = self.stream.launch_builder(self.func("fill_rows")?);
        b.arg(out).arg(bias).arg(&r).arg(&c);
        // SAFETY: out holds rows·cols, bias cols floats.
        unsafe { b.launch(elementwise(rows * cols)) }.map(|_| ()).map_err(driver("fill_rows"))
    }

    /// `silu_inplace`, `gelu_tanh_inplace`.
    pub fn unary(&self, name: &'static str, x: &mut CudaSlice<f32>, n: usize) -> Result<()> {
        let ni = int(n)?;
        let mut b = self.stream.launch_builder(self.func(name)?);
        b.arg(x).arg(&ni);
        // SAFETY: x holds n floats.
        unsafe { b.launch(elementwise(n)) }.map(|_| ()).map_err(driver(name))
    }

    pub fn add(&self, x: &mut CudaSlice<f32>, y: &CudaSlice<f32>, n: usize) -> Result<()> {
        let ni = int(n)?;
        let mut b = self.stream.launch_builder(self.func("add_inplace")?);
        b.arg(x).arg(y).arg(&ni);
        // SAFETY: x and y hold n floats.
        unsafe { b.launch(elementwise(n)) }.map(|_| ()).map_err(driver("add_inplace"))
    }

    pub fn add_rows_masked(
        &self,
        e: &mut CudaSlice<f32>,
        a: &CudaSlice<f32>,
        mask: &CudaSlice<i32>,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        let (r, c) = (int(rows)?, int(cols)?);
        let mut b = self.stream.launch_builder(self.func("add_rows_masked")?);
        b.arg(e).arg(a).arg(mask).arg(&r).arg(&c);
        // SAFETY: e and a hold rows·cols floats, mask rows ints.
        unsafe { b.launch(elementwise(rows * cols)) }.map(|_| ()).map_err(driver("add_rows_masked"))
    }

    /// `frame_mod` (width 6·dim) or `head_mod` (width 2·dim, `e` [frames, dim]).
    pub fn modulation(
        &self,
        name: &'static str,
        table: &CudaSlice<f32>,
        e: &CudaSlice<f32>,
        frames: usize,
        width: usize,
    ) -> Result<CudaSlice<f32>> {
        let total = if name == "head_mod" { frames * 2 * width } else { frames * width };
        let mut out = self.zeros(total)?;
        let (f, w) = (int(frames)?, int(width)?);
        let mut b = self.stream.launch_builder(self.func(name)?);
        b.arg(&mut out).arg(table).arg(e).arg(&f).arg(&w);
        // SAFETY: sizes as documented in kernels.cu.
        unsafe { b.launch(elementwise(total)) }.map_err(driver(name))?;
        Ok(out)
    }

    /// LayerNorm(x)(1 + scale) + shift with shift/scale taken from `modulation` rows per frame.
    #[allow(clippy::too_many_arguments, reason = "the buffers and sizes one kernel launch takes")]
    pub fn ln_modulate(
        &self,
        x: &CudaSlice<f32>,
        modulation: &CudaSlice<f32>,
        mod_stride: usize,
        shift_off: usize,
        scale_off: usize,
        tpf: usize,
        n: usize,
        d: usize,
        eps: f32,
    ) -> Result<CudaSlice<f32>> {
        let mut out = self.zeros(n * d)?;
        let (ms, so, sc, t, di) = (int(mod_stride)?, int(shift_off)?, int(scale_off)?, int(tpf)?, int(d)?);
        let mut b = self.stream.launch_builder(self.func("ln_modulate")?);
        b.arg(x).arg(&mut out).arg(modulation).arg(&ms).arg(&so).arg(&sc).arg(&t).arg(&di).arg(&eps);
        // SAFETY: x/out hold n·d floats, modulation (n/tpf)·mod_stride.
        unsafe { b.launch(per_row(n)?) }.map_err(driver("ln_modulate"))?;
        Ok(out)
    }

    pub fn ln_affine(
        &self,
        x: &CudaSlice<f32>,
        w: &CudaSlice<f32>,
        bias: &CudaSlice<f32>,
        n: usize,
        d: usize,
        eps: f32,
    ) -> Result<CudaSlice<f32>> {
        let mut out = self.zeros(n * d)?;
        let di = int(d)?;
        let mut b = self.stream.launch_builder(self.func("ln_affine")?);
        b.arg(x).arg(&mut out).arg(w).arg(bias).arg(&di).arg(&eps);
        // SAFETY: x/out hold n·d floats, w and bias d.
        unsafe { b.launch(per_row(n)?) }.map_err(driver("ln_affine"))?;
        Ok(out)
    }

    pub fn rmsnorm(&self, x: &mut CudaSlice<f32>, w: &CudaSlice<f32>, n: usize, d: usize, eps: f32) -> Result<()> {
        let di = int(d)?;
        let mut b = self.stream.launch_builder(self.func("rmsnorm_inplace")?);
        b.arg(x).arg(w).arg(&di).arg(&eps);
        // SAFETY: x holds n·d floats, w d.
        unsafe { b.launch(per_row(n)?) }.map(|_| ()).map_err(driver("rmsnorm_inplace"))
    }

    #[allow(clippy::too_many_arguments, reason = "the buffers and sizes one kernel launch takes")]
    pub fn add_gated(
        &self,
        x: &mut CudaSlice<f32>,
        y: &CudaSlice<f32>,
        modulation: &CudaSlice<f32>,
        mod_stride: usize,
        gate_off: usize,
        tpf: usize,
        n: usize,
        d: usize,
    ) -> Result<()> {
        let (ms, go, t, di, ni) = (int(mod_stride)?, int(gate_off)?, int(tpf)?, int(d)?, int(n)?);
        let mut b = self.stream.launch_builder(self.func("add_gated")?);
        b.arg(x).arg(y).arg(modulation).arg(&ms).arg(&go).arg(&t).arg(&di).arg(&ni);
        // SAFETY: x/y hold n·d floats.
        unsafe { b.launch(elementwise(n * d)) }.map(|_| ()).map_err(driver("add_gated"))
    }

    pub fn rope(
        &self,
        x: &mut CudaSlice<f32>,
        cos: &CudaSlice<f32>,
        sin: &CudaSlice<f32>,
        n: usize,
        heads: usize,
        half: usize,
    ) -> Result<()> {
        let (ni, h, hf) = (int(n)?, int(heads)?, int(half)?);
        let mut b = self.stream.launch_builder(self.func("rope_inplace")?);
        b.arg(x).arg(cos).arg(sin).arg(&ni).arg(&h).arg(&hf);
        // SAFETY: x holds n·heads·2·half floats, cos/sin n·half.
        unsafe { b.launch(elementwise(n * heads * half)) }.map(|_| ()).map_err(driver("rope_inplace"))
    }

    pub fn prope(
        &self,
        x: &mut CudaSlice<f32>,
        mats: &CudaSlice<f32>,
        n: usize,
        d: usize,
        tpf: usize,
        transpose: bool,
    ) -> Result<()> {
        let (ni, di, t, tr) = (int(n)?, int(d)?, int(tpf)?, transpose as i32);
        let mut b = self.stream.launch_builder(self.func("prope_apply")?);
        b.arg(x).arg(mats).arg(&ni).arg(&di).arg(&t).arg(&tr);
        // SAFETY: x holds n·d floats, mats 16 per frame.
        unsafe { b.launch(elementwise(n * d / 4)) }.map(|_| ()).map_err(driver("prope_apply"))
    }

    /// `softmax(q kᵀ/√hd) v` per head; query `i` sees keys `0..limit[i]`.
    #[allow(clippy::too_many_arguments, reason = "the buffers and sizes one kernel launch takes")]
    pub fn attention(
        &self,
        q: &CudaSlice<f32>,
        k: &CudaSlice<f32>,
        v: &CudaSlice<f32>,
        limit: &CudaSlice<i32>,
        nq: usize,
        nk: usize,
        heads: usize,
        hd: usize,
    ) -> Result<CudaSlice<f32>> {
        if hd > MAX_HEAD_DIM {
            return Err(CudaError::Unsupported(format!("head dim {hd} > {MAX_HEAD_DIM}")));
        }
        let mut out = self.zeros(nq * heads * hd)?;
        let (nqi, nki, h, hdi) = (int(nq)?, int(nk)?, int(heads)?, int(hd)?);
        let scale = 1.0f32 / (hd as f32).sqrt();
        let cfg =
            LaunchConfig { grid_dim: (nqi as u32, h as u32, 1), block_dim: (ATT_THREADS, 1, 1), shared_mem_bytes: 0 };
        let mut b = self.stream.launch_builder(self.func("attention")?);
        b.arg(q).arg(k).arg(v).arg(&mut out).arg(limit).arg(&nqi).arg(&nki).arg(&h).arg(&hdi).arg(&scale);
        // SAFETY: q/out hold nq·heads·hd, k/v nk·heads·hd floats, limit nq ints in 1..=nk.
        unsafe { b.launch(cfg) }.map_err(driver("attention"))?;
        Ok(out)
    }
}
