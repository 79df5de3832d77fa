//! Run-time CPU-feature checks: the one place that decides which SIMD path may run.
//!
//! Every fast path that uses FMA instructions asks [`has_avx2_fma`]; paths with AVX2 integer or float
//! instructions but no FMA ask [`has_avx2`]; 512-bit paths ask [`has_avx512f`] (which implies both).
//! All are false on every other architecture. On aarch64 the NEON paths ask [`has_neon`] (Advanced SIMD with
//! fused multiply-add: part of every ARMv8-A core, so true on every robot board we know of, but still checked,
//! the same way). Where none holds, the portable paths run.
//!
//! [`ISA_ENV`] (`WORLDFLOW_ISA`) caps them all at once, for A/B measurements in one build and for tests of
//! the slower paths on a fast CPU: `avx2` turns every AVX-512 path off, `portable` every SIMD path. It is
//! read once per process; a name this CPU cannot run, or an unknown one, is reported on stderr and ignored.

use std::sync::OnceLock;

/// The environment variable that caps the instruction set of every SIMD path: `avx512`, `avx2`, `neon` or
/// `portable`.
pub const ISA_ENV: &str = "WORLDFLOW_ISA";

/// An instruction-set level, as [`ISA_ENV`] names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Portable,
    Avx2,
    Avx512,
    Neon,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// The best level this CPU runs, without a cap.
    pub fn detected() -> Isa {
        if detected::avx512f() {
            Isa::Avx512
        } else if detected::avx2_fma() {
            Isa::Avx2
        } else if detected::neon() {
            Isa::Neon
        } else {
            Isa::Portable
        }
    }

    /// Whether a CPU whose best level is `self` runs the paths of `level`.
    fn runs(self, level: Isa) -> bool {
        matches!(
            (self, level),
            (_, Isa::Portable)
                | (Isa::Avx512, Isa::Avx2 | Isa::Avx512)
                | (Isa::Avx2, Isa::Avx2)
                | (Isa::Neon, Isa::Neon)
        )
    }
}

/// The level every SIMD path may use: [`Isa::detected`], or lower where [`ISA_ENV`] asks.
pub fn isa() -> Isa {
    static CHOSEN: OnceLock<Isa> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let best = Isa::detected();
        let Ok(name) = std::env::var(ISA_ENV) else { return best };
        let asked = [Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Neon].into_iter().find(|i| i.name() == name.trim());
        match asked {
            Some(level) if best.runs(level) => level,
            Some(_) => {
                eprintln!("{ISA_ENV}={name}: this CPU does not run it; using {}", best.name());
                best
            }
            None => {
                eprintln!("{ISA_ENV}={name}: expected avx512, avx2, neon or portable; using {}", best.name());
                best
            }
        }
    })
}

/// Whether AVX2 instructions may run on this CPU.
#[inline]
pub fn has_avx2() -> bool {
    detected::avx2() && isa() != Isa::Portable
}

/// Whether AVX2 and FMA instructions may both run on this CPU (every kernel compiled with
/// `#[target_feature(enable = "avx2,fma")]` requires this).
#[inline]
pub fn has_avx2_fma() -> bool {
    detected::avx2_fma() && matches!(isa(), Isa::Avx2 | Isa::Avx512)
}

/// Whether AVX-512F instructions may run on this CPU, together with AVX2 and FMA (a kernel compiled with
/// `#[target_feature(enable = "avx512f")]` requires this; asking for all three lets a caller that picked
/// an AVX-512 path also run its AVX2 + FMA helpers, as every AVX-512 CPU can).
#[inline]
pub fn has_avx512f() -> bool {
    isa() == Isa::Avx512
}

/// Whether NEON (Advanced SIMD, with its fused multiply-add `vfmaq_f32`) may run on this CPU: aarch64 only.
#[inline]
pub fn has_neon() -> bool {
    isa() == Isa::Neon
}

/// What the CPU has, whatever [`ISA_ENV`] says (cached by std after the first call).
mod detected {
    pub fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    pub fn avx2_fma() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            avx2() && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    pub fn avx512f() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f") && avx2_fma()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    pub fn neon() -> bool {
        #[cfg(target_arch = "aarch64")]
        {
            std::arch::is_aarch64_feature_detected!("neon")
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            false
        }
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
        if std::env::var(super::ISA_ENV).is_err() {
            assert_eq!(super::has_neon(), cfg!(target_arch = "aarch64"));
        }
        assert!(!super::has_neon() || cfg!(target_arch = "aarch64"));
    }

    #[test]
    fn a_cap_only_lowers_the_level() {
        use super::Isa::*;
        assert!(Avx512.runs(Avx2) && Avx512.runs(Portable) && Avx2.runs(Portable) && Neon.runs(Portable));
        assert!(!Avx2.runs(Avx512) && !Avx512.runs(Neon) && !Neon.runs(Avx2) && !Portable.runs(Avx2));
        let isa = super::isa();
        assert!(super::Isa::detected().runs(isa), "{isa:?} above what the CPU has");
        assert_eq!(super::has_avx512f(), isa == Avx512);
    }
}
