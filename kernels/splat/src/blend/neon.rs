//! Step 2 with explicit NEON intrinsics (aarch64). An 8-pixel group is two 4-lane vectors (pixels 0–3
//! and 4–7) walking the group's set together. Every lane performs exactly the portable kernel's
//! operations in the same order: `vfmaq_f32` (a fused multiply-add, like x86's `vfmadd`) exactly where
//! the portable kernel calls `f32::mul_add` (which is `fmadd` on aarch64), and `vmaxnmq`/`vminnmq` where
//! it calls `f32::max`/`min` (which are `fmaxnm`/`fminnm` on aarch64: a NaN operand yields the other
//! one, where `vmaxq`/`vminq` would propagate it). Both kernels produce bit-identical images. As in the
//! AVX2 kernel, the portable kernel's skip filter is left out: it never changes a pixel.

use std::arch::aarch64::*;

use super::{
    load_state, store_state, write_row, Target, TileFrame, TileGeom, TileSets, CHUNK, EXP2_FLOOR, EXP2_P, EXP_BIAS,
    GROUPS_PER_ROW, LANES, MAGIC,
};
use crate::options::{ALPHA_MIN, T_STOP};
use crate::tile_splat::TileSplat;

/// Lanes per NEON vector; a group of [`LANES`] pixels is two of them.
const HALF: usize = 4;
const _: () = assert!(LANES == 2 * HALF);

type F = float32x4_t;
type M = uint32x4_t;

/// The compositing state of 4 pixels: transmittance, accumulated colour, and which have not terminated.
#[derive(Clone, Copy)]
struct Pixels {
    t: F,
    rgb: [F; 3],
    live: M,
}

/// The kernel's constants, broadcast once per tile row set (32 NEON registers hold them and the state).
#[derive(Clone, Copy)]
struct Consts {
    alpha_max: F,
    alpha_min: F,
    t_stop: F,
    one: F,
    exp_floor: F,
    magic: F,
    poly: [F; 5],
    bias: int32x4_t,
}

impl Consts {
    #[inline]
    #[target_feature(enable = "neon")]
    fn new(frame: &TileFrame) -> Self {
        Self {
            alpha_max: vdupq_n_f32(frame.params.alpha_max),
            alpha_min: vdupq_n_f32(ALPHA_MIN),
            t_stop: vdupq_n_f32(T_STOP),
            one: vdupq_n_f32(1.0),
            exp_floor: vdupq_n_f32(EXP2_FLOOR),
            magic: vdupq_n_f32(MAGIC),
            poly: EXP2_P.map(|p| vdupq_n_f32(p)),
            bias: vdupq_n_s32(EXP_BIAS),
        }
    }
}

pub(super) fn available() -> bool {
    worldflow_base::cpu::has_neon()
}

/// Lane masks of a `[bool; 8]` group (all ones where true), as two halves.
#[inline]
#[target_feature(enable = "neon")]
fn mask_of(flags: [bool; LANES]) -> [M; 2] {
    let words: [u32; LANES] = flags.map(|v| if v { u32::MAX } else { 0 });
    // SAFETY: `words` holds 8 u32: two loads of 4.
    unsafe { [vld1q_u32(words.as_ptr()), vld1q_u32(words.as_ptr().add(HALF))] }
}

/// The inverse of [`mask_of`].
#[inline]
#[target_feature(enable = "neon")]
fn flags_of(mask: [M; 2]) -> [bool; LANES] {
    let mut words = [0u32; LANES];
    // SAFETY: `words` holds 8 u32: two stores of 4.
    unsafe {
        vst1q_u32(words.as_mut_ptr(), mask[0]);
        vst1q_u32(words.as_mut_ptr().add(HALF), mask[1]);
    }
    words.map(|w| w != 0)
}

/// Two halves from an 8-lane array.
#[inline]
#[target_feature(enable = "neon")]
fn load8(a: &[f32; LANES]) -> [F; 2] {
    // SAFETY: `a` holds 8 floats: two loads of 4.
    unsafe { [vld1q_f32(a.as_ptr()), vld1q_f32(a.as_ptr().add(HALF))] }
}

