//! The optimised per-tile blending kernel.
//!
//! A 16×16 tile is processed in two steps:
//!
//! 1. **Sets** (`tile_sets.rs`): the tile's Gaussians compacted into an L1-resident array, and for every
//!    (pixel row, 8-pixel group) the bitset of those whose α box covers it, in depth order.
//! 2. **Groups.** Each 8-pixel group walks its own set with its transmittance, colour and liveness in
//!    registers (no per-Gaussian loads/stores of pixel state). Per Gaussian the group's 8 powers are
//!    computed (two fused multiply-adds); in the portable kernel `exp2`, α and compositing run only if
//!    some live lane has `log₂ α ≥ −log₂ 255 − 1.5·10⁻³`. A lane below that bound has `α < 1/255` whatever
//!    the rounding of `exp2` (the margin is 10³ times its error), i.e. the exact test would skip it
//!    anyway, so this filter never changes a pixel. The AVX2 kernel leaves the filter
//!    out: its branch mispredicts often while the 8-wide evaluation is cheap, and lanes below the bound
//!    composite nothing anyway (measured 4–12 % faster per garden frame). A group stops as soon as its 8
//!    pixels have terminated (`T·(1−α)` below the threshold).
//!
//! The power is evaluated in base 2 with the opacity folded in: `log₂ α = log₂e·power + log₂ o` (conic
//! pre-scaled once per Gaussian, `log₂ o` added to the per-row constant), so `α = 2^(log₂ α)` needs no
//! `x·log₂e`, no two-constant range reduction and no multiply by `o`; `2^x` is a polynomial approximation
//! ([`exp2_neg`], ≤ 2 ulp) rather than libm, which is what allows vectorisation. This rounds differently
//! from the reference's `o·exp(−½(a·dx² + c·dy²) − b·dx·dy)` by about 1e−6 relative in α (the ulp of
//! `log₂ α` near −8), an order of magnitude below the golden tolerance. The per-entry work is
//! latency-bound (the power → `exp2` → α chain of every entry must fit the out-of-order window), so fewer
//! dependent operations per entry is what pays.
//!
//! Explicit SIMD kernels are selected at run time in [`blend_tile`] (with the matching gather of
//! `tile_sets.rs`): on x86-64 the AVX-512 kernel (`blend/avx512.rs`: a whole 16-pixel tile row per vector,
//! the two groups' sets walked as one) when the CPU has AVX-512F, else the AVX2 + FMA kernel (`avx2` below)
//! when `cpu::has_avx2_fma()`, on aarch64
//! the NEON kernel (`blend/neon.rs`, an 8-pixel group as two 4-lane vectors) when `cpu::has_neon()`;
//! elsewhere the portable kernel. The portable kernel calls `f32::mul_add` exactly where the SIMD ones
//! fuse (`vfmadd`, `vfmaq_f32`: the power, the polynomial, and `acc + c·(α·T)`; fused multiply-add is
//! exactly rounded, so they agree bit for bit) and plain operations elsewhere (Rust never contracts
//! `a·b + c`): all produce bit-identical images (tested). On aarch64 `f32::max`/`min` are `fmaxnm`/
//! `fminnm`, which the NEON kernel matches with `vmaxnmq`/`vminnmq`. (On an x86-64 CPU without FMA the
//! portable kernel's `mul_add` is a libm call: correct, but slow; on aarch64 it is one `fmadd`.)

use std::cell::RefCell;

use worldflow_protocol::Camera;

pub(crate) use crate::exp2::exp2_neg;
use crate::exp2::{EXP2_FLOOR, EXP2_P, EXP_BIAS, MAGIC};
use crate::options::{CompatParams, RenderOptions, ALPHA_MIN, LOG2_255, T_STOP};
use crate::tile_sets::{gather, TileGeom, TileSets, CHUNK, GROUPS_PER_ROW, LANES};
use crate::tile_splat::{SplatBlend, TileSplat};

/// What the kernel needs about the frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TileFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub params: CompatParams,
    pub background: [f32; 3],
    /// Each pixel's own background (`width·height·3`, row-major), in place of `background` (the ground
    /// plane, `crate::ground`).
    pub background_image: Option<&'a [f32]>,
}

