//! Decoder building blocks (Wan `ResidualBlock`, `AttentionBlock`, `Resample`, under either key naming)
//! and the per-stream state they carry between calls. Wan2.2's residual up block is in `up_block.rs`.
//!
//! State rules (these are what make streaming decode equal to whole-clip decode):
//! * every 3×3×3 causal conv and every `time_conv` owns one [`ConvCache`] slot (last 2 input frames);
//! * `upsample3d` passes the very first frame of the stream through without its `time_conv` (upstream
//!   marks its cache `'Rep'`); every later frame goes through `time_conv` (causal, zero-padded before the
//!   second frame, i.e. frame 0 is never in its window) and becomes two frames: output channels `0..C`
//!   then `C..2C`.

use crate::config::WeightNames;
use crate::conv::{CausalConv3d, ConvCache, Prep};
use crate::ops::{rms_norm_frame, spatial_attention};
use crate::tensor::Video;
use crate::weights::WeightLoader;

/// Caches of one decode stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamState {
    pub caches: Vec<ConvCache>,
    /// Whether at least one latent has been decoded (the upsample3d first-frame rule).
    pub started: bool,
}

/// Hands out cache slots while the network is built.
#[derive(Default)]
pub(crate) struct SlotCounter(pub usize);

impl SlotCounter {
    pub(crate) fn next_slot(&mut self) -> usize {
        self.0 += 1;
        self.0 - 1
    }
}

/// Loads a conv: weight `[cout, cin, kt, k, k]` (or `[cout, cin, k, k]` when `conv2d`) and bias `[cout]`.
pub(crate) fn load_conv(
    wl: &mut WeightLoader<'_>,
    prefix: &str,
    cin: usize,
    cout: usize,
    kt: usize,
    k: usize,
    conv2d: bool,
) -> CausalConv3d {
    let shape: Vec<usize> = if conv2d { vec![cout, cin, k, k] } else { vec![cout, cin, kt, k, k] };
    let w = wl.get(&format!("{prefix}.weight"), &shape);
    let b = wl.get(&format!("{prefix}.bias"), &[cout]);
    CausalConv3d::new(cin, cout, kt, k, &w, b)
}

/// RMS norm scale `gamma` stored as `[c, 1, 1, 1]` (video) or `[c, 1, 1]` (image) upstream.
pub(crate) fn load_gamma(wl: &mut WeightLoader<'_>, name: &str, c: usize, image: bool) -> Vec<f32> {
    let shape: &[usize] = if image { &[c, 1, 1] } else { &[c, 1, 1, 1] };
    wl.get(name, shape)
}

pub(crate) fn norm_video(x: &mut Video, gamma: &[f32], silu: bool) {
    let (c, hw) = (x.c, x.h * x.w);
    for t in 0..x.t {
        rms_norm_frame(x.frame_mut(t), c, hw, gamma, silu);
    }
}

fn no_cache() -> ConvCache {
    ConvCache::default()
}

pub(crate) struct ResidualBlock {
    norm1: Vec<f32>,
    conv1: CausalConv3d,
    slot1: usize,
    norm2: Vec<f32>,
    conv2: CausalConv3d,
    slot2: usize,
    shortcut: Option<CausalConv3d>,
}

impl ResidualBlock {
    /// Upstream keys `{prefix}.residual.{0.gamma, 2, 3.gamma, 6}`, `{prefix}.shortcut`; diffusers keys
    /// `{prefix}.{norm1.gamma, conv1, norm2.gamma, conv2, conv_shortcut}`.
    pub(crate) fn load(
        wl: &mut WeightLoader<'_>,
        slots: &mut SlotCounter,
        prefix: &str,
        cin: usize,
        cout: usize,
        names: WeightNames,
    ) -> Self {
        let [n1, c1, n2, c2, sc] = match names {
            WeightNames::Upstream => ["residual.0.gamma", "residual.2", "residual.3.gamma", "residual.6", "shortcut"],
            WeightNames::Diffusers => ["norm1.gamma", "conv1", "norm2.gamma", "conv2", "conv_shortcut"],
        };
        let norm1 = load_gamma(wl, &format!("{prefix}.{n1}"), cin, false);
        let conv1 = load_conv(wl, &format!("{prefix}.{c1}"), cin, cout, 3, 3, false);
        let norm2 = load_gamma(wl, &format!("{prefix}.{n2}"), cout, false);
        let conv2 = load_conv(wl, &format!("{prefix}.{c2}"), cout, cout, 3, 3, false);
        let shortcut = (cin != cout).then(|| load_conv(wl, &format!("{prefix}.{sc}"), cin, cout, 1, 1, false));
        Self { norm1, conv1, slot1: slots.next_slot(), norm2, conv2, slot2: slots.next_slot(), shortcut }
    }

