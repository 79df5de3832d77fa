//! Graphs run for real: the embedded dora daemon spawns the node binaries, messages cross dora's shared
//! memory, the recorder writes files. These tests check what the files say, not how fast it went.

use std::time::Duration;

use worldflow_tests::{out_dir, read_jsonl, run_graph, workspace_root};

#[test]
fn actions_graph_produces_the_dual_action_stream() {
    let out = out_dir("actions");
    run_graph(&workspace_root().join("graphs/actions.yml"), &out, Some(Duration::from_secs(30))).unwrap();
    let actions = read_jsonl(&out.join("actions.jsonl"));
    let poses = read_jsonl(&out.join("poses.jsonl"));
    // SCRIPT "w-8, right-30, d-4, w+up-6" = 48 ticks; the graph ends when the source does.
    assert_eq!(actions.len(), 48, "one dual action per tick");
    assert_eq!(poses.len(), 48);
    let labels: Vec<u64> = actions.iter().map(|a| a["label"].as_u64().unwrap()).collect();
    assert!(labels[..8].iter().all(|l| *l == 9), "w = forward = 9·1: {labels:?}");
    assert!(labels[8..38].iter().all(|l| *l == 1), "right = yaw right = 1");
    assert!(labels[38..42].iter().all(|l| *l == 27), "d = right = 9·3");
    assert!(labels[42..].iter().all(|l| *l == 9 + 3), "w+up = 9·1 + 3");
    for (i, a) in actions.iter().enumerate() {
        assert_eq!(a["meta"]["tick"].as_u64().unwrap(), i as u64, "ticks in order, none lost");
        assert_eq!(a["meta"]["sim_time_ns"].as_u64().unwrap(), i as u64 * 100_000_000, "fixed simulated clock");
    }
    // After 8 × w the camera is 0.64 forward along +z.
    let z = poses[7]["world_from_frame"][2][3].as_f64().unwrap();
    assert!((z - 0.64).abs() < 1e-5, "{z}");
}

#[test]
fn identical_inputs_give_identical_outputs() {
    let a = out_dir("determinism-a");
    let b = out_dir("determinism-b");
    let graph = workspace_root().join("graphs/actions.yml");
    run_graph(&graph, &a, Some(Duration::from_secs(30))).unwrap();
    run_graph(&graph, &b, Some(Duration::from_secs(30))).unwrap();
    for f in ["actions.jsonl", "poses.jsonl"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f} differs between runs");
    }
}

#[test]
fn replay_of_a_recording_reproduces_it() {
    let first = out_dir("replay-source");
    run_graph(&workspace_root().join("graphs/actions.yml"), &first, Some(Duration::from_secs(30))).unwrap();
    let replayed = out_dir("replay-result");
    let graph = workspace_root().join("tests/fixtures/replay.yml");
    std::env::set_var("WORLDFLOW_TEST_RECORDING", first.join("actions.jsonl"));
    run_graph(&graph, &replayed, Some(Duration::from_secs(30))).unwrap();
    assert_eq!(std::fs::read(first.join("poses.jsonl")).unwrap(), std::fs::read(replayed.join("poses.jsonl")).unwrap());
}

#[test]
fn a_failing_node_stops_the_run_with_its_error_and_files_stay_complete() {
    // The recording holds a non-rigid pose at tick 4: the encoder must fail there, naming tick and field,
    // and the recorder must leave complete records of ticks 0..=3.
    let out = out_dir("failing-node");
    let graph = workspace_root().join("tests/fixtures/failing-encoder.yml");
    let err = run_graph(&graph, &out, Some(Duration::from_secs(30))).unwrap_err().to_string();
    assert!(err.contains("encoder"), "{err}");
    let poses = read_jsonl(&out.join("poses.jsonl"));
    assert_eq!(poses.len(), 4, "ticks before the bad one are recorded completely");
    assert!(out.join("report.json").is_file());
}

#[test]
fn a_bad_setting_fails_with_a_clear_error() {
    let out = out_dir("bad-setting");
    let err = run_graph(&workspace_root().join("tests/fixtures/bad-script.yml"), &out, Some(Duration::from_secs(30)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sensors"), "names the node: {err}");
}

#[test]
fn preview_graph_renders_frames_through_shared_memory() {
    let out = out_dir("preview");
    run_graph(&workspace_root().join("graphs/preview.yml"), &out, Some(Duration::from_secs(60))).unwrap();
    let frames = read_jsonl(&out.join("frames.jsonl"));
    assert!(frames.len() >= 20, "expected most of the 44 ticks rendered, got {}", frames.len());
    // Zero-copy: the recorder found every frame's pixels inside a shared-memory mapping, i.e. it read the
    // renderer's sample in place rather than a copy on its heap.
    let zero_copy = frames.iter().filter(|f| f["zero_copy"].as_bool() == Some(true)).count();
    assert_eq!(zero_copy, frames.len(), "frames that were copied instead of shared: {}", frames.len() - zero_copy);
    let (w, h, rgb) = worldflow_tests::read_png(&out.join(frames[0]["file"].as_str().unwrap()));
    assert_eq!((w, h), (320, 192));
    // Sky on top (the background), ground below: the image is not uniform.
    let top = &rgb[..(w as usize * 3)];
    let bottom = &rgb[rgb.len() - w as usize * 3..];
    assert_ne!(top, bottom, "expected sky above and ground below");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["frames"].as_u64().unwrap() as usize, frames.len());
    assert!(report["latency_ms_p50"].as_f64().is_some(), "latency measured");
    // VIDEO=y4m: the same frames as one YUV4MPEG2 stream, each frame the PNG in BT.601 limited range.
    let video = std::fs::read(out.join("video").join("agent0_camera.y4m")).unwrap();
    let header = b"YUV4MPEG2 W320 H192 F10:1 Ip A1:1 C444 XCOLORRANGE=LIMITED\n";
    assert_eq!(&video[..header.len()], header);
    let frame_len = 6 + 3 * (w * h) as usize;
    let body = &video[header.len()..];
    assert_eq!(body.len() % frame_len, 0, "whole frames only");
    assert_eq!(body.len() / frame_len, frames.len(), "one video frame per recorded frame");
    let first = &body[6..frame_len];
    let n = (w * h) as usize;
    let mut worst = 0i32;
    for i in 0..n {
        let [r, g, b] = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]].map(|v| v as f32);
        let (y, cb, cr) = (first[i] as f32 - 16.0, first[n + i] as f32 - 128.0, first[2 * n + i] as f32 - 128.0);
        // Inverse BT.601 (limited range) back to 8-bit RGB.
        let back = [
            255.0 / 219.0 * y + 255.0 / 224.0 * 1.402 * cr,
            255.0 / 219.0 * y - 255.0 / 224.0 * (0.344_136 * cb + 0.714_136 * cr),
            255.0 / 219.0 * y + 255.0 / 224.0 * 1.772 * cb,
        ];
        for (a, b) in back.iter().zip([r, g, b]) {
            worst = worst.max((a - b).abs().round() as i32);
        }
    }
    assert!(worst <= 3, "the first video frame decodes to the first PNG within 3 levels, worst {worst}");
}