/// Two halves into an 8-lane array.
#[inline]
#[target_feature(enable = "neon")]
fn store8(v: [F; 2], a: &mut [f32; LANES]) {
    // SAFETY: `a` holds 8 floats: two stores of 4.
    unsafe {
        vst1q_f32(a.as_mut_ptr(), v[0]);
        vst1q_f32(a.as_mut_ptr().add(HALF), v[1]);
    }
}

/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn blend_rows(frame: &TileFrame, geo: &TileGeom, sc: &TileSets, mut target: Target) {
    let w3 = frame.width as usize * 3;
    let c = Consts::new(frame);
    // Pixel-centre offsets (pixels) and lane numbers of the two halves of a group.
    let offsets = load8(&[0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]);
    let lane_idx: [int32x4_t; 2] = std::array::from_fn(|h| {
        let idx: [i32; HALF] = std::array::from_fn(|l| (h * HALF + l) as i32);
        // SAFETY: `idx` holds 4 i32.
        unsafe { vld1q_s32(idx.as_ptr()) }
    });
    for row in 0..geo.rows {
        let y = (geo.y0 + row) as f32 + 0.5;
        let mut t = [[1.0f32; LANES]; GROUPS_PER_ROW];
        let mut acc = [[[0.0f32; LANES]; GROUPS_PER_ROW]; 3];
        for g in 0..GROUPS_PER_ROW {
            let first = g * LANES;
            if first >= geo.cols {
                continue;
            }
            let x0 = vdupq_n_f32((geo.x0 + first) as f32);
            let px = [vaddq_f32(x0, offsets[0]), vaddq_f32(x0, offsets[1])];
            let in_image = vdupq_n_s32((geo.cols - first) as i32);
            let zero = vdupq_n_f32(0.0);
            let mut pixels =
                [0, 1].map(|h| Pixels { t: c.one, rgb: [zero; 3], live: vcgtq_s32(in_image, lane_idx[h]) });
            if let Target::State { state, fresh: false, .. } = &target {
                let (t0, acc0, live0) = load_state(state, frame, geo, row, g);
                let (tv, live) = (load8(&t0), mask_of(live0));
                let rgb = acc0.map(|ch| load8(&ch));
                pixels = [0, 1].map(|h| Pixels { t: tv[h], rgb: rgb.map(|ch| ch[h]), live: live[h] });
            }
            let any_live = vmaxvq_u32(vorrq_u32(pixels[0].live, pixels[1].live)) != 0;
            if any_live {
                let set = sc.set(row, g);
                pixels = if frame.params.stop_inclusive {
                    blend_group::<true>(&c, &sc.splats, set, y, px, pixels)
                } else {
                    blend_group::<false>(&c, &sc.splats, set, y, px, pixels)
                };
            }
            store8([pixels[0].t, pixels[1].t], &mut t[g]);
            for (ch, acc_ch) in acc.iter_mut().enumerate() {
                store8([pixels[0].rgb[ch], pixels[1].rgb[ch]], &mut acc_ch[g]);
            }
            if let Target::State { state, image: None, .. } = &mut target {
                let live = flags_of([pixels[0].live, pixels[1].live]);
                store_state(state, frame, geo, row, g, (t[g], [acc[0][g], acc[1][g], acc[2][g]], live));
            }
        }
        if let Target::Image(out) | Target::State { image: Some(out), .. } = &mut target {
            write_row(frame, geo, row, &t, &acc, &mut out[row * w3..(row + 1) * w3]);
        }
    }
}

