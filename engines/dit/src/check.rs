//! `worldflow model check`: one forward on user-supplied tensors, written back for comparison.
//!
//! Input file (safetensors): `x` [C, F, H, W], `t` [1] or [F], `context` [L, text_dim] — the names of
//! the golden case files. If it also holds `out`, the result is compared with it.
//! Output file: `out` [C, F, H, W] plus the traces (`trace.time_embedding`, `trace.blocks.{i}`, ...).

use crate::config::Config;
use crate::error::{bad_input, Result};
use crate::model::WanModel;
use crate::tensor::{load_safetensors, save_safetensors, Tensor, TensorMap};
use std::path::Path;

/// What [`check_forward`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    pub out_shape: Vec<usize>,
    /// max |ours − reference| / max |reference| when the inputs contain `out`.
    pub max_rel_err_vs_inputs_out: Option<f32>,
}

/// Loads `config_path` (JSON, upstream `config.json` fields) and `weights_path` (safetensors with
/// Wan2.1 key names), runs one forward on `inputs_path` and writes `out_path`.
pub fn check_forward(config_path: &Path, weights_path: &Path, inputs_path: &Path, out_path: &Path) -> Result<CheckReport> {
    let cfg = Config::from_file(config_path)?;
    let model = WanModel::load(&cfg, weights_path)?;
    let inputs = load_safetensors(inputs_path)?;
    let get = |name: &str| inputs.get(name).ok_or_else(|| bad_input(name, format!("missing from {}", inputs_path.display())));
    let (x, t, context) = (get("x")?, get("t")?, get("context")?);
    let (out, trace) = model.forward(x, &t.data, context)?;
    let reference = inputs.get("out").map(|r| {
        let scale = r.data.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        if r.data.len() != out.data.len() {
            return f32::INFINITY;
        }
        out.data.iter().zip(&r.data).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale
    });
    let d = cfg.dim;
    let frames = x.shape[1];
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
    Ok(CheckReport { out_shape, max_rel_err_vs_inputs_out: reference })
}
