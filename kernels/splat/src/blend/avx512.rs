//! Step 2 with AVX-512: a whole 16-pixel tile row per Gaussian, its two 8-pixel groups as the two halves
//! of one 16-lane vector.
//!
//! The row walks the union of its two groups' sets in depth order; each entry carries a lane mask of the
//! groups whose set holds it (lanes 0–7: group 0, 8–15: group 1), so every lane composites exactly the
//! Gaussians the 8-lane kernels give it, with the same operations in the same order (FMA where they fuse):
//! the images are bit-identical to the portable kernel's (tested). Why it pays on a CPU whose 512-bit units
//! are two 256-bit halves (AMD Zen 4): per entry the scalar part (set-bit walk, record load, `dy`, the row
//! constants, broadcasts, loop branch) is done once for 16 pixels instead of twice for 8, and the vector part
//! is half as many instructions, so more entries fit the out-of-order window of the latency-bound
//! power → `exp2` → α → T chain. The row stops when all 16 pixels have terminated.

use std::arch::x86_64::*;

use super::{load_state, store_state, write_row, Target, TileFrame, EXP2_FLOOR, EXP2_P, EXP_BIAS, MAGIC};
use crate::options::{ALPHA_MIN, T_STOP};
use crate::tile_sets::{TileGeom, TileSets, CHUNK, GROUPS_PER_ROW, LANES};

const ROW: usize = GROUPS_PER_ROW * LANES;
const _: () = assert!(ROW == 16, "the kernel holds one 16-pixel tile row in a 16-lane vector");

/// AVX-512F (with the AVX2 gather of `tile_sets.rs`); `WORLDFLOW_ISA=avx2` asks for the AVX2 kernel (for A/B
/// measurements in one build).
pub(super) fn available() -> bool {
    worldflow_base::cpu::has_avx512f()
}

/// The kernel's constants (32 vector registers hold them all).
struct Consts {
    alpha_max: __m512,
    alpha_min: __m512,
    t_stop: __m512,
    one: __m512,
    floor: __m512,
    magic: __m512,
    poly: [__m512; 5],
    bias: __m512i,
}

/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn blend_rows(frame: &TileFrame, geo: &TileGeom, sc: &TileSets, mut target: Target) {
    let w3 = frame.width as usize * 3;
    let c = Consts {
        alpha_max: _mm512_set1_ps(frame.params.alpha_max),
        alpha_min: _mm512_set1_ps(ALPHA_MIN),
        t_stop: _mm512_set1_ps(T_STOP),
        one: _mm512_set1_ps(1.0),
        floor: _mm512_set1_ps(EXP2_FLOOR),
        magic: _mm512_set1_ps(MAGIC),
        poly: EXP2_P.map(|p| _mm512_set1_ps(p)),
        bias: _mm512_set1_epi32(EXP_BIAS),
    };
    let offsets = _mm512_setr_ps(0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5, 13.5, 14.5, 15.5);
    let in_tile: __mmask16 = if geo.cols >= ROW { !0 } else { (1u16 << geo.cols) - 1 };
    for row in 0..geo.rows {
        let y = (geo.y0 + row) as f32 + 0.5;
        let px = _mm512_add_ps(_mm512_set1_ps(geo.x0 as f32), offsets);
        // Per group: T and RGB, 8 lanes each (the layout `write_row` and `store_state` take).
        let mut t = [[1.0f32; LANES]; GROUPS_PER_ROW];
        let mut acc = [[[0.0f32; LANES]; GROUPS_PER_ROW]; 3];
        let mut live = in_tile;
        if let Target::State { state, fresh: false, .. } = &target {
            live = 0;
            for g in 0..GROUPS_PER_ROW {
                let (t0, acc0, live0) = load_state(state, frame, geo, row, g);
                t[g] = t0;
                (0..3).for_each(|ch| acc[ch][g] = acc0[ch]);
                live0.iter().enumerate().for_each(|(l, &on)| live |= u16::from(on) << (g * LANES + l));
            }
        }
        if live != 0 {
            // SAFETY: (loads) `[[f32; 8]; 2]` is 16 contiguous floats.
            let init = unsafe {
                (
                    _mm512_loadu_ps(t.as_ptr().cast()),
                    _mm512_loadu_ps(acc[0].as_ptr().cast()),
                    _mm512_loadu_ps(acc[1].as_ptr().cast()),
                    _mm512_loadu_ps(acc[2].as_ptr().cast()),
                )
            };
            let sets = [sc.set(row, 0), sc.set(row, 1)];
            let (tv, r, gr, b, live_out) = if frame.params.stop_inclusive {
                blend_row::<true>(&c, sc, sets, y, px, live, init)
            } else {
                blend_row::<false>(&c, sc, sets, y, px, live, init)
            };
            live = live_out;
            // SAFETY: (stores) as the loads above.
            unsafe {
                _mm512_storeu_ps(t.as_mut_ptr().cast(), tv);
                _mm512_storeu_ps(acc[0].as_mut_ptr().cast(), r);
                _mm512_storeu_ps(acc[1].as_mut_ptr().cast(), gr);
                _mm512_storeu_ps(acc[2].as_mut_ptr().cast(), b);
            }
        }
        if let Target::State { state, image: None, .. } = &mut target {
            for g in 0..GROUPS_PER_ROW {
                let lanes: [bool; LANES] = std::array::from_fn(|l| live >> (g * LANES + l) & 1 == 1);
                store_state(state, frame, geo, row, g, (t[g], [acc[0][g], acc[1][g], acc[2][g]], lanes));
            }
        }
        if let Target::Image(out) | Target::State { image: Some(out), .. } = &mut target {
            write_row(frame, geo, row, &t, &acc, &mut out[row * w3..(row + 1) * w3]);
        }
    }
}

