//! Conformance with the OFFICIAL Wan2.1 `WanModel` (tiny size, seeded random weights), using the
//! goldens of `../shared/data/wan-goldens` beside the repository (not part of it), found by
//! `worldflow_testkit::shared_data`: skipped with a message when that folder is absent, a failure
//! when it is absent and `CI` is set; set `WAN_GOLDENS_DIR` to point elsewhere.
//!
//! Tolerance: 1e-4 relative to the tensor's max magnitude. The goldens are f32 PyTorch; f32
//! reordering of sums gives ~1e-6, while a wrong convention (RoPE pairing, modulation order,
//! sinusoid order) gives > 1e-2.

use worldflow_dit::{load_safetensors, Config, Tensor, WanModel};
use worldflow_testkit::{max_rel_err, shared_data};

#[test]
fn official_wan_tiny_forward() {
    let Some(dir) = shared_data("wan-goldens", "WAN_GOLDENS_DIR", "dit_tiny.case.safetensors") else {
        return;
    };
    let cfg = Config::tiny();
    let model = WanModel::load(&cfg, &dir.join("dit_tiny.weights.safetensors")).expect("weights load");
    let case = load_safetensors(&dir.join("dit_tiny.case.safetensors")).expect("case");
    let x = &case["x"];
    let t = &case["t"].data;
    let (out, trace) = model.forward(x, t, &case["context"]).expect("forward");

    let d = cfg.dim;
    // patch_embedding trace is [1, dim, F, h, w]; ours is [tokens, dim].
    let pe = &case["trace.patch_embedding"].data;
    let n = pe.len() / d;
    let mut ours_cm = vec![0.0f32; pe.len()];
    for tok in 0..n {
        for c in 0..d {
            ours_cm[c * n + tok] = trace.patch_embedding[tok * d + c];
        }
    }
    let text = model.encode_text(&case["context"].data, case["context"].shape[0]).expect("text");
    let checks: Vec<(&str, f32)> = vec![
        ("patch_embedding", max_rel_err("patch_embedding", &ours_cm, pe)),
        (
            "time_embedding",
            max_rel_err("time_embedding", &trace.time_embedding[..d], &case["trace.time_embedding"].data),
        ),
        (
            "time_projection",
            max_rel_err("time_projection", &trace.time_projection[..6 * d], &case["trace.time_projection"].data),
        ),
        ("text_embedding", max_rel_err("text_embedding", &text.embedded, &case["trace.text_embedding"].data)),
        ("blocks.0", max_rel_err("blocks.0", &trace.blocks[0], &case["trace.blocks.0"].data)),
        ("blocks.1", max_rel_err("blocks.1", &trace.blocks[1], &case["trace.blocks.1"].data)),
        ("head", max_rel_err("head", &trace.head, &case["trace.head"].data)),
        ("out", max_rel_err("out", &out.data, &case["out"].data)),
    ];
    for (name, e) in &checks {
        eprintln!("{name:>16}: max rel err {e:.2e}");
    }
    for (name, e) in checks {
        assert!(e < 1e-4, "{name}: relative error {e} vs official Wan2.1");
    }
    let _: &Tensor = &out;
}
