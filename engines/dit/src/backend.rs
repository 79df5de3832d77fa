//! The seam between the generation logic and the device that runs the network.
//!
//! [`ChunkGenerator`](crate::ChunkGenerator) and [`check_forward_on`](crate::check_forward_on) drive any
//! [`DitBackend`]: the CPU [`WanModel`] here, or another device's implementation (engines/dit-cuda). A
//! backend owns its weights; the caller owns the KV cache (host memory, [`PastKv`]) and the per-prompt
//! [`TextContext`] (`embedded` is what every backend reads; the CPU's packed K/V are its own cache).

use crate::config::Config;
use crate::error::Result;
use crate::model::{LayerKv, PastKv, SeqRequest, TextContext, Trace, WanModel};

/// A device that runs the DiT forward.
pub trait DitBackend {
    /// `cpu`, `cuda:0`, …
    fn device(&self) -> String;
    fn config(&self) -> &Config;
    /// See [`WanModel::encode_text`].
    fn encode_text(&self, context: &[f32], rows: usize) -> Result<TextContext>;
    /// See [`WanModel::forward_seq`].
    fn forward_seq(
        &self,
        req: &SeqRequest,
        text: &TextContext,
        past: Option<&dyn PastKv>,
        record: bool,
        trace: Option<&mut Trace>,
    ) -> Result<(Vec<f32>, Option<Vec<LayerKv>>)>;
}

impl DitBackend for WanModel {
    fn device(&self) -> String {
        "cpu".into()
    }
    fn config(&self) -> &Config {
        WanModel::config(self)
    }
    fn encode_text(&self, context: &[f32], rows: usize) -> Result<TextContext> {
        WanModel::encode_text(self, context, rows)
    }
    fn forward_seq(
        &self,
        req: &SeqRequest,
        text: &TextContext,
        past: Option<&dyn PastKv>,
        record: bool,
        trace: Option<&mut Trace>,
    ) -> Result<(Vec<f32>, Option<Vec<LayerKv>>)> {
        WanModel::forward_seq(self, req, text, past, record, trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FrameCond;

    #[test]
    fn cpu_backend_is_the_model_and_rejects_foreign_text() {
        let model = WanModel::random(&Config::tiny(), 5).expect("model");
        let backend: &dyn DitBackend = &model;
        assert_eq!(backend.device(), "cpu");
        let text = backend.encode_text(&[0.5; 32], 1).expect("text");
        let latents: Vec<f32> = (0..16 * 2 * 4 * 4).map(|i| (i as f32 * 0.37).sin()).collect();
        let conds = [FrameCond::at(500.0); 2];
        let req = SeqRequest {
            latents: &latents,
            frames: 2,
            height: 4,
            width: 4,
            conds: &conds,
            rope_time: &[0, 1],
            groups: None,
        };
        let (a, _) = backend.forward_seq(&req, &text, None, false, None).expect("trait");
        let (b, _) = model.forward_seq(&req, &text, None, false, None).expect("inherent");
        assert_eq!(a, b);
        let foreign = TextContext::from_embedded(text.embedded.clone());
        let e = backend.forward_seq(&req, &foreign, None, false, None).expect_err("no packed K/V");
        assert!(e.to_string().contains("not encoded by this CPU model"), "{e}");
    }
}
