//! f32 GEMM for the neural engines (worldflow-dit, worldflow-vae), one micro-kernel for all of it:
//! - [`matmul_packed`]: dense layers `out[m, n] = x[m, k] · Wᵀ` with an epilogue (bias, a row map such
//!   as GELU, accumulate), the weight `W` [n, k] packed once at load time;
//! - [`matmul`]: `C (+)= A · B` on row-major matrix views ([`MatRef`], [`MatMut`]) with row strides;
//! - [`matmul_rows`]: the same with `B` given as blocks of rows anywhere (a convolution's taps);
//! - [`matmul_packed_serial`]: one task's block of a destination shared by parallel tasks
//!   ([`SharedMatMut`] over a `worldflow_base::DisjointWriter`);
//! - [`micro_tiles`]: strips of micro-tiles, for callers that do their own blocking (flash attention).
//!
//! Layout and blocking (GotoBLAS-style, specialised for the transformer's and the VAE's shapes):
//! - `B` in panels of [`NR`] = 16 columns, `[k][16]` with 64-byte rows, so the micro-kernel streams one
//!   cache line per step of `k` (two for the AVX-512 kernel, which takes two panels side by side):
//!   [`PackedWt`] holds a weight that way for good; other `B`s are read in place where each panel is
//!   16 contiguous values of a row, else copied one (k block, panel) at a time.
//! - `A` in micro-panels of the kernel's `mr` rows ([`MR`] = 6, 12 for AVX-512), `[k][mr]`, so a
//!   step's broadcasts read one contiguous run (from rows far apart they cost a quarter of the
//!   throughput); read in place where too few panels would reuse the copy, and always by the AVX-512
//!   kernel (`MicroKernel::packs_a`).
//! - `k` in blocks of [`KC`] = 256 (a 16 KiB panel stays in L1 while the task's micro-panels stream
//!   past it); tasks are row ranges (or column ranges for few rows), run with rayon; what several
//!   tasks would copy alike is copied once and shared.
//! - Micro-kernel, chosen at run time by [`MicroKernel::detect`] from `worldflow_base::cpu` (or
//!   the cap `WORLDFLOW_ISA` it reads): on x86_64 with AVX-512F a 12 × 32 tile over two panels, 24
//!   zmm accumulators, 2 loads of `B` and 12 broadcasts of `A` per 24 FMAs (compiled with
//!   `avx512f`); with AVX2 + FMA a 6 × 16 tile, 12 AVX2 registers, 2 loads of `B` and 6 broadcasts
//!   of `A` per 12 FMAs (compiled with `avx2,fma`); on aarch64 with NEON 6 × 16, 24 NEON registers,
//!   4 loads of `B` and 6 reads of `A` per 24 by-element FMAs (compiled with `neon`); a portable
//!   version of the same loop elsewhere. Summation order per output: `k` in order, one
//!   multiply-add at a time (bias first when given), so results do not depend on the thread count,
//!   and the SIMD kernels give the same bits (all fuse every step).
//!
//! Modules, lowest first: `view` (matrix views), `kernel` (micro-kernels), `pack` (operand layouts),
//! `driver` (the blocked loop), `api` (entry points).

mod api;
mod driver;
mod kernel;
mod pack;
mod view;

pub use api::{matmul, matmul_packed, matmul_packed_serial, matmul_rows, micro_tiles};
pub use driver::Epilogue;
pub use kernel::MicroKernel;
pub use pack::{PackedWt, RowBlock};
pub use view::{MatMut, MatRef, SharedMatMut};

/// Output columns per panel.
pub const NR: usize = 16;
/// Rows per micro-tile of the 16-wide kernels (AVX2, NEON, portable; AVX-512: `MicroKernel::mr`).
pub const MR: usize = 6;
/// Depth of one `k` block.
pub const KC: usize = 256;

#[cfg(test)]
mod tests;
