//! Run-time CPU-feature dispatch (a leaf module): which SIMD path a kernel of this crate takes.
//!
//! - Kernels compiled with `avx2,fma` (the [`simd_fn!`] row kernels, the attention tiles) run where
//!   [`has_avx2_fma`] holds;
//! - the int8 dot products use AVX2 integer instructions only: [`has_avx2`].
//!
//! Both come from `worldflow_base::cpu` (the workspace's one CPU-feature check, cached by std).

pub(crate) use worldflow_base::cpu::{has_avx2, has_avx2_fma};

/// Defines `fn $name(args)` that runs `$body` compiled with AVX2+FMA when the CPU has both
/// ([`has_avx2_fma`]), and compiled for the baseline target otherwise (LLVM vectorises the same
/// plain loops with 256-bit registers without requiring `-C target-cpu`).
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
            inner($($arg),*)
        }
    };
}
pub(crate) use simd_fn;
