//! `worldflow model check`: one forward on user-supplied tensors, written back for comparison.
//!
//! Input file (safetensors): `x` [C, F, H, W], `t` [1] or [F], `context` [L, text_dim] — the names of
//! the golden case files — plus the optional controls `actions` [F], `c2w` [F, 4, 4] with
//! `intrinsics` [F, 4], `rope_time` [F] and `groups` [G] (see `check_inputs.rs`). If it also holds
//! `out`, the result is compared with it.
//! Output file: `out` [C, F, H, W] plus the traces (`trace.time_embedding`, `trace.blocks.{i}`, ...).

use crate::backend::DitBackend;
use crate::check_inputs::CheckInputs;
use crate::config::Config;
use crate::error::Result;
use crate::model::{SeqRequest, Trace, WanModel};
use crate::quant::WeightFormat;
use crate::tensor::{load_safetensors, save_safetensors, Tensor, TensorMap};
use std::path::Path;

/// What [`check_forward`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    pub out_shape: Vec<usize>,
    /// max |ours − reference| / max |reference| when the inputs contain `out`.
    pub max_rel_err_vs_inputs_out: Option<f32>,
    /// The optional input tensors that were read and fed to the forward (e.g. `actions`, `c2w`).
    pub used_optional: Vec<&'static str>,
    /// How the block linear weights were held.
    pub weights: WeightFormat,
}

/// Loads `config_path` (JSON, upstream `config.json` fields) and `weights_path` (safetensors with
/// Wan2.1 key names), runs one forward on `inputs_path` and writes `out_path`. Weights in f32.
pub fn check_forward(
    config_path: &Path,
    weights_path: &Path,
    inputs_path: &Path,
    out_path: &Path,
) -> Result<CheckReport> {
    check_forward_with(config_path, weights_path, inputs_path, out_path, WeightFormat::F32)
}

/// [`check_forward`] with the block linear weights in `format`.
pub fn check_forward_with(
    config_path: &Path,
    weights_path: &Path,
    inputs_path: &Path,
    out_path: &Path,
    format: WeightFormat,
) -> Result<CheckReport> {
    let cfg = Config::from_file(config_path)?;
    let model = WanModel::load_with(&cfg, weights_path, format)?;
    check_forward_on(&model, inputs_path, out_path, format)
}

/// Runs the check on an already loaded `model` (any [`DitBackend`]: CPU, CUDA); `format` is reported as
/// how its block linear weights are held.
pub fn check_forward_on(
    model: &dyn DitBackend,
    inputs_path: &Path,
    out_path: &Path,
    format: WeightFormat,
) -> Result<CheckReport> {
    let cfg = model.config().clone();
    let inputs = load_safetensors(inputs_path)?;
    let parsed = CheckInputs::parse(&cfg, &inputs, &inputs_path.display().to_string())?;
    let text = model.encode_text(&inputs["context"].data, parsed.context_rows)?;
    let req = SeqRequest {
        latents: &inputs["x"].data,
        frames: parsed.frames,
        height: parsed.height,
        width: parsed.width,
        conds: &parsed.conds,
        rope_time: &parsed.rope_time,
        groups: parsed.groups.as_deref(),
    };
    let mut trace = Trace::default();
    let (out, _) = model.forward_seq(&req, &text, None, false, Some(&mut trace))?;
    let out = Tensor::new(vec![cfg.out_dim, parsed.frames, parsed.height, parsed.width], out);
    let reference = inputs.get("out").map(|r| {
        let scale = r.data.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        if r.data.len() != out.data.len() {
            return f32::INFINITY;
        }
        out.data.iter().zip(&r.data).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale
    });
    let d = cfg.dim;
    let frames = parsed.frames;
    let tokens = trace.head.len() / cfg.head_features();
    let mut tensors = TensorMap::new();
    tensors.insert("trace.time_embedding".into(), Tensor::new(vec![frames, d], trace.time_embedding));
    tensors.insert("trace.time_projection".into(), Tensor::new(vec![frames, 6 * d], trace.time_projection));
    tensors.insert("trace.patch_embedding".into(), Tensor::new(vec![tokens, d], trace.patch_embedding));
    for (i, b) in trace.blocks.into_iter().enumerate() {
        tensors.insert(format!("trace.blocks.{i}"), Tensor::new(vec![tokens, d], b));
    }
    tensors.insert("trace.head".into(), Tensor::new(vec![tokens, cfg.head_features()], trace.head));
    let out_shape = out.shape.clone();
    tensors.insert("out".into(), out);
    save_safetensors(out_path, &tensors)?;
    Ok(CheckReport {
        out_shape,
        max_rel_err_vs_inputs_out: reference,
        used_optional: parsed.used_optional,
        weights: format,
    })
}
