//! What a local run exposes: every socket that the launcher and its nodes listen on (TCP) or bind (UDP) while the
//! main job runs is on the loopback interface. Read from /proc (the sockets of this run's processes only).

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use worldflow_tests::{out_dir, run_processes, workspace_root, worldflow_binary};

/// The socket inodes held open by `pid` (its `/proc/<pid>/fd/*` links `socket:[INODE]`).
fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return BTreeSet::new() };
    fds.flatten()
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            let text = target.to_str()?;
            text.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// `(protocol, local address, inode)` of the listening TCP and bound UDP sockets in `/proc/net/{tcp,udp}{,6}`.
fn bound_sockets() -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for proto in ["tcp", "tcp6", "udp", "udp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/net/{proto}")) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            // TCP: only listeners (state 0A); UDP: every bound socket.
            if proto.starts_with("tcp") && f[3] != "0A" {
                continue;
            }
            out.push((proto.to_owned(), f[1].to_owned(), f[9].parse().unwrap_or(0)));
        }
    }
    out
}

/// Whether a `/proc/net` local address (`HEXIP:HEXPORT`, IPv4 little-endian words) is on loopback.
fn is_loopback(proto: &str, address: &str) -> bool {
    let ip = address.split(':').next().unwrap_or("");
    if proto.ends_with('6') {
        // ::1, or ::ffff:127.x.x.x (IPv4-mapped).
        ip == "00000000000000000000000001000000" || (ip.starts_with("0000000000000000FFFF0000") && ip.ends_with("7F"))
    } else {
        ip.ends_with("7F")
    }
}

#[test]
fn a_local_run_listens_on_loopback_only() {
    let out = out_dir("exposure");
    let mut run = Command::new(worldflow_binary())
        .args(["run", "--stop-after", "60s", "--set", "sensors.LOOP=true", "--set", "renderer.RIG=front", "--out"])
        .arg(&out)
        .arg(workspace_root().join("graphs/drive.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting worldflow run");
    // Let every node come up and frames flow before looking.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(out.join("frames.jsonl")).map(|t| t.lines().count()).unwrap_or(0) < 10 {
        assert!(Instant::now() < deadline, "no frames within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pids: Vec<u32> = std::iter::once(run.id()).chain(run_processes(&out).iter().map(|p| p.pid)).collect();
    let inodes: BTreeSet<u64> = pids.iter().flat_map(|&p| socket_inodes(p)).collect();
    let ours: Vec<_> = bound_sockets().into_iter().filter(|(_, _, inode)| inodes.contains(inode)).collect();
    let _ = Command::new("kill").args(["-INT", &run.id().to_string()]).status();
    let _ = run.wait();
    assert!(pids.len() >= 6, "the launcher and its nodes: {pids:?}");
    assert!(!ours.is_empty(), "the run holds no socket at all: the check would be vacuous ({pids:?})");
    eprintln!("sockets of the run: {ours:?}");
    let exposed: Vec<_> = ours.iter().filter(|(proto, addr, _)| !is_loopback(proto, addr)).collect();
    assert!(exposed.is_empty(), "sockets off loopback: {exposed:?} (all: {ours:?})");
}

#[test]
fn loopback_addresses_are_recognised() {
    assert!(is_loopback("tcp", "0100007F:1F90"));
    assert!(!is_loopback("tcp", "00000000:1F90"));
    assert!(is_loopback("tcp6", "00000000000000000000000001000000:1F90"));
    assert!(!is_loopback("tcp6", "00000000000000000000000000000000:1F90"));
    assert!(is_loopback("udp6", "0000000000000000FFFF00000100007F:0035"));
}
