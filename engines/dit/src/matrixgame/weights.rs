//! Taking the named tensors of a `CausalWanModel.state_dict()` (official key names, one safetensors
//! file, f32/f16/bf16 through the crate's reader) with every shape checked, and what is left over
//! reported, so a wrong checkpoint fails naming the key.

use super::config::MatrixGameConfig;
use crate::error::{DitError, Result};
use crate::linear::Linear;
use crate::tensor::{Tensor, TensorMap};
use crate::weights::Rng;

/// The tensors not taken yet, and where they came from (for errors).
pub(crate) struct Weights {
    tensors: TensorMap,
    origin: String,
}

fn mismatch(msg: String) -> DitError {
    DitError::WeightMismatch(msg)
}

impl Weights {
    pub(crate) fn new(tensors: TensorMap, origin: &str) -> Self {
        Weights { tensors, origin: origin.to_owned() }
    }

    /// The shape of `name`, without taking it.
    pub(crate) fn shape(&self, name: &str) -> Result<Vec<usize>> {
        self.tensors
            .get(name)
            .map(|t| t.shape.clone())
            .ok_or_else(|| mismatch(format!("{}: tensor `{name}` is missing", self.origin)))
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Takes `name`, which must have exactly `shape`.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| mismatch(format!("{}: tensor `{name}` is missing", self.origin)))?;
        if t.shape != shape {
            return Err(mismatch(format!(
                "{}: tensor `{name}` has shape {:?}, expected {shape:?}",
                self.origin, t.shape
            )));
        }
        Ok(t.data)
    }

    /// A Linear `{name}.weight` [out, in] with `{name}.bias` [out] when `bias` (its absence is an error
    /// then, and its presence one otherwise).
    pub(crate) fn linear(&mut self, name: &str, in_features: usize, out_features: usize, bias: bool) -> Result<Linear> {
        let w = self.take(&format!("{name}.weight"), &[out_features, in_features])?;
        let b = if bias {
            self.take(&format!("{name}.bias"), &[out_features])?
        } else {
            if self.has(&format!("{name}.bias")) {
                return Err(mismatch(format!("{}: `{name}.bias` present but the config says no bias", self.origin)));
            }
            Vec::new()
        };
        Ok(Linear::new(&w, b, in_features, out_features))
    }

    /// A LayerNorm's `{name}.weight`, `{name}.bias` [width].
    pub(crate) fn norm(&mut self, name: &str, width: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.take(&format!("{name}.weight"), &[width])?, self.take(&format!("{name}.bias"), &[width])?))
    }

    /// Drops `name` if present (parameters the official forward never reads).
    pub(crate) fn discard(&mut self, name: &str) {
        self.tensors.remove(name);
    }

    /// Fails when tensors were left over (a strict load, as `load_state_dict(strict=True)`).
    pub(crate) fn finish(self) -> Result<()> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.tensors.keys().map(String::as_str).take(8).collect();
        Err(mismatch(format!(
            "{}: {} tensors the config does not use, e.g. {}",
            self.origin,
            self.tensors.len(),
            names.join(", ")
        )))
    }
}

