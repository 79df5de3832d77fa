//! `2^x` for `x ≤ 0` as a polynomial of plain float arithmetic: the blend kernels' α and the ground's haze.
//! Its own module so that both use it without `ground` depending on `blend` (which depends on `options`,
//! which holds a `Ground`).

/// `2^x` for `x ≤ 0`; inputs below −86 return `2^−86` (≈ 1.3e−26: any α from it is far below 1/255, and
/// the clamp keeps every product normal — denormals cost microcode assists of ~100 cycles). `x = k + r` with
/// `k` the nearest integer (exact: `r = x − k` needs no extended-precision constant, unlike `e^x`'s
/// Cody–Waite reduction) and `2^r ≈ 1 + r·P(r)` on `|r| ≤ ½`, written with fused multiply-adds
/// (`mul_add` is exactly rounded, so the AVX2 build's `vfmadd` gives the same bits). Pure float/int
/// arithmetic so that it vectorises.
#[inline(always)]
pub(crate) fn exp2_neg(x: f32) -> f32 {
    let x = x.max(EXP2_FLOOR);
    // t = 1.5·2^23 + k with k = round(x) ∈ [−86, 0]: an integer-valued float whose low mantissa bits hold
    // k, so 2^k is built from t's bits directly.
    let t = x + MAGIC;
    let k = t - MAGIC;
    let r = x - k;
    // Estrin's scheme (3 dependent steps instead of Horner's 5):
    // 2^r ≈ (1 + c₄r) + r²·((c₃ + c₂r) + r²·(c₁ + c₀r)).
    let [c0, c1, c2, c3, c4] = EXP2_P;
    let r2 = r * r;
    let u0 = c4.mul_add(r, 1.0);
    let u1 = c2.mul_add(r, c3);
    let u2 = c0.mul_add(r, c1);
    let e = u2.mul_add(r2, u1).mul_add(r2, u0);
    e * f32::from_bits(((t.to_bits() as i32).wrapping_add(EXP_BIAS) as u32) << 23)
}

pub(crate) const EXP2_FLOOR: f32 = -86.0;
pub(crate) const MAGIC: f32 = 12_582_912.0; // 1.5·2^23: adding and subtracting rounds to an integer
/// `2^r ≈ 1 + r·P(r)` on `|r| ≤ ½`: `P` of degree 4 (highest coefficient first) fitted for minimax
/// relative error (9e−8 in exact arithmetic, 1.7e−7 with f32 rounding).
/// (The last is a fitted value that merely lies close to ln 2.)
#[allow(clippy::approx_constant, reason = "a fitted coefficient that merely lies close to ln 2")]
pub(crate) const EXP2_P: [f32; 5] = [1.326_472_4e-3, 9.671_513e-3, 5.550_733_6e-2, 2.402_224_2e-1, 0.693_147];
/// `127 − bits(1.5·2^23)`: `bits(t) + EXP_BIAS = k + 127`, the biased exponent of `2^k`.
pub(crate) const EXP_BIAS: i32 = 127 - 0x4B40_0000;