impl<'a> TileFrame<'a> {
    /// The frame of `camera` under `options`; `background_image` is each pixel's background, used when the options
    /// have a ground plane (see `Renderer::prepare_background`).
    pub(crate) fn new(camera: &Camera, options: &RenderOptions, background_image: &'a [f32]) -> Self {
        Self {
            width: camera.width,
            height: camera.height,
            params: options.compat.params(),
            background: options.background,
            background_image: options.ground.is_some().then_some(background_image),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<TileSets> = RefCell::new(TileSets::default());
}

/// Where a tile's blending starts and ends.
pub(crate) enum Target<'a> {
    /// From `T = 1`, no colour, into the image band (`width·3` floats per image row, first row = the tile's
    /// first row).
    Image(&'a mut [f32]),
    /// From a per-pixel state band (`width·4` floats per row: `[±T, R, G, B]`, `T` negated once the pixel
    /// has terminated; `fresh`: ignore it and start from `T = 1`) back into it, or, given `image`, into the
    /// image band: one frame can be blended in several depth-ordered parts, and the per-pixel sequence of
    /// operations, so every bit, is the one of a single pass. A tile whose last part did not write the image
    /// is [`composite_tile`] of its state.
    State { state: &'a mut [f32], fresh: bool, image: Option<&'a mut [f32]> },
}

/// Floats per pixel of a [`Target::State`] band.
pub(crate) const STATE: usize = 4;

/// Renders one tile into `target`. `list` indexes `splats`.
pub(crate) fn blend_tile(
    frame: &TileFrame,
    tile_x: u32,
    tile_y: u32,
    list: &[u32],
    splats: &[SplatBlend],
    target: Target,
) {
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let geo = TileGeom::new(frame.width, frame.height, tile_x, tile_y);
        #[cfg(target_arch = "x86_64")]
        {
            if avx512::available() {
                // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked just above).
                unsafe {
                    crate::tile_sets::avx2::gather(&geo, list, splats, &mut scratch);
                    avx512::blend_rows(frame, &geo, &scratch, target);
                }
                return;
            }
            if avx2::available() {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                unsafe {
                    crate::tile_sets::avx2::gather(&geo, list, splats, &mut scratch);
                    avx2::blend_rows(frame, &geo, &scratch, target);
                }
                return;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if neon::available() {
                // SAFETY: the CPU supports NEON (checked just above).
                unsafe {
                    crate::tile_sets::neon::gather(&geo, list, splats, &mut scratch);
                    neon::blend_rows(frame, &geo, &scratch, target);
                }
                return;
            }
        }
        gather(&geo, list, splats, &mut scratch);
        blend_rows_portable(frame, &geo, &scratch, target);
    });
}

/// Writes the pixels of tile `geo` from its state (`None`: never blended, `T = 1` and no colour) as
/// [`write_row`] does: `C + T·background`. `state` and `out` are the tile row's bands.
pub(crate) fn composite_tile(frame: &TileFrame, geo: &TileGeom, state: Option<&[f32]>, out: &mut [f32]) {
    let w = frame.width as usize;
    for row in 0..geo.rows {
        let image_row = (geo.y0 + row) * w * 3;
        for x in geo.x0..geo.x0 + geo.cols {
            let bg = match frame.background_image {
                Some(image) => &image[image_row + x * 3..image_row + x * 3 + 3],
                None => &frame.background[..],
            };
            let (tv, acc) = match state {
                Some(s) => {
                    let st = &s[(row * w + x) * STATE..][..STATE];
                    (st[0].abs(), [st[1], st[2], st[3]])
                }
                None => (1.0, [0.0; 3]),
            };
            let o = &mut out[(row * w + x) * 3..][..3];
            o[0] = acc[0] + tv * bg[0];
            o[1] = acc[1] + tv * bg[1];
            o[2] = acc[2] + tv * bg[2];
        }
    }
}

/// Loads row `row`, group `g` of a state band: `(T, [R, G, B], live)` per lane (`live` false past `cols`).
#[inline(always)]
fn load_state(
    state: &[f32],
    frame: &TileFrame,
    geo: &TileGeom,
    row: usize,
    g: usize,
) -> ([f32; LANES], [[f32; LANES]; 3], [bool; LANES]) {
    let (mut t, mut acc, mut live) = ([1.0f32; LANES], [[0.0f32; LANES]; 3], [false; LANES]);
    let base = row * frame.width as usize * STATE;
    for l in 0..LANES {
        let col = g * LANES + l;
        if col < geo.cols {
            let st = &state[base + (geo.x0 + col) * STATE..][..STATE];
            (t[l], live[l]) = (st[0].abs(), st[0] > 0.0);
            (acc[0][l], acc[1][l], acc[2][l]) = (st[1], st[2], st[3]);
        }
    }
    (t, acc, live)
}

/// Stores row `row`, group `g` into a state band (the inverse of [`load_state`]).
#[inline(always)]
fn store_state(
    state: &mut [f32],
    frame: &TileFrame,
    geo: &TileGeom,
    row: usize,
    g: usize,
    (t, acc, live): ([f32; LANES], [[f32; LANES]; 3], [bool; LANES]),
) {
    let base = row * frame.width as usize * STATE;
    for l in 0..LANES {
        let col = g * LANES + l;
        if col < geo.cols {
            let st = &mut state[base + (geo.x0 + col) * STATE..][..STATE];
            st.copy_from_slice(&[if live[l] { t[l] } else { -t[l] }, acc[0][l], acc[1][l], acc[2][l]]);
        }
    }
}

/// Writes `C + T·background` for the in-image pixels of tile row `row` (`line` = that image row).
#[inline(always)]
fn write_row(
    frame: &TileFrame,
    geo: &TileGeom,
    row: usize,
    t: &[[f32; LANES]; GROUPS_PER_ROW],
    acc: &[[[f32; LANES]; GROUPS_PER_ROW]; 3],
    line: &mut [f32],
) {
    let (start, end) = (geo.x0 * 3, (geo.x0 + geo.cols) * 3);
    let px = &mut line[start..end];
    // (A function, not a closure: `#[inline(always)]` makes sure it is inlined into the SIMD kernels'
    // target-feature callers, where a closure call stayed out of line — 5 % of a rig frame.)
    #[inline(always)]
    fn composite(
        t: &[[f32; LANES]; GROUPS_PER_ROW],
        acc: &[[[f32; LANES]; GROUPS_PER_ROW]; 3],
        col: usize,
        o: &mut [f32],
        bg: &[f32],
    ) {
        let (g, l) = (col / LANES, col % LANES);
        let tv = t[g][l];
        o[0] = acc[0][g][l] + tv * bg[0];
        o[1] = acc[1][g][l] + tv * bg[1];
        o[2] = acc[2][g][l] + tv * bg[2];
    }
    match frame.background_image {
        None => {
            for (col, o) in px.chunks_exact_mut(3).enumerate() {
                composite(t, acc, col, o, &frame.background);
            }
        }
        Some(image) => {
            let image_row = (geo.y0 + row) * frame.width as usize * 3;
            let bg = &image[image_row + start..image_row + end];
            for (col, (o, bg)) in px.chunks_exact_mut(3).zip(bg.chunks_exact(3)).enumerate() {
                composite(t, acc, col, o, bg);
            }
        }
    }
}

/// `log₂ α = power₂ + log₂ o = dx·(pa·dx + pb·dy) + (pc·dy² + log₂ o)` (before the α clamp) for one lane,
/// given `bdy = pb·dy` and `cdd_o = pc·dy·dy + log₂ o` (the same two fused multiply-adds as the AVX2
/// kernel).
#[inline(always)]
fn log2_alpha(s: &TileSplat, dx: f32, bdy: f32, cdd_o: f32) -> f32 {
    dx.mul_add(s.pa.mul_add(dx, bdy), cdd_o)
}

/// Below this `log₂ α`, `α < 1/255` whatever the rounding of [`exp2_neg`] (the margin, 10⁻³ of a
/// factor 2, is 10³ times its error): the portable kernel skips such lanes without evaluating it.
const LOG2_ALPHA_SKIP: f32 = -LOG2_255 - 1.5e-3;

/// Step 2, portable build (the reference for the AVX2 and NEON builds: same operations, same order, same
/// fused multiply-adds).
fn blend_rows_portable(frame: &TileFrame, geo: &TileGeom, sc: &TileSets, mut target: Target) {
    let w3 = frame.width as usize * 3;
    let alpha_max = frame.params.alpha_max;
    let inclusive = frame.params.stop_inclusive;
    for row in 0..geo.rows {
        let y = (geo.y0 + row) as f32 + 0.5;
        let mut t = [[1.0f32; LANES]; GROUPS_PER_ROW];
        let mut acc = [[[0.0f32; LANES]; GROUPS_PER_ROW]; 3];
        for g in 0..GROUPS_PER_ROW {
            let mut px = [0.0f32; LANES];
            let mut live = [false; LANES];
            for l in 0..LANES {
                px[l] = (geo.x0 + g * LANES) as f32 + (l as f32 + 0.5);
                live[l] = g * LANES + l < geo.cols;
            }
            if let Target::State { state, fresh: false, .. } = &target {
                let (t0, acc0, live0) = load_state(state, frame, geo, row, g);
                (t[g], live) = (t0, live0);
                (0..3).for_each(|ch| acc[ch][g] = acc0[ch]);
            }
            let mut live_count = live.iter().filter(|&&v| v).count();
            if live_count == 0 {
                if let Target::State { state, image: None, .. } = &mut target {
                    store_state(state, frame, geo, row, g, (t[g], [acc[0][g], acc[1][g], acc[2][g]], live));
                }
                continue;
            }
            'set: for (c, &word) in sc.set(row, g).iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let s = &sc.splats[c * CHUNK + bits.trailing_zeros() as usize];
                    bits &= bits - 1;
                    let dy = s.mean_y - y;
                    let (bdy, cdd_o) = (s.pb * dy, s.pc * dy * dy + s.log2_opacity);
                    let p = px.map(|x| log2_alpha(s, s.mean_x - x, bdy, cdd_o));
                    if !(0..LANES).any(|l| p[l] >= LOG2_ALPHA_SKIP && live[l]) {
                        continue;
                    }
                    for l in 0..LANES {
                        let alpha = exp2_neg(p[l]).min(alpha_max);
                        if !(p[l] <= s.log2_opacity && alpha >= ALPHA_MIN && live[l]) {
                            continue;
                        }
                        let tl = t[g][l];
                        let test_t = tl * (1.0 - alpha);
                        let stop = if inclusive { test_t <= T_STOP } else { test_t < T_STOP };
                        if stop {
                            live[l] = false;
                            live_count -= 1;
                            continue;
                        }
                        let w = alpha * tl;
                        for (acc_ch, color) in acc.iter_mut().zip(s.color) {
                            acc_ch[g][l] = color.mul_add(w, acc_ch[g][l]);
                        }
                        t[g][l] = test_t;
                    }
                    if live_count == 0 {
                        break 'set;
                    }
                }
            }
            if let Target::State { state, image: None, .. } = &mut target {
                store_state(state, frame, geo, row, g, (t[g], [acc[0][g], acc[1][g], acc[2][g]], live));
            }
        }
        if let Target::Image(out) | Target::State { image: Some(out), .. } = &mut target {
            write_row(frame, geo, row, &t, &acc, &mut out[row * w3..(row + 1) * w3]);
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Step 2 with explicit AVX2 + FMA intrinsics. Every lane performs exactly the portable kernel's
/// operations in the same order (FMA exactly where it calls `mul_add`), so both produce bit-identical
/// images.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{
        load_state, store_state, write_row, Target, TileFrame, TileGeom, TileSets, CHUNK, EXP2_FLOOR, EXP2_P, EXP_BIAS,
        GROUPS_PER_ROW, LANES, MAGIC,
    };
    use crate::options::{ALPHA_MIN, T_STOP};

