//! Golden cases written by `reference/make_goldens.py` (our independent PyTorch implementation,
//! float64, stored as f32) for the parts upstream Wan2.1 lacks: per-frame timesteps, action
//! embedding, PRoPE camera branch, RoPE time offsets and block-causal masks.
//!
//! Tolerance 1e-4 relative to the output's max magnitude: the reference is float64, the engine
//! f32 (observed ~3e-7); a wrong convention gives > 1e-2.

use std::path::Path;
use worldflow_dit::*;
use worldflow_testkit::max_rel_err;

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/goldens"))
}

fn load() -> (WanModel, Config) {
    let cfg = Config::from_file(&dir().join("dit_tiny_ctrl.config.json")).expect("config");
    let model = WanModel::load(&cfg, &dir().join("dit_tiny_ctrl.weights.safetensors")).expect("weights");
    (model, cfg)
}

#[test]
fn case_a_per_frame_timesteps() {
    let (model, _) = load();
    let case = load_safetensors(&dir().join("dit_tiny_ctrl.case_a.safetensors")).expect("case");
    let (out, _) = model.forward(&case["x"], &case["t"].data, &case["context"]).expect("forward");
    let e = max_rel_err("case_a", &out.data, &case["out"].data);
    eprintln!("case_a max rel err {e:.2e}");
    assert!(e < 1e-4, "case_a: {e}");
}

#[test]
fn case_b_actions_cameras_offset_block_causal() {
    let (model, cfg) = load();
    let c = load_safetensors(&dir().join("dit_tiny_ctrl.case_b.safetensors")).expect("case");
    let x = &c["x"];
    let (frames, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
    let conds: Vec<FrameCond> = (0..frames)
        .map(|f| {
            let m = &c["c2w"].data[f * 16..(f + 1) * 16];
            let k = &c["intrinsics"].data[f * 4..(f + 1) * 4];
            let mut pose = [[0.0f32; 4]; 4];
            for i in 0..16 {
                pose[i / 4][i % 4] = m[i];
            }
            FrameCond {
                timestep: c["t"].data[f],
                action: Some(c["actions"].data[f] as u32),
                camera: Some(Camera { world_from_camera: pose, fx: k[0], fy: k[1], cx: k[2], cy: k[3] }),
            }
        })
        .collect();
    let rope: Vec<usize> = c["rope_time"].data.iter().map(|&v| v as usize).collect();
    let groups: Vec<usize> = c["groups"].data.iter().map(|&v| v as usize).collect();
    let text = model.encode_text(&c["context"].data, c["context"].shape[0]).expect("text");
    let req = SeqRequest {
        latents: &x.data,
        frames,
        height: h,
        width: w,
        conds: &conds,
        rope_time: &rope,
        groups: Some(&groups),
    };
    let (out, _) = model.forward_seq(&req, &text, None, false, None).expect("forward");
    let e = max_rel_err("case_b", &out, &c["out"].data);
    eprintln!("case_b max rel err {e:.2e}");
    assert!(e < 1e-4, "case_b: {e}");
    assert_eq!(cfg.action_classes, Some(81));
}

#[test]
fn weight_errors_name_every_tensor() {
    let cfg = Config::from_file(&dir().join("dit_tiny_ctrl.config.json")).expect("config");
    let mut t = load_safetensors(&dir().join("dit_tiny_ctrl.weights.safetensors")).expect("weights");
    t.remove("blocks.1.self_attn.q.weight");
    t.insert("blocks.7.extra".into(), Tensor::zeros(vec![2]));
    t.insert("head.head.bias".into(), Tensor::zeros(vec![3]));
    let err = WanModel::from_tensors(&cfg, t).err().expect("must fail").to_string();
    assert!(err.contains("missing tensor `blocks.1.self_attn.q.weight`"), "{err}");
    assert!(err.contains("unexpected tensor `blocks.7.extra`"), "{err}");
    assert!(err.contains("tensor `head.head.bias` has shape [3], expected [64]"), "{err}");
}

#[test]
fn malformed_files_give_errors_not_panics() {
    for bytes in [&b""[..], &b"\x05\x00\x00\x00\x00\x00\x00\x00{\"a\":"[..], &[0xff; 16][..]] {
        assert!(parse_safetensors(bytes, "mem").is_err());
    }
    let tmp = std::env::temp_dir().join(format!("dit_bad_cfg_{}.json", std::process::id()));
    std::fs::write(&tmp, r#"{"dim": 65, "num_heads": 4}"#).expect("write");
    assert!(Config::from_file(&tmp).is_err());
    let mut cfg = Config::tiny();
    cfg.num_heads = 3;
    assert!(cfg.validate().is_err());
    let _ = std::fs::remove_file(tmp);
}

#[test]
fn check_forward_round_trip() {
    let tmp = std::env::temp_dir().join(format!("dit_check_{}.safetensors", std::process::id()));
    let report = check_forward(
        &dir().join("dit_tiny_ctrl.config.json"),
        &dir().join("dit_tiny_ctrl.weights.safetensors"),
        &dir().join("dit_tiny_ctrl.case_a.safetensors"),
        &tmp,
    )
    .expect("check");
    assert_eq!(report.out_shape, vec![16, 3, 8, 8]);
    assert!(report.max_rel_err_vs_inputs_out.expect("case has out") < 1e-4);
    let written = load_safetensors(&tmp).expect("written");
    assert_eq!(written["out"].shape, vec![16, 3, 8, 8]);
    let _ = std::fs::remove_file(tmp);
}

#[test]
fn zero_init_branches_reduce_to_base_model() {
    let cfg = Config::from_file(&dir().join("dit_tiny_ctrl.config.json")).expect("config");
    let mut t = load_safetensors(&dir().join("dit_tiny_ctrl.weights.safetensors")).expect("weights");
    zero_init_control_branches(&mut t);
    let model = WanModel::from_tensors(&cfg, t).expect("model");
    let mut rng = Rng::new(4);
    let x = rng.normal_vec(16 * 2 * 4 * 4, 1.0);
    let text = model.encode_text(&[], 0).expect("text");
    let run = |action: Option<u32>, camera: Option<Camera>| {
        let conds = vec![FrameCond { timestep: 300.0, action, camera }; 2];
        let req =
            SeqRequest { latents: &x, frames: 2, height: 4, width: 4, conds: &conds, rope_time: &[0, 1], groups: None };
        model.forward_seq(&req, &text, None, false, None).expect("fwd").0
    };
    let cam = Camera {
        world_from_camera: [[1., 0., 0., 1.], [0., 1., 0., 2.], [0., 0., 1., 3.], [0., 0., 0., 1.]],
        fx: 10.,
        fy: 10.,
        cx: 4.,
        cy: 4.,
    };
    assert_eq!(run(None, None), run(Some(17), Some(cam)));
}
