//! Model configuration, mirroring the `config.json` of a Wan2.1 checkpoint (`WanModel.__init__`
//! arguments: `dim`, `ffn_dim`, `freq_dim`, `text_dim`, `num_heads`, `num_layers`, ...), plus
//! this crate's optional control branches (`action_classes`, `camera_attention`).
//!
//! A diffusers `WanTransformer3DModel` `config.json` (`num_attention_heads`, `attention_head_dim`,
//! `in_channels`, ...: Wan2.2-TI2V-5B, the WorldPlay WAN path) is read too (`config/diffusers.rs`); it
//! selects [`Layout::WorldPlay`] (diffusers key names, WorldPlay's action and PRoPE branches).
//!
//! Invariants checked by [`Config::validate`]: `dim % num_heads == 0`, head dim even and ≥ 6
//! (the 3D RoPE split), head dim divisible by 4 when camera attention is on (PRoPE acts per
//! 4-dim block), patch size (1, ph, pw) (temporal patch 1: one latent frame = one token frame).

mod diffusers;

use crate::error::{DitError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The most parameters a config may describe (10× Wan2.1-14B).
pub const MAX_PARAMETERS: u128 = 150_000_000_000;

/// DiT hyper-parameters. Unknown fields of the upstream `config.json` (e.g. `_class_name`,
/// `model_type`) are accepted and ignored. Deserialised through `diffusers::RawConfig`
/// (either naming; defaults: `qk_norm`/`cross_attn_norm` true, `eps` 1e-6, no action branch, no
/// camera attention, Wan2.1 layout, centered intrinsics, `rope_max_seq_len` 1024).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "diffusers::RawConfig")]
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
    pub qk_norm: bool,
    pub cross_attn_norm: bool,
    pub eps: f64,
    /// Discrete action classes (WorldPlay: 81 = 9 translations × 9 rotations). `None`: no
    /// action branch (tensors `action_embedding.*` must then be absent).
    pub action_classes: Option<usize>,
    /// PRoPE camera-attention branch in every self-attention (`blocks.{i}.self_attn.prope_o.*`).
    pub camera_attention: bool,
    /// Which official model the weights and conventions follow (default: Wan2.1 `WanModel`).
    pub layout: Layout,
    /// How camera intrinsics enter PRoPE (default: [`PropeIntrinsics::Centered`]).
    pub prope_intrinsics: PropeIntrinsics,
    /// Rows of the RoPE table per axis (diffusers `rope_max_seq_len`): positions must stay below it.
    pub rope_max_seq_len: usize,
}

/// The official model a config describes: key names and the conventions that differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Wan2.1 `WanModel` (`wan/modules/model.py`): `self_attn.q`, `time_embedding.0`, ...; text
    /// zero-padded to `text_len`; sinusoids in f64; RoPE split `d/2` pairs in 3.
    #[default]
    #[serde(rename = "wan2.1")]
    Wan21,
    /// HY-WorldPlay WAN path (`WanTransformer3DModel` of
    /// `wan/models/dits/arwan_w_action_w_mem_relative_rope.py`, diffusers naming): `attn1.to_q`,
    /// `condition_embedder.*`, `norm2` = cross-attention norm, `ffn.net.0.proj`, action embedder and
    /// `to_out_prope.0`; text not padded; sinusoids in f32 (diffusers `Timesteps`); the RoPE table
    /// built with `2·(d//6)` h/w dims and split with `d//3`; normalised PRoPE intrinsics.
    #[serde(rename = "worldplay")]
    WorldPlay,
}

/// The intrinsics matrix `K̂` PRoPE uses in `P = lift(K̂) · camera_from_world`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PropeIntrinsics {
    /// Pixel intrinsics normalised to the image: `fx/(2cx)`, `fy/(2cy)`, principal point 0.5.
    #[default]
    #[serde(rename = "centered")]
    Centered,
    /// WorldPlay (`hyvideo/prope/camera_rope.py`): the camera's `fx`, `fy` are already normalised
    /// (helper.KS: 0.5051, 0.8979) and used as given; `cx`, `cy` are zeroed: `K̂ = diag(fx, fy, 1)`.
    #[serde(rename = "normalized")]
    Normalized,
}

pub(crate) fn default_rope_max_seq_len() -> usize {
    1024
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
            layout: Layout::Wan21,
            prope_intrinsics: PropeIntrinsics::Centered,
            rope_max_seq_len: default_rope_max_seq_len(),
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
            layout: Layout::Wan21,
            prope_intrinsics: PropeIntrinsics::Centered,
            rope_max_seq_len: default_rope_max_seq_len(),
        }
    }

    /// The WorldPlay golden tiny DiT (`worldplay-goldens/dit_tiny.config.json`): 2 heads × 32, 2 layers,
    /// 48 latent channels, WorldPlay layout (actions, PRoPE with normalised intrinsics).
    pub fn worldplay_tiny() -> Self {
        Config {
            text_len: 512,
            in_dim: 48,
            out_dim: 48,
            num_heads: 2,
            action_classes: Some(81),
            camera_attention: true,
            layout: Layout::WorldPlay,
            prope_intrinsics: PropeIntrinsics::Normalized,
            ..Self::tiny()
        }
    }

    /// The HY-WorldPlay WAN-path DiT: Wan2.2-TI2V-5B shape (24 heads × 128 = 3072, FFN 14336, 30 layers,
    /// text 4096, 48 latent channels) with WorldPlay's action and PRoPE branches.
    pub fn worldplay_wan() -> Self {
        Config {
            dim: 3072,
            ffn_dim: 14336,
            freq_dim: 256,
            text_dim: 4096,
            num_heads: 24,
            num_layers: 30,
            ..Self::worldplay_tiny()
        }
    }

    /// A named preset: `tiny`, `small`, `wan2_1_1_3b`, `worldplay_tiny`, `worldplay_wan`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "worldplay_tiny" => Some(Self::worldplay_tiny()),
            "worldplay_wan" | "worldplay-wan" => Some(Self::worldplay_wan()),
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
            ("rope_max_seq_len", self.rope_max_seq_len, 1 << 20),
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
        for name in ["tiny", "small", "wan2_1_1_3b", "worldplay_tiny", "worldplay_wan"] {
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