    /// Vector constants, kept in memory (see [`consts`]).
    type Consts = [__m256; BIAS + 1];
    const ALPHA_MAX: usize = 0;
    const ALPHA_MIN_: usize = 1;
    const T_STOP_: usize = 2;
    const ONE: usize = 3;
    const EXP_FLOOR: usize = 4;
    const MAGIC_: usize = 5;
    const POLY: usize = 6; // EXP2_P.len() entries
    const BIAS: usize = POLY + EXP2_P.len();

    /// The kernel's constants as an opaque in-memory table: with AVX2 a splat constant is otherwise
    /// re-materialised with a separate broadcast load at every use (the inner loop has more constants
    /// than registers), whereas an opaque full-width value folds into the arithmetic instruction as a
    /// memory operand.
    #[target_feature(enable = "avx2,fma")]
    fn consts(frame: &TileFrame) -> Consts {
        let mut c = [_mm256_setzero_ps(); BIAS + 1];
        c[ALPHA_MAX] = _mm256_set1_ps(frame.params.alpha_max);
        c[ALPHA_MIN_] = _mm256_set1_ps(ALPHA_MIN);
        c[T_STOP_] = _mm256_set1_ps(T_STOP);
        c[ONE] = _mm256_set1_ps(1.0);
        c[EXP_FLOOR] = _mm256_set1_ps(EXP2_FLOOR);
        c[MAGIC_] = _mm256_set1_ps(MAGIC);
        for (i, &p) in EXP2_P.iter().enumerate() {
            c[POLY + i] = _mm256_set1_ps(p);
        }
        c[BIAS] = _mm256_castsi256_ps(_mm256_set1_epi32(EXP_BIAS));
        std::hint::black_box(c)
    }

