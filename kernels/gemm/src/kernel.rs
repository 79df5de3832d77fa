//! The micro-kernels: `c[R × W] = init + a[R × kc] · b[kc × W]`, in four versions with the same
//! summation order (`k` in order, one multiply-add at a time, starting from `init`), so a result does
//! not depend on which one ran beyond FMA's single rounding:
//! - AVX-512F (x86_64): a 12 × 32 tile, 24 registers of 16 lanes over two 16-column panels of `b`
//!   (2 loads of `b` and 12 broadcasts of `a` per 24 FMAs), or 12 × 16 for a lone panel
//!   (`kernel/avx512.rs`);
//! - AVX2 + FMA (x86_64): 6 × 16, 12 registers of 8 lanes, 2 loads of `b` and 6 broadcasts of `a` per
//!   12 FMAs;
//! - NEON (aarch64): 6 × 16, 24 registers of 4 lanes, 4 loads of `b` and 6 scalar reads of `a` per 24
//!   by-element FMAs (`fmla v.4s, v.4s, v.s[0]`), 28 of the 32 vector registers;
//! - portable: 6 × 16, plain loops, multiply then add (no FMA), for every other CPU.
//!
//! The SIMD versions fuse every step, so they give the same bits as a scalar `f32::mul_add` loop;
//! each is compiled with its target features and chosen at run time ([`MicroKernel::detect`], which
//! `WORLDFLOW_ISA` can cap it, with every other SIMD path). The kernel decides the tile: [`MicroKernel::mr`]
//! rows (the height of a packed `a` micro-panel) by [`MicroKernel::panels`] panels of [`NR`] columns
//! (the layout of `b` never changes: a wide tile reads two panels side by side).

#[cfg(target_arch = "x86_64")]
mod avx512;

use crate::view::{Strided, StridedMut};
use crate::{MR, NR};

/// Rows of the AVX-512 tile: 12 rows × 2 registers = 24 accumulators, plus 2 registers of `b`, of the
/// 32; 24 independent FMAs per step cover the FMA latency (4 cycles) on two 512-bit pipes 3 times.
pub(crate) const MR_AVX512: usize = 12;

/// The largest [`MicroKernel::mr`] (test buffers sized for any kernel).
#[cfg(test)]
pub(crate) const MR_MAX: usize = MR_AVX512;

/// The instruction set a [`MicroKernel`] runs on (a SIMD variant exists only on its architecture).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "aarch64")]
    Neon,
}

/// Which micro-kernel runs: a SIMD one only where the CPU has its features (the only ways to get one
/// are [`MicroKernel::detect`] and [`MicroKernel::available`]), otherwise the portable one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MicroKernel {
    isa: Isa,
}

impl MicroKernel {
    /// The kernel every product uses: the fastest this CPU runs (AVX-512F where
    /// `worldflow_base::cpu::has_avx512f`, else AVX2 + FMA where `has_avx2_fma` on x86_64; NEON where
    /// `has_neon` on aarch64; portable otherwise). `WORLDFLOW_ISA` (`worldflow_base::cpu::ISA_ENV`) caps it
    /// together with every other SIMD path.
    pub fn detect() -> Self {
        Self::available()[0]
    }

