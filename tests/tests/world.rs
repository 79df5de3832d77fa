//! The Director–Actor world: the main job's graph on the real runtime, consistency on revisit, and several
//! agents sharing one world.

use std::time::Duration;

use worldflow_tests::{out_dir, read_jsonl, read_png, run_graph, workspace_root};

#[test]
fn drive_graph_renders_the_4_camera_rig_from_the_living_town() {
    let out = out_dir("drive");
    run_graph(&workspace_root().join("graphs/drive.yml"), &out, Some(Duration::from_secs(25))).unwrap();
    let frames = read_jsonl(&out.join("frames.jsonl"));
    let cams: std::collections::BTreeSet<&str> = frames.iter().map(|f| f["camera"].as_str().unwrap()).collect();
    assert_eq!(cams.into_iter().collect::<Vec<_>>(), vec!["front", "left", "rear", "right"]);
    assert!(frames.len() >= 8, "several ticks rendered: {}", frames.len());
    assert!(frames.iter().all(|f| f["zero_copy"] == true), "frames cross through shared memory");
    // The town is not empty: a front frame has many distinct colours and is not the sky background alone.
    let front = frames.iter().find(|f| f["camera"] == "front").unwrap();
    let (_, _, rgb) = read_png(&out.join(front["file"].as_str().unwrap()));
    let distinct: std::collections::BTreeSet<[u8; 3]> = rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    assert!(distinct.len() > 200, "a real scene, not a flat image: {} colours", distinct.len());
    // The ego moves under the throttle: its base pose changes along the run.
    let poses = read_jsonl(&out.join("poses.jsonl"));
    let x = |p: &serde_json::Value| {
        (p["world_from_frame"][0][3].as_f64().unwrap(), p["world_from_frame"][1][3].as_f64().unwrap())
    };
    let (a, b) = (x(&poses[0]), x(poses.last().unwrap()));
    assert!(((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt() > 1.0, "ego moved: {a:?} → {b:?}");
    // Per-node time from tracing spans: every stage of the chain wrote its timings, one render per tick.
    let ticks = frames.len() / 4;
    for (node, span) in [("director", "director_tick"), ("actor", "actor_tick"), ("renderer", "render_tick")] {
        let path = out.join("timings").join(format!("{node}.json"));
        let t: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let s = &t["spans"][span];
        let count = s["count"].as_u64().unwrap_or(0) as usize;
        assert!(count >= ticks, "{}: {span} count {count} < {ticks} rendered ticks", path.display());
        assert!(s["p50_ms"].as_f64().unwrap() > 0.0 && s["p99_ms"].as_f64() >= s["p50_ms"].as_f64(), "{s}");
    }
}

#[test]
fn ad_rig_graph_renders_six_surround_cameras_through_shared_memory() {
    let out = out_dir("ad-rig");
    run_graph(&workspace_root().join("graphs/ad-rig.yml"), &out, Some(Duration::from_secs(12))).unwrap();
    let frames = read_jsonl(&out.join("frames.jsonl"));
    let mut per_camera = std::collections::BTreeMap::<&str, usize>::new();
    for f in &frames {
        *per_camera.entry(f["camera"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(
        per_camera.keys().copied().collect::<Vec<_>>(),
        vec!["back", "back_left", "back_right", "front", "front_left", "front_right"],
        "the six cameras of graphs/ad6.rig.yaml"
    );
    assert!(per_camera.values().all(|&n| n >= 2), "several ticks of every camera: {per_camera:?}");
    // 6 × 1.08 MB per tick: the renderer's 64 MB pool keeps every frame in shared memory (an 8 MB pool would not).
    assert!(frames.iter().all(|f| f["zero_copy"] == true), "frames cross through shared memory");
    let (w, h, _) = read_png(&out.join(frames[0]["file"].as_str().unwrap()));
    assert_eq!((w, h), (800, 450));
}

#[test]
fn revisit_renders_the_static_scene_identically() {
    let report = worldflow::eval::revisit(&worldflow::eval::RevisitOptions {
        scenario: worldflow_world::Scenario::default(),
        straight_m: 12.0,
        step_m: 2.0,
        dt_secs: 0.1,
        width: 96,
        height: 64,
    })
    .unwrap();
    assert!(report.pairs >= 5, "{report:?}");
    assert_eq!(
        report.static_scene.identical_pairs, report.pairs,
        "static scene must be bit-identical on revisit: {report:?}"
    );
    assert!((report.static_scene.ssim_mean - 1.0).abs() < 1e-12);
    assert!(report.full.ssim_mean > 0.0 && report.full.ssim_mean <= 1.0);
}

#[test]
fn two_agents_share_one_world_and_agree_where_their_views_overlap() {
    let out = out_dir("two-agents");
    run_graph(&workspace_root().join("tests/fixtures/two-agents.yml"), &out, Some(Duration::from_secs(25))).unwrap();
    let frames = read_jsonl(&out.join("frames.jsonl"));
    let mut compared = 0;
    for f in frames.iter().filter(|f| f["agent_id"] == 0) {
        let twin = frames.iter().find(|g| g["agent_id"] == 1 && g["tick"] == f["tick"] && g["camera"] == f["camera"]);
        if let Some(g) = twin {
            let a = read_png(&out.join(f["file"].as_str().unwrap()));
            let b = read_png(&out.join(g["file"].as_str().unwrap()));
            assert_eq!(a, b, "agents at the same pose see the same world (tick {}, {})", f["tick"], f["camera"]);
            compared += 1;
        }
    }
    assert!(compared >= 8, "both agents rendered at the same ticks: {compared} pairs");
}