    pub(super) fn available() -> bool {
        worldflow_base::cpu::has_avx2_fma()
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn blend_rows(frame: &TileFrame, geo: &TileGeom, sc: &TileSets, mut target: Target) {
        let w3 = frame.width as usize * 3;
        let c = consts(frame);
        let offsets = _mm256_setr_ps(0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5);
        let lane_idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for row in 0..geo.rows {
            let y = (geo.y0 + row) as f32 + 0.5;
            let mut t = [[1.0f32; LANES]; GROUPS_PER_ROW];
            let mut acc = [[[0.0f32; LANES]; GROUPS_PER_ROW]; 3];
            for g in 0..GROUPS_PER_ROW {
                let first = g * LANES;
                if first >= geo.cols {
                    continue;
                }
                let px = _mm256_add_ps(_mm256_set1_ps((geo.x0 + first) as f32), offsets);
                let mut live =
                    _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((geo.cols - first) as i32), lane_idx));
                let one = _mm256_set1_ps(1.0);
                let zero = _mm256_setzero_ps();
                let mut init = (one, zero, zero, zero);
                if let Target::State { state, fresh: false, .. } = &target {
                    let (t0, acc0, live0) = load_state(state, frame, geo, row, g);
                    let mask: [f32; LANES] = live0.map(|v| if v { f32::from_bits(!0) } else { 0.0 });
                    // SAFETY: (loads) 8-lane arrays, unaligned access allowed.
                    unsafe {
                        live = _mm256_loadu_ps(mask.as_ptr());
                        init = (
                            _mm256_loadu_ps(t0.as_ptr()),
                            _mm256_loadu_ps(acc0[0].as_ptr()),
                            _mm256_loadu_ps(acc0[1].as_ptr()),
                            _mm256_loadu_ps(acc0[2].as_ptr()),
                        );
                    }
                }
                let set = sc.set(row, g);
                let (tv, r, gr, b, live) = if _mm256_testz_ps(live, live) != 0 {
                    (init.0, init.1, init.2, init.3, live)
                } else if frame.params.stop_inclusive {
                    blend_group::<true>(&c, sc, set, y, px, live, init)
                } else {
                    blend_group::<false>(&c, sc, set, y, px, live, init)
                };
                // SAFETY: (stores) 8-lane arrays, unaligned access allowed.
                unsafe {
                    _mm256_storeu_ps(t[g].as_mut_ptr(), tv);
                    _mm256_storeu_ps(acc[0][g].as_mut_ptr(), r);
                    _mm256_storeu_ps(acc[1][g].as_mut_ptr(), gr);
                    _mm256_storeu_ps(acc[2][g].as_mut_ptr(), b);
                }
                if let Target::State { state, image: None, .. } = &mut target {
                    let live_lanes = _mm256_movemask_ps(live);
                    let live_arr: [bool; LANES] = std::array::from_fn(|l| live_lanes >> l & 1 == 1);
                    store_state(state, frame, geo, row, g, (t[g], [acc[0][g], acc[1][g], acc[2][g]], live_arr));
                }
            }
            if let Target::Image(out) | Target::State { image: Some(out), .. } = &mut target {
                write_row(frame, geo, row, &t, &acc, &mut out[row * w3..(row + 1) * w3]);
            }
        }
    }

    /// Composites `list` into one 8-pixel group (pixel centres `px`, row centre `y`) from the state
    /// `init = (T, R, G, B)`; returns `(T, R, G, B, live)`. All state stays in registers.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn blend_group<const INCLUSIVE: bool>(
        c: &Consts,
        sc: &TileSets,
        set: &[u64],
        y: f32,
        px: __m256,
        mut live: __m256,
        init: (__m256, __m256, __m256, __m256),
    ) -> (__m256, __m256, __m256, __m256, __m256) {
        let (alpha_max, alpha_min, t_stop, one) = (c[ALPHA_MAX], c[ALPHA_MIN_], c[T_STOP_], c[ONE]);
        let (mut t, mut r, mut g, mut b) = init;
        let splats = &sc.splats;
        'set: for (chunk, &word) in set.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let k = chunk * CHUNK + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // SAFETY: the sets hold only indices of `splats` (the padding's rows are empty).
                let s = unsafe { splats.get_unchecked(k) };
                let dy = s.mean_y - y;
                let bdy = _mm256_set1_ps(s.pb * dy);
                let cdd_o = _mm256_set1_ps(s.pc * dy * dy + s.log2_opacity);
                let dx = _mm256_sub_ps(_mm256_set1_ps(s.mean_x), px);
                let log2_alpha = _mm256_fmadd_ps(dx, _mm256_fmadd_ps(_mm256_set1_ps(s.pa), dx, bdy), cdd_o);
                let alpha = _mm256_min_ps(exp2_neg(log2_alpha, c), alpha_max);
                // `power₂ ≤ 0`, as `log₂ α ≤ log₂ o`.
                let valid = _mm256_and_ps(
                    _mm256_and_ps(
                        _mm256_cmp_ps::<_CMP_LE_OQ>(log2_alpha, _mm256_set1_ps(s.log2_opacity)),
                        _mm256_cmp_ps::<_CMP_GE_OQ>(alpha, alpha_min),
                    ),
                    live,
                );
                let test_t = _mm256_mul_ps(t, _mm256_sub_ps(one, alpha));
                let stop = if INCLUSIVE {
                    _mm256_cmp_ps::<_CMP_LE_OQ>(test_t, t_stop)
                } else {
                    _mm256_cmp_ps::<_CMP_LT_OQ>(test_t, t_stop)
                };
                let add = _mm256_andnot_ps(stop, valid);
                // α on the lanes that composite, +0 elsewhere: acc + c·(0·T) = acc exactly (acc, c ≥ 0).
                let alpha_add = _mm256_and_ps(alpha, add);
                let w = _mm256_mul_ps(alpha_add, t);
                r = _mm256_fmadd_ps(_mm256_set1_ps(s.color[0]), w, r);
                g = _mm256_fmadd_ps(_mm256_set1_ps(s.color[1]), w, g);
                b = _mm256_fmadd_ps(_mm256_set1_ps(s.color[2]), w, b);
                t = _mm256_blendv_ps(t, test_t, add);
                let stop_now = _mm256_and_ps(stop, valid);
                if _mm256_testz_ps(stop_now, stop_now) == 0 {
                    live = _mm256_andnot_ps(stop_now, live);
                    if _mm256_testz_ps(live, live) != 0 {
                        break 'set;
                    }
                }
            }
        }
        (t, r, g, b, live)
    }

    /// Lane-wise [`super::exp2_neg`], operation for operation.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn exp2_neg(x: __m256, c: &Consts) -> __m256 {
        let x = _mm256_max_ps(x, c[EXP_FLOOR]);
        let t = _mm256_add_ps(x, c[MAGIC_]);
        let k = _mm256_sub_ps(t, c[MAGIC_]);
        let r = _mm256_sub_ps(x, k);
        let r2 = _mm256_mul_ps(r, r);
        let u0 = _mm256_fmadd_ps(c[POLY + 4], r, c[ONE]);
        let u1 = _mm256_fmadd_ps(c[POLY + 2], r, c[POLY + 3]);
        let u2 = _mm256_fmadd_ps(c[POLY], r, c[POLY + 1]);
        let e = _mm256_fmadd_ps(_mm256_fmadd_ps(u2, r2, u1), r2, u0);
        let bits = _mm256_add_epi32(_mm256_castps_si256(t), _mm256_castps_si256(c[BIAS]));
        _mm256_mul_ps(e, _mm256_castsi256_ps(_mm256_slli_epi32::<23>(bits)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Splat2D;

    #[test]
    fn exp2_neg_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = 0.0f32;
        while x > EXP2_FLOOR {
            let e = exp2_neg(x) as f64;
            let r = (x as f64).exp2();
            worst = worst.max(((e - r) / r).abs());
            x -= 0.000_37;
        }
        assert!(worst < 2.5e-7, "max relative error {worst}");
        assert_eq!(exp2_neg(0.0), 1.0);
        assert_eq!(exp2_neg(-3.0), 0.125);
        assert_eq!(exp2_neg(-1000.0), exp2_neg(EXP2_FLOOR));
    }

    /// The portable kernel's filter must only skip lanes the exact test rejects: at (and below)
    /// `LOG2_ALPHA_SKIP`, α < 1/255.
    #[test]
    fn skip_bound_is_conservative() {
        assert!(exp2_neg(LOG2_ALPHA_SKIP) < ALPHA_MIN);
        assert!(exp2_neg(LOG2_ALPHA_SKIP) > 0.998 * ALPHA_MIN, "the bound is needlessly loose");
        assert!((LOG2_255 - 255f64.log2() as f32).abs() <= f32::EPSILON * 8.0);
    }

    /// Blends a full tile and a clipped edge tile (13 × 5 pixels) of a 45 × 37 frame of 400 overlapping
    /// Gaussians, in both stop modes, with the portable kernel and with `kernel` (a SIMD build's gather and
    /// blend, into the target it is given), and asserts bit-identical results: straight into the image,
    /// and in two depth-ordered parts through a state band (the first part's state, then the second
    /// part's image, which must also equal the single pass's).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn assert_kernel_matches_portable(kernel: impl Fn(&TileFrame, &TileGeom, &[u32], &[SplatBlend], Target)) {
        let mut state = 99u32;
        let mut rnd = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        };
        let splats: Vec<SplatBlend> = (0..400)
            .map(|_| {
                let (a, c) = (0.05 + rnd() * 0.5, 0.05 + rnd() * 0.5);
                let b = (rnd() - 0.5) * (a * c).sqrt();
                let opacity: f32 = 0.02 + rnd() * 0.98;
                SplatBlend::new(&Splat2D {
                    mean_x: 16.0 + rnd() * 24.0,
                    mean_y: 16.0 + rnd() * 20.0,
                    conic_a: a,
                    conic_b: b,
                    conic_c: c,
                    opacity,
                    color: [rnd(), rnd() * 2.0, rnd()],
                    log2_opacity: opacity.log2(),
                    alpha_ext_x: 4.0 + rnd() * 8.0,
                    alpha_ext_y: 4.0 + rnd() * 8.0,
                    ..Default::default()
                })
            })
            .collect();
        let list: Vec<u32> = (0..splats.len() as u32).collect();
        let (front, back) = list.split_at(list.len() * 3 / 4);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut terminated = 0;
        for inclusive in [false, true] {
            let frame = TileFrame {
                width: 45,
                height: 37,
                params: CompatParams { alpha_max: if inclusive { 0.999 } else { 0.99 }, stop_inclusive: inclusive },
                background: [0.1, 0.2, 0.3],
                background_image: None,
            };
            for (tx, ty) in [(1u32, 1u32), (2, 2)] {
                let case = format!("tile ({tx}, {ty}), inclusive {inclusive}");
                let geo = TileGeom::new(frame.width, frame.height, tx, ty);
                let portable = |list: &[u32], target: Target| {
                    let mut sets = TileSets::default();
                    gather(&geo, list, &splats, &mut sets);
                    blend_rows_portable(&frame, &geo, &sets, target);
                };
                let (image_band, state_band) = (16 * 45 * 3, 16 * 45 * STATE);

                let (mut a, mut b) = (vec![0.0f32; image_band], vec![0.0f32; image_band]);
                portable(&list, Target::Image(&mut a));
                kernel(&frame, &geo, &list, &splats, Target::Image(&mut b));
                assert!(a.iter().any(|&v| v != 0.0), "{case}: nothing drawn");
                assert_eq!(bits(&a), bits(&b), "{case}: image");

                let (mut sa, mut sb) = (vec![0.0f32; state_band], vec![0.0f32; state_band]);
                portable(front, Target::State { state: &mut sa, fresh: true, image: None });
                kernel(&frame, &geo, front, &splats, Target::State { state: &mut sb, fresh: true, image: None });
                assert_eq!(bits(&sa), bits(&sb), "{case}: state after the first part");
                terminated += sa.chunks_exact(STATE).filter(|st| st[0] < 0.0).count();

                let (mut pa, mut pb) = (vec![0.0f32; image_band], vec![0.0f32; image_band]);
                portable(back, Target::State { state: &mut sa, fresh: false, image: Some(&mut pa) });
                let target = Target::State { state: &mut sb, fresh: false, image: Some(&mut pb) };
                kernel(&frame, &geo, back, &splats, target);
                assert_eq!(bits(&pa), bits(&pb), "{case}: image after the second part");
                assert_eq!(bits(&pa), bits(&a), "{case}: two parts differ from one pass");
            }
        }
        println!("{terminated} pixels terminated in a first part");
        assert!(terminated > 0, "no pixel terminated in a first part: the stop path went untested");
        for inclusive in [false, true] {
            assert_stop_boundary_matches_portable(&kernel, inclusive);
        }
    }

    /// The stop test at its boundary, which random scenes practically never hit: a tile whose pixels
    /// all get `α = alpha_max` exactly (a flat, opaque Gaussian) from a state band whose `T` makes
    /// `T·(1 − α)` exactly `T_STOP` (and its neighbours), where `<` and `≤` decide differently.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn assert_stop_boundary_matches_portable(
        kernel: &impl Fn(&TileFrame, &TileGeom, &[u32], &[SplatBlend], Target),
        inclusive: bool,
    ) {
        let params = CompatParams { alpha_max: if inclusive { 0.999 } else { 0.99 }, stop_inclusive: inclusive };
        let frame = TileFrame { width: 45, height: 37, params, background: [0.0; 3], background_image: None };
        let geo = TileGeom::new(frame.width, frame.height, 1, 1);
        let flat = SplatBlend::new(&Splat2D {
            mean_x: 24.0,
            mean_y: 24.0,
            conic_a: 1e-7,
            conic_c: 1e-7,
            opacity: 1.0,
            color: [1.0, 0.5, 0.25],
            alpha_ext_x: 100.0,
            alpha_ext_y: 100.0,
            ..Default::default()
        });
        let one_minus = 1.0 - params.alpha_max;
        let mut t_exact = T_STOP / one_minus;
        for _ in 0..64 {
            if t_exact * one_minus == T_STOP {
                break;
            }
            t_exact = if t_exact * one_minus < T_STOP { t_exact.next_up() } else { t_exact.next_down() };
        }
        assert_eq!(t_exact * one_minus, T_STOP, "no T with T·(1 − α) = T_STOP exactly");
        let ts = [t_exact, t_exact.next_up(), t_exact.next_down(), 0.5];
        let mut start = vec![0.0f32; 16 * 45 * STATE];
        for (k, st) in start.chunks_exact_mut(STATE).enumerate() {
            st[0] = ts[k % ts.len()];
        }
        let (mut sa, mut sb) = (start.clone(), start.clone());
        let mut sets = TileSets::default();
        gather(&geo, &[0], &[flat], &mut sets);
        blend_rows_portable(&frame, &geo, &sets, Target::State { state: &mut sa, fresh: false, image: None });
        kernel(&frame, &geo, &[0], &[flat], Target::State { state: &mut sb, fresh: false, image: None });
        // The portable kernel took each pixel that started at `t_exact` through the boundary the way the
        // mode says: `<` composites it (T becomes T_STOP), `≤` terminates it (T kept, negated).
        let mut boundary_pixels = 0;
        for row in 0..geo.rows {
            for x in geo.x0..geo.x0 + geo.cols {
                let k = (row * frame.width as usize + x) * STATE;
                if start[k] == t_exact {
                    let want = if inclusive { -t_exact } else { T_STOP };
                    assert_eq!(sa[k], want, "portable kernel at the boundary, inclusive {inclusive}");
                    boundary_pixels += 1;
                }
            }
        }
        assert!(boundary_pixels > 0);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&sa), bits(&sb), "stop boundary, inclusive {inclusive}");
    }

    /// The AVX2 kernel and the portable kernel must agree bit for bit (same operations, same FMAs).
    #[test]
    fn avx2_kernel_is_bit_identical_to_portable_kernel() {
        #[cfg(target_arch = "x86_64")]
        {
            if !avx2::available() {
                println!("no AVX2/FMA on this CPU: nothing to compare");
                return;
            }
            assert_kernel_matches_portable(|frame, geo, list, splats, target| {
                let mut sets = TileSets::default();
                // SAFETY: AVX2 and FMA support checked above.
                unsafe {
                    crate::tile_sets::avx2::gather(geo, list, splats, &mut sets);
                    avx2::blend_rows(frame, geo, &sets, target);
                }
            });
        }
        #[cfg(not(target_arch = "x86_64"))]
        println!("not x86-64: no AVX2 kernel to compare");
    }

    /// The AVX-512 row kernel and the portable kernel must agree bit for bit (same operations per lane).
    #[test]
    fn avx512_kernel_is_bit_identical_to_portable_kernel() {
        #[cfg(target_arch = "x86_64")]
        {
            if !worldflow_base::cpu::has_avx512f() || !avx2::available() {
                println!("no AVX-512F on this CPU: nothing to compare");
                return;
            }
            assert_kernel_matches_portable(|frame, geo, list, splats, target| {
                let mut sets = TileSets::default();
                // SAFETY: AVX-512F, AVX2 and FMA support checked above.
                unsafe {
                    crate::tile_sets::avx2::gather(geo, list, splats, &mut sets);
                    avx512::blend_rows(frame, geo, &sets, target);
                }
            });
        }
        #[cfg(not(target_arch = "x86_64"))]
        println!("not x86-64: no AVX-512 kernel to compare");
    }

    /// The NEON kernel and the portable kernel must agree bit for bit (same operations, same FMAs).
    #[test]
    fn neon_kernel_is_bit_identical_to_portable_kernel() {
        #[cfg(target_arch = "aarch64")]
        {
            if !neon::available() {
                println!("no NEON on this CPU: nothing to compare");
                return;
            }
            assert_kernel_matches_portable(|frame, geo, list, splats, target| {
                let mut sets = TileSets::default();
                // SAFETY: NEON support checked above.
                unsafe {
                    crate::tile_sets::neon::gather(geo, list, splats, &mut sets);
                    neon::blend_rows(frame, geo, &sets, target);
                }
            });
        }
        #[cfg(not(target_arch = "aarch64"))]
        println!("not aarch64: no NEON kernel to compare");
    }
}
