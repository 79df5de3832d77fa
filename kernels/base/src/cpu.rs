//! Run-time CPU-feature checks: the one place that decides which SIMD path may run.
//!
//! Every fast path that uses FMA instructions asks [`has_avx2_fma`]; paths with AVX2 integer or float
//! instructions but no FMA ask [`has_avx2`]; 512-bit paths ask [`has_avx512f`] (which implies both).
//! All are cached by std after the first call and are false
//! on every other architecture. On aarch64 the NEON paths ask [`has_neon`] (Advanced SIMD with fused
//! multiply-add: part of every ARMv8-A core, so true on every robot board we know of, but still checked,
//! the same way). Where none holds, the portable paths run.

/// Whether AVX2 instructions may run on this CPU.
#[inline]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX2 and FMA instructions may both run on this CPU (every kernel compiled with
/// `#[target_feature(enable = "avx2,fma")]` requires this).
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX-512F instructions may run on this CPU, together with AVX2 and FMA (a kernel compiled with
/// `#[target_feature(enable = "avx512f")]` requires this; asking for all three lets a caller that picked
/// an AVX-512 path also run its AVX2 + FMA helpers, as every AVX-512 CPU can).
#[inline]
pub fn has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && has_avx2_fma()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether NEON (Advanced SIMD, with its fused multiply-add `vfmaq_f32`) may run on this CPU: aarch64 only.
#[inline]
pub fn has_neon() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("neon")
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fma_implies_avx2() {
        assert!(!super::has_avx2_fma() || super::has_avx2());
    }

    #[test]
    fn avx512f_implies_avx2_fma() {
        assert!(!super::has_avx512f() || super::has_avx2_fma());
    }

    #[test]
    fn neon_only_on_aarch64_and_always_there() {
        assert_eq!(super::has_neon(), cfg!(target_arch = "aarch64"));
    }
}
