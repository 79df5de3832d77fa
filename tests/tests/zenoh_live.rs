//! The zenoh bridge against an independent Zenoh peer, the PyPI `eclipse-zenoh` package that
//! `scripts/setup.sh` installs into `.cache/py` (`nodes/zenoh-bridge/python/peer.py`): `graphs/zenoh.yml` runs
//! on the real dora runtime while the peer watches the car's liveliness token (join, then leave at the end),
//! receives its frames and checks every header against the payload, and drives the car forward with velocity
//! commands. A second run first sends actions the bridge must refuse (malformed JSON, NaN, out of range, an
//! unknown agent): warnings, and the run goes on.
//!
//! Loopback only: the bridge listens on `tcp/127.0.0.1:<free port>`, the peer connects there; multicast
//! scouting and gossip are off on both sides. Without the venv the test says SKIP; under `CI` it fails.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use worldflow_tests::{out_dir, workspace_root, worldflow_binary};

/// Runs graphs/zenoh.yml for `stop_after_s` with the peer (`peer_args`); asserts both exit 0; returns the
/// peer's SUMMARY, report.json and the bridge's log lines. `None`: skipped (said why).
fn run_with_peer(
    name: &str,
    stop_after_s: u64,
    peer_args: &[&str],
) -> Option<(serde_json::Value, serde_json::Value, String)> {
    let python = worldflow_testkit::project_python("zenoh")?;
    // One run at a time: each is a whole graph, and two at once on a small machine stall the world.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = workspace_root();
    let out = out_dir(name);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let peer_log = std::fs::File::create(out.join("peer.log")).unwrap();
    let mut peer = Command::new(&python)
        .arg(root.join("nodes/zenoh-bridge/python/peer.py"))
        .args(["--endpoint", &endpoint, "--timeout", &(stop_after_s + 60).to_string()])
        .args(peer_args)
        .stdout(peer_log.try_clone().unwrap())
        .stderr(peer_log)
        .spawn()
        .expect("starting the Python peer");
    let wf = Command::new(worldflow_binary())
        .arg("run")
        .arg(root.join("graphs/zenoh.yml"))
        .arg("--out")
        .arg(&out)
        .args(["--stop-after", &format!("{stop_after_s}s"), "--set", &format!("bridge.LISTEN={endpoint}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("running worldflow");
    let wf_log = format!("{}{}", String::from_utf8_lossy(&wf.stdout), String::from_utf8_lossy(&wf.stderr));
    std::fs::write(out.join("worldflow.log"), &wf_log).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let peer_status = loop {
        if let Some(status) = peer.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = peer.kill();
            panic!("the peer did not finish within 90 s of the run's end; see {}", out.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let peer_text = std::fs::read_to_string(out.join("peer.log")).unwrap_or_default();
    println!("--- peer ---\n{peer_text}");
    assert!(wf.status.success(), "worldflow: {}\n{wf_log}\npeer:\n{peer_text}", wf.status);
    assert!(peer_status.success(), "peer: {peer_status}\n{peer_text}\nworldflow:\n{wf_log}");
    let line = peer_text.lines().find_map(|l| l.strip_prefix("SUMMARY ")).expect("the peer prints a SUMMARY");
    let report = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    Some((serde_json::from_str(line).unwrap(), serde_json::from_str(&report).unwrap(), wf_log))
}

#[test]
fn an_independent_zenoh_peer_watches_receives_and_drives() {
    let Some((summary, report, _)) = run_with_peer("zenoh-live", 30, &["--drive", "8"]) else { return };
    let z = &report["zenoh_bridge"];
    println!("zenoh_bridge: {z}");
    assert_eq!(summary["size"], serde_json::json!([320, 180]), "{summary}");
    let frames = summary["frames"].as_u64().unwrap();
    assert!(frames >= 10 && frames <= z["frames"].as_u64().unwrap(), "peer {summary} vs bridge {z}");
    // Same host, shared memory on both sides: the frames arrive in shared-memory buffers.
    assert_eq!(summary["frames_shm"], summary["frames"], "{summary}");
    assert!(z["frames_shm"].as_u64().unwrap() > 0, "{z}");
    assert!(summary["forward_m"].as_f64().unwrap() > 3.0, "{summary}");
    let liveliness = summary["liveliness"].as_array().unwrap();
    let kinds: Vec<&str> = liveliness.iter().map(|e| e[0].as_str().unwrap()).collect();
    // The car joins at its first pose and leaves when the run ends; on a loaded machine the world may also stall
    // past AGENT_TIMEOUT_SECS (a leave and a rejoin, in the bridge's account too). Joins and leaves alternate.
    assert!(kinds.len() >= 2 && kinds.len().is_multiple_of(2), "{summary}");
    assert!(kinds.chunks(2).all(|pair| pair == ["PUT", "DELETE"]), "{summary}");
    let joins = z["membership"].as_array().unwrap().iter().filter(|m| m["event"] == "joined").count();
    assert_eq!(joins, kinds.len() / 2, "the peer saw every join the bridge made: {summary} {z}");
    assert_eq!(z["membership"][0], serde_json::json!({"event": "joined", "agent": 0, "tick": 0}), "{z}");
    assert!(z["agents"]["agent0"]["commands"].as_u64().unwrap() >= 40, "{z}");
    assert_eq!(z["actions_rejected"], 0, "{z}");
    assert!(z["poses"].as_u64().unwrap() >= 10 && z["worlds"].as_u64().unwrap() >= 10, "{z}");
}

#[test]
fn malformed_actions_are_refused_with_a_warning_and_the_run_goes_on() {
    let Some((summary, report, log)) = run_with_peer("zenoh-live-bad", 25, &["--drive", "6", "--bad"]) else { return };
    let z = &report["zenoh_bridge"];
    assert!(summary["forward_m"].as_f64().unwrap() > 3.0, "driven after the bad actions: {summary}");
    assert_eq!(z["actions_rejected"], 5, "{z}");
    assert_eq!(z["agents"]["agent0"]["rejected"], 4, "{z}");
    assert_eq!(z["unknown_action_keys"], serde_json::json!(["worldflow/@v1/town/agent/7/action"]), "{z}");
    for warning in [
        "worldflow/@v1/town/agent/0/action: action of agent0 refused (not UTF-8 JSON of an action: key must be a string",
        "(not UTF-8 JSON of an action: field `throttle`: expected value",
        "(throttle: expected 0..=1, found 2)",
        "unknown field `throttle`",
        "worldflow/@v1/town/agent/7/action: action refused (agent 7 is not controlled (AGENTS=1: ids 0..=0))",
    ] {
        assert!(log.contains(warning), "no warning `{warning}` in the log:\n{log}");
    }
}
