//! Catalogue entries of the neural streaming path's nodes (memory-retriever, dit-engine, vae-decoder).

use crate::catalog::{Inputs, MsgType::*, NodeKind};

pub const NEURAL_NODE_KINDS: &[NodeKind] = &[
    NodeKind {
        binary: "worldflow-memory-retriever",
        package: "worldflow-memory-retriever",
        inputs: Inputs::Fixed(&[("action", Action, true)]),
        outputs: &[("context", Context)],
        settings: &["TEMPORAL_LATENTS", "MEMORY_LATENTS"],
    },
    NodeKind {
        binary: "worldflow-dit-engine",
        package: "worldflow-dit-engine",
        inputs: Inputs::Fixed(&[("action", Action, true), ("context", Context, false)]),
        outputs: &[("latent", Latent)],
        settings: &[
            "WEIGHTS",
            "QUANTIZE",
            "DEVICE",
            "CONFIG",
            "CONTROLS",
            "SEED",
            "LATENT_HEIGHT",
            "LATENT_WIDTH",
            "STEPS",
            "SHIFT",
            "FOV_X_DEG",
            "OUT_DIR",
        ],
    },
    NodeKind {
        binary: "worldflow-vae-decoder",
        package: "worldflow-vae-decoder",
        inputs: Inputs::Fixed(&[("latent", Latent, true)]),
        outputs: &[("frame", Frame)],
        settings: &["WEIGHTS", "CONFIG", "SEED", "FOV_X_DEG", "CAMERA", "OUT_DIR"],
    },
];
