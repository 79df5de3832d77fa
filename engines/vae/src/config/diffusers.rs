//! A diffusers `AutoencoderKLWan` config.json (what `Wan-AI/Wan2.1-T2V-*-Diffusers/vae` and
//! `Wan-AI/Wan2.2-TI2V-5B-Diffusers/vae` ship) → [`VaeConfig`] with diffusers weight names.
//!
//! Field names and defaults are those of `AutoencoderKLWan.__init__` (diffusers 0.35): absent fields take
//! diffusers' defaults, as `from_pretrained` does. Keys starting with `_` (`_class_name`,
//! `_diffusers_version`) are metadata; `clip_output` (present in the released Wan2.2 config) is not a
//! parameter of `AutoencoderKLWan`, which diffusers ignores and always clamps, and so is it here. Any
//! other unknown key is an error naming it.
//!
//! Decoder-relevant mapping: `decoder_base_dim` (else `base_dim`) → `dim`; `out_channels` is the width of
//! `decoder.conv_out` (diffusers 0.35: 12 for Wan2.2 with `patch_size` 2; a config saying 3 with
//! `patch_size` > 1 means RGB before patchifying, i.e. `3·patch_size²`); `base_dim`, `in_channels` and
//! `dropout` belong to the encoder or training and are read and not used. `scale_factor_spatial` /
//! `scale_factor_temporal`, when given, must agree with the layout.

use serde::Deserialize;
use serde_json::Value;

