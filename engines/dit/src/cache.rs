//! Self-attention KV cache for chunk-wise causal generation.
//!
//! Holds, per cached latent frame, the clean latent, its conditioning, its RoPE time index, the
//! chunk (block-causal group) it was generated in, and every layer's K (after RMSNorm + RoPE) and
//! V for its tokens. Frames are kept in time order; attention over the cache is therefore a
//! prefix of the key sequence. Invariant: every frame holds `num_layers` entries of
//! `tokens_per_frame × dim` values.

use crate::model::{FrameCond, LayerKv, PastKv};

/// One cached latent frame.
#[derive(Clone, Debug)]
pub struct CachedFrame {
    /// Global frame number in the stream.
    pub index: usize,
    pub rope_time: usize,
    /// Chunk the frame was generated in (block-causal group id).
    pub group: usize,
    /// Clean latent [C, H, W].
    pub latent: Vec<f32>,
    pub cond: FrameCond,
    pub layers: Vec<LayerKv>,
}

/// KV cache: cached frames in time order.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    pub frames: Vec<CachedFrame>,
    tokens_per_frame: usize,
}

impl KvCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the frames of one forward: `recorded[layer]` holds all frames' tokens in order.
    pub fn push_chunk(
        &mut self,
        mut frames: Vec<CachedFrame>,
        recorded: Vec<LayerKv>,
        tokens_per_frame: usize,
        dim: usize,
    ) {
        self.tokens_per_frame = tokens_per_frame;
        let span = tokens_per_frame * dim;
        for layer in recorded {
            let cam = !layer.cam_k.is_empty();
            for (fi, f) in frames.iter_mut().enumerate() {
                let r = fi * span..(fi + 1) * span;
                f.layers.push(LayerKv {
                    k: layer.k[r.clone()].to_vec(),
                    v: layer.v[r.clone()].to_vec(),
                    cam_k: if cam { layer.cam_k[r.clone()].to_vec() } else { Vec::new() },
                    cam_v: if cam { layer.cam_v[r].to_vec() } else { Vec::new() },
                });
            }
        }
        self.frames.extend(frames);
    }

    /// Rolling window with sinks: keeps the first `sink` frames and the last `window` frames.
    pub fn evict_rolling(&mut self, window: usize, sink: usize) {
        let n = self.frames.len();
        if n > sink + window {
            self.frames.drain(sink..n - window);
        }
    }

    pub fn clear(&mut self) {
        self.frames.clear();
    }

    pub fn frame_indices(&self) -> Vec<usize> {
        self.frames.iter().map(|f| f.index).collect()
    }
}

impl PastKv for KvCache {
    fn tokens(&self) -> usize {
        self.frames.len() * self.tokens_per_frame
    }
    fn segments(&self, layer: usize, cam: bool) -> Vec<(&[f32], &[f32])> {
        self.frames
            .iter()
            .map(|f| {
                let l = &f.layers[layer];
                if cam {
                    (l.cam_k.as_slice(), l.cam_v.as_slice())
                } else {
                    (l.k.as_slice(), l.v.as_slice())
                }
            })
            .collect()
    }
}
