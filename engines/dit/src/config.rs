//! Model configuration, mirroring the `config.json` of a Wan2.1 checkpoint (`WanModel.__init__`
//! arguments: `dim`, `ffn_dim`, `freq_dim`, `text_dim`, `num_heads`, `num_layers`, ...), plus
//! this crate's optional control branches (`action_classes`, `camera_attention`).
//!
//! Invariants checked by [`Config::validate`]: `dim % num_heads == 0`, head dim even and ≥ 6
//! (the 3D RoPE split), head dim divisible by 4 when camera attention is on (PRoPE acts per
//! 4-dim block), patch size (1, ph, pw) (temporal patch 1: one latent frame = one token frame).

use crate::error::{DitError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The most parameters a config may describe (10× Wan2.1-14B).
pub const MAX_PARAMETERS: u128 = 150_000_000_000;

/// DiT hyper-parameters. Unknown fields of the upstream `config.json` (e.g. `_class_name`,
/// `model_type`) are accepted and ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub patch_size: [usize; 3],
    pub text_len: usize,
    pub in_dim: usize,
    pub dim: usize,
    pub ffn_dim: usize,
    pub freq_dim: usize,
    pub text_dim: usize,
    pub out_dim: usize,
    pub num_heads: usize,
    pub num_layers: usize,
    #[serde(default = "default_true")]
    pub qk_norm: bool,
    #[serde(default = "default_true")]
    pub cross_attn_norm: bool,
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Discrete action classes (WorldPlay: 81 = 9 translations × 9 rotations). `None`: no
    /// action branch (tensors `action_embedding.*` must then be absent).
    #[serde(default)]
    pub action_classes: Option<usize>,
    /// PRoPE camera-attention branch in every self-attention (`blocks.{i}.self_attn.prope_o.*`).
    #[serde(default)]
    pub camera_attention: bool,
}

fn default_true() -> bool {
    true
}
fn default_eps() -> f64 {
    1e-6
}

impl Config {
    /// The configuration of the official tiny conformance goldens (dim 64, 4 heads, 2 layers).
    pub fn tiny() -> Self {
        Config {
            patch_size: [1, 2, 2],
            text_len: 16,
            in_dim: 16,
            dim: 64,
            ffn_dim: 128,
            freq_dim: 32,
            text_dim: 32,
            out_dim: 16,
            num_heads: 4,
            num_layers: 2,
            qk_norm: true,
            cross_attn_norm: true,
            eps: 1e-6,
            action_classes: None,
            camera_attention: false,
        }
    }

    /// A CPU demo size: hidden 384, 6 heads × 64, 4 layers, FFN 1536, 16 latent channels.
    pub fn small() -> Self {
        Config {
            text_len: 64,
            dim: 384,
            ffn_dim: 1536,
            freq_dim: 256,
            text_dim: 384,
            num_heads: 6,
            num_layers: 4,
            ..Self::tiny()
        }
    }

    /// Wan2.1 T2V 1.3B (`Wan2.1-T2V-1.3B/config.json`).
    pub fn wan2_1_1_3b() -> Self {
        Config {
            patch_size: [1, 2, 2],
            text_len: 512,
            in_dim: 16,
            dim: 1536,
            ffn_dim: 8960,
            freq_dim: 256,
            text_dim: 4096,
            out_dim: 16,
            num_heads: 12,
            num_layers: 30,
            qk_norm: true,
            cross_attn_norm: true,
            eps: 1e-6,
            action_classes: None,
            camera_attention: false,
        }
    }

