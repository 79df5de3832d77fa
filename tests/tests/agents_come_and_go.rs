//! A shared world with agents that come and go: two agents feed the director; the test stops agent1's sensors
//! process (SIGSTOP) mid-run. The director drops agent1 after `AGENT_TIMEOUT_SECS` (0.5 s) and agent0's world
//! keeps ticking; SIGCONT re-admits agent1 at the current tick. The drop and the rejoin are in report.json.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use worldflow_tests::{out_dir, read_jsonl, sensors_pid, signal, workspace_root, worldflow_binary};

#[test]
fn a_stopped_agent_is_dropped_the_other_goes_on_and_it_rejoins() {
    let out = out_dir("agents-come-and-go");
    let graph = workspace_root().join("tests/fixtures/agents-come-and-go.yml");
    let mut run = Command::new(worldflow_binary())
        .args(["run", "--stop-after", "60s", "--out"])
        .arg(&out)
        .arg(&graph)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting worldflow run");
    let deadline = Instant::now() + Duration::from_secs(30);
    let poses = |out: &Path| std::fs::read_to_string(out.join("poses.jsonl")).map(|t| t.lines().count()).unwrap_or(0);
    while poses(&out) < 20 {
        assert!(Instant::now() < deadline, "the run did not start within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = sensors_pid(&out, 1).expect("agent1's sensors process");
    signal(pid, "-STOP");
    std::thread::sleep(Duration::from_secs(2));
    signal(pid, "-CONT");
    let deadline = Instant::now() + Duration::from_secs(60);
    while run.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = run.kill();
            panic!("the run did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = run.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "worldflow run failed:\n{log}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let director = &report["director"];
    let membership = director["membership"].as_array().unwrap();
    let drop = membership.iter().find(|m| m["event"] == "dropped" && m["agent"] == 1).expect("agent1 dropped");
    let rejoin = membership.iter().find(|m| m["event"] == "rejoined" && m["agent"] == 1).expect("agent1 rejoined");
    let (drop_tick, rejoin_tick) = (drop["tick"].as_u64().unwrap(), rejoin["tick"].as_u64().unwrap());
    assert!(rejoin_tick > drop_tick + 10, "2 s stopped at 20 ticks/s: dropped at {drop_tick}, back at {rejoin_tick}");
    assert!(membership.iter().all(|m| m["agent"] == 1), "agent0 was never dropped: {director}");
    assert!(log.contains(&format!("agent1 dropped from the barrier at tick {drop_tick}")), "logged:\n{log}");
    assert!(log.contains(&format!("agent1 re-admitted at tick {rejoin_tick}")), "logged:\n{log}");

    // agent0's world went on tick after tick; agent1's ego held still while it was out.
    let poses = read_jsonl(&out.join("poses.jsonl"));
    let of = |agent: u64| -> Vec<(u64, f64)> {
        poses
            .iter()
            .filter(|p| p["meta"]["agent_id"] == agent)
            .map(|p| (p["meta"]["tick"].as_u64().unwrap(), p["world_from_frame"][1][3].as_f64().unwrap()))
            .collect()
    };
    let (a0, a1) = (of(0), of(1));
    let ticks: Vec<u64> = a0.iter().map(|(t, _)| *t).collect();
    assert_eq!(ticks, (0..ticks.len() as u64).collect::<Vec<_>>(), "one world tick after another");
    assert!(a0.len() >= 80, "agent0's 80 actions all stepped the world: {}", a0.len());
    let y_at = |tick: u64| a1.iter().find(|(t, _)| *t == tick).map(|(_, y)| *y).unwrap();
    assert_eq!(y_at(drop_tick + 1), y_at(rejoin_tick - 1), "agent1 holds while it is out");
    assert!(y_at(rejoin_tick + 5) > y_at(rejoin_tick - 1), "agent1 moves again once re-admitted");
}
