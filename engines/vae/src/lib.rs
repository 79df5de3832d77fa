//! Wan2.1 causal 3D VAE decoder with streaming (latent-by-latent) decode, pure Rust f32.
//!
//! * [`VaeConfig`]: serde config mirroring upstream `WanVAE_` arguments; presets `tiny`, `wan2_1`.
//! * [`VaeDecoder`]: weights from safetensors (upstream key names) or seeded random; whole-clip
//!   [`VaeDecoder::decode`].
//! * [`StreamingDecoder`]: `decode_next(latent)` → 1 frame for the first latent, 4 afterwards; equal to
//!   the whole-clip decode because every causal conv keeps its last 2 input frames.
//! * [`check_decode`]: file-in / file-out decode for the `worldflow model check` CLI.
//!
//! Tensors are frame-major [`Video`]s `[T, C, H, W]`; PyTorch `[C, T, H, W]` converts at the boundary.

mod blocks;
mod check;
mod config;
mod conv;
mod decoder;
mod error;
mod ops;
mod rng;
mod tensor;
mod weights;

pub use check::{check_decode, CheckReport};
pub use config::{VaeConfig, WAN2_1_LATENTS_MEAN, WAN2_1_LATENTS_STD};
pub use decoder::{StreamingDecoder, VaeDecoder};
pub use error::{Result, VaeError, WeightProblem};
pub use rng::standard_normal;
pub use tensor::Video;
pub use worldflow_base::SplitMix64;
