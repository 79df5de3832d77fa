//! Catalogue entries of the neural streaming path's nodes (memory-retriever, dit-engine, vae-decoder).

use crate::catalog::NodeKind;

pub const NEURAL_NODE_KINDS: &[NodeKind] = &[];
