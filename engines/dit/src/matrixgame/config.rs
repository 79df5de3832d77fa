//! The Matrix-Game 2.0 `CausalWanModel` config, with the official field names of its `config.json`
//! (`Matrix-Game-2/configs/.../config.json`; `_class_name`, `_diffusers_version` and other unknown
//! fields are ignored). Widths the official code hard-codes are NOT taken from here: tokens per frame
//! come from the latent grid, the CLIP width and the action head width from the weights.

use crate::error::{DitError, Result};
use serde::Deserialize;
use std::path::Path;

fn default_patch() -> [usize; 3] {
    [1, 2, 2]
}
fn default_true() -> bool {
    true
}
fn default_eps() -> f64 {
    1e-6
}
fn default_local_attn() -> i64 {
    -1
}
fn default_rope_dims() -> Vec<usize> {
    vec![8, 28, 28]
}
fn default_rope_theta() -> f64 {
    256.0
}
fn default_ratio() -> usize {
    4
}
fn default_windows() -> usize {
    3
}

/// `action_config` of the official config (`ActionModule.__init__` arguments).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ActionConfig {
    /// Blocks that carry an action module.
    pub blocks: Vec<usize>,
    #[serde(default = "default_true")]
    pub enable_keyboard: bool,
    #[serde(default = "default_true")]
    pub enable_mouse: bool,
    pub heads_num: usize,
    /// Width of the embedded keyboard action (per pixel frame).
    pub hidden_size: usize,
    pub img_hidden_size: usize,
    pub keyboard_dim_in: usize,
    pub keyboard_hidden_dim: usize,
    #[serde(default)]
    pub mouse_dim_in: usize,
    #[serde(default)]
    pub mouse_hidden_dim: usize,
    /// The RoPE split the action module builds its table with (`get_rotary_pos_embed(..., mouse_qk_dim_list)`).
    #[serde(default = "default_rope_dims")]
    pub mouse_qk_dim_list: Vec<usize>,
    /// Stored by the official module but not used by its forward (the table uses `mouse_qk_dim_list`).
    #[serde(default = "default_rope_dims")]
    pub rope_dim_list: Vec<usize>,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_ratio")]
    pub vae_time_compression_ratio: usize,
    #[serde(default = "default_windows")]
    pub windows_size: usize,
    #[serde(default = "default_true")]
    pub qk_norm: bool,
    #[serde(default)]
    pub qkv_bias: bool,
    #[serde(default = "default_patch")]
    pub patch_size: [usize; 3],
}

impl ActionConfig {
    /// Pixel-frame actions a latent frame sees: `vae_time_compression_ratio · windows_size` (12).
    pub fn window_pixel_frames(&self) -> usize {
        self.vae_time_compression_ratio * self.windows_size
    }
}

/// The model config (`CausalWanModel.__init__` arguments).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct MatrixGameConfig {
    #[serde(default)]
    pub model_type: String,
    #[serde(default = "default_patch")]
    pub patch_size: [usize; 3],
    pub in_dim: usize,
    pub dim: usize,
    pub ffn_dim: usize,
    pub freq_dim: usize,
    pub out_dim: usize,
    pub num_heads: usize,
    pub num_layers: usize,
    /// Latent frames of the self-attention window and of every KV cache; −1 = 15 frames (the
    /// official default cache size).
    #[serde(default = "default_local_attn")]
    pub local_attn_size: i64,
    /// Frames kept at the start of the self-attention cache when it rolls.
    #[serde(default)]
    pub sink_size: usize,
    #[serde(default = "default_true")]
    pub qk_norm: bool,
    #[serde(default = "default_true")]
    pub cross_attn_norm: bool,
    #[serde(default)]
    pub action_config: Option<ActionConfig>,
    #[serde(default = "default_eps")]
    pub eps: f64,
}

fn invalid(msg: impl Into<String>) -> DitError {
    DitError::InvalidConfig(msg.into())
}

impl MatrixGameConfig {
    /// The tiny layout of the goldens (`matrixgame-goldens/dit_tiny.config.json`): dim 64, 4 heads,
    /// 2 layers, an action module in block 0 (2 heads of 64), a 6-frame window. For tests and
    /// CPU graphs with random weights; the real model is dim 1536, 30 layers.
    pub fn tiny() -> Self {
        MatrixGameConfig {
            model_type: "i2v".into(),
            patch_size: [1, 2, 2],
            in_dim: 36,
            dim: 64,
            ffn_dim: 128,
            freq_dim: 32,
            out_dim: 16,
            num_heads: 4,
            num_layers: 2,
            local_attn_size: 6,
            sink_size: 0,
            qk_norm: true,
            cross_attn_norm: true,
            action_config: Some(ActionConfig {
                blocks: vec![0],
                enable_keyboard: true,
                enable_mouse: true,
                heads_num: 2,
                hidden_size: 16,
                img_hidden_size: 64,
                keyboard_dim_in: 4,
                keyboard_hidden_dim: 128,
                mouse_dim_in: 2,
                mouse_hidden_dim: 128,
                mouse_qk_dim_list: vec![8, 28, 28],
                rope_dim_list: vec![8, 28, 28],
                rope_theta: 256.0,
                vae_time_compression_ratio: 4,
                windows_size: 3,
                qk_norm: true,
                qkv_bias: false,
                patch_size: [1, 2, 2],
            }),
            eps: 1e-6,
        }
    }

