//! Checkpoint key names and shapes (the public Wan2.1 `WanModel` state dict), validation with an
//! error that lists every missing, unexpected and mis-shaped tensor, and seeded random weights.
//!
//! Extra keys of this crate (absent from upstream checkpoints):
//! - `action_embedding.{0,2}.{weight,bias}`: sinusoidal(label) → Linear(freq_dim, dim) → SiLU →
//!   Linear(dim, dim), added to the time embedding (`action_classes` set);
//! - `blocks.{i}.self_attn.prope_o.{weight,bias}`: output projection of the PRoPE camera branch
//!   (`camera_attention` on).
//!
//! With [`Layout::WorldPlay`] the checkpoint uses diffusers' `WanTransformer3DModel` names (HY-WorldPlay
//! after `add_discrete_action_parameters()`): [`official_name`] maps this crate's (Wan2.1) names to them,
//! [`to_internal_names`] maps a validated checkpoint back.

use crate::config::{Config, Layout};
use crate::error::{DitError, Result};
use crate::tensor::{Tensor, TensorMap};
use worldflow_base::SplitMix64;

/// Wan2.1 name ↔ diffusers (WorldPlay) name, for names outside `blocks.{i}.`; `.`-terminated entries
/// are prefixes, the others whole names.
const TOP_NAMES: [(&str, &str); 9] = [
    ("text_embedding.0.", "condition_embedder.text_embedder.linear_1."),
    ("text_embedding.2.", "condition_embedder.text_embedder.linear_2."),
    ("time_embedding.0.", "condition_embedder.time_embedder.linear_1."),
    ("time_embedding.2.", "condition_embedder.time_embedder.linear_2."),
    ("time_projection.1.", "condition_embedder.time_proj."),
    ("action_embedding.0.", "condition_embedder.action_embedder.linear_1."),
    ("action_embedding.2.", "condition_embedder.action_embedder.linear_2."),
    ("head.modulation", "scale_shift_table"),
    ("head.head.", "proj_out."),
];

/// The same inside `blocks.{i}.`.
const BLOCK_NAMES: [(&str, &str); 17] = [
    ("modulation", "scale_shift_table"),
    ("self_attn.q.", "attn1.to_q."),
    ("self_attn.k.", "attn1.to_k."),
    ("self_attn.v.", "attn1.to_v."),
    ("self_attn.o.", "attn1.to_out.0."),
    ("self_attn.prope_o.", "attn1.to_out_prope.0."),
    ("self_attn.norm_q.", "attn1.norm_q."),
    ("self_attn.norm_k.", "attn1.norm_k."),
    ("cross_attn.q.", "attn2.to_q."),
    ("cross_attn.k.", "attn2.to_k."),
    ("cross_attn.v.", "attn2.to_v."),
    ("cross_attn.o.", "attn2.to_out.0."),
    ("cross_attn.norm_q.", "attn2.norm_q."),
    ("cross_attn.norm_k.", "attn2.norm_k."),
    ("norm3.", "norm2."),
    ("ffn.0.", "ffn.net.0.proj."),
    ("ffn.2.", "ffn.net.2."),
];

/// `name` with its first matching `from` part replaced by `to` (`to_diffusers` picks the direction).
fn rename(name: &str, to_diffusers: bool) -> String {
    let pick = |(a, b): &(&'static str, &'static str)| if to_diffusers { (*a, *b) } else { (*b, *a) };
    let swap = |rest: &str, table: &[(&'static str, &'static str)]| -> Option<String> {
        table.iter().map(pick).find_map(|(from, to)| {
            if from.ends_with('.') {
                rest.strip_prefix(from).map(|tail| format!("{to}{tail}"))
            } else {
                (rest == from).then(|| to.to_owned())
            }
        })
    };
    if let Some(rest) = name.strip_prefix("blocks.") {
        if let Some((index, tail)) = rest.split_once('.') {
            let mapped = swap(tail, &BLOCK_NAMES).unwrap_or_else(|| tail.to_owned());
            return format!("blocks.{index}.{mapped}");
        }
    }
    swap(name, &TOP_NAMES).unwrap_or_else(|| name.to_owned())
}