    /// A named preset: `tiny`, `small`, `wan2_1_1_3b`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "small" => Some(Self::small()),
            "wan2_1_1_3b" | "wan2.1-1.3b" => Some(Self::wan2_1_1_3b()),
            _ => None,
        }
    }

    /// Reads and validates a JSON config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| DitError::Io { path: path.to_path_buf(), source })?;
        let cfg: Config =
            serde_json::from_str(&text).map_err(|source| DitError::Config { path: path.to_path_buf(), source })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn head_dim(&self) -> usize {
        self.dim / self.num_heads
    }

    /// Features per patch token: in_dim · pt · ph · pw.
    pub fn patch_features(&self) -> usize {
        self.in_dim * self.patch_size.iter().product::<usize>()
    }

    /// Output features per token before unpatchify: out_dim · pt · ph · pw.
    pub fn head_features(&self) -> usize {
        self.out_dim * self.patch_size.iter().product::<usize>()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DitError::InvalidConfig(m));
        if self.num_heads == 0 || self.dim == 0 || !self.dim.is_multiple_of(self.num_heads) {
            return bad(format!("dim {} not divisible by num_heads {}", self.dim, self.num_heads));
        }
        let d = self.head_dim();
        if !d.is_multiple_of(2) || d < 6 {
            return bad(format!("head dim {d} must be even and >= 6 (3D RoPE split)"));
        }
        if self.camera_attention && !d.is_multiple_of(4) {
            return bad(format!("head dim {d} must be divisible by 4 for camera attention"));
        }
        if self.patch_size[0] != 1 || self.patch_size[1] == 0 || self.patch_size[2] == 0 {
            return bad(format!("patch_size {:?}: temporal patch must be 1", self.patch_size));
        }
        if !self.freq_dim.is_multiple_of(2) || self.freq_dim == 0 {
            return bad(format!("freq_dim {} must be even", self.freq_dim));
        }
        // Upper bounds far above any released model (Wan2.1-14B: dim 5120, ffn 13824, 40 layers) and far
        // below what a typo like `num_layers: 1000000000` would try to allocate.
        for (name, v, max) in [
            ("in_dim", self.in_dim, 4096),
            ("out_dim", self.out_dim, 4096),
            ("dim", self.dim, 65_536),
            ("ffn_dim", self.ffn_dim, 262_144),
            ("freq_dim", self.freq_dim, 65_536),
            ("text_dim", self.text_dim, 65_536),
            ("text_len", self.text_len, 65_536),
            ("num_heads", self.num_heads, 1024),
            ("num_layers", self.num_layers, 1024),
            ("patch_size[1]", self.patch_size[1], 64),
            ("patch_size[2]", self.patch_size[2], 64),
            ("action_classes", self.action_classes.unwrap_or(1), 65_536),
        ] {
            if v == 0 || v > max {
                return bad(format!("{name} must be in 1..={max}, found {v}"));
            }
        }
        let params = self.parameter_estimate();
        if params > MAX_PARAMETERS {
            return bad(format!(
                "about {params} parameters, more than the {MAX_PARAMETERS} this engine loads (check dim, ffn_dim, num_layers)"
            ));
        }
        Ok(())
    }

    /// Roughly the number of parameters of the blocks (attention, cross-attention, FFN), in 128 bits: enough
    /// to refuse absurd configs before anything is allocated.
    pub fn parameter_estimate(&self) -> u128 {
        let (d, f, layers) = (self.dim as u128, self.ffn_dim as u128, self.num_layers as u128);
        layers * (8 * d * d + 2 * d * f) + self.text_dim as u128 * d + self.patch_features() as u128 * d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_absurd_sizes_are_refused_before_allocating() {
        for name in ["tiny", "small", "wan2_1_1_3b"] {
            Config::preset(name).unwrap().validate().unwrap();
        }
        type Edit = fn(&mut Config);
        let cases: [(Edit, &str); 5] = [
            (|c| c.num_layers = 1_000_000_000, "num_layers must be in 1..=1024, found 1000000000"),
            (|c| c.ffn_dim = 0, "ffn_dim must be in 1..=262144, found 0"),
            (|c| c.patch_size = [1, usize::MAX, 2], "patch_size[1] must be in 1..=64"),
            (|c| c.action_classes = Some(0), "action_classes must be in 1..=65536, found 0"),
            (
                |c| {
                    (c.dim, c.num_heads, c.ffn_dim, c.num_layers) = (65_536, 1024, 262_144, 1024);
                },
                "parameters, more than the 150000000000",
            ),
        ];
        for (set, expected) in cases {
            let mut c = Config::wan2_1_1_3b();
            set(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
        }
    }
}
