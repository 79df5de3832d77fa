//! `worldflow model check --kind dit` with the optional control inputs (`actions`, `c2w`,
//! `intrinsics`): golden case C of `reference/make_goldens.py` (float64 PyTorch, stored f32),
//! tolerance 1e-4 relative to the output's max magnitude, and errors naming the bad tensor.

use std::path::{Path, PathBuf};
use worldflow_dit::*;

fn golden(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/goldens")).join(name)
}

fn tmp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("dit_model_check_{tag}_{}.safetensors", std::process::id()))
}

fn check(inputs: &Path, out: &Path, format: WeightFormat) -> Result<CheckReport> {
    check_forward_with(
        &golden("dit_tiny_ctrl.config.json"),
        &golden("dit_tiny_ctrl.weights.safetensors"),
        inputs,
        out,
        format,
    )
}

/// Runs the check on case C with `edit` applied to its tensors.
fn check_edited(tag: &str, edit: impl FnOnce(&mut TensorMap)) -> Result<CheckReport> {
    let mut case = load_safetensors(&golden("dit_tiny_ctrl.case_c.safetensors")).expect("case c");
    edit(&mut case);
    let (inputs, out) = (tmp(&format!("{tag}_in")), tmp(&format!("{tag}_out")));
    save_safetensors(&inputs, &case).expect("write inputs");
    let r = check(&inputs, &out, WeightFormat::F32);
    let _ = std::fs::remove_file(inputs);
    let _ = std::fs::remove_file(out);
    r
}

#[test]
fn case_c_actions_and_cameras_match_pytorch() {
    let out = tmp("c");
    let r = check(&golden("dit_tiny_ctrl.case_c.safetensors"), &out, WeightFormat::F32).expect("check");
    let e = r.max_rel_err_vs_inputs_out.expect("case has out");
    eprintln!("case_c (actions + cameras) max rel err {e:.2e}");
    assert!(e < 1e-4, "case_c: {e}");
    assert_eq!(r.used_optional, vec!["actions", "c2w", "intrinsics"]);
    assert_eq!(r.out_shape, vec![16, 2, 4, 6]);
    let written = load_safetensors(&out).expect("written");
    assert_eq!(written["trace.blocks.1"].shape, vec![12, 64]);
    let _ = std::fs::remove_file(out);
}

#[test]
fn case_b_rope_time_and_groups_are_read() {
    // Case B also holds `rope_time` [5..9] and `groups` [2, 2]: the check must use them to match.
    let out = tmp("b");
    let r = check(&golden("dit_tiny_ctrl.case_b.safetensors"), &out, WeightFormat::F32).expect("check");
    let e = r.max_rel_err_vs_inputs_out.expect("case has out");
    assert!(e < 1e-4, "case_b through model check: {e}");
    assert_eq!(r.used_optional, vec!["actions", "c2w", "intrinsics", "rope_time", "groups"]);
    let _ = std::fs::remove_file(out);
}

#[test]
fn every_control_changes_the_output() {
    // Without a control, the comparison with the golden fails: the controls are really used.
    for drop in [&["actions"][..], &["c2w", "intrinsics"][..]] {
        let r =
            check_edited(&format!("drop_{}", drop[0]), |c| drop.iter().for_each(|n| drop_tensor(c, n))).expect("check");
        let e = r.max_rel_err_vs_inputs_out.expect("out");
        assert!(e > 1e-3, "dropping {drop:?} should change the output, error only {e}");
    }
}

fn drop_tensor(c: &mut TensorMap, name: &str) {
    c.remove(name);
}

#[test]
fn int8_check_stays_close_to_the_golden() {
    let out = tmp("c_int8");
    let r = check(&golden("dit_tiny_ctrl.case_c.safetensors"), &out, WeightFormat::Int8).expect("check");
    let e = r.max_rel_err_vs_inputs_out.expect("out");
    eprintln!("case_c with int8 weights: max rel err {e:.2e}");
    assert_eq!(r.weights, WeightFormat::Int8);
    // Measured 3.2e-3 (relative to the output's max magnitude); bound ≈ 3× that.
    assert!(e > 1e-6 && e < 1e-2, "int8 case_c error {e}");
    let _ = std::fs::remove_file(out);
}

#[test]
fn bad_control_tensors_are_named() {
    type Edit = Box<dyn FnOnce(&mut TensorMap)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("no_intr", Box::new(|c| drop_tensor(c, "intrinsics")), "input `intrinsics`: missing"),
        ("no_c2w", Box::new(|c| drop_tensor(c, "c2w")), "input `c2w`: missing"),
        (
            "c2w_shape",
            Box::new(|c| {
                c.insert("c2w".into(), Tensor::zeros(vec![2, 3, 4]));
            }),
            "input `c2w`: shape [2, 3, 4], expected [2, 4, 4]",
        ),
        (
            "intr_shape",
            Box::new(|c| {
                c.insert("intrinsics".into(), Tensor::zeros(vec![3, 4]));
            }),
            "input `intrinsics`: shape [3, 4], expected [2, 4]",
        ),
        (
            "actions_shape",
            Box::new(|c| {
                c.insert("actions".into(), Tensor::zeros(vec![3]));
            }),
            "input `actions`: shape [3], expected [2]",
        ),
        (
            "actions_range",
            Box::new(|c| {
                c.insert("actions".into(), Tensor::new(vec![2], vec![1.0, 81.0]));
            }),
            "input `actions`: frame 1: label 81 not in 0..81",
        ),
        (
            "actions_fraction",
            Box::new(|c| {
                c.insert("actions".into(), Tensor::new(vec![2], vec![1.5, 3.0]));
            }),
            "input `actions`: element 0 = 1.5 is not a non-negative integer",
        ),
        (
            "singular",
            Box::new(|c| {
                c.insert("c2w".into(), Tensor::zeros(vec![2, 4, 4]));
            }),
            "input `c2w`: frame 0: singular",
        ),
        ("no_x", Box::new(|c| drop_tensor(c, "x")), "input `x`: missing"),
    ];
    for (tag, edit, want) in cases {
        let err = check_edited(tag, edit).err().unwrap_or_else(|| panic!("{tag}: must fail")).to_string();
        assert!(err.contains(want), "{tag}: `{err}` lacks `{want}`");
    }
}

#[test]
fn controls_need_the_branch_in_the_config() {
    let dir = std::env::temp_dir().join(format!("dit_model_check_cfg_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = Config::tiny();
    let cfg_path = dir.join("config.json");
    std::fs::write(&cfg_path, serde_json::to_string(&cfg).expect("json")).expect("write config");
    let weights = dir.join("weights.safetensors");
    save_safetensors(&weights, &random_weights(&cfg, 1, 0.1)).expect("weights");
    let case = load_safetensors(&golden("dit_tiny_ctrl.case_c.safetensors")).expect("case");
    for (name, want) in [("actions", "`action_classes`"), ("c2w", "`camera_attention`")] {
        let mut inputs = TensorMap::new();
        for n in ["x", "t", "context", name] {
            inputs.insert(n.into(), case[n].clone());
        }
        if name == "c2w" {
            inputs.insert("intrinsics".into(), case["intrinsics"].clone());
        }
        let path = dir.join(format!("{name}.safetensors"));
        save_safetensors(&path, &inputs).expect("inputs");
        let err =
            check_forward(&cfg_path, &weights, &path, &dir.join("out.safetensors")).expect_err("must fail").to_string();
        assert!(err.contains(&format!("input `{name}`")) && err.contains(want), "{err}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
