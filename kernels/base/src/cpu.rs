//! Run-time CPU-feature checks: the one place that decides which SIMD path may run.
//!
//! Every fast path that uses FMA instructions asks [`has_avx2_fma`]; paths with AVX2 integer or float
//! instructions but no FMA ask [`has_avx2`]. Both are cached by std after the first call and are false
//! on every other architecture (the portable paths run there).

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

#[cfg(test)]
mod tests {
    #[test]
    fn fma_implies_avx2() {
        assert!(!super::has_avx2_fma() || super::has_avx2());
    }
}