/// The checkpoint name of this crate's (Wan2.1) tensor `name` under `cfg.layout`.
pub fn official_name(cfg: &Config, name: &str) -> String {
    match cfg.layout {
        Layout::Wan21 => name.to_owned(),
        Layout::WorldPlay => rename(name, true),
    }
}

/// Renames a checkpoint's tensors to this crate's (Wan2.1) names (the identity for [`Layout::Wan21`]).
pub fn to_internal_names(cfg: &Config, tensors: TensorMap) -> TensorMap {
    match cfg.layout {
        Layout::Wan21 => tensors,
        Layout::WorldPlay => tensors.into_iter().map(|(name, t)| (rename(&name, false), t)).collect(),
    }
}

/// Every tensor the config needs, with its checkpoint name (see [`official_name`]) and shape.
pub fn expected_shapes(cfg: &Config) -> Vec<(String, Vec<usize>)> {
    internal_shapes(cfg).into_iter().map(|(name, shape)| (official_name(cfg, &name), shape)).collect()
}

/// Every tensor the config needs under this crate's (Wan2.1) names, in checkpoint order.
fn internal_shapes(cfg: &Config) -> Vec<(String, Vec<usize>)> {
    let (d, [pt, ph, pw]) = (cfg.dim, cfg.patch_size);
    let mut v: Vec<(String, Vec<usize>)> = Vec::new();
    let lin = |v: &mut Vec<(String, Vec<usize>)>, name: &str, out: usize, inp: usize| {
        v.push((format!("{name}.weight"), vec![out, inp]));
        v.push((format!("{name}.bias"), vec![out]));
    };
    v.push(("patch_embedding.weight".into(), vec![d, cfg.in_dim, pt, ph, pw]));
    v.push(("patch_embedding.bias".into(), vec![d]));
    lin(&mut v, "text_embedding.0", d, cfg.text_dim);
    lin(&mut v, "text_embedding.2", d, d);
    lin(&mut v, "time_embedding.0", d, cfg.freq_dim);
    lin(&mut v, "time_embedding.2", d, d);
    lin(&mut v, "time_projection.1", 6 * d, d);
    for i in 0..cfg.num_layers {
        let b = format!("blocks.{i}");
        v.push((format!("{b}.modulation"), vec![1, 6, d]));
        for attn in ["self_attn", "cross_attn"] {
            for p in ["q", "k", "v", "o"] {
                lin(&mut v, &format!("{b}.{attn}.{p}"), d, d);
            }
            if cfg.qk_norm {
                v.push((format!("{b}.{attn}.norm_q.weight"), vec![d]));
                v.push((format!("{b}.{attn}.norm_k.weight"), vec![d]));
            }
            if attn == "self_attn" && cfg.camera_attention {
                lin(&mut v, &format!("{b}.self_attn.prope_o"), d, d);
            }
        }
        if cfg.cross_attn_norm {
            v.push((format!("{b}.norm3.weight"), vec![d]));
            v.push((format!("{b}.norm3.bias"), vec![d]));
        }
        lin(&mut v, &format!("{b}.ffn.0"), cfg.ffn_dim, d);
        lin(&mut v, &format!("{b}.ffn.2"), d, cfg.ffn_dim);
    }
    v.push(("head.modulation".into(), vec![1, 2, d]));
    lin(&mut v, "head.head", cfg.head_features(), d);
    if cfg.action_classes.is_some() {
        lin(&mut v, "action_embedding.0", d, cfg.freq_dim);
        lin(&mut v, "action_embedding.2", d, d);
    }
    v
}

