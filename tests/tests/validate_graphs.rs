//! Every graph in graphs/ validates; every file of the invalid-graph corpus fails with exactly the errors
//! written beside it (`NAME.yml` ↔ `NAME.expected`, one error per line, file name without directory).

use worldflow::validate::validate_file;
use worldflow_tests::workspace_root;

/// The dataflow graphs under graphs/ and graphs/fleet/ as paths relative to graphs/ (scenario files, named
/// `*.scenario.yaml`, are not graphs).
fn graph_files() -> Vec<String> {
    let mut names = Vec::new();
    for dir in ["", "fleet/"] {
        for entry in std::fs::read_dir(workspace_root().join("graphs").join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            // Scenario and rig files sit beside the graphs that name them; they are not graphs.
            let data_file = name.contains(".scenario.") || name.contains(".rig.");
            if (name.ends_with(".yml") || name.ends_with(".yaml")) && !data_file {
                names.push(format!("{dir}{name}"));
            }
        }
    }
    names.sort();
    names
}

#[test]
fn every_graph_in_graphs_validates() {
    let graphs = graph_files();
    for name in &graphs {
        let path = workspace_root().join("graphs").join(name);
        if let Err(errors) = validate_file(&path) {
            panic!("{} does not validate:\n{}", path.display(), errors);
        }
    }
    assert!(graphs.iter().any(|g| g.starts_with("fleet/")), "graphs/fleet/ holds no graph");
}

#[test]
fn invalid_graph_corpus_gives_the_expected_errors() {
    let dir = workspace_root().join("tests").join("invalid-graphs");
    let mut cases = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "yml")) {
        let expected_path = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected file", path.display()));
        let shown = path.display().to_string();
        let errors = match validate_file(path) {
            Ok(_) => vec!["<valid>".to_owned()],
            Err(e) => {
                e.into_iter().map(|l| l.replacen(&shown, path.file_name().unwrap().to_str().unwrap(), 1)).collect()
            }
        };
        let got = errors.join("\n");
        if got.trim() != expected.trim() {
            failures.push(format!("{}:\n  expected: {}\n  got:      {}", path.display(), expected.trim(), got));
        }
        cases += 1;
    }
    assert!(cases >= 10, "the corpus should cover every kind of error; found {cases} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Graphs run end to end by the tests in this crate (each test names the file it runs). A graph added to
/// graphs/ without a run test fails here.
const GRAPHS_RUN_BY_TESTS: &[(&str, &str)] = &[
    ("actions.yml", "run_graphs::actions_graph_produces_the_dual_action_stream"),
    ("preview.yml", "run_graphs::preview_graph_renders_frames_through_shared_memory"),
    ("drive.yml", "world::drive_graph_renders_the_4_camera_rig_from_the_living_town"),
    ("ad-rig.yml", "world::ad_rig_graph_renders_six_surround_cameras_through_shared_memory"),
    ("swarm.yml", "swarm::sixteen_drones_take_off_and_fold_a_line_into_a_ring_without_collisions"),
    ("worldplay.yml", "run_graphs_neural"),
    ("worldplay-wan.yml", "real_models::worldplay_wan_graph_streams_48_channel_latents_through_the_wan22_vae"),
    ("matrix-game.yml", "real_models::matrix_game_graph_generates_blocks_of_three_latents_from_keys"),
    // Run only inside a network namespace, against an independent DDS peer (no DDS traffic off loopback).
    ("ros2.yml", "ros2_live::the_bridge_publishes_to_an_independent_dds_peer"),
    ("closed-loop.yml", "ros2_live::a_dds_peer_closes_the_loop_in_lock_step"),
    // Loopback only (explicit 127.0.0.1 endpoints, no multicast), against an independent Zenoh peer.
    ("zenoh.yml", "zenoh_live::an_independent_zenoh_peer_watches_receives_and_drives"),
    // Fleet graphs (graphs/fleet/): run by `worldflow fleet`.
    ("fleet/two-machines.yml", "fleet_local::fleet_local_runs_two_machines_on_loopback_and_both_cars_are_rendered"),
    ("fleet/laptop.yml", "fleet_local::a_hand_started_fleet_runs_a_graph_and_names_the_machines_it_lacks"),
    ("fleet/server.yml", "fleet_local::the_server_profile_renders_both_cars_beside_the_world"),
    ("fleet/robots.yml", "fleet_local::the_robots_profile_renders_each_car_on_its_own_robot"),
];

#[test]
fn every_graph_in_graphs_has_a_run_test() {
    let tests_dir = workspace_root().join("tests").join("tests");
    for name in graph_files() {
        let (_, test) = GRAPHS_RUN_BY_TESTS
            .iter()
            .find(|(g, _)| *g == name)
            .unwrap_or_else(|| panic!("graphs/{name} is not run by any test"));
        let file = test.split("::").next().unwrap();
        let source = std::fs::read_to_string(tests_dir.join(format!("{file}.rs")))
            .unwrap_or_else(|_| panic!("tests/tests/{file}.rs missing"));
        assert!(source.contains(&format!("graphs/{name}")), "tests/tests/{file}.rs does not run graphs/{name}");
    }
}