/// Composites the set `set` of `splats` into one 8-pixel group (pixel centres `px`, row centre `y`,
/// pixels) from the state `pixels`; returns the new state. All state stays in registers.
#[inline]
#[target_feature(enable = "neon")]
fn blend_group<const INCLUSIVE: bool>(
    c: &Consts,
    splats: &[TileSplat],
    set: &[u64],
    y: f32,
    px: [F; 2],
    mut pixels: [Pixels; 2],
) -> [Pixels; 2] {
    'set: for (chunk, &word) in set.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let k = chunk * CHUNK + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            // SAFETY: the sets hold only indices of `splats` (the padding's rows are empty).
            let s = unsafe { splats.get_unchecked(k) };
            // Per-row terms, scalar as in the portable kernel.
            let dy = s.mean_y - y;
            let (bdy, cdd_o) = (s.pb * dy, s.pc * dy * dy + s.log2_opacity);
            let stop_lo = composite::<INCLUSIVE>(c, s, bdy, cdd_o, px[0], &mut pixels[0]);
            let stop_hi = composite::<INCLUSIVE>(c, s, bdy, cdd_o, px[1], &mut pixels[1]);
            if vmaxvq_u32(vorrq_u32(stop_lo, stop_hi)) != 0 {
                pixels[0].live = vbicq_u32(pixels[0].live, stop_lo);
                pixels[1].live = vbicq_u32(pixels[1].live, stop_hi);
                if vmaxvq_u32(vorrq_u32(pixels[0].live, pixels[1].live)) == 0 {
                    break 'set;
                }
            }
        }
    }
    pixels
}

/// Composites Gaussian `s` into 4 pixels (centres `px`) given its row terms `bdy = pb·dy` and
/// `cdd_o = pc·dy·dy + log₂ o`; returns the lanes that terminate on it (to be cleared from `live`).
#[inline]
#[target_feature(enable = "neon")]
fn composite<const INCLUSIVE: bool>(c: &Consts, s: &TileSplat, bdy: f32, cdd_o: f32, px: F, p: &mut Pixels) -> M {
    let dx = vsubq_f32(vdupq_n_f32(s.mean_x), px);
    // dx·(pa·dx + bdy) + cdd_o with two fused multiply-adds (`vfmaq_f32(a, b, c)` = a + b·c).
    let log2_alpha = vfmaq_f32(vdupq_n_f32(cdd_o), dx, vfmaq_f32(vdupq_n_f32(bdy), vdupq_n_f32(s.pa), dx));
    let alpha = vminnmq_f32(exp2_neg(log2_alpha, c), c.alpha_max);
    // `power₂ ≤ 0`, as `log₂ α ≤ log₂ o`.
    let valid =
        vandq_u32(vandq_u32(vcleq_f32(log2_alpha, vdupq_n_f32(s.log2_opacity)), vcgeq_f32(alpha, c.alpha_min)), p.live);
    let test_t = vmulq_f32(p.t, vsubq_f32(c.one, alpha));
    let stop = if INCLUSIVE { vcleq_f32(test_t, c.t_stop) } else { vcltq_f32(test_t, c.t_stop) };
    let add = vbicq_u32(valid, stop);
    // α on the lanes that composite, +0 elsewhere: acc + c·(0·T) = acc exactly (acc, c ≥ 0).
    let alpha_add = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(alpha), add));
    let w = vmulq_f32(alpha_add, p.t);
    for (acc, &color) in p.rgb.iter_mut().zip(&s.color) {
        *acc = vfmaq_f32(*acc, vdupq_n_f32(color), w);
    }
    p.t = vbslq_f32(add, test_t, p.t);
    vandq_u32(stop, valid)
}

/// Lane-wise [`super::exp2_neg`], operation for operation.
#[inline]
#[target_feature(enable = "neon")]
fn exp2_neg(x: F, c: &Consts) -> F {
    let x = vmaxnmq_f32(x, c.exp_floor);
    let t = vaddq_f32(x, c.magic);
    let k = vsubq_f32(t, c.magic);
    let r = vsubq_f32(x, k);
    let r2 = vmulq_f32(r, r);
    let [c0, c1, c2, c3, c4] = c.poly;
    let u0 = vfmaq_f32(c.one, c4, r);
    let u1 = vfmaq_f32(c3, c2, r);
    let u2 = vfmaq_f32(c1, c0, r);
    let e = vfmaq_f32(u0, vfmaq_f32(u1, u2, r2), r2);
    let bits = vaddq_s32(vreinterpretq_s32_f32(t), c.bias);
    vmulq_f32(e, vreinterpretq_f32_s32(vshlq_n_s32::<23>(bits)))
}
