//! Reading a `config.json` in either naming: this crate's / Wan2.1's (`dim`, `num_heads`, `in_dim`, ...)
//! or diffusers' `WanTransformer3DModel` (`num_attention_heads`, `attention_head_dim`, `in_channels`,
//! `qk_norm: "rms_norm_across_heads"`, ...), which Wan2.2-TI2V-5B and the HY-WorldPlay WAN path ship.
//!
//! A diffusers config selects [`Layout::WorldPlay`] with WorldPlay's branches on unless the file says
//! otherwise: `action_classes` 81 (9 translations × 9 rotations), `camera_attention` true,
//! `prope_intrinsics` `normalized`, `text_len` 512 (the pipeline pads the T5 output to 512 rows).

use super::{default_rope_max_seq_len, Config, Layout, PropeIntrinsics};
use serde::Deserialize;

/// Every field either naming may hold; unknown fields (`_class_name`, `_diffusers_version`, ...) are ignored.
#[derive(Deserialize)]
pub(crate) struct RawConfig {
    patch_size: Option<[usize; 3]>,
    // Wan2.1 / this crate.
    text_len: Option<usize>,
    in_dim: Option<usize>,
    dim: Option<usize>,
    out_dim: Option<usize>,
    num_heads: Option<usize>,
    // diffusers.
    num_attention_heads: Option<usize>,
    attention_head_dim: Option<usize>,
    in_channels: Option<usize>,
    out_channels: Option<usize>,
    image_dim: Option<serde_json::Value>,
    added_kv_proj_dim: Option<serde_json::Value>,
    // Both.
    ffn_dim: Option<usize>,
    freq_dim: Option<usize>,
    text_dim: Option<usize>,
    num_layers: Option<usize>,
    qk_norm: Option<serde_json::Value>,
    cross_attn_norm: Option<bool>,
    eps: Option<f64>,
    rope_max_seq_len: Option<usize>,
    // This crate's extensions (`action_classes: null` turns the action branch off).
    #[serde(default, deserialize_with = "present")]
    action_classes: Option<Option<usize>>,
    camera_attention: Option<bool>,
    layout: Option<Layout>,
    prope_intrinsics: Option<PropeIntrinsics>,
}

/// `Some(value)` for a field that is present, even when it is `null`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn need<T>(v: Option<T>, field: &str, naming: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("missing field `{field}` (a {naming} config.json)"))
}

/// `qk_norm`: a bool (Wan2.1) or diffusers' string (`"rms_norm_across_heads"`) / null.
fn qk_norm(v: Option<serde_json::Value>) -> Result<bool, String> {
    match v {
        None => Ok(true),
        Some(serde_json::Value::Bool(b)) => Ok(b),
        Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::String(s)) if s == "rms_norm_across_heads" => Ok(true),
        Some(other) => Err(format!(
            "field `qk_norm`: {other} is not supported (expected true/false, \"rms_norm_across_heads\" or null)"
        )),
    }
}

