//! Matrix-Game 2.0 (github.com/SkyworkAI/Matrix-Game, `Matrix-Game-2/`): the causal Wan DiT with
//! keyboard/mouse action modules, its KV caches and its few-step sampler, f32 on CPU.
//!
//! - [`MatrixGameConfig`]: the official `config.json` fields.
//! - [`MatrixGameModel`]: weights (official `CausalWanModel.state_dict()` names) and one call.
//! - [`MatrixGameStream`]: block-by-block generation with actions fed per pixel frame.
//! - [`check_matrixgame`]: runs a golden stream case and reports the errors.
//!
//! Files: `config.rs`, `weights.rs` (checked loading), `cache.rs` (the rolling KV cache), `nn.rs`
//! (small kernels), `action.rs` (the action module), `block.rs`, `model.rs`, `sampler.rs`
//! (scheduler, flow → x0, re-noise), `stream.rs`, `check.rs`.

mod action;
mod block;
mod cache;
mod check;
mod config;
mod model;
mod nn;
mod sampler;
mod stream;
mod weights;

pub use action::Actions;
pub use block::BlockTrace;
pub use cache::RollingKv;
pub use check::{check_matrixgame, CallCheck, MatrixGameCheckReport};
pub use config::{ActionConfig, MatrixGameConfig};
pub use model::{CallInput, CallTrace, MatrixGameCaches, MatrixGameModel, VisualContext};
pub use nn::Grid;
pub use sampler::FlowMatchScheduler;
pub use stream::{MatrixGameStream, StreamCall, StreamSettings};
pub use weights::{expected_shapes, random_weights};
