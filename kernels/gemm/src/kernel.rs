//! The 6 × 16 micro-kernel: `c[R × 16] = init + a[R × kc] · b[kc × 16]`, in three versions with the
//! same summation order (`k` in order, one multiply-add at a time, starting from `init`), so a result
//! does not depend on which one ran beyond FMA's single rounding:
//! - AVX2 + FMA (x86_64): 12 registers of 8 lanes, 2 loads of `b` and 6 broadcasts of `a` per 12 FMAs;
//! - NEON (aarch64): 24 registers of 4 lanes, 4 loads of `b` and 6 scalar reads of `a` per 24
//!   by-element FMAs (`fmla v.4s, v.4s, v.s[0]`), 28 of the 32 vector registers;
//! - portable: plain loops, multiply then add (no FMA), for every other CPU.
//!
//! The two SIMD versions fuse every step, so they give the same bits as a scalar `f32::mul_add` loop;
//! each is compiled with its target features and chosen at run time ([`MicroKernel::detect`]).

use crate::view::{Strided, StridedMut};
use crate::{MR, NR};

/// The instruction set a [`MicroKernel`] runs on (a SIMD variant exists only on its architecture).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    #[cfg(target_arch = "aarch64")]
    Neon,
}

/// Which micro-kernel runs: a SIMD one only where the CPU has its features (the only way to get one
/// is [`MicroKernel::detect`]), otherwise the portable one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MicroKernel {
    isa: Isa,
}

impl MicroKernel {
    /// The fastest kernel this CPU runs: AVX2 + FMA on x86_64 (`worldflow_base::cpu::has_avx2_fma`),
    /// NEON on aarch64 (`worldflow_base::cpu::has_neon`), both cached by std; portable otherwise.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if worldflow_base::cpu::has_avx2_fma() {
            return MicroKernel { isa: Isa::Avx2Fma };
        }
        #[cfg(target_arch = "aarch64")]
        if worldflow_base::cpu::has_neon() {
            return MicroKernel { isa: Isa::Neon };
        }
        Self::portable()
    }

    /// The portable kernel (every CPU).
    pub fn portable() -> Self {
        MicroKernel { isa: Isa::Portable }
    }

    /// Whether this is the AVX2 + FMA kernel (x86_64).
    pub fn is_avx2_fma(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            self.isa == Isa::Avx2Fma
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Whether this is the NEON kernel (aarch64).
    pub fn is_neon(self) -> bool {
        #[cfg(target_arch = "aarch64")]
        {
            self.isa == Isa::Neon
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            false
        }
    }

    /// Whether every step is one fused multiply-add (the SIMD kernels), so that results equal a
    /// scalar `f32::mul_add` loop bit for bit; the portable kernel rounds the product first.
    pub fn is_fused(self) -> bool {
        self.isa != Isa::Portable
    }
}

/// How a micro-tile's accumulators start.
#[derive(Clone, Copy)]
pub(crate) enum Init {
    Zero,
    /// From the destination (accumulate, or a later `k` block).
    Dest,
    /// From `bias[col..col + 16]`.
    Bias(*const f32),
}

/// Where a micro-tile reads `a`.
#[derive(Clone, Copy)]
pub(crate) enum ATile {
    /// `rows` rows of `kc` values, `ld` apart.
    Rows(Strided),
    /// One packed micro-panel (`crate::pack::pack_a`): element (r, p) at `ptr[p·MR + r]`.
    Packed(*const f32),
}

/// The extent of one micro-tile: `rows` ≤ [`MR`] rows, `cols` ≤ [`NR`] columns, depth `kc`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TileDims {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) kc: usize,
}

/// One micro-tile `c[rows × cols] = init + a · b[kc × 16]`; partial columns go through a 16-wide
/// scratch tile (the kernels always write 16 columns).
///
/// # Safety
/// `a` must address `rows` rows of `kc` values (or a packed micro-panel of `kc` steps), `b` `kc` rows
/// of 16 values, `c` `rows` rows of `cols` values that no other thread touches meanwhile; a bias
/// `init` must have `cols` values.
pub(crate) unsafe fn tile(kernel: MicroKernel, dims: TileDims, a: ATile, b: Strided, c: StridedMut, init: Init) {
    let TileDims { rows, cols, kc } = dims;
    if cols < NR {
        let mut tmp = [[0.0f32; NR]; MR];
        let mut bias = [0.0f32; NR];
        let init = match init {
            Init::Zero => Init::Zero,
            Init::Dest => {
                for (r, t) in tmp.iter_mut().enumerate().take(rows) {
                    // SAFETY: `cols` values of row r are inside the block.
                    t[..cols].copy_from_slice(unsafe { c.row(r, cols) });
                }
                Init::Dest
            }
            Init::Bias(p) => {
                // SAFETY: the bias has `cols` values left from `p`.
                bias[..cols].copy_from_slice(unsafe { std::slice::from_raw_parts(p, cols) });
                Init::Bias(bias.as_ptr())
            }
        };
        let scratch = StridedMut { ptr: tmp.as_mut_ptr().cast(), ld: NR };
        // SAFETY: the scratch tile is MR × 16.
        unsafe { tile(kernel, TileDims { cols: NR, ..dims }, a, b, scratch, init) };
        for (r, t) in tmp.iter().enumerate().take(rows) {
            // SAFETY: as above.
            unsafe { c.row(r, cols) }.copy_from_slice(&t[..cols]);
        }
        return;
    }
    macro_rules! by_rows {
        ($f:ident, $pa:literal, $a:expr, $lda:expr) => {
            match rows {
                6 => $f::<6, $pa>(kc, $a, $lda, b, c, init),
                5 => $f::<5, $pa>(kc, $a, $lda, b, c, init),
                4 => $f::<4, $pa>(kc, $a, $lda, b, c, init),
                3 => $f::<3, $pa>(kc, $a, $lda, b, c, init),
                2 => $f::<2, $pa>(kc, $a, $lda, b, c, init),
                _ => $f::<1, $pa>(kc, $a, $lda, b, c, init),
            }
        };
    }
    macro_rules! dispatch {
        ($f:ident) => {
            match a {
                ATile::Packed(p) => by_rows!($f, true, p, 0),
                ATile::Rows(s) => by_rows!($f, false, s.ptr, s.ld),
            }
        };
    }
    match kernel.isa {
        // SAFETY: AVX2 and FMA are present (a `MicroKernel` says so only after detecting them);
        // extents as documented.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { dispatch!(kernel_avx2) },
        // SAFETY: NEON is present (detected, as above); extents as documented.
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => unsafe { dispatch!(kernel_neon) },
        // SAFETY: extents as documented.
        Isa::Portable => unsafe { dispatch!(kernel_portable) },
    }
}

