//! `VaeConfig`: mirrors the constructor arguments of Wan2.1's `WanVAE_` (field names as upstream,
//! including its spelling `temperal_downsample`) plus the latent normalisation constants, and the Wan2.2
//! decoder's extras (`is_residual`, `out_channels`, `patch_size`, diffusers weight names).
//!
//! [`VaeConfig::from_json`] reads three forms and tells them apart by their keys: this struct itself,
//! `{"preset": …}`, and a diffusers `AutoencoderKLWan` config.json (it has `base_dim` or `_class_name`;
//! see `config/diffusers.rs`), which is what a released Wan2.1-Diffusers or Wan2.2 checkpoint ships.

use serde::{Deserialize, Serialize};

mod diffusers;

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

/// Per-channel latent mean of the released Wan2.2 VAE (48 channels; `Wan2.2_VAE.pth`, TI2V-5B).
pub const WAN2_2_LATENTS_MEAN: [f32; 48] = [
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813, 0.0891, 0.157,
    -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502, -0.2055, -0.0322,
    0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.123, -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.052,
    0.3748, 0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
];
/// Per-channel latent standard deviation of the released Wan2.2 VAE.
pub const WAN2_2_LATENTS_STD: [f32; 48] = [
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.499, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165,
    0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659, 0.7069, 0.5338, 0.4889, 0.4917,
    0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.06,
    0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
];

/// The presets [`VaeConfig::preset`] knows, as a list for messages.
pub const PRESET_NAMES: &str = "tiny, wan2_1, wan2.2-tiny, wan2.2";

/// Which key names a checkpoint uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightNames {
    /// The Wan repositories' `WanVAE_`: `conv2.*`, `decoder.{conv1, middle.i, upsamples.i, head.i}`.
    #[default]
    Upstream,
    /// diffusers' `AutoencoderKLWan`: `post_quant_conv.*`,
    /// `decoder.{conv_in, mid_block.{resnets,attentions}, up_blocks.i, norm_out, conv_out}`.
    Diffusers,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeConfig {
    /// Base channel count of the decoder (`dim`; diffusers' `decoder_base_dim`): 96 for Wan2.1, 256 for
    /// Wan2.2.
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
    /// Wan2.2: the up stages are diffusers' `WanResidualUpBlock`s (input width kept, upsamplers keep the
    /// width, a parameter-free `DupUp3D` shortcut around each upsampling stage). Needs diffusers names.
    #[serde(default)]
    pub is_residual: bool,
    /// Output channels of the decoder's last conv: 3 for Wan2.1, `3·patch_size²` = 12 for Wan2.2.
    #[serde(default = "default_out_channels")]
    pub out_channels: usize,
    /// Pixel unpatchify after the decoder (`patch_size × patch_size` pixels per channel group): 1 for
    /// Wan2.1, 2 for Wan2.2.
    #[serde(default = "default_patch_size")]
    pub patch_size: usize,
    /// Checkpoint key names.
    #[serde(default)]
    pub weight_names: WeightNames,
}

fn default_true() -> bool {
    true
}

fn default_out_channels() -> usize {
    3
}

