//! The real world models' paths run for real: graphs/worldplay-wan.yml (HY-WorldPlay's WAN path: the worldplay
//! memory policy, the WorldPlay DiT layout, the Wan2.2 VAE) and graphs/matrix-game.yml (Matrix-Game 2.0) on CPU
//! with tiny seeded random weights of the official layouts; and `worldflow model check` on the official goldens
//! of ../shared/data (skipped with a message when absent, a failure when absent and `CI` is set).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use worldflow_testkit::shared_data;
use worldflow_tests::{out_dir, read_jsonl, read_png, run_graph, workspace_root, worldflow_binary};

/// Frames of a stream of `n` latents through a 4× temporal VAE (first latent → 1 frame, each later one → 4).
fn streaming_frames(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        1 + 4 * (n - 1)
    }
}

/// The weights notices of the run's neural nodes say the weights are seeded random ones, and name `layout`.
fn assert_random_weights(out: &Path, dit_model: &str, vae_layout: &str) {
    for (node, needle) in [("dit", dit_model), ("vae", vae_layout)] {
        let path = out.join("weights").join(format!("{node}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["weights"], "random", "{node}: {doc}");
        assert!(doc["notice"].as_str().unwrap().contains("SEEDED RANDOM WEIGHTS"), "{node}: {doc}");
        assert!(text.contains(needle), "{node}: `{needle}` not named in {doc}");
    }
}

#[test]
fn worldplay_wan_graph_streams_48_channel_latents_through_the_wan22_vae() {
    let out = out_dir("worldplay-wan");
    run_graph(&workspace_root().join("graphs/worldplay-wan.yml"), &out, Some(Duration::from_secs(90))).unwrap();
    // SCRIPT "w-8, right-4, w-4, left-4, s-4": 24 ticks = 24 latents = 6 chunks.
    let frames = read_jsonl(&out.join("frames.jsonl"));
    assert_eq!(frames.len(), streaming_frames(24), "24 latents through the 4× temporal Wan2.2 VAE");
    let ticks: Vec<u64> = frames.iter().map(|f| f["tick"].as_u64().unwrap()).collect();
    assert_eq!(ticks, (0..streaming_frames(24) as u64).collect::<Vec<_>>());
    // 4×6 latents through the 16× Wan2.2 VAE: 64×96 frames, not a constant image.
    let (w, h, rgb) = read_png(&out.join(frames.last().unwrap()["file"].as_str().unwrap()));
    assert_eq!((w, h), (96, 64));
    assert!(rgb.iter().any(|v| *v != rgb[0]), "a decoded frame is not a constant image");
    assert_random_weights(&out, "WorldPlayWan", "Wan2.2");
}

#[test]
fn matrix_game_graph_generates_blocks_of_three_latents_from_keys() {
    let out = out_dir("matrix-game");
    run_graph(&workspace_root().join("graphs/matrix-game.yml"), &out, Some(Duration::from_secs(90))).unwrap();
    // 45 pixel-frame actions: blocks of 3 latents need 9, then 12 pixel frames → 4 blocks = 12 latents.
    let frames = read_jsonl(&out.join("frames.jsonl"));
    assert_eq!(frames.len(), streaming_frames(12), "12 latents through the 4× temporal VAE");
    let (w, h, rgb) = read_png(&out.join(frames.last().unwrap()["file"].as_str().unwrap()));
    assert_eq!((w, h), (48, 32), "4×6 latents through the 8× Wan2.1 VAE");
    assert!(rgb.iter().any(|v| *v != rgb[0]), "a decoded frame is not a constant image");
    assert_random_weights(&out, "matrix-game", "Wan2.1");
}

/// Runs `worldflow model check ARGS`; its standard output (the run must succeed).
fn model_check(args: &[&str]) -> String {
    let out = Command::new(worldflow_binary()).args(["model", "check"]).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "model check {args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The number after `prefix` on the line that starts with it.
fn figure(stdout: &str, prefix: &str) -> f64 {
    let line = stdout.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` in:\n{stdout}"));
    line[prefix.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn model_check_reproduces_the_official_worldplay_and_matrix_game_goldens() {
    let scratch = out_dir("model-check");
    std::fs::create_dir_all(&scratch).unwrap();
    let out = scratch.join("out.safetensors");
    let out = out.to_str().unwrap();
    if let Some(wp) = shared_data("worldplay-goldens", "WORLDPLAY_GOLDENS_DIR", "dit_tiny_memory.case.safetensors") {
        let p = |f: &str| wp.join(f).to_str().unwrap().to_owned();
        for case in ["dit_tiny_chunk0.case.safetensors", "dit_tiny_memory.case.safetensors"] {
            let stdout = model_check(&[
                "--model",
                "worldplay-wan",
                "--config",
                &p("dit_tiny.config.json"),
                "--weights",
                &p("dit_tiny.weights.safetensors"),
                "--inputs",
                &p(case),
                "--out",
                out,
            ]);
            let e = figure(&stdout, "max relative error over the outputs:");
            assert!(e < 1e-4, "{case}: {e}\n{stdout}");
        }
        let stdout = model_check(&[
            "--kind",
            "vae",
            "--config",
            &p("vae_tiny.config.json"),
            "--weights",
            &p("vae_tiny.weights.safetensors"),
            "--inputs",
            &p("vae_tiny.case.safetensors"),
            "--out",
            out,
        ]);
        let e = figure(&stdout, "max relative error vs the inputs' `video`:");
        assert!(e < 1e-4 && stdout.contains("Wan2.2"), "{e}\n{stdout}");
    }
    if let Some(mg) = shared_data("matrixgame-goldens", "MATRIXGAME_GOLDENS_DIR", "dit_tiny_stream.case.safetensors") {
        let p = |f: &str| mg.join(f).to_str().unwrap().to_owned();
        let stdout = model_check(&[
            "--model",
            "matrix-game",
            "--config",
            &p("dit_tiny.config.json"),
            "--weights",
            &p("dit_tiny.weights.safetensors"),
            "--inputs",
            &p("dit_tiny_stream.case.safetensors"),
            "--out",
            out,
        ]);
        assert_eq!(stdout.lines().filter(|l| l.starts_with("call ")).count(), 12, "{stdout}");
        let e = figure(&stdout, "max relative error over the outputs:");
        assert!(e < 1e-4, "{e}\n{stdout}");
    }
}