use super::{VaeConfig, WeightNames, WAN2_1_LATENTS_MEAN, WAN2_1_LATENTS_STD};
use crate::error::{Result, VaeError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AutoencoderKlWan {
    #[serde(default = "d_base_dim")]
    base_dim: usize,
    #[serde(default)]
    decoder_base_dim: Option<usize>,
    #[serde(default = "d_z_dim")]
    z_dim: usize,
    #[serde(default = "d_dim_mult")]
    dim_mult: Vec<usize>,
    #[serde(default = "d_num_res_blocks")]
    num_res_blocks: usize,
    #[serde(default)]
    attn_scales: Vec<f32>,
    #[serde(default = "d_temperal_downsample")]
    temperal_downsample: Vec<bool>,
    #[serde(default)]
    #[allow(dead_code, reason = "training only: a known key, read and not used")]
    dropout: f64,
    #[serde(default = "d_latents_mean")]
    latents_mean: Vec<f32>,
    #[serde(default = "d_latents_std")]
    latents_std: Vec<f32>,
    #[serde(default)]
    is_residual: bool,
    #[serde(default = "d_channels")]
    #[allow(dead_code, reason = "encoder only: a known key, read and not used")]
    in_channels: usize,
    #[serde(default = "d_channels")]
    out_channels: usize,
    #[serde(default)]
    patch_size: Option<usize>,
    #[serde(default)]
    scale_factor_temporal: Option<usize>,
    #[serde(default)]
    scale_factor_spatial: Option<usize>,
}

fn d_base_dim() -> usize {
    96
}
fn d_z_dim() -> usize {
    16
}
fn d_dim_mult() -> Vec<usize> {
    vec![1, 2, 4, 4]
}
fn d_num_res_blocks() -> usize {
    2
}
fn d_temperal_downsample() -> Vec<bool> {
    vec![false, true, true]
}
fn d_latents_mean() -> Vec<f32> {
    WAN2_1_LATENTS_MEAN.to_vec()
}
fn d_latents_std() -> Vec<f32> {
    WAN2_1_LATENTS_STD.to_vec()
}
fn d_channels() -> usize {
    3
}

/// Keys diffusers' config carries that are not `AutoencoderKLWan` parameters.
const IGNORED_KEYS: [&str; 1] = ["clip_output"];

/// Whether a JSON config is a diffusers `AutoencoderKLWan` config (it names `base_dim` or `_class_name`).
pub(crate) fn is_diffusers(value: &Value) -> bool {
    value.as_object().is_some_and(|o| o.contains_key("base_dim") || o.contains_key("_class_name"))
}

pub(crate) fn from_diffusers(mut value: Value, path: &str) -> Result<VaeConfig> {
    let cfg_err = |field: &str, message: String| VaeError::Config { field: field.to_owned(), message };
    if let Some(o) = value.as_object_mut() {
        if let Some(class) = o.get("_class_name").and_then(Value::as_str) {
            if class != "AutoencoderKLWan" {
                return Err(cfg_err("_class_name", format!("{path}: `{class}`, expected `AutoencoderKLWan`")));
            }
        }
        o.retain(|k, _| !k.starts_with('_') && !IGNORED_KEYS.contains(&k.as_str()));
    }
    let d: AutoencoderKlWan =
        serde_json::from_value(value).map_err(|source| VaeError::ConfigJson { path: path.to_owned(), source })?;
    let p = d.patch_size.unwrap_or(1);
    let out_channels = if p > 1 && d.out_channels == 3 { 3 * p * p } else { d.out_channels };
    let cfg = VaeConfig {
        dim: d.decoder_base_dim.unwrap_or(d.base_dim),
        z_dim: d.z_dim,
        dim_mult: d.dim_mult,
        num_res_blocks: d.num_res_blocks,
        attn_scales: d.attn_scales,
        temperal_downsample: d.temperal_downsample,
        latents_mean: d.latents_mean,
        latents_std: d.latents_std,
        clamp_output: true,
        is_residual: d.is_residual,
        out_channels,
        patch_size: p,
        weight_names: WeightNames::Diffusers,
    };
    cfg.validate()?;
    for (field, given, layout) in [
        ("scale_factor_spatial", d.scale_factor_spatial, cfg.spatial_upsampling()),
        ("scale_factor_temporal", d.scale_factor_temporal, cfg.time_upsampling()),
    ] {
        if let Some(given) = given.filter(|g| *g != layout) {
            return Err(cfg_err(
                field,
                format!("{path}: says {given}, but the layout it describes upsamples {layout}×"),
            ));
        }
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Wan-AI/Wan2.2-TI2V-5B-Diffusers` `vae/config.json`, statistics shortened to the presets'.
    fn wan22_json() -> String {
        format!(
            r#"{{"_class_name": "AutoencoderKLWan", "_diffusers_version": "0.35.0.dev0", "attn_scales": [],
            "base_dim": 160, "clip_output": false, "decoder_base_dim": 256, "dim_mult": [1, 2, 4, 4],
            "dropout": 0.0, "in_channels": 12, "is_residual": true, "num_res_blocks": 2, "out_channels": 12,
            "patch_size": 2, "scale_factor_spatial": 16, "scale_factor_temporal": 4,
            "temperal_downsample": [false, true, true], "z_dim": 48,
            "latents_mean": {:?}, "latents_std": {:?}}}"#,
            crate::WAN2_2_LATENTS_MEAN,
            crate::WAN2_2_LATENTS_STD
        )
    }

    #[test]
    fn released_wan22_config_is_the_wan22_preset() {
        let cfg = VaeConfig::from_json(&wan22_json(), "config.json").unwrap();
        assert_eq!(cfg, VaeConfig::wan2_2());
        assert_eq!((cfg.spatial_upsampling(), cfg.time_upsampling()), (16, 4));
        assert_eq!(cfg.decoder_dims(), vec![1024, 1024, 1024, 512, 256]);
    }

    #[test]
    fn diffusers_defaults_are_wan21_with_diffusers_names() {
        let cfg = VaeConfig::from_json(r#"{"_class_name": "AutoencoderKLWan", "base_dim": 96}"#, "c").unwrap();
        assert_eq!(cfg, VaeConfig { weight_names: WeightNames::Diffusers, ..VaeConfig::wan2_1() });
    }

    #[test]
    fn diffusers_config_errors_name_the_field() {
        let e = VaeConfig::from_json(r#"{"base_dim": 96, "bogus": 1}"#, "cfg.json").unwrap_err().to_string();
        assert!(e.contains("cfg.json") && e.contains("bogus"), "{e}");
        let e = VaeConfig::from_json(
            &wan22_json().replace("\"scale_factor_spatial\": 16", "\"scale_factor_spatial\": 8"),
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("scale_factor_spatial") && e.contains("16×"), "{e}");
        let e =
            VaeConfig::from_json(&wan22_json().replace("\"z_dim\": 48", "\"z_dim\": 16"), "c").unwrap_err().to_string();
        assert!(e.contains("latents_mean") && e.contains("16"), "{e}");
        let e = VaeConfig::from_json(r#"{"_class_name": "AutoencoderKL"}"#, "c").unwrap_err().to_string();
        assert!(e.contains("AutoencoderKLWan"), "{e}");
        let e = VaeConfig::from_json(r#"{"base_dim": 96, "out_channels": 5}"#, "c").unwrap_err().to_string();
        assert!(e.contains("out_channels"), "{e}");
    }
}
