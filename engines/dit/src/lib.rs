//! Wan2.1-family diffusion transformer: chunk-wise causal generation with KV cache.

mod attention;
mod backend;
mod config;
mod error;
mod linear;
pub mod matrixgame;
mod ops;
mod q8dot;
mod qmatmul;
mod quant;
mod rope;
mod simd;
mod tensor;
mod weights;

pub use attention::{attention, attention_naive, PackedKv};
pub use backend::DitBackend;
pub use config::{Config, Layout, PropeIntrinsics};
pub use error::{DitError, ParseWeightFormatError, Result};
pub use ops::matmul_wt;
pub use qmatmul::{matmul_q8_int8, matmul_q8_panels, matmul_q8_wt, INT8_DOT_MAX_ROWS};
pub use quant::{quantize_block, Q8Matrix, WeightFormat, Q8_BLOCK};
pub use rope::{apply_rope, Rope3d, RopeTable};
pub use tensor::{load_safetensors, parse_safetensors, save_safetensors, serialize_safetensors, Tensor, TensorMap};
pub use weights::{expected_shapes, random_weights, validate, zero_init_control_branches, Rng};
mod model;
mod prope;
pub use model::{
    patchify, sinusoidal_embedding, sinusoidal_embedding_f32, unpatchify, FrameCond, LayerKv, PastKv, SeqRequest,
    TextContext, Trace, WanModel,
};
pub use prope::{Camera, Mat4};
mod check;
mod check_inputs;
pub use check::{check_forward, check_forward_on, check_forward_with, CheckReport};
pub use check_inputs::CheckInputs;
mod cache;
mod generator;
mod guidance;
mod history;
mod sampler;
pub use cache::{CachedFrame, KvCache};
pub use generator::{Branch, CachePolicy, ChunkControls, ChunkGenerator, GenConfig, PrefillStats};
pub use guidance::Guidance;
pub use sampler::{euler_step, predict_x0, renoise, shift_sigma, sigmas_from_timesteps, uniform_sigmas, SamplerKind};
mod check_worldplay;
mod worldplay;
pub use check_worldplay::{check_worldplay_case, WorldPlayCheckReport};
pub use worldplay::{camera_from_viewmat, rope_time_from_tokens, worldplay_conds, WorldPlayKv};
mod checkpoint;
pub use checkpoint::{checkpoint_file, load_checkpoint, read_safetensors_file, read_sharded};
