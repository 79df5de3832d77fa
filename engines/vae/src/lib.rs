//! Wan causal 3D VAE decoder (Wan2.1 and Wan2.2) with streaming (latent-by-latent) decode, pure Rust f32.
//!
//! * [`VaeConfig`]: serde config mirroring upstream `WanVAE_` arguments, or read from a diffusers
//!   `AutoencoderKLWan` config.json (official field names); presets `tiny`, `wan2_1`, `wan2.2-tiny`,
//!   `wan2.2`. Wan2.2 = 48 latents, residual up blocks with `DupUp3D` shortcuts, unpatchify ×2 (16×).
//! * [`VaeDecoder`]: weights from safetensors (upstream or diffusers key names) or seeded random;
//!   whole-clip [`VaeDecoder::decode`].
//! * [`StreamingDecoder`]: `decode_next(latent)` → 1 frame for the first latent, 4 afterwards; equal to
//!   the whole-clip decode because every causal conv keeps its last 2 input frames.
//!   [`StreamingDecoder::decode_next_traced`] also returns the intermediates ([`DecodeTrace`]).
//! * [`check_decode`]: file-in / file-out decode for the `worldflow model check` CLI.
//! * [`ResidualBlockProbe`], [`decode_flops_per_latent`]: one full-size layer alone and the operation
//!   count of a whole decode, to extrapolate a decode too slow to run (`examples/wan22_layer_bench.rs`).
//!
//! Tensors are frame-major [`Video`]s `[T, C, H, W]`; PyTorch `[C, T, H, W]` converts at the boundary.

mod blocks;
mod check;
mod config;
mod conv;
mod decoder;
mod error;
mod ops;
mod probe;
mod rng;
mod tensor;
mod up_block;
mod weights;
mod winograd;

pub use check::{check_decode, CheckReport};
pub use config::{
    VaeConfig, WeightNames, PRESET_NAMES, WAN2_1_LATENTS_MEAN, WAN2_1_LATENTS_STD, WAN2_2_LATENTS_MEAN,
    WAN2_2_LATENTS_STD,
};
pub use decoder::{DecodeTrace, StreamingDecoder, VaeDecoder};
pub use error::{Result, VaeError, WeightProblem};
pub use probe::{decode_flops_per_latent, ResidualBlockProbe};
pub use rng::standard_normal;
pub use tensor::Video;
pub use worldflow_base::SplitMix64;