    /// Every kernel this CPU runs, fastest first (the portable one last).
    pub fn available() -> Vec<Self> {
        let mut all = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if worldflow_base::cpu::has_avx512f() {
                all.push(MicroKernel { isa: Isa::Avx512 });
            }
            if worldflow_base::cpu::has_avx2_fma() {
                all.push(MicroKernel { isa: Isa::Avx2Fma });
            }
        }
        #[cfg(target_arch = "aarch64")]
        if worldflow_base::cpu::has_neon() {
            all.push(MicroKernel { isa: Isa::Neon });
        }
        all.push(Self::portable());
        all
    }

    /// The portable kernel (every CPU).
    pub fn portable() -> Self {
        MicroKernel { isa: Isa::Portable }
    }

    /// The kernel's name, as `WORLDFLOW_ISA` spells it.
    pub fn name(self) -> &'static str {
        match self.isa {
            Isa::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => "avx2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512",
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => "neon",
        }
    }

    /// Rows of one tile, and of one packed micro-panel of `a`.
    pub fn mr(self) -> usize {
        if self.is_avx512() {
            MR_AVX512
        } else {
            MR
        }
    }

    /// Panels of [`NR`] columns one tile spans at most (a lone last panel gets a narrow tile).
    pub fn panels(self) -> usize {
        if self.is_avx512() {
            2
        } else {
            1
        }
    }

    /// Whether packing `a` into micro-panels pays for this kernel. Not for the AVX-512 one: its tile
    /// broadcasts each value of `a` straight from memory into 2 FMAs over 32 columns, and the 12
    /// sequential row streams prefetch well, so reading `a` in place was faster (2026-12-07, Zen 5,
    /// 2 threads: DiT layers 455–509 vs 422–468 GFLOP/s, the VAE decode 3–5 % faster); the 6-row
    /// kernels keep it (a step's 6 broadcasts from one run instead of 6 rows far apart).
    pub(crate) fn packs_a(self) -> bool {
        !self.is_avx512()
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

    /// Whether this is the AVX-512F kernel (x86_64; the CPU then has AVX2 and FMA as well).
    pub fn is_avx512(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            self.isa == Isa::Avx512
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
    /// From `bias[col..col + cols]`.
    Bias(*const f32),
}

/// Where a micro-tile reads `a`.
#[derive(Clone, Copy)]
pub(crate) enum ATile {
    /// `rows` rows of `kc` values, `ld` apart.
    Rows(Strided),
    /// One packed micro-panel (`crate::pack::pack_a` with the kernel's `mr`): element (r, p) at
    /// `ptr[p·mr + r]`.
    Packed(*const f32),
}

/// Where a micro-tile reads `b`: one panel (`kc` rows of [`NR`] values, `ld` apart) and, for a wide
/// tile, the next one (`next`, same row stride; null for a narrow tile).
#[derive(Clone, Copy)]
pub(crate) struct BTile {
    pub(crate) ptr: *const f32,
    pub(crate) next: *const f32,
    pub(crate) ld: usize,
}

/// The extent of one micro-tile: `rows` ≤ [`MicroKernel::mr`] rows, `cols` ≤ [`NR`] columns (up to
/// 2·[`NR`] for a wide tile), depth `kc`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TileDims {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) kc: usize,
}

/// One micro-tile `c[rows × cols] = init + a · b`; a wide tile (`b.next` set, AVX-512 only) spans
/// two panels. The AVX-512 kernel masks partial columns; the others go through a 16-wide scratch
/// tile (they always write 16 columns).
///
/// # Safety
/// `a` must address `rows` rows of `kc` values (or a packed micro-panel of `kc` steps), each panel of
/// `b` `kc` rows of 16 values, `c` `rows` rows of `cols` values that no other thread touches
/// meanwhile; a bias `init` must have `cols` values.
pub(crate) unsafe fn tile(kernel: MicroKernel, dims: TileDims, a: ATile, b: BTile, c: StridedMut, init: Init) {
    #[cfg(target_arch = "x86_64")]
    if kernel.isa == Isa::Avx512 {
        // SAFETY: AVX-512F is present (a `MicroKernel` says so only after detecting it); extents as
        // documented.
        return unsafe { avx512::tile(dims, a, b, c, init) };
    }
    debug_assert!(b.next.is_null() && dims.cols <= NR && dims.rows <= MR);
    let b = Strided { ptr: b.ptr, ld: b.ld };
    // SAFETY: forwarded.
    unsafe { tile16(kernel, dims, a, b, c, init) }
}

/// [`tile`] for the 6 × 16 kernels.
///
/// # Safety
/// As for [`tile`], with one panel of `b`.
unsafe fn tile16(kernel: MicroKernel, dims: TileDims, a: ATile, b: Strided, c: StridedMut, init: Init) {
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
        unsafe { tile16(kernel, TileDims { cols: NR, ..dims }, a, b, scratch, init) };
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
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unreachable!("the AVX-512 kernel has its own tiles"),
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