/// `c[R × 16] = init + a[R × kc] · b[kc × 16]` (rows of `a` are `lda` apart; with `PA`, `a` is one
/// packed micro-panel: element (r, p) at `a[p·MR + r]`, and `lda` is unused).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_avx2<const R: usize, const PA: bool>(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: Strided,
    c: StridedMut,
    init: Init,
) {
    use std::arch::x86_64::*;
    let (b, ldb, c, ldc) = (b.ptr, b.ld, c.ptr, c.ld);
    // SAFETY: (whole body) `a` rows hold `kc` values, `c` rows 16, `b` has `kc` rows (caller).
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        match init {
            Init::Zero => {}
            Init::Dest => {
                for (r, acc) in acc.iter_mut().enumerate() {
                    *acc = [_mm256_loadu_ps(c.add(r * ldc)), _mm256_loadu_ps(c.add(r * ldc + 8))];
                }
            }
            Init::Bias(p) => {
                let bias = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))];
                acc = [bias; R];
            }
        }
        for p in 0..kc {
            let b0 = _mm256_loadu_ps(b.add(p * ldb));
            let b1 = _mm256_loadu_ps(b.add(p * ldb + 8));
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*if PA { a.add(p * MR + r) } else { a.add(r * lda + p) });
                acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            _mm256_storeu_ps(c.add(r * ldc), acc[0]);
            _mm256_storeu_ps(c.add(r * ldc + 8), acc[1]);
        }
    }
}

/// `kernel_avx2` for NEON: row `r` keeps its 16 sums in `acc[r]`, four `float32x4_t`; each step
/// loads 4 vectors of `b` and multiplies them by the scalar `a[r][p]` (one by-element fused
/// multiply-add per vector), so every output is `init` then `k` FMAs in order, as on AVX2.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn kernel_neon<const R: usize, const PA: bool>(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: Strided,
    c: StridedMut,
    init: Init,
) {
    use std::arch::aarch64::*;
    /// Lanes of one `float32x4_t`.
    const LANES: usize = 4;
    /// Vectors per 16-column row.
    const VECS: usize = NR / LANES;
    let (b, ldb, c, ldc) = (b.ptr, b.ld, c.ptr, c.ld);
    // SAFETY: (whole body) extents as in `kernel_avx2`.
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); VECS]; R];
        match init {
            Init::Zero => {}
            Init::Dest => {
                for (r, acc) in acc.iter_mut().enumerate() {
                    for (v, acc) in acc.iter_mut().enumerate() {
                        *acc = vld1q_f32(c.add(r * ldc + v * LANES));
                    }
                }
            }
            Init::Bias(p) => {
                let mut bias = [vdupq_n_f32(0.0); VECS];
                for (v, bias) in bias.iter_mut().enumerate() {
                    *bias = vld1q_f32(p.add(v * LANES));
                }
                acc = [bias; R];
            }
        }
        for p in 0..kc {
            let row = b.add(p * ldb);
            let bv = [vld1q_f32(row), vld1q_f32(row.add(4)), vld1q_f32(row.add(8)), vld1q_f32(row.add(12))];
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = *if PA { a.add(p * MR + r) } else { a.add(r * lda + p) };
                for (acc, bv) in acc.iter_mut().zip(bv) {
                    // acc + bv · av, one rounding (`fmla` by element).
                    *acc = vfmaq_n_f32(*acc, bv, av);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                vst1q_f32(c.add(r * ldc + v * LANES), *acc);
            }
        }
    }
}

/// Portable version of the SIMD kernels (same summation order; multiply then add, no FMA).
unsafe fn kernel_portable<const R: usize, const PA: bool>(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: Strided,
    c: StridedMut,
    init: Init,
) {
    let (b, ldb, c, ldc) = (b.ptr, b.ld, c.ptr, c.ld);
    // SAFETY: (whole body) extents as in `kernel_avx2`.
    unsafe {
        let mut acc = [[0.0f32; NR]; R];
        match init {
            Init::Zero => {}
            Init::Dest => {
                for (r, acc) in acc.iter_mut().enumerate() {
                    acc.copy_from_slice(std::slice::from_raw_parts(c.add(r * ldc), NR));
                }
            }
            Init::Bias(p) => {
                let bias: [f32; NR] = std::slice::from_raw_parts(p, NR).try_into().expect("16 values");
                acc = [bias; R];
            }
        }
        for p in 0..kc {
            let br = std::slice::from_raw_parts(b.add(p * ldb), NR);
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = if PA { *a.add(p * MR + r) } else { *a.add(r * lda + p) };
                for (o, bv) in acc.iter_mut().zip(br) {
                    *o += av * *bv;
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            std::slice::from_raw_parts_mut(c.add(r * ldc), NR).copy_from_slice(acc);
        }
    }
}
