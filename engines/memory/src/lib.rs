//! WorldPlay-style context memory for chunk-wise world models (world-models.md §2): temporal memory
//! (the last chunks), spatial memory retrieved by FOV relevance, and temporal reframing of RoPE time.
//!
//! Pure library: poses in, latent indices and RoPE time indices out. Poses are `world_from_camera`
//! [`glam::Mat4`] with OpenCV camera axes (see `worldflow_protocol::geometry`).
//!
//! * [`fov`]: the published Monte-Carlo FOV similarity and its fast, bit-identical evaluation.
//! * [`MemoryRetriever`]: pose history + hash grid; [`MemoryRetriever::select`] (indexed, flat cost per
//!   chunk) and [`MemoryRetriever::select_monte_carlo`] (reference) return the same [`MemorySelection`].
//! * [`WorldPlayRetriever`]: the selection of HY-WorldPlay's WAN pipeline (`select_mem_frames_wan`), the
//!   `worldplay` policy; [`ContextPolicy`] lets a node hold either.

pub mod chunking;
mod error;
pub mod fov;
mod grid;
mod point_tree;
mod policy;
mod retriever;
mod view_count;
pub mod worldplay;

pub use error::{MemoryError, Result};
pub use fov::{FovConfig, FovSample, RelativeCamera};
pub use policy::{ContextPolicy, MemoryPolicy};
pub use retriever::{ClipScore, MemoryConfig, MemoryRetriever, MemorySelection};
pub use worldplay::{WorldPlayConfig, WorldPlayRetriever};
