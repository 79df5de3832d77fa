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
//! The flat names [`encode_action`], [`decode_action`], [`encode_pose`], [`decode_pose`],
//! [`action_schema`], [`pose_schema`], [`frame_header_to_params`] and [`frame_header_from_params`] are the
//! same functions under the names the nodes use.

mod columns;
mod error;

pub mod action;
pub mod context;
pub mod frame;
pub mod gaussians;
pub mod latent;
pub mod pose;
pub mod world;

pub use action::{decode as decode_action, encode as encode_action, schema as action_schema};
pub use error::{BoxError, DecodeError};
pub use frame::{decode as frame_header_from_params, encode as frame_header_to_params, payload_bytes};
pub use pose::{decode as decode_pose, encode as encode_pose, schema as pose_schema};
