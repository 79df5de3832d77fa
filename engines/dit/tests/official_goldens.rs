//! Conformance with the OFFICIAL Wan2.1 `WanModel` (tiny size, seeded random weights), using the
//! goldens of `shared/data/wan-goldens` (not part of the repository). Skipped, with a message,
//! when that folder is absent; set `WAN_GOLDENS_DIR` to point elsewhere.
//!
//! Tolerance: 1e-4 relative to the tensor's max magnitude. The goldens are f32 PyTorch; f32
//! reordering of sums gives ~1e-6, while a wrong convention (RoPE pairing, modulation order,
//! sinusoid order) gives > 1e-2.

use std::path::PathBuf;
use worldflow_dit::{load_safetensors, Config, Tensor, WanModel};

fn goldens_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("WAN_GOLDENS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/data/wan-goldens"));
    dir.join("dit_tiny.case.safetensors").exists().then_some(dir)
}

fn rel_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    got.iter().zip(want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

#[test]
fn official_wan_tiny_forward() {
    let Some(dir) = goldens_dir() else {
        eprintln!("SKIP official_wan_tiny_forward: wan-goldens folder not found");
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
        ("patch_embedding", rel_err(&ours_cm, pe)),
        ("time_embedding", rel_err(&trace.time_embedding[..d], &case["trace.time_embedding"].data)),
        ("time_projection", rel_err(&trace.time_projection[..6 * d], &case["trace.time_projection"].data)),
        ("text_embedding", rel_err(&text.embedded, &case["trace.text_embedding"].data)),
        ("blocks.0", rel_err(&trace.blocks[0], &case["trace.blocks.0"].data)),
        ("blocks.1", rel_err(&trace.blocks[1], &case["trace.blocks.1"].data)),
        ("head", rel_err(&trace.head, &case["trace.head"].data)),
        ("out", rel_err(&out.data, &case["out"].data)),
    ];
    for (name, e) in &checks {
        eprintln!("{name:>16}: max rel err {e:.2e}");
    }
    for (name, e) in checks {
        assert!(e < 1e-4, "{name}: relative error {e} vs official Wan2.1");
    }
    let _: &Tensor = &out;
}
