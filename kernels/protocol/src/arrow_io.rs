//! The Arrow form of the messages (feature `dora`): what crosses dora's shared memory. One module per
//! message, each with the same names:
//!
//! | message | module | on the wire | encode | decode |
//! |---|---|---|---|---|
//! | [`Action`](crate::Action) | [`action`] | one-row struct ([`action::schema`]) | `encode(&Action)` | `decode(&dyn Array)` |
//! | [`StampedPose`](crate::StampedPose) | [`pose`] | one-row struct ([`pose::schema`]) | `encode` | `decode` |
//! | [`FrameHeader`](crate::FrameHeader) + pixels | [`frame`] | metadata parameters + `UInt8` payload | `encode` → parameters | `decode(params, payload_len)`, [`payload_bytes`] |
//! | [`WorldDelta`](crate::WorldDelta) | [`world`] | one-row struct of list columns | `encode` | `decode` |
//! | [`Gaussians`](crate::Gaussians) | [`gaussians`] | metadata parameters + raw payload | `encode` → parameters, `encode_into` → payload | `decode(payload, params)` |
//! | [`context::ContextMsg`] | [`context`] | one-row struct of list columns | `encode` | `decode` |
//! | [`latent::LatentHeader`] + latents | [`latent`] | metadata parameters + raw payload | `encode` → parameters, `write_frame_major` → payload | `decode(params, payload_len)`, `read_latent` |
//!
//! Every decoder returns [`DecodeError`], which names the message, the field and what was expected.
//! Raw payloads (frames, Gaussians, latents) are written in place into the shared-memory sample with
//! `send_output_raw`, so they are never copied.
//!
//! Callers name the module, not the function alone: `use worldflow_protocol::arrow_io::action as action_io;`
//! then `action_io::encode(&a)` / `action_io::decode(array)`.

mod columns;
mod error;

pub mod action;
pub mod context;
pub mod frame;
pub mod gaussians;
pub mod latent;
pub mod pose;
pub mod world;

pub use error::{BoxError, DecodeError};
pub use frame::payload_bytes;
