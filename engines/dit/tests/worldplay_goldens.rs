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

/// The public call interface: the official cache as the golden holds it (`kv.{l}.{k,v}`), read with
/// `WorldPlayKv::from_official`, and `worldplay_chunk` give the golden `out`; `worldplay_memory`
/// gives back that cache.
#[test]
fn worldplay_call_interface_takes_the_official_cache() {
    use worldflow_dit::{
        load_safetensors, rope_time_from_tokens, worldplay_conds, Config, SeqRequest, WanModel, WorldPlayKv,
    };
    use worldflow_testkit::max_rel_err;
    let Some(dir) = goldens() else { return };
    let cfg = Config::from_file(&dir.join("dit_tiny.config.json")).unwrap();
    let model = WanModel::load(&cfg, &dir.join("dit_tiny.weights.safetensors")).unwrap();
    let case = load_safetensors(&dir.join("dit_tiny_memory.case.safetensors")).unwrap();
    let (heads, hd) = (cfg.num_heads, cfg.head_dim());
    let layers: Vec<(Vec<f32>, Vec<f32>)> = (0..cfg.num_layers)
        .map(|l| (case[&format!("kv.{l}.k")].data.clone(), case[&format!("kv.{l}.v")].data.clone()))
        .collect();
    let cache = WorldPlayKv::from_official(&layers, heads, hd).unwrap();
    assert_eq!(cache.tokens, 18);
    let text = model.encode_text(&case["context"].data, case["context"].shape[1]).unwrap();
    let call = |prefix: &str| {
        let n = |s: &str| format!("{prefix}{s}");
        let viewmats: Vec<[[f32; 4]; 4]> = case[&n("viewmats")]
            .data
            .chunks_exact(16)
            .map(|m| std::array::from_fn(|i| std::array::from_fn(|j| m[i * 4 + j])))
            .collect();
        let ks: Vec<[[f32; 3]; 3]> = case[&n("Ks")]
            .data
            .chunks_exact(9)
            .map(|m| std::array::from_fn(|i| std::array::from_fn(|j| m[i * 3 + j])))
            .collect();
        let actions: Vec<u32> = case[&n("action")].data.iter().map(|&a| a as u32).collect();
        (worldplay_conds(&case[&n("timestep")].data, &actions, &viewmats, &ks).unwrap(), case[&n("x")].data.clone())
    };
    let (mem_conds, mem_x) = call("mem_");
    let mem_time = rope_time_from_tokens(0, 18, 6, 3).unwrap();
    let mem_req = SeqRequest {
        latents: &mem_x,
        frames: 3,
        height: 4,
        width: 6,
        conds: &mem_conds,
        rope_time: &mem_time,
        groups: None,
    };
    let ours = model.worldplay_memory(&mem_req, &text).unwrap();
    for (l, (want_k, want_v)) in layers.iter().enumerate() {
        let (k, v) = ours.official_layer(l, heads, hd);
        assert!(max_rel_err("k", &k, want_k) < 1e-4 && max_rel_err("v", &v, want_v) < 1e-4);
    }
    let (conds, x) = call("");
    let time = rope_time_from_tokens(18, 30, 6, 2).unwrap();
    assert_eq!(time, [3, 4]);
    let req = SeqRequest { latents: &x, frames: 2, height: 4, width: 6, conds: &conds, rope_time: &time, groups: None };
    let out = model.worldplay_chunk(&req, &text, Some(&cache)).unwrap();
    let e = max_rel_err("out", &out, &case["out"].data);
    eprintln!("chunk on the official cache: max rel err {e:.2e}");
    assert!(e < 1e-4, "{e}");
    assert!(rope_time_from_tokens(3, 15, 6, 2).is_err(), "a range off a frame boundary is refused");
}
