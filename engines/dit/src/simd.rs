//! Run-time CPU-feature dispatch (a leaf module): which SIMD path a kernel of this crate takes.
//!
//! x86_64:
//! - kernels compiled with `avx2,fma` (the [`simd_fn!`] row kernels, the attention tiles) run where
//!   `has_avx2_fma` holds;
//! - the int8 dot products use AVX2 integer instructions only: `has_avx2`.
//!
//! aarch64:
//! - the [`simd_fn!`] row kernels and the attention tiles are compiled with `neon` and run where
//!   `has_neon` holds; the int8 dot products have a NEON version (`vmull_s8` widening products) under
//!   the same check. NEON is part of the `aarch64-unknown-linux-gnu` baseline, so the check folds to
//!   `true` at compile time there and the portable copies are never built into the hot path; it is
//!   written out anyway so that each SIMD path states the feature it needs, the same way on both
//!   architectures.
//!
//! The checks come from `worldflow_base::cpu` (the workspace's one CPU-feature check, cached by std).

#[cfg(target_arch = "aarch64")]
pub(crate) use worldflow_base::cpu::has_neon;
#[cfg(target_arch = "x86_64")]
pub(crate) use worldflow_base::cpu::{has_avx2, has_avx2_fma};

/// Defines `fn $name(args)` that runs `$body` compiled with the CPU's SIMD features when it has them:
/// AVX2+FMA on x86_64 (`has_avx2_fma`; LLVM vectorises the plain loops with 256-bit registers
/// without requiring `-C target-cpu`), NEON on aarch64 (`has_neon`; 128-bit registers), and compiled
/// for the baseline target otherwise. The body's arithmetic is the same in every copy (plain `*` and
/// `+` are never fused into FMAs), so the copies differ in speed only.
macro_rules! simd_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn inner($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? { inner($($arg),*) }
                if $crate::simd::has_avx2_fma() {
                    // SAFETY: the CPU supports the enabled features (checked above).
                    return unsafe { fast($($arg),*) };
                }
            }
            #[cfg(target_arch = "aarch64")]
            {
                #[target_feature(enable = "neon")]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? { inner($($arg),*) }
                if $crate::simd::has_neon() {
                    // SAFETY: the CPU supports NEON (checked above).
                    return unsafe { fast($($arg),*) };
                }
            }
            inner($($arg),*)
        }
    };
}
pub(crate) use simd_fn;