/// Checks names and shapes; the error lists every problem, one per line.
pub fn validate(cfg: &Config, tensors: &TensorMap) -> Result<()> {
    let expected = expected_shapes(cfg);
    let mut problems = Vec::new();
    for (name, shape) in &expected {
        match tensors.get(name) {
            None => problems.push(format!("  missing tensor `{name}` (expected shape {shape:?})")),
            Some(t) if &t.shape != shape => {
                problems.push(format!("  tensor `{name}` has shape {:?}, expected {shape:?}", t.shape))
            }
            _ => {}
        }
    }
    let known: std::collections::HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    for name in tensors.keys() {
        if !known.contains(name.as_str()) {
            problems.push(format!("  unexpected tensor `{name}`"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DitError::WeightMismatch(problems.join("\n")))
    }
}

/// A seeded normal generator: Box–Muller on the workspace's splitmix64 ([`SplitMix64`]) seeded with
/// `seed ^ 0x9E37_79B9_7F4A_7C15`, uniforms in (0, 1] (the streams of every seed are those of the
/// goldens and tests written before the generator moved to `worldflow-base`).
#[derive(Clone, Debug)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed ^ 0x9E37_79B9_7F4A_7C15))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in (0, 1].
    pub fn uniform(&mut self) -> f64 {
        self.0.next_f64_nonzero()
    }
    pub fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
    pub fn normal_vec(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal() * std).collect()
    }
}

/// Seeded random weights for every expected tensor: N(0, std²) everywhere except norm scales
/// (`norm_q`, `norm_k`, `norm3.weight`) = 1 + 0.1·N(0, 1). Control branches are random too so
/// that tests exercise them; see [`zero_init_control_branches`] for the training initialisation.
pub fn random_weights(cfg: &Config, seed: u64, std: f32) -> TensorMap {
    let mut rng = Rng::new(seed);
    let mut out = TensorMap::new();
    for (name, shape) in internal_shapes(cfg) {
        let n = shape.iter().product();
        let data = if name.contains("norm_q") || name.contains("norm_k") || name.ends_with("norm3.weight") {
            rng.normal_vec(n, 0.1).into_iter().map(|x| 1.0 + x).collect()
        } else {
            rng.normal_vec(n, std)
        };
        out.insert(official_name(cfg, &name), Tensor { shape, data });
    }
    out
}

/// Zeroes the last layer of the action embedder and the PRoPE output projections: the
/// initialisation used when fine-tuning these branches onto a pretrained model (the model then
/// behaves exactly like the base model). Either naming (Wan2.1 or WorldPlay's diffusers names).
pub fn zero_init_control_branches(tensors: &mut TensorMap) {
    for (name, t) in tensors.iter_mut() {
        let wan = name.starts_with("action_embedding.2.") || name.contains(".prope_o.");
        let worldplay =
            name.starts_with("condition_embedder.action_embedder.linear_2.") || name.contains(".to_out_prope.0.");
        if wan || worldplay {
            t.data.iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worldplay_names_are_the_goldens_and_map_back() {
        let cfg = Config::worldplay_tiny();
        let names: Vec<String> = expected_shapes(&cfg).into_iter().map(|(n, _)| n).collect();
        for want in [
            "condition_embedder.time_proj.weight",
            "condition_embedder.action_embedder.linear_2.bias",
            "scale_shift_table",
            "proj_out.weight",
            "blocks.1.scale_shift_table",
            "blocks.0.attn1.to_out.0.weight",
            "blocks.0.attn1.to_out_prope.0.bias",
            "blocks.0.attn2.norm_k.weight",
            "blocks.1.norm2.bias",
            "blocks.1.ffn.net.0.proj.weight",
            "blocks.1.ffn.net.2.bias",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
        }
        assert_eq!(names.len(), 77, "the golden checkpoint holds 77 tensors");
        let back = to_internal_names(&cfg, random_weights(&cfg, 1, 0.1));
        let internal: Vec<String> = internal_shapes(&cfg).into_iter().map(|(n, _)| n).collect();
        assert_eq!(back.keys().cloned().collect::<std::collections::BTreeSet<_>>(), internal.into_iter().collect());
    }
}
