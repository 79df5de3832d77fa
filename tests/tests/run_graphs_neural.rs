//! The neural streaming path run for real: sensors → action-encoder → memory-retriever → dit-engine →
//! vae-decoder → recorder (graphs/worldplay.yml), on CPU with seeded random weights.

use std::collections::BTreeMap;
use std::time::Duration;

use worldflow_tests::{out_dir, read_jsonl, read_png, run_graph, workspace_root};

/// graphs/worldplay.yml: SCRIPT "w-4, right-4, w+left-4, d-4" = 16 ticks = 16 latents = 4 chunks.
const LATENTS: u64 = 16;

/// Frames of a stream of `n` latents (first latent → 1 frame, each later one → 4).
fn streaming_frames(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 + 4 * (n - 1)
    }
}

#[test]
fn worldplay_graph_streams_chunks_into_frames_and_says_the_weights_are_random() {
    let out = out_dir("worldplay");
    run_graph(&workspace_root().join("graphs/worldplay.yml"), &out, Some(Duration::from_secs(60))).unwrap();

    // Frames: the streaming rule, in order, every one a complete PNG of the decoded size.
    let frames = read_jsonl(&out.join("frames.jsonl"));
    assert_eq!(
        frames.len() as u64,
        streaming_frames(LATENTS),
        "{LATENTS} latents must give 1 + 4·({LATENTS}−1) frames (fewer: the run was cut by the 60 s stop-after, or frames were dropped)"
    );
    let ticks: Vec<u64> = frames.iter().map(|f| f["tick"].as_u64().unwrap()).collect();
    assert_eq!(ticks, (0..streaming_frames(LATENTS)).collect::<Vec<_>>(), "frame indices contiguous and in order");
    for f in &frames {
        assert_eq!(f["camera"], "neural", "{f}");
        assert_eq!(f["agent_id"], 0, "{f}");
    }
    // Per chunk of 4 latents: chunk 0 → 1 + 4 + 4 + 4 = 13 frames, later chunks 16.
    let mut per_chunk: BTreeMap<u64, u64> = BTreeMap::new();
    for t in &ticks {
        let latent = if *t == 0 { 0 } else { (t - 1) / 4 + 1 };
        *per_chunk.entry(latent / 4).or_default() += 1;
    }
    assert_eq!(per_chunk.into_values().collect::<Vec<_>>(), vec![13, 16, 16, 16]);
    // LATENT 8×12 through the 8× VAE: 64×96 frames. Random weights still give a non-constant image.
    let (w, h, rgb) = read_png(&out.join(frames.last().unwrap()["file"].as_str().unwrap()));
    assert_eq!((w, h), (96, 64));
    assert!(rgb.iter().any(|v| *v != rgb[0]), "a decoded frame is not a constant image");

    // The random-weights notice: one file per neural component, saying so plainly.
    for node in ["dit", "vae"] {
        let path = out.join("weights").join(format!("{node}.json"));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
                .unwrap();
        assert_eq!(doc["weights"], "random", "{node}: {doc}");
        assert_eq!(doc["seed"], 0, "{node}: {doc}");
        assert!(doc["notice"].as_str().unwrap().contains("SEEDED RANDOM WEIGHTS"), "{node}: {doc}");
    }
    // Poses of every tick were recorded next to the frames.
    assert_eq!(read_jsonl(&out.join("poses.jsonl")).len() as u64, LATENTS);
    // Action-to-frame latency: every frame names the action tick it answers (the latent's) and has a
    // latency measured from that action; the report summarises them.
    for f in &frames {
        let t = f["tick"].as_u64().unwrap();
        let latent = if t == 0 { 0 } else { (t - 1) / 4 + 1 };
        assert_eq!(f["action_tick"].as_u64(), Some(latent), "{f}");
        assert!(f["latency_ms"].as_f64().is_some_and(|l| l > 0.0), "{f}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(report["latency_ms_p99"].as_f64().unwrap() >= report["latency_ms_p50"].as_f64().unwrap(), "{report}");
    // The memory-retriever's `context_hint` lets the dit prefill a chunk's memory while it waits for the chunk's
    // last action: chunks 1–3 have a memory (chunk 0 none), and a hint comes 100 ms before each chunk's action.
    let timings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("timings/dit.json")).unwrap()).unwrap();
    let prefills = timings["spans"]["prefill_memory"]["count"].as_u64().unwrap_or(0);
    assert!((1..=3).contains(&prefills), "memory prefills ahead of their chunk: {prefills} (1–3 expected): {timings}");
}

#[test]
fn identical_runs_give_identical_frames() {
    // Seeded weights and noise: the neural path is deterministic end to end (first chunk compared).
    let graph = workspace_root().join("graphs/worldplay.yml");
    let a = out_dir("worldplay-det-a");
    let b = out_dir("worldplay-det-b");
    run_graph(&graph, &a, Some(Duration::from_secs(60))).unwrap();
    run_graph(&graph, &b, Some(Duration::from_secs(60))).unwrap();
    let frames = read_jsonl(&a.join("frames.jsonl"));
    assert!(frames.len() >= 13, "at least the first chunk decoded, got {} frames", frames.len());
    for f in &frames[..13] {
        let file = f["file"].as_str().unwrap();
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file} differs between runs"
        );
    }
}

#[test]
fn a_missing_checkpoint_fails_naming_the_setting() {
    let out = out_dir("worldplay-bad-weights");
    let graph = out.join("worldplay-bad-weights.yml");
    let text = std::fs::read_to_string(workspace_root().join("graphs/worldplay.yml")).unwrap();
    let text = text.replace("# WEIGHTS: /path/to/dit.safetensors", "WEIGHTS: /nonexistent/dit.safetensors");
    assert!(text.contains("WEIGHTS: /nonexistent/dit.safetensors"), "the graph's commented WEIGHTS line moved");
    std::fs::write(&graph, text).unwrap();
    let err = run_graph(&graph, &out, Some(Duration::from_secs(30))).unwrap_err().to_string();
    assert!(err.contains("node `dit`"), "names the node: {err}");
    assert!(err.contains("setting WEIGHTS=`/nonexistent/dit.safetensors`"), "names the setting and the file: {err}");
}