/// Composites the union of a row's two group sets into its 16 pixels (centres `px`, row centre `y`) from
/// `init = (T, R, G, B)`; returns `(T, R, G, B, live)`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
fn blend_row<const INCLUSIVE: bool>(
    c: &Consts,
    sc: &TileSets,
    sets: [&[u64]; 2],
    y: f32,
    px: __m512,
    mut live: __mmask16,
    init: (__m512, __m512, __m512, __m512),
) -> (__m512, __m512, __m512, __m512, __mmask16) {
    let (mut t, mut r, mut g, mut b) = init;
    let splats = &sc.splats;
    'set: for (chunk, (&w0, &w1)) in sets[0].iter().zip(sets[1]).enumerate() {
        let mut bits = w0 | w1;
        while bits != 0 {
            let j = bits.trailing_zeros();
            bits &= bits - 1;
            // Lanes of the groups whose set holds this Gaussian.
            let member = ((w0 >> j & 1) as u16 * 0x00FF) | ((w1 >> j & 1) as u16 * 0xFF00);
            // SAFETY: the sets hold only indices of `splats` (the padding's rows are empty).
            let s = unsafe { splats.get_unchecked(chunk * CHUNK + j as usize) };
            let dy = s.mean_y - y;
            let bdy = _mm512_set1_ps(s.pb * dy);
            let cdd_o = _mm512_set1_ps(s.pc * dy * dy + s.log2_opacity);
            let dx = _mm512_sub_ps(_mm512_set1_ps(s.mean_x), px);
            let log2_alpha = _mm512_fmadd_ps(dx, _mm512_fmadd_ps(_mm512_set1_ps(s.pa), dx, bdy), cdd_o);
            let alpha = _mm512_min_ps(exp2_neg(log2_alpha, c), c.alpha_max);
            // `power₂ ≤ 0` (as `log₂ α ≤ log₂ o`), α ≥ 1/255, a live pixel of a group that holds it.
            let valid =
                _mm512_mask_cmp_ps_mask::<_CMP_LE_OQ>(live & member, log2_alpha, _mm512_set1_ps(s.log2_opacity));
            let valid = _mm512_mask_cmp_ps_mask::<_CMP_GE_OQ>(valid, alpha, c.alpha_min);
            let test_t = _mm512_mul_ps(t, _mm512_sub_ps(c.one, alpha));
            let stop = if INCLUSIVE {
                _mm512_cmp_ps_mask::<_CMP_LE_OQ>(test_t, c.t_stop)
            } else {
                _mm512_cmp_ps_mask::<_CMP_LT_OQ>(test_t, c.t_stop)
            };
            let add = valid & !stop;
            // The lanes that composite get `acc + c·(α·T)` (one FMA, as the portable kernel); the others keep theirs.
            let w = _mm512_mul_ps(alpha, t);
            r = _mm512_mask3_fmadd_ps(_mm512_set1_ps(s.color[0]), w, r, add);
            g = _mm512_mask3_fmadd_ps(_mm512_set1_ps(s.color[1]), w, g, add);
            b = _mm512_mask3_fmadd_ps(_mm512_set1_ps(s.color[2]), w, b, add);
            t = _mm512_mask_mov_ps(t, add, test_t);
            let stop_now = stop & valid;
            if stop_now != 0 {
                live &= !stop_now;
                if live == 0 {
                    break 'set;
                }
            }
        }
    }
    (t, r, g, b, live)
}

/// Lane-wise [`super::exp2_neg`], operation for operation.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
fn exp2_neg(x: __m512, c: &Consts) -> __m512 {
    let x = _mm512_max_ps(x, c.floor);
    let t = _mm512_add_ps(x, c.magic);
    let k = _mm512_sub_ps(t, c.magic);
    let r = _mm512_sub_ps(x, k);
    let r2 = _mm512_mul_ps(r, r);
    let [p0, p1, p2, p3, p4] = c.poly;
    let u0 = _mm512_fmadd_ps(p4, r, c.one);
    let u1 = _mm512_fmadd_ps(p2, r, p3);
    let u2 = _mm512_fmadd_ps(p0, r, p1);
    let e = _mm512_fmadd_ps(_mm512_fmadd_ps(u2, r2, u1), r2, u0);
    let bits = _mm512_add_epi32(_mm512_castps_si512(t), c.bias);
    _mm512_mul_ps(e, _mm512_castsi512_ps(_mm512_slli_epi32::<23>(bits)))
}