fn absent_or_null(v: &Option<serde_json::Value>, field: &str) -> Result<(), String> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(other) => Err(format!(
            "field `{field}`: {other} is not supported (image conditioning / added K/V projections are not implemented; expected null)"
        )),
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = String;

    fn try_from(r: RawConfig) -> Result<Self, String> {
        let diffusers = r.num_attention_heads.is_some() || r.attention_head_dim.is_some();
        if diffusers && r.dim.is_some() {
            return Err("both `dim` (Wan2.1 naming) and `num_attention_heads` (diffusers naming) are set".into());
        }
        let qk = qk_norm(r.qk_norm)?;
        if !diffusers {
            const N: &str = "Wan2.1";
            // The official config.json omits the arguments left at `WanModel.__init__`'s defaults.
            return Ok(Config {
                patch_size: r.patch_size.unwrap_or([1, 2, 2]),
                text_len: r.text_len.unwrap_or(512),
                in_dim: need(r.in_dim, "in_dim", N)?,
                dim: need(r.dim, "dim", N)?,
                ffn_dim: need(r.ffn_dim, "ffn_dim", N)?,
                freq_dim: r.freq_dim.unwrap_or(256),
                text_dim: r.text_dim.unwrap_or(4096),
                out_dim: need(r.out_dim, "out_dim", N)?,
                num_heads: need(r.num_heads, "num_heads", N)?,
                num_layers: need(r.num_layers, "num_layers", N)?,
                qk_norm: qk,
                cross_attn_norm: r.cross_attn_norm.unwrap_or(true),
                eps: r.eps.unwrap_or(1e-6),
                action_classes: r.action_classes.flatten(),
                camera_attention: r.camera_attention.unwrap_or(false),
                layout: r.layout.unwrap_or_default(),
                prope_intrinsics: r.prope_intrinsics.unwrap_or_default(),
                rope_max_seq_len: r.rope_max_seq_len.unwrap_or_else(default_rope_max_seq_len),
            });
        }
        const N: &str = "diffusers WanTransformer3DModel";
        absent_or_null(&r.image_dim, "image_dim")?;
        absent_or_null(&r.added_kv_proj_dim, "added_kv_proj_dim")?;
        if r.layout == Some(Layout::Wan21) {
            return Err(
                "`layout` \"wan2.1\" with diffusers field names: the Wan2.1 layout reads `dim`, `num_heads`".into()
            );
        }
        let heads = need(r.num_attention_heads, "num_attention_heads", N)?;
        let head_dim = need(r.attention_head_dim, "attention_head_dim", N)?;
        let dim = heads.checked_mul(head_dim).ok_or("num_attention_heads × attention_head_dim overflows")?;
        let in_dim = need(r.in_channels, "in_channels", N)?;
        Ok(Config {
            patch_size: need(r.patch_size, "patch_size", N)?,
            text_len: r.text_len.unwrap_or(512),
            in_dim,
            dim,
            ffn_dim: need(r.ffn_dim, "ffn_dim", N)?,
            freq_dim: need(r.freq_dim, "freq_dim", N)?,
            text_dim: need(r.text_dim, "text_dim", N)?,
            out_dim: r.out_channels.unwrap_or(in_dim),
            num_heads: heads,
            num_layers: need(r.num_layers, "num_layers", N)?,
            qk_norm: qk,
            cross_attn_norm: r.cross_attn_norm.unwrap_or(true),
            eps: r.eps.unwrap_or(1e-6),
            action_classes: r.action_classes.unwrap_or(Some(81)),
            camera_attention: r.camera_attention.unwrap_or(true),
            layout: Layout::WorldPlay,
            prope_intrinsics: r.prope_intrinsics.unwrap_or(PropeIntrinsics::Normalized),
            rope_max_seq_len: r.rope_max_seq_len.unwrap_or_else(default_rope_max_seq_len),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `transformer/config.json` of Wan-AI/Wan2.2-TI2V-5B-Diffusers (the shape WorldPlay's WAN path fine-tunes).
    const WAN22_TI2V_5B: &str = r#"{
      "_class_name": "WanTransformer3DModel",
      "_diffusers_version": "0.35.0.dev0",
      "added_kv_proj_dim": null,
      "attention_head_dim": 128,
      "cross_attn_norm": true,
      "eps": 1e-06,
      "ffn_dim": 14336,
      "freq_dim": 256,
      "image_dim": null,
      "in_channels": 48,
      "num_attention_heads": 24,
      "num_layers": 30,
      "out_channels": 48,
      "patch_size": [1, 2, 2],
      "pos_embed_seq_len": null,
      "qk_norm": "rms_norm_across_heads",
      "rope_max_seq_len": 1024,
      "text_dim": 4096
    }"#;

    #[test]
    fn diffusers_ti2v_5b_config_is_the_worldplay_wan_preset() {
        let cfg: Config = serde_json::from_str(WAN22_TI2V_5B).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg, Config::worldplay_wan());
        assert_eq!((cfg.dim, cfg.head_dim(), cfg.in_dim, cfg.out_dim), (3072, 128, 48, 48));
        // Round trip through this crate's own naming keeps everything.
        let back: Config = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
        // Branches can be switched off from the file.
        let plain = WAN22_TI2V_5B.replace("\"eps\"", "\"action_classes\": null, \"camera_attention\": false, \"eps\"");
        let plain: Config = serde_json::from_str(&plain).unwrap();
        assert_eq!((plain.action_classes, plain.camera_attention), (None, false));
    }

    /// `config.json` of Wan-AI/Wan2.1-T2V-1.3B (the official, non-diffusers layout).
    const WAN21_T2V_1_3B: &str = r#"{"_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": 1536,
      "eps": 1e-06, "ffn_dim": 8960, "freq_dim": 256, "in_dim": 16, "model_type": "t2v", "num_heads": 12,
      "num_layers": 30, "out_dim": 16, "text_len": 512}"#;

    #[test]
    fn wan21_config_still_reads_and_bad_fields_are_named() {
        assert_eq!(serde_json::from_str::<Config>(WAN21_T2V_1_3B).unwrap(), Config::wan2_1_1_3b());
        let wan = serde_json::to_string(&Config::wan2_1_1_3b()).unwrap();
        assert_eq!(serde_json::from_str::<Config>(&wan).unwrap(), Config::wan2_1_1_3b());
        let cases = [
            (WAN22_TI2V_5B.replace("\"rms_norm_across_heads\"", "\"layer_norm\""), "field `qk_norm`"),
            (WAN22_TI2V_5B.replace("\"image_dim\": null", "\"image_dim\": 1280"), "field `image_dim`"),
            (WAN22_TI2V_5B.replace("\"ffn_dim\": 14336,", ""), "missing field `ffn_dim`"),
            (r#"{"dim": 64}"#.to_owned(), "missing field `in_dim` (a Wan2.1 config.json)"),
        ];
        for (text, want) in cases {
            let e = serde_json::from_str::<Config>(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