fn default_patch_size() -> usize {
    1
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
            is_residual: false,
            out_channels: 3,
            patch_size: 1,
            weight_names: WeightNames::Upstream,
        }
    }

    /// The released Wan2.2 VAE (TI2V-5B) decoder: decoder_base_dim 256, [1, 2, 4, 4], 2 residual blocks,
    /// 48 latents, residual up blocks, 12 output channels unpatchified ×2 (16× spatial, 4× temporal),
    /// diffusers key names.
    pub fn wan2_2() -> Self {
        Self {
            dim: 256,
            z_dim: 48,
            dim_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            attn_scales: vec![],
            temperal_downsample: vec![false, true, true],
            latents_mean: WAN2_2_LATENTS_MEAN.to_vec(),
            latents_std: WAN2_2_LATENTS_STD.to_vec(),
            clamp_output: true,
            is_residual: true,
            out_channels: 12,
            patch_size: 2,
            weight_names: WeightNames::Diffusers,
        }
    }

    /// The tiny Wan2.2 layout of the WorldPlay goldens: decoder_base_dim 6 (widths 24, 24, 24, 12, 6),
    /// 1 residual block, otherwise [`Self::wan2_2`].
    pub fn wan2_2_tiny() -> Self {
        Self { dim: 6, num_res_blocks: 1, ..Self::wan2_2() }
    }

    /// The tiny configuration of the conformance goldens: dim 8, 1 residual block, otherwise Wan2.1.
    pub fn tiny() -> Self {
        Self { dim: 8, num_res_blocks: 1, ..Self::wan2_1() }
    }

    /// A named preset ([`PRESET_NAMES`]): `tiny`, `wan2_1`, `wan2.2-tiny`, `wan2.2` (`_` or `.` alike).
    pub fn preset(name: &str) -> Result<Self> {
        match name.replace(['.', '-'], "_").as_str() {
            "tiny" => Ok(Self::tiny()),
            "wan2_1" => Ok(Self::wan2_1()),
            "wan2_2_tiny" => Ok(Self::wan2_2_tiny()),
            "wan2_2" => Ok(Self::wan2_2()),
            _ => Err(cfg_err("preset", format!("unknown preset `{name}` (known: {PRESET_NAMES})"))),
        }
    }

    /// Parses a JSON config: a full `VaeConfig`, `{"preset": "tiny"}`, or a diffusers `AutoencoderKLWan`
    /// config.json (recognised by `base_dim` or `_class_name`; official field names, diffusers defaults
    /// for absent fields, diffusers key names for the weights).
    pub fn from_json(text: &str, path: &str) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Preset {
            preset: String,
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|source| VaeError::ConfigJson { path: path.to_owned(), source })?;
        let cfg = if diffusers::is_diffusers(&value) {
            diffusers::from_diffusers(value, path)?
        } else if let Ok(p) = serde_json::from_value::<Preset>(value.clone()) {
            Self::preset(&p.preset)?
        } else {
            serde_json::from_value::<Self>(value)
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
        if self.patch_size == 0 {
            return Err(cfg_err("patch_size", "must be positive"));
        }
        if self.out_channels != 3 * self.patch_size * self.patch_size {
            return Err(cfg_err(
                "out_channels",
                format!(
                    "the decoder's last conv must give RGB unpatchified ×{p}, i.e. 3·{p}² = {} channels, found {}",
                    3 * self.patch_size * self.patch_size,
                    self.out_channels,
                    p = self.patch_size
                ),
            ));
        }
        if self.weight_names == WeightNames::Diffusers && !self.attn_scales.is_empty() {
            return Err(cfg_err(
                "attn_scales",
                format!(
                    "{:?} with diffusers weight names: diffusers' WanDecoder3d builds no attention in its up \
                     blocks whatever attn_scales says, so this is refused rather than guessed",
                    self.attn_scales
                ),
            ));
        }
        if self.is_residual {
            if self.weight_names != WeightNames::Diffusers {
                return Err(cfg_err("is_residual", "the Wan2.2 residual decoder is read with diffusers weight names"));
            }
            let dims = self.decoder_dims();
            let n = self.dim_mult.len();
            for i in 0..n - 1 {
                let factor = if self.temperal_upsample()[i] { 8 } else { 4 };
                if !(dims[i + 1] * factor).is_multiple_of(dims[i]) {
                    return Err(cfg_err(
                        "dim_mult",
                        format!(
                            "up block {i}: its DupUp3D shortcut repeats {} channels into {}×{factor}, which does not \
                             divide",
                            dims[i],
                            dims[i + 1]
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Temporal upsampling of each decoder up stage: `temperal_downsample` reversed.
    pub(crate) fn temperal_upsample(&self) -> Vec<bool> {
        self.temperal_downsample.iter().rev().copied().collect()
    }

    /// Channel counts of the decoder stages: `[dim·mult[-1], dim·mult[-1], dim·mult[-2], …, dim·mult[0]]`.
    pub fn decoder_dims(&self) -> Vec<usize> {
        let mut dims = vec![self.dim * self.dim_mult[self.dim_mult.len() - 1]];
        dims.extend(self.dim_mult.iter().rev().map(|m| self.dim * m));
        dims
    }

    /// Temporal upsampling factor: 2 per upsample3d stage (4 for Wan2.1).
    pub fn time_upsampling(&self) -> usize {
        1 << self.temperal_downsample.iter().filter(|b| **b).count()
    }

    /// Spatial upsampling factor, unpatchify included (8 for Wan2.1, 16 for Wan2.2).
    pub fn spatial_upsampling(&self) -> usize {
        (1 << (self.dim_mult.len() - 1)) * self.patch_size
    }

    /// One line naming the layout, for logs: e.g. `Wan2.2 (residual up blocks, 48 latents, dim 6, 1 res
    /// block, 16× spatial, 4× temporal, diffusers names)`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}{} latents, dim {}, {} res block{}, {}× spatial, {}× temporal, {} names)",
            if self.is_residual { "Wan2.2" } else { "Wan2.1" },
            if self.is_residual { "residual up blocks, " } else { "" },
            self.z_dim,
            self.dim,
            self.num_res_blocks,
            if self.num_res_blocks == 1 { "" } else { "s" },
            self.spatial_upsampling(),
            self.time_upsampling(),
            match self.weight_names {
                WeightNames::Upstream => "upstream",
                WeightNames::Diffusers => "diffusers",
            }
        )
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
