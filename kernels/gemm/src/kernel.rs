//! The 6 × 16 micro-kernel: `c[R × 16] = init + a[R × kc] · b[kc × 16]` in 12 AVX2 registers (2 loads
//! of `b` and 6 broadcasts of `a` per 12 FMAs, compiled with `avx2,fma` and chosen at run time), and a
//! portable twin with the same summation order (`k` in order, one multiply-add at a time, starting
//! from `init`), so a result does not depend on which one ran beyond FMA's single rounding.

use crate::view::{Strided, StridedMut};
use crate::{MR, NR};

/// Which micro-kernel runs: the AVX2 + FMA one only where the CPU has both (the only way to get it
/// is [`MicroKernel::detect`]), otherwise the portable one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MicroKernel {
    avx2_fma: bool,
}

impl MicroKernel {
    /// The fastest kernel this CPU runs (`worldflow_base::cpu::has_avx2_fma`, cached by std).
    pub fn detect() -> Self {
        MicroKernel { avx2_fma: worldflow_base::cpu::has_avx2_fma() }
    }

    /// The portable kernel (every CPU).
    pub fn portable() -> Self {
        MicroKernel { avx2_fma: false }
    }

    /// Whether this is the AVX2 + FMA kernel.
    pub fn is_avx2_fma(self) -> bool {
        self.avx2_fma
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
    #[cfg(target_arch = "x86_64")]
    if kernel.avx2_fma {
        // SAFETY: AVX2 and FMA are present (a `MicroKernel` says so only after detecting them);
        // extents as documented.
        unsafe { dispatch!(kernel_avx2) };
        return;
    }
    let _ = kernel;
    // SAFETY: extents as documented.
    unsafe { dispatch!(kernel_portable) }
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

/// Portable version of [`kernel_avx2`] (same summation order; multiply then add, no FMA).
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