    pub(crate) fn forward(&self, x: Video, st: &mut StreamState) -> Video {
        let shortcut = self.shortcut.as_ref().map(|s| s.forward(&x, &mut no_cache()));
        // The norms (+ SiLU) are applied on the way into each conv's padded frames.
        let y = self.conv1.forward_prep(&x, &mut st.caches[self.slot1], Prep::Norm { gamma: &self.norm1, silu: true });
        // The second conv adds its output onto the residual (the block's input or its shortcut).
        let residual = shortcut.unwrap_or(x);
        let norm2 = Prep::Norm { gamma: &self.norm2, silu: true };
        self.conv2.forward_prep_add(&y, &mut st.caches[self.slot2], norm2, residual)
    }
}

pub(crate) struct AttentionBlock {
    norm: Vec<f32>,
    to_qkv: CausalConv3d,
    proj: CausalConv3d,
}

impl AttentionBlock {
    pub(crate) fn load(wl: &mut WeightLoader<'_>, prefix: &str, c: usize) -> Self {
        let norm = load_gamma(wl, &format!("{prefix}.norm.gamma"), c, true);
        let to_qkv = load_conv(wl, &format!("{prefix}.to_qkv"), c, 3 * c, 1, 1, true);
        let proj = load_conv(wl, &format!("{prefix}.proj"), c, c, 1, 1, true);
        Self { norm, to_qkv, proj }
    }

    /// Per-frame single-head attention over pixels, residual.
    pub(crate) fn forward(&self, x: Video) -> Video {
        let mut y = x.clone();
        norm_video(&mut y, &self.norm, false);
        let qkv = self.to_qkv.forward(&y, &mut no_cache());
        let (c, hw) = (x.c, x.h * x.w);
        for t in 0..x.t {
            let a = spatial_attention(qkv.frame(t), c, hw);
            y.frame_mut(t).copy_from_slice(&a);
        }
        let mut out = self.proj.forward(&y, &mut no_cache());
        for (a, b) in out.data.iter_mut().zip(&x.data) {
            *a += b;
        }
        out
    }
}

pub(crate) struct Resample {
    /// `upsample3d`: `time_conv` (C → 2C, kernel 3×1×1) and its cache slot.
    time_conv: Option<(CausalConv3d, usize)>,
    /// 2× nearest upsampling then Conv2d 3×3 (C → C/2 in Wan2.1, C → C in Wan2.2's residual blocks).
    conv: CausalConv3d,
}

impl Resample {
    /// Keys `{prefix}.resample.1` (the Conv2d, `c → cout`) and, when `time`, `{prefix}.time_conv`.
    pub(crate) fn load(
        wl: &mut WeightLoader<'_>,
        slots: &mut SlotCounter,
        prefix: &str,
        c: usize,
        cout: usize,
        time: bool,
    ) -> Self {
        let conv = load_conv(wl, &format!("{prefix}.resample.1"), c, cout, 1, 3, true);
        let time_conv = time.then(|| {
            let tc = load_conv(wl, &format!("{prefix}.time_conv"), c, 2 * c, 3, 1, false);
            (tc, slots.next_slot())
        });
        Self { time_conv, conv }
    }

    pub(crate) fn forward(&self, x: Video, st: &mut StreamState) -> Video {
        let x = match &self.time_conv {
            None => x,
            Some((tc, slot)) => {
                let skip = usize::from(!st.started).min(x.t);
                let cache = &mut st.caches[*slot];
                let y = if skip == 0 { tc.forward(&x, cache) } else { tc.forward(&x.frames(skip, x.t), cache) };
                // Time_conv frame t's 2C channels are output frames 2t and 2t + 1 as they lie.
                let y = Video { t: 2 * y.t, c: x.c, h: x.h, w: x.w, data: y.data };
                if skip == 0 {
                    y
                } else {
                    let mut out = x.frames(0, skip);
                    out.append(&y).expect("same frame shape");
                    out
                }
            }
        };
        self.conv.forward_prep(&x, &mut no_cache(), Prep::Upsample2x)
    }
}
