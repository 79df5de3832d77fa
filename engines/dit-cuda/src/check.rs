//! `worldflow model check --device cuda`: the DiT check of engines/dit run by [`CudaDit`].

use crate::error::Result;
use crate::model::CudaDit;
use std::path::Path;
use worldflow_dit::{check_forward_on, CheckReport, Config, DitBackend, WeightFormat};

/// Loads `config_path` and `weights_path` onto CUDA device `ordinal`, runs one forward on
/// `inputs_path` and writes `out_path` (same files as `worldflow_dit::check_forward`). Returns the
/// report and the device label.
pub fn check_forward_cuda(
    config_path: &Path,
    weights_path: &Path,
    inputs_path: &Path,
    out_path: &Path,
    ordinal: usize,
) -> Result<(CheckReport, String)> {
    let cfg = Config::from_file(config_path)?;
    let model = CudaDit::load(&cfg, weights_path, ordinal)?;
    let report = check_forward_on(&model, inputs_path, out_path, WeightFormat::F32)?;
    Ok((report, model.device()))
}
