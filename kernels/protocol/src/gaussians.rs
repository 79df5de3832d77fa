//! A set of 3D Gaussians, structure of arrays, in *activated* units (what a renderer consumes).
//!
//! Invariants (checked by [`Gaussians::validate`]): all arrays have `len()` entries except `sh`, which has
//! `len() * sh_coeffs_per_gaussian(sh_degree)`; `sh_degree <= 3`.

use glam::{Quat, Vec3};

/// Number of SH coefficients per colour channel for a degree: (d + 1)².
pub const fn sh_coeffs_per_gaussian(sh_degree: u8) -> usize {
    (sh_degree as usize + 1) * (sh_degree as usize + 1)
}

/// A set that breaks the invariants, or two sets that cannot be combined; names the array at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GaussiansError {
    #[error("sh_degree: expected 0..=3, found {0}")]
    ShDegree(u8),
    #[error("sh_degree: cannot append degree {appended} to degree {this}")]
    DegreeMismatch { this: u8, appended: u8 },
    #[error("{array}: expected {expected} entries (one per mean), found {found}")]
    Length { array: &'static str, expected: usize, found: usize },
    #[error("sh: expected {expected} coefficients, found {found}")]
    ShLength { expected: usize, found: usize },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gaussians {
    /// 0..=3.
    pub sh_degree: u8,
    /// Stable identities (an actor keeps them across ticks; a loaded scene numbers them 0..N).
    pub ids: Vec<u64>,
    /// Means in the world frame, metres.
    pub means: Vec<Vec3>,
    /// Linear standard deviations along the local axes (already `exp`-ed), metres.
    pub scales: Vec<Vec3>,
    /// Unit rotation quaternions (local → world). On disk the order is (w, x, y, z) = rot_0..3.
    pub rotations: Vec<Quat>,
    /// Opacities in [0, 1] (already sigmoid-ed).
    pub opacities: Vec<f32>,
    /// SH coefficients, per Gaussian contiguous, coefficient-major: `sh[i * K + k] = [r, g, b]` with
    /// `K = (sh_degree + 1)²`; `k = 0` is the DC term (colour = 0.5 + C0 · sh[.., 0] + …).
    pub sh: Vec<[f32; 3]>,
}

impl Gaussians {
    pub fn new(sh_degree: u8) -> Self {
        Self { sh_degree, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.means.len()
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    pub fn coeffs_per_gaussian(&self) -> usize {
        sh_coeffs_per_gaussian(self.sh_degree)
    }

    /// SH coefficients of Gaussian `i`.
    pub fn sh_of(&self, i: usize) -> &[[f32; 3]] {
        let k = self.coeffs_per_gaussian();
        &self.sh[i * k..(i + 1) * k]
    }

    /// Appends one Gaussian; `sh` must hold `coeffs_per_gaussian()` coefficients.
    pub fn push(&mut self, id: u64, mean: Vec3, scale: Vec3, rotation: Quat, opacity: f32, sh: &[[f32; 3]]) {
        debug_assert_eq!(sh.len(), self.coeffs_per_gaussian());
        self.ids.push(id);
        self.means.push(mean);
        self.scales.push(scale);
        self.rotations.push(rotation);
        self.opacities.push(opacity);
        self.sh.extend_from_slice(sh);
    }

    /// Keeps the first `n` Gaussians.
    pub fn truncate(&mut self, n: usize) {
        let k = self.coeffs_per_gaussian();
        self.ids.truncate(n);
        self.means.truncate(n);
        self.scales.truncate(n);
        self.rotations.truncate(n);
        self.opacities.truncate(n);
        self.sh.truncate(n * k);
    }

    /// Appends every Gaussian of `other`; both sets must have the same SH degree.
    pub fn extend_from(&mut self, other: &Gaussians) -> Result<(), GaussiansError> {
        if self.sh_degree != other.sh_degree {
            return Err(GaussiansError::DegreeMismatch { this: self.sh_degree, appended: other.sh_degree });
        }
        self.ids.extend_from_slice(&other.ids);
        self.means.extend_from_slice(&other.means);
        self.scales.extend_from_slice(&other.scales);
        self.rotations.extend_from_slice(&other.rotations);
        self.opacities.extend_from_slice(&other.opacities);
        self.sh.extend_from_slice(&other.sh);
        Ok(())
    }

    /// A copy of the Gaussians in `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Gaussians {
        let k = self.coeffs_per_gaussian();
        Gaussians {
            sh_degree: self.sh_degree,
            ids: self.ids[range.clone()].to_vec(),
            means: self.means[range.clone()].to_vec(),
            scales: self.scales[range.clone()].to_vec(),
            rotations: self.rotations[range.clone()].to_vec(),
            opacities: self.opacities[range.clone()].to_vec(),
            sh: self.sh[range.start * k..range.end * k].to_vec(),
        }
    }

    /// Checks the array-length invariants and the SH degree.
    pub fn validate(&self) -> Result<(), GaussiansError> {
        if self.sh_degree > 3 {
            return Err(GaussiansError::ShDegree(self.sh_degree));
        }
        let n = self.len();
        for (array, found) in [
            ("ids", self.ids.len()),
            ("scales", self.scales.len()),
            ("rotations", self.rotations.len()),
            ("opacities", self.opacities.len()),
        ] {
            if found != n {
                return Err(GaussiansError::Length { array, expected: n, found });
            }
        }
        let expected = n * self.coeffs_per_gaussian();
        if self.sh.len() != expected {
            return Err(GaussiansError::ShLength { expected, found: self.sh.len() });
        }
        Ok(())
    }
}

/// SH degree-0 constant: colour = 0.5 + C0 · dc.
pub const SH_C0: f32 = 0.282_094_8;

/// DC coefficient that renders as `rgb` (in [0, 1]) at SH degree 0.
pub fn rgb_to_sh_dc(rgb: [f32; 3]) -> [f32; 3] {
    rgb.map(|c| (c - 0.5) / SH_C0)
}