    /// Reads and validates a `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| DitError::Io { path: path.to_path_buf(), source })?;
        let cfg: MatrixGameConfig =
            serde_json::from_str(&text).map_err(|source| DitError::Config { path: path.to_path_buf(), source })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn head_dim(&self) -> usize {
        self.dim / self.num_heads
    }

    /// Latent frames every KV cache holds (and the attention window): `local_attn_size`, or 15 for −1.
    pub fn cache_frames(&self) -> usize {
        if self.local_attn_size < 0 {
            15
        } else {
            self.local_attn_size as usize
        }
    }

    /// Checks the fields against each other and against sane bounds.
    pub fn validate(&self) -> Result<()> {
        if !self.model_type.is_empty() && self.model_type != "i2v" {
            return Err(invalid(format!("model_type `{}`: Matrix-Game's CausalWanModel is i2v only", self.model_type)));
        }
        let bounded = [
            ("in_dim", self.in_dim, 4096),
            ("dim", self.dim, 16384),
            ("ffn_dim", self.ffn_dim, 65536),
            ("freq_dim", self.freq_dim, 4096),
            ("out_dim", self.out_dim, 4096),
            ("num_heads", self.num_heads, 256),
            ("num_layers", self.num_layers, 512),
        ];
        for (name, v, max) in bounded {
            if v == 0 || v > max {
                return Err(invalid(format!("{name} = {v}: expected 1..={max}")));
            }
        }
        if !self.dim.is_multiple_of(self.num_heads) || !self.head_dim().is_multiple_of(2) {
            return Err(invalid(format!("dim {} / num_heads {} must be an even head width", self.dim, self.num_heads)));
        }
        if !self.freq_dim.is_multiple_of(2) {
            return Err(invalid(format!("freq_dim {} must be even", self.freq_dim)));
        }
        if self.patch_size.contains(&0) || self.patch_size[0] != 1 {
            return Err(invalid(format!("patch_size {:?}: the causal model needs [1, ph, pw]", self.patch_size)));
        }
        if self.local_attn_size == 0 || self.local_attn_size < -1 || self.local_attn_size > 1024 {
            return Err(invalid(format!("local_attn_size {}: expected -1 or 1..=1024", self.local_attn_size)));
        }
        if self.sink_size >= self.cache_frames() {
            return Err(invalid(format!(
                "sink_size {} must be below the cache's {} frames",
                self.sink_size,
                self.cache_frames()
            )));
        }
        if !(self.eps > 0.0 && self.eps < 1.0) {
            return Err(invalid(format!("eps {}: expected in (0, 1)", self.eps)));
        }
        if let Some(a) = &self.action_config {
            if let Some(b) = a.blocks.iter().find(|&&b| b >= self.num_layers) {
                return Err(invalid(format!("action_config.blocks: block {b} ≥ num_layers {}", self.num_layers)));
            }
            if a.heads_num == 0 || a.heads_num > 256 {
                return Err(invalid(format!("action_config.heads_num = {}: expected 1..=256", a.heads_num)));
            }
            if a.img_hidden_size != self.dim {
                return Err(invalid(format!(
                    "action_config.img_hidden_size {} must equal dim {}",
                    a.img_hidden_size, self.dim
                )));
            }
            if a.vae_time_compression_ratio == 0 || a.windows_size == 0 {
                return Err(invalid("action_config: vae_time_compression_ratio and windows_size must be ≥ 1"));
            }
            if a.mouse_qk_dim_list.len() != 3 || a.mouse_qk_dim_list.iter().any(|d| !d.is_multiple_of(2)) {
                return Err(invalid(format!(
                    "action_config.mouse_qk_dim_list {:?}: expected three even widths",
                    a.mouse_qk_dim_list
                )));
            }
            if a.rope_theta.is_nan() || a.rope_theta <= 0.0 {
                return Err(invalid(format!("action_config.rope_theta {}: expected > 0", a.rope_theta)));
            }
            if !a.enable_mouse && !a.enable_keyboard {
                return Err(invalid("action_config: neither mouse nor keyboard enabled"));
            }
        }
        Ok(())
    }

    /// The action config when block `layer` carries an action module.
    pub fn action_for(&self, layer: usize) -> Option<&ActionConfig> {
        self.action_config.as_ref().filter(|a| a.blocks.contains(&layer))
    }
}
