//! A fleet on two real network stacks (root): two network namespaces joined by a veth pair
//! (`worldflow_testkit::netns`), each process with its own `/dev/shm` and IPC namespace, addresses only on the
//! veth (10.213.0.1/30 and .2/30, no default route: nothing can reach any other address). The coordinator and the
//! daemon `sim` run in namespace A, the daemon `robot` in B; Zenoh listens and dials on the veth addresses only;
//! `fleet start` runs in A. tests/fixtures/fleet-netns.yml puts agent1's keys and encoder on `robot`, agent0, the
//! director and a recorder of every pose on `sim`. Taking the link down for 2 s makes the director drop agent1 while
//! agent0 keeps ticking; bringing it back re-admits agent1 (both listed in report.json's `director` section). The
//! graph ends by itself and every namespace is gone afterwards. Without root this test is a skip (a failure under
//! `CI`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use worldflow_testkit::netns::{namespaces_of, Lab, Process};
use worldflow_tests::{out_dir, read_jsonl, workspace_root, worldflow_binary};

/// Poses recorded so far, per agent (lines of poses.jsonl; a partial last line is not counted).
fn poses_of(out: &Path) -> [usize; 2] {
    let text = std::fs::read_to_string(out.join("poses.jsonl")).unwrap_or_default();
    let mut n = [0, 0];
    for line in text.lines().filter(|l| l.ends_with('}')) {
        for (agent, count) in n.iter_mut().enumerate() {
            if line.contains(&format!("\"agent_id\":{agent},")) {
                *count += 1;
            }
        }
    }
    n
}

#[test]
fn a_link_down_drops_the_remote_agent_the_other_goes_on_and_the_link_back_readmits_it() {
    if Lab::available("fleet_netns").is_err() {
        return;
    }
    let began = Instant::now();
    let lab = Lab::pair().expect("creating two network namespaces joined by a veth pair");
    lab.check_private_shm().expect("each namespace has its own /dev/shm");
    let namespaces = lab.namespaces().to_vec();
    let (a, b) = (lab.machine(0).clone(), lab.machine(1).clone());
    let out = out_dir("fleet-netns");
    let fleet = lab
        .fleet(&worldflow_binary(), &[(0, "sim"), (1, "robot")], &out.join("logs"))
        .expect("starting the coordinator and the daemons in the namespaces");
    assert_eq!(fleet.coordinator.ip(), std::net::IpAddr::V4(a.addr), "the coordinator listens on A's veth address");

    let graph = workspace_root().join("tests/fixtures/fleet-netns.yml");
    let mut cmd = lab.command(0, worldflow_binary());
    cmd.args(["fleet", "start"])
        .arg(&graph)
        .args(["--coordinator", &fleet.coordinator.to_string(), "--join-timeout", "20s", "--stop-after", "40s"])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut start = Process::spawn(&format!("fleet start (namespace {})", a.ns), cmd).unwrap();
    let stderr = start.child().stderr.take().unwrap();
    let log = std::thread::Builder::new()
        .name("fleet-start-stderr".into())
        .spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n"))
        .unwrap();

    // Both agents tick (agent1's actions cross the veth).
    let deadline = Instant::now() + Duration::from_secs(30);
    while poses_of(&out).iter().any(|n| *n < 10) {
        if Instant::now() > deadline || start.try_wait().is_some() {
            start.stop(Duration::from_secs(5));
            panic!(
                "both agents did not tick within 30 s over {} ↔ {} (poses {:?}):\n{}",
                a.ns,
                b.ns,
                poses_of(&out),
                log.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let link_bytes = lab.link_bytes(0).unwrap();
    assert!(link_bytes.tx > 0 && link_bytes.rx > 0, "traffic crossed the veth of {}: {link_bytes:?}", a.ns);

    lab.set_link(1, false).unwrap_or_else(|e| panic!("taking the veth of {} down: {e}", b.ns));
    let down_at = poses_of(&out);
    std::thread::sleep(Duration::from_secs(2));
    let before_up = poses_of(&out);
    lab.set_link(1, true).unwrap_or_else(|e| panic!("bringing the veth of {} up: {e}", b.ns));
    let up = Instant::now();

    // The graph ends by itself (200 actions per agent at 20 Hz), well before --stop-after.
    let status = start.wait_for(Duration::from_secs(40));
    let log = log.join().unwrap();
    let status = status.unwrap_or_else(|| panic!("fleet start still running 40 s after the link came back:\n{log}"));
    assert!(status.success(), "fleet start failed ({status}):\n{log}");
    let ended_after = up.elapsed();
    drop(fleet);

    // agent0 went on while the link was down: 2 s at 20 Hz, less the 0.5 s the director waited for agent1.
    let agent0_while_down = before_up[0] - down_at[0];
    assert!(agent0_while_down >= 15, "agent0 ticked {agent0_while_down} times in the 2 s the link was down\n{log}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let director = &report["director"];
    let membership = director["membership"].as_array().unwrap_or_else(|| panic!("no membership: {report}"));
    let dropped = membership.iter().find(|m| m["event"] == "dropped" && m["agent"] == 1);
    let dropped = dropped.unwrap_or_else(|| panic!("agent1 dropped while the link was down: {director}\n{log}"));
    let rejoin = membership.iter().find(|m| m["event"] == "rejoined" && m["agent"] == 1);
    let rejoin = rejoin.unwrap_or_else(|| panic!("agent1 re-admitted once the link was back: {director}\n{log}"));
    let (drop_tick, rejoin_tick) = (dropped["tick"].as_u64().unwrap(), rejoin["tick"].as_u64().unwrap());
    assert!(rejoin_tick > drop_tick + 10, "2 s down at 20 ticks/s: dropped at {drop_tick}, back at {rejoin_tick}");
    assert!(membership.iter().all(|m| m["agent"] == 1), "agent0 was never dropped: {director}");

    // One world tick after another for agent0; agent1 moves again after its rejoin.
    let poses = read_jsonl(&out.join("poses.jsonl"));
    let ticks = |agent: u64| -> Vec<u64> {
        poses.iter().filter(|p| p["meta"]["agent_id"] == agent).map(|p| p["meta"]["tick"].as_u64().unwrap()).collect()
    };
    let t0 = ticks(0);
    assert_eq!(t0, (0..t0.len() as u64).collect::<Vec<_>>(), "agent0: one tick after another");
    assert!(ticks(1).iter().any(|t| *t > rejoin_tick + 5), "agent1 ticks after its rejoin at {rejoin_tick}");

    drop(lab);
    let left: Vec<String> = namespaces_of(std::process::id()).into_iter().filter(|n| namespaces.contains(n)).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    eprintln!(
        "fleet_netns: agent1 dropped at tick {drop_tick}, re-admitted at {rejoin_tick} (the link came back at about \
         tick {}); the graph ended {:.1} s after the link came back; {:.1} s in all",
        before_up[0],
        ended_after.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
}
