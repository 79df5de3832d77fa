//! Conformance with the OFFICIAL HY-WorldPlay WAN-path transformer (`WanTransformer3DModel` of
//! `arwan_w_action_w_mem_relative_rope.py` + `add_discrete_action_parameters()`, tiny size, seeded
//! random weights), using `../shared/data/worldplay-goldens` beside the repository (not part of it):
//! skipped with a message when absent, a failure when absent and `CI` is set; `WORLDPLAY_GOLDENS_DIR`
//! points elsewhere. The engine loads the official config.json and the official key names as they are.
//!
//! Tolerance: 1e-4 relative to the tensor's max magnitude (f32 reordering gives ~1e-6; the README's
//! sensitivities — PRoPE branch off, memory dropped, RoPE placement — move `out` by ≥ 0.86 % L2).

use std::path::PathBuf;
use worldflow_dit::check_worldplay_case;
use worldflow_testkit::shared_data;

fn goldens() -> Option<PathBuf> {
    shared_data("worldplay-goldens", "WORLDPLAY_GOLDENS_DIR", "dit_tiny_memory.case.safetensors")
}

fn run(case: &str, expect_kv: bool) {
    let Some(dir) = goldens() else { return };
    let out = std::env::temp_dir().join(format!("worldflow-wp-{case}-{}.safetensors", std::process::id()));
    let report = check_worldplay_case(
        &dir.join("dit_tiny.config.json"),
        &dir.join("dit_tiny.weights.safetensors"),
        &dir.join(format!("dit_tiny_{case}.case.safetensors")),
        &out,
    )
    .expect("check runs");
    for (name, e) in &report.errors {
        eprintln!("{case} {name:>48}: max rel err {e:.2e}");
    }
    let names: Vec<&str> = report.errors.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"out"));
    assert_eq!(names.contains(&"kv.1.v"), expect_kv, "{names:?}");
    assert!(names.contains(&"trace.blocks.1"), "{names:?}");
    for (name, e) in &report.errors {
        assert!(*e < 1e-4, "{case}: {name}: relative error {e:e} vs official WorldPlay");
    }
    let written = worldflow_dit::load_safetensors(&out).expect("our outputs were written");
    assert_eq!(written["out"].shape, [1, 48, 2, 4, 6]);
    std::fs::remove_file(&out).ok();
}

#[test]
fn worldplay_chunk0_matches_official() {
    run("chunk0", false);
}

#[test]
fn worldplay_memory_kv_and_chunk_match_official() {
    run("memory", true);
}

/// The comparison can fail: the same check with the PRoPE output projections and the action
/// embedder's last layer zeroed (the official fine-tuning initialisation) is far off.
#[test]
fn worldplay_check_sees_the_control_branches() {
    let Some(dir) = goldens() else { return };
    let tmp = std::env::temp_dir().join(format!("worldflow-wp-zeroed-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut w = worldflow_dit::load_safetensors(&dir.join("dit_tiny.weights.safetensors")).unwrap();
    worldflow_dit::zero_init_control_branches(&mut w);
    let weights = tmp.join("zeroed.safetensors");
    worldflow_dit::save_safetensors(&weights, &w).unwrap();
    let report = check_worldplay_case(
        &dir.join("dit_tiny.config.json"),
        &weights,
        &dir.join("dit_tiny_memory.case.safetensors"),
        &tmp.join("out.safetensors"),
    )
    .unwrap();
    let e = report.max_output_err();
    eprintln!("control branches zeroed: max rel err {e:.2e}");
    assert!(e > 1e-2, "{e}");
    std::fs::remove_dir_all(&tmp).ok();
}
