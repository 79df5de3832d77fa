//! The AVX-512F micro-kernel: `c[R × 16·W] = init + a[R × kc] · b[kc × 16·W]`, R ≤ 12 rows, W = 2
//! panels of `b` side by side (a wide tile) or 1 (a lone last panel, and the attention's 16-wide
//! strips). Row `r` keeps its sums in W registers of 16 lanes: 24 accumulators for a full wide tile,
//! plus the 2 registers of `b` loaded per step; `a[r][p]` is broadcast straight from memory into
//! each FMA. Partial columns are masked (loads of the destination or the bias, and the stores), so
//! the tile never goes through scratch memory; the panels of `b` are zero past the last column, so
//! their lanes are computed and dropped.
//!
//! Summation order as in every kernel: `init`, then one fused multiply-add per step of `k`, in order.

use std::arch::x86_64::*;

use super::{ATile, BTile, Init, TileDims, MR_AVX512};
use crate::view::StridedMut;
use crate::NR;

/// Lanes of a row that a tile of `cols` columns (from this register's first column on) stores.
fn lane_mask(cols: usize) -> __mmask16 {
    if cols >= NR {
        0xFFFF
    } else {
        ((1u32 << cols) - 1) as __mmask16
    }
}

/// One micro-tile on AVX-512F (see `super::tile`).
///
/// # Safety
/// AVX-512F must be present; extents as for `super::tile`, with `rows` ≤ 12 and `cols` ≤ 16 (32
/// with `b.next`).
pub(super) unsafe fn tile(dims: TileDims, a: ATile, b: BTile, c: StridedMut, init: Init) {
    let TileDims { rows, cols, kc } = dims;
    debug_assert!(rows <= MR_AVX512 && cols <= if b.next.is_null() { NR } else { 2 * NR });
    let masks = [lane_mask(cols), lane_mask(cols.saturating_sub(NR))];
    macro_rules! by_rows {
        ($w:literal, $pa:literal, $a:expr, $lda:expr) => {
            match rows {
                12 => kernel::<12, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                11 => kernel::<11, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                10 => kernel::<10, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                9 => kernel::<9, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                8 => kernel::<8, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                7 => kernel::<7, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                6 => kernel::<6, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                5 => kernel::<5, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                4 => kernel::<4, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                3 => kernel::<3, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                2 => kernel::<2, $w, $pa>(kc, $a, $lda, b, c, init, masks),
                _ => kernel::<1, $w, $pa>(kc, $a, $lda, b, c, init, masks),
            }
        };
    }
    // SAFETY: AVX-512F present, extents as documented (caller).
    unsafe {
        match (a, b.next.is_null()) {
            (ATile::Packed(p), false) => by_rows!(2, true, p, 0),
            (ATile::Rows(s), false) => by_rows!(2, false, s.ptr, s.ld),
            (ATile::Packed(p), true) => by_rows!(1, true, p, 0),
            (ATile::Rows(s), true) => by_rows!(1, false, s.ptr, s.ld),
        }
    }
}

/// `c[R × 16·W] = init + a[R × kc] · b` (rows of `a` `lda` apart; with `PA`, `a` is one packed
/// micro-panel: element (r, p) at `a[p·12 + r]`, and `lda` is unused); `masks[w]` selects the lanes
/// of register `w` of each row that exist in `c` (and in a bias).
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const R: usize, const W: usize, const PA: bool>(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: BTile,
    c: StridedMut,
    init: Init,
    masks: [__mmask16; 2],
) {
    let (panels, ldb, c, ldc) = ([b.ptr, b.next], b.ld, c.ptr, c.ld);
    // SAFETY: (whole body) `a` rows hold `kc` values, each panel `kc` rows of 16, `c` rows the
    // masked columns (caller).
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); W]; R];
        match init {
            Init::Zero => {}
            Init::Dest => {
                for (r, acc) in acc.iter_mut().enumerate() {
                    for (w, acc) in acc.iter_mut().enumerate() {
                        *acc = _mm512_maskz_loadu_ps(masks[w], c.add(r * ldc + w * NR));
                    }
                }
            }
            Init::Bias(p) => {
                let mut bias = [_mm512_setzero_ps(); W];
                for (w, bias) in bias.iter_mut().enumerate() {
                    *bias = _mm512_maskz_loadu_ps(masks[w], p.add(w * NR));
                }
                acc = [bias; R];
            }
        }
        for p in 0..kc {
            let mut bv = [_mm512_setzero_ps(); W];
            for (w, bv) in bv.iter_mut().enumerate() {
                *bv = _mm512_loadu_ps(panels[w].add(p * ldb));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*if PA { a.add(p * MR_AVX512 + r) } else { a.add(r * lda + p) });
                for (acc, bv) in acc.iter_mut().zip(bv) {
                    *acc = _mm512_fmadd_ps(av, bv, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (w, acc) in acc.iter().enumerate() {
                _mm512_mask_storeu_ps(c.add(r * ldc + w * NR), masks[w], *acc);
            }
        }
    }
}