/// Every tensor name and shape of a `CausalWanModel.state_dict()` for `cfg`, with image features of
/// `clip_dim` (1280 for the real CLIP). LayerNorm / RMSNorm scales are flagged `true`.
pub fn expected_shapes(cfg: &MatrixGameConfig, clip_dim: usize) -> Vec<(String, Vec<usize>, bool)> {
    let (d, [pt, ph, pw]) = (cfg.dim, cfg.patch_size);
    let mut v: Vec<(String, Vec<usize>, bool)> = Vec::new();
    let lin = |v: &mut Vec<_>, name: &str, i: usize, o: usize, bias: bool| {
        v.push((format!("{name}.weight"), vec![o, i], false));
        if bias {
            v.push((format!("{name}.bias"), vec![o], false));
        }
    };
    let norm = |v: &mut Vec<(String, Vec<usize>, bool)>, name: &str, w: usize, bias: bool| {
        v.push((format!("{name}.weight"), vec![w], true));
        if bias {
            v.push((format!("{name}.bias"), vec![w], false));
        }
    };
    v.push(("patch_embedding.weight".into(), vec![d, cfg.in_dim, pt, ph, pw], false));
    v.push(("patch_embedding.bias".into(), vec![d], false));
    lin(&mut v, "time_embedding.0", cfg.freq_dim, d, true);
    lin(&mut v, "time_embedding.2", d, d, true);
    lin(&mut v, "time_projection.1", d, 6 * d, true);
    norm(&mut v, "img_emb.proj.0", clip_dim, true);
    lin(&mut v, "img_emb.proj.1", clip_dim, clip_dim, true);
    lin(&mut v, "img_emb.proj.3", clip_dim, d, true);
    norm(&mut v, "img_emb.proj.4", d, true);
    for i in 0..cfg.num_layers {
        let b = format!("blocks.{i}");
        v.push((format!("{b}.modulation"), vec![1, 6, d], false));
        for attn in ["self_attn", "cross_attn"] {
            for p in ["q", "k", "v", "o"] {
                lin(&mut v, &format!("{b}.{attn}.{p}"), d, d, true);
            }
            if cfg.qk_norm {
                norm(&mut v, &format!("{b}.{attn}.norm_q"), d, false);
                norm(&mut v, &format!("{b}.{attn}.norm_k"), d, false);
            }
        }
        if cfg.cross_attn_norm {
            norm(&mut v, &format!("{b}.norm3"), d, true);
        }
        lin(&mut v, &format!("{b}.ffn.0"), d, cfg.ffn_dim, true);
        lin(&mut v, &format!("{b}.ffn.2"), cfg.ffn_dim, d, true);
        if let Some(a) = cfg.action_for(i) {
            let m = format!("{b}.action_model");
            let (pad, bias) = (a.window_pixel_frames(), a.qkv_bias);
            if a.enable_keyboard {
                lin(&mut v, &format!("{m}.keyboard_embed.0"), a.keyboard_dim_in, a.hidden_size, true);
                lin(&mut v, &format!("{m}.keyboard_embed.2"), a.hidden_size, a.hidden_size, true);
            }
            if a.enable_mouse {
                let c = a.mouse_hidden_dim;
                lin(&mut v, &format!("{m}.mouse_mlp.0"), d + a.mouse_dim_in * pad, c, true);
                lin(&mut v, &format!("{m}.mouse_mlp.2"), c, c, true);
                norm(&mut v, &format!("{m}.mouse_mlp.3"), c, true);
                lin(&mut v, &format!("{m}.t_qkv"), c, 3 * c, bias);
                if a.qk_norm {
                    norm(&mut v, &format!("{m}.img_attn_q_norm"), c / a.heads_num, false);
                    norm(&mut v, &format!("{m}.img_attn_k_norm"), c / a.heads_num, false);
                }
                lin(&mut v, &format!("{m}.proj_mouse"), c, d, bias);
            }
            if a.enable_keyboard {
                let c = a.keyboard_hidden_dim;
                if a.qk_norm {
                    norm(&mut v, &format!("{m}.key_attn_q_norm"), c / a.heads_num, false);
                    norm(&mut v, &format!("{m}.key_attn_k_norm"), c / a.heads_num, false);
                }
                lin(&mut v, &format!("{m}.mouse_attn_q"), d, c, bias);
                lin(&mut v, &format!("{m}.keyboard_attn_kv"), a.hidden_size * pad, 2 * c, bias);
                lin(&mut v, &format!("{m}.proj_keyboard"), c, d, bias);
            }
        }
    }
    v.push(("head.modulation".into(), vec![1, 2, d], false));
    lin(&mut v, "head.head", d, cfg.out_dim * pt * ph * pw, true);
    v
}

/// Seeded random weights of the right layout (N(0, 0.1²); norm scales 1 + N(0, 0.1²), as the
/// goldens are made): for tests and for running a graph without a checkpoint. NOT a trained model.
pub fn random_weights(cfg: &MatrixGameConfig, clip_dim: usize, seed: u64) -> TensorMap {
    let mut rng = Rng::new(seed);
    expected_shapes(cfg, clip_dim)
        .into_iter()
        .map(|(name, shape, scale)| {
            let mut data = rng.normal_vec(shape.iter().product(), 0.1);
            if scale {
                data.iter_mut().for_each(|x| *x += 1.0);
            }
            (name, Tensor::new(shape, data))
        })
        .collect()
}
