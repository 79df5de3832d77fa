//! `VaeConfig`: mirrors the constructor arguments of Wan2.1's `WanVAE_` (field names as upstream,
//! including its spelling `temperal_downsample`) plus the latent normalisation constants.

use serde::{Deserialize, Serialize};

use crate::error::{Result, VaeError};

/// Per-channel latent mean of the released Wan2.1 VAE (`Wan2.1_VAE.pth`).
pub const WAN2_1_LATENTS_MEAN: [f32; 16] = [
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517, -0.3632, -0.1922,
    -0.9497, 0.2503, -0.2921,
];
/// Per-channel latent standard deviation of the released Wan2.1 VAE.
pub const WAN2_1_LATENTS_STD: [f32; 16] = [
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253,
    2.8251, 1.9160,
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeConfig {
    /// Base channel count (`dim`): 96 for Wan2.1.
    pub dim: usize,
    /// Latent channels: 16 for Wan2.1.
    pub z_dim: usize,
    /// Channel multipliers of the encoder stages; the decoder walks them in reverse.
    pub dim_mult: Vec<usize>,
    /// Residual blocks per encoder stage; the decoder has one more per stage.
    pub num_res_blocks: usize,
    /// Scales at which decoder stages get attention blocks (empty for Wan2.1).
    #[serde(default)]
    pub attn_scales: Vec<f32>,
    /// Encoder temporal downsampling per stage; the decoder upsamples time where this is reversed true.
    pub temperal_downsample: Vec<bool>,
    /// Latent un-normalisation: the decoder reads `z · std + mean` per channel.
    pub latents_mean: Vec<f32>,
    pub latents_std: Vec<f32>,
    /// Clamp the decoded video to [−1, 1] (what the Wan wrapper returns).
    #[serde(default = "default_true")]
    pub clamp_output: bool,
}

fn default_true() -> bool {
    true
}

impl VaeConfig {
    /// The released Wan2.1 VAE: dim 96, [1, 2, 4, 4], 2 residual blocks, time downsampling [F, T, T].
    pub fn wan2_1() -> Self {
        Self {
            dim: 96,
            z_dim: 16,
            dim_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            attn_scales: vec![],
            temperal_downsample: vec![false, true, true],
            latents_mean: WAN2_1_LATENTS_MEAN.to_vec(),
            latents_std: WAN2_1_LATENTS_STD.to_vec(),
            clamp_output: true,
        }
    }

    /// The tiny configuration of the conformance goldens: dim 8, 1 residual block, otherwise Wan2.1.
    pub fn tiny() -> Self {
        Self { dim: 8, num_res_blocks: 1, ..Self::wan2_1() }
    }

    /// A named preset: `tiny` or `wan2_1`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "tiny" => Ok(Self::tiny()),
            "wan2_1" | "wan2.1" => Ok(Self::wan2_1()),
            other => Err(cfg_err("preset", format!("unknown preset `{other}` (known: tiny, wan2_1)"))),
        }
    }

    /// Parses a JSON config: either a full `VaeConfig` or `{"preset": "tiny"}`.
    pub fn from_json(text: &str, path: &str) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Preset {
            preset: String,
        }
        let cfg = if let Ok(p) = serde_json::from_str::<Preset>(text) {
            Self::preset(&p.preset)?
        } else {
            serde_json::from_str::<Self>(text)
                .map_err(|source| VaeError::ConfigJson { path: path.to_owned(), source })?
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || !self.dim.is_multiple_of(2) {
            return Err(cfg_err("dim", format!("must be positive and even, found {}", self.dim)));
        }
        if self.z_dim == 0 {
            return Err(cfg_err("z_dim", "must be positive"));
        }
        if self.dim_mult.len() < 2 || self.dim_mult.contains(&0) {
            return Err(cfg_err("dim_mult", format!("need ≥ 2 positive entries, found {:?}", self.dim_mult)));
        }
        if self.temperal_downsample.len() != self.dim_mult.len() - 1 {
            return Err(cfg_err(
                "temperal_downsample",
                format!(
                    "need {} entries (one per downsampling stage), found {}",
                    self.dim_mult.len() - 1,
                    self.temperal_downsample.len()
                ),
            ));
        }
        for (field, v) in [("latents_mean", &self.latents_mean), ("latents_std", &self.latents_std)] {
            if v.len() != self.z_dim {
                return Err(cfg_err(field, format!("need z_dim = {} entries, found {}", self.z_dim, v.len())));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(cfg_err(field, "contains non-finite values"));
            }
        }
        if self.latents_std.contains(&0.0) {
            return Err(cfg_err("latents_std", "contains a zero"));
        }
        Ok(())
    }

    /// Channel counts of the decoder stages: `[dim·mult[-1], dim·mult[-1], dim·mult[-2], …, dim·mult[0]]`.
    pub(crate) fn decoder_dims(&self) -> Vec<usize> {
        let mut dims = vec![self.dim * self.dim_mult[self.dim_mult.len() - 1]];
        dims.extend(self.dim_mult.iter().rev().map(|m| self.dim * m));
        dims
    }

    /// Temporal upsampling factor: 2 per upsample3d stage (4 for Wan2.1).
    pub fn time_upsampling(&self) -> usize {
        1 << self.temperal_downsample.iter().filter(|b| **b).count()
    }

    /// Spatial upsampling factor (8 for Wan2.1).
    pub fn spatial_upsampling(&self) -> usize {
        1 << (self.dim_mult.len() - 1)
    }

    /// Video frames from `latent_frames` latents: `1 + time_upsampling · (n − 1)`.
    pub fn video_frames(&self, latent_frames: usize) -> usize {
        if latent_frames == 0 {
            0
        } else {
            1 + self.time_upsampling() * (latent_frames - 1)
        }
    }
}

fn cfg_err(field: &str, message: impl Into<String>) -> VaeError {
    VaeError::Config { field: field.to_owned(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_json() {
        let cfg = VaeConfig::wan2_1();
        cfg.validate().unwrap();
        assert_eq!(cfg.decoder_dims(), vec![384, 384, 384, 192, 96]);
        assert_eq!(cfg.video_frames(21), 81);
        let text = serde_json::to_string(&VaeConfig::tiny()).unwrap();
        assert_eq!(VaeConfig::from_json(&text, "x").unwrap(), VaeConfig::tiny());
        assert_eq!(VaeConfig::from_json(r#"{"preset":"wan2_1"}"#, "x").unwrap(), cfg);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let mut c = VaeConfig::tiny();
        c.latents_std.pop();
        assert!(c.validate().unwrap_err().to_string().contains("latents_std"));
        let err = VaeConfig::from_json(r#"{"dim": 8, "bogus": 1}"#, "cfg.json").unwrap_err().to_string();
        assert!(err.contains("cfg.json"), "{err}");
        let err = VaeConfig::from_json(r#"{"preset":"huge"}"#, "c").unwrap_err().to_string();
        assert!(err.contains("huge"), "{err}");
    }
}
