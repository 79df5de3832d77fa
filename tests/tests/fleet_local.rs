//! `worldflow fleet` on one machine. `fleet local` runs graphs/fleet/two-machines.yml on a coordinator and two
//! daemons on loopback (child processes of the `worldflow` binary) and frames of both cars arrive, with no node
//! process left behind; graphs/fleet/laptop.yml runs on a one-daemon fleet started by hand (`fleet coordinator`,
//! `fleet daemon`, `fleet start`, `fleet list`). A machine no daemon serves and an unreachable coordinator are
//! errors naming the machine or the address, within a bounded time. The launch profiles: graphs/fleet/robots.yml
//! renders each car on its own robot (three daemons), graphs/fleet/server.yml both beside the world. Under
//! `fleet local`, an agent whose sensors process is stopped (SIGSTOP) is dropped by the Director on the other
//! machine while the other agent's frames keep coming, and SIGCONT re-admits it (tests/fixtures/fleet-dropout.yml).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use worldflow_tests::{out_dir, read_jsonl, run_processes, sensors_pid, signal, workspace_root, worldflow_binary};

/// What a finished command left: exit status, stdout, stderr, and how long it took.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `worldflow ARGS`, killing it (and failing the test) past `limit`.
fn worldflow(args: &[&str], limit: Duration) -> Finished {
    let started = Instant::now();
    let mut child = Command::new(worldflow_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |r: Box<dyn Read + Send>| {
        std::thread::Builder::new()
            .name("test-output".into())
            .spawn(move || {
                let mut s = String::new();
                let _ = BufReader::new(r).read_to_string(&mut s);
                s
            })
            .unwrap()
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`worldflow {}` still running after {limit:?}:\n{}", args.join(" "), err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Finished { status, stdout: out.join().unwrap(), stderr: err.join().unwrap(), took: started.elapsed() }
}

/// A background `worldflow` process (coordinator or daemon), interrupted and reaped when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        // SIGINT: dora's coordinator and daemon stop what they run and exit.
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `worldflow fleet coordinator` on a free loopback port; returns it and its address.
fn coordinator() -> (Background, String) {
    let mut child = Command::new(worldflow_binary())
        .args(["fleet", "coordinator", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let bg = Background(child);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("test-coordinator".into())
        .spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        })
        .unwrap();
    let line = rx.recv_timeout(Duration::from_secs(15)).expect("the coordinator reports its address");
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    (bg, addr)
}

fn daemon(coordinator: &str, machine: &str) -> Background {
    Background(
        Command::new(worldflow_binary())
            .args(["fleet", "daemon", "--coordinator", coordinator, "--machine-id", machine])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn graph(name: &str) -> String {
    workspace_root().join("graphs").join(name).display().to_string()
}

/// Processes still holding `out` as their output directory (orphaned nodes of a run that ended).
fn processes_writing_to(out: &Path) -> Vec<String> {
    run_processes(out).iter().map(|p| format!("{}: {}", p.pid, p.cmdline)).collect()
}

#[test]
fn fleet_local_runs_two_machines_on_loopback_and_both_cars_are_rendered() {
    let out = out_dir("fleet-two-machines");
    let g = graph("fleet/two-machines.yml");
    let args = ["fleet", "local", &g, "--out", out.to_str().unwrap(), "--stop-after", "12s"];
    let run = worldflow(&args, Duration::from_secs(120));
    assert!(run.status.success(), "fleet local failed:\n{}", run.stderr);
    for expected in ["fleet local: coordinator 127.0.0.1:", "running on 2 machine(s)", "  sim ", "  render "] {
        assert!(run.stderr.contains(expected), "`{expected}` not in:\n{}", run.stderr);
    }
    let frames = read_jsonl(&out.join("frames.jsonl"));
    for agent in [0, 1] {
        let n = frames.iter().filter(|f| f["agent_id"] == agent).count();
        assert!(n >= 3, "agent{agent}: {n} frames recorded on `render` (of {})\n{}", frames.len(), run.stderr);
    }
    assert!(out.join("frames/agent1_front").is_dir());
    assert!(run.stderr.contains("director"), "the span table names the director on `sim`:\n{}", run.stderr);
    let left = processes_writing_to(&out);
    assert!(left.is_empty(), "node processes outlived fleet local:\n{}", left.join("\n"));
}

/// The pid of the process whose parent is `parent` and whose command line contains `needle`.
fn child_with(parent: u32, needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
        let cmd = std::fs::read_to_string(e.path().join("cmdline")).ok()?.replace('\0', " ");
        (ppid == parent && cmd.contains(needle)).then_some(pid)
    })
}

#[test]
fn a_daemon_killed_mid_run_is_named_and_leaves_no_node_behind() {
    let out = out_dir("fleet-daemon-killed");
    let mut child = Command::new(worldflow_binary())
        .args(["fleet", "local", &graph("fleet/two-machines.yml"), "--out", out.to_str().unwrap()])
        .args(["--stop-after", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel::<String>(256);
    std::thread::Builder::new()
        .name("test-fleet-stderr".into())
        .spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|l: &String| l.contains("running on 2 machine(s)")) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the graph did not start:\n{}", seen.join("\n"));
            }
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let daemon =
        child_with(child.id(), "--machine-id render").expect("the daemon of `render` is a child of fleet local");
    assert!(Command::new("kill").args(["-KILL", &daemon.to_string()]).status().unwrap().success());
    let killed = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if killed.elapsed() > Duration::from_secs(40) {
            let _ = child.kill();
            panic!("fleet local still running 40 s after its daemon was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The rest of its output, until it closed (bounded).
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.push(line);
    }
    let text = seen.join("\n");
    assert!(!status.success(), "{text}");
    assert!(text.contains("error: the daemon of machine `render` exited"), "{text}");
    let left = processes_writing_to(&out);
    assert!(left.is_empty(), "node processes outlived the killed daemon:\n{}", left.join("\n"));
}

#[test]
fn a_hand_started_fleet_runs_a_graph_and_names_the_machines_it_lacks() {
    let (_coordinator, addr) = coordinator();
    let _laptop = daemon(&addr, "laptop");

    // two-machines.yml needs `sim` and `render`; only `laptop` is there.
    let out = out_dir("fleet-missing-machine");
    let g = graph("fleet/two-machines.yml");
    let args = ["fleet", "start", &g, "--coordinator", &addr, "--join-timeout", "3s", "--out", out.to_str().unwrap()];
    let run = worldflow(&args, Duration::from_secs(30));
    assert!(!run.status.success());
    assert!(run.stderr.contains("machines `sim`, `render` of the graph: no daemon serves them"), "{}", run.stderr);
    assert!(run.stderr.contains("(connected: laptop)"), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(15), "took {:?}", run.took);

    let list = worldflow(&["fleet", "list", "--coordinator", &addr], Duration::from_secs(15));
    assert!(list.status.success() && list.stdout.contains("machines: laptop"), "{}{}", list.stdout, list.stderr);

    // laptop.yml runs on it.
    let out = out_dir("fleet-laptop");
    let g = graph("fleet/laptop.yml");
    let args = ["fleet", "start", &g, "--coordinator", &addr, "--stop-after", "8s", "--out", out.to_str().unwrap()];
    let run = worldflow(&args, Duration::from_secs(90));
    assert!(run.status.success(), "fleet start failed:\n{}", run.stderr);
    let frames = read_jsonl(&out.join("frames.jsonl"));
    assert!(frames.len() >= 3, "{} frames\n{}", frames.len(), run.stderr);
    let left = processes_writing_to(&out);
    assert!(left.is_empty(), "node processes outlived the graph:\n{}", left.join("\n"));
}

#[test]
fn an_unreachable_coordinator_is_named_within_seconds() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let g = graph("fleet/laptop.yml");
    let out = out_dir("fleet-unreachable");
    let run = worldflow(
        &["fleet", "start", &g, "--coordinator", &addr, "--out", out.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert!(!run.status.success());
    assert!(run.stderr.contains(&format!("cannot reach the coordinator at {addr}")), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(15), "took {:?}", run.took);

    let args = ["fleet", "daemon", "--coordinator", &addr, "--machine-id", "ghost", "--join-timeout", "2s"];
    let run = worldflow(&args, Duration::from_secs(30));
    assert!(!run.status.success());
    assert!(run.stderr.contains(&format!("machine `ghost`: no coordinator answered at {addr}")), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
}

#[test]
fn fleet_graphs_validate_and_unknown_machines_are_named() {
    use worldflow::validate::{validate_file, validate_file_with, ValidateOptions};
    for name in ["fleet/two-machines.yml", "fleet/laptop.yml", "fleet/server.yml", "fleet/robots.yml"] {
        let g = validate_file(Path::new(&graph(name))).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert!(g.nodes.iter().all(|n| n.machine.is_some()), "{name}: every node is placed");
    }
    let only_sim = ValidateOptions { machines: Some(vec!["sim".into()]) };
    let e = validate_file_with(Path::new(&graph("fleet/two-machines.yml")), &only_sim).unwrap_err().to_string();
    assert!(e.contains("unknown machine `render` (expected one of --machines: sim)"), "{e}");
}

/// Frames recorded per agent in `frames_jsonl` (agent id → count).
fn frames_per_agent(frames_jsonl: &Path) -> std::collections::BTreeMap<u64, usize> {
    let mut n = std::collections::BTreeMap::new();
    for f in read_jsonl(frames_jsonl) {
        *n.entry(f["agent_id"].as_u64().unwrap()).or_default() += 1;
    }
    n
}

#[test]
fn the_robots_profile_renders_each_car_on_its_own_robot() {
    let out = out_dir("fleet-robots");
    let g = graph("fleet/robots.yml");
    let args = ["fleet", "local", &g, "--out", out.to_str().unwrap(), "--stop-after", "30s"];
    let run = worldflow(&args, Duration::from_secs(120));
    assert!(run.status.success(), "fleet local failed:\n{}", run.stderr);
    for expected in
        ["running on 3 machine(s)", "  server  director\n", "  robot0  sensors0, encoder0, actor0, renderer0"]
    {
        assert!(run.stderr.contains(expected), "`{expected}` not in:\n{}", run.stderr);
    }
    // Each robot's recorder holds only its own car's frames, from the renderer beside it.
    for robot in [0u64, 1] {
        let dir = out.join(format!("robot{robot}"));
        let n = frames_per_agent(&dir.join("frames.jsonl"));
        assert_eq!(n.keys().copied().collect::<Vec<_>>(), [robot], "robot{robot}: frames per agent {n:?}");
        assert!(n[&robot] >= 10, "robot{robot}: {n:?}\n{}", run.stderr);
        assert!(dir.join(format!("frames/agent{robot}_front")).is_dir());
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["frames"].as_u64(), Some(n[&robot] as u64), "robot{robot}'s own report");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["director"]["drops"], 0, "the server's section: {report}");
    let left = processes_writing_to(&out);
    assert!(left.is_empty(), "node processes outlived fleet local:\n{}", left.join("\n"));
}

#[test]
fn the_server_profile_renders_both_cars_beside_the_world() {
    let out = out_dir("fleet-server");
    let g = graph("fleet/server.yml");
    let args = ["fleet", "local", &g, "--out", out.to_str().unwrap(), "--stop-after", "30s"];
    let run = worldflow(&args, Duration::from_secs(120));
    assert!(run.status.success(), "fleet local failed:\n{}", run.stderr);
    assert!(run.stderr.contains("  server  director, actor, renderer0, renderer1, recorder\n"), "{}", run.stderr);
    let n = frames_per_agent(&out.join("frames.jsonl"));
    assert!(n.len() == 2 && n.values().all(|c| *c >= 10), "frames per agent {n:?}\n{}", run.stderr);
    let left = processes_writing_to(&out);
    assert!(left.is_empty(), "node processes outlived fleet local:\n{}", left.join("\n"));
}

/// Lines in a JSON Lines file so far (0 before it exists).
fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[test]
fn an_agent_stopped_on_one_machine_is_dropped_by_the_director_on_the_other_and_rejoins() {
    let out = out_dir("fleet-dropout");
    let g = workspace_root().join("tests/fixtures/fleet-dropout.yml");
    let mut child = Command::new(worldflow_binary())
        .args(["fleet", "local"])
        .arg(&g)
        .args(["--out", out.to_str().unwrap(), "--stop-after", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::Builder::new()
        .name("test-fleet-stderr".into())
        .spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s);
            s
        })
        .unwrap();
    let (frames0, frames1) = (out.join("agent0/frames.jsonl"), out.join("agent1/frames.jsonl"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(&frames0) < 10 || lines(&frames1) < 10 {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no frames of both agents within 60 s:\n{}", log.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = sensors_pid(&out, 1).expect("agent1's sensors process");
    signal(pid, "-STOP");
    // Past the Director's 0.5 s timeout agent1 is out; agent0's frames keep coming while it is.
    std::thread::sleep(Duration::from_millis(800));
    let during_from = lines(&frames0);
    std::thread::sleep(Duration::from_millis(1200));
    let during = lines(&frames0) - during_from;
    signal(pid, "-CONT");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fleet local did not end within 60 s of SIGCONT:\n{}", log.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = log.join().unwrap();
    assert!(status.success(), "fleet local failed:\n{log}");
    assert!(during >= 5, "agent0: {during} frames in the 1.2 s agent1 was out (20 ticks/s)\n{log}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let director = &report["director"];
    let membership = director["membership"].as_array().unwrap();
    let drop = membership.iter().find(|m| m["event"] == "dropped" && m["agent"] == 1).expect("agent1 dropped");
    let rejoin = membership.iter().find(|m| m["event"] == "rejoined" && m["agent"] == 1).expect("agent1 rejoined");
    let (drop_tick, rejoin_tick) = (drop["tick"].as_u64().unwrap(), rejoin["tick"].as_u64().unwrap());
    assert!(rejoin_tick > drop_tick + 10, "2 s stopped at 20 ticks/s: dropped at {drop_tick}, back at {rejoin_tick}");
    assert!(membership.iter().all(|m| m["agent"] == 1), "agent0 was never dropped: {director}");

    // Each recorder holds its own agent's frames only: agent0's went on through the gap, agent1's came back.
    let ticks = |path: &Path, agent: u64| -> Vec<u64> {
        let frames = read_jsonl(path);
        assert!(frames.iter().all(|f| f["agent_id"] == agent), "{}: only agent{agent}", path.display());
        frames.iter().map(|f| f["tick"].as_u64().unwrap()).collect()
    };
    let (t0, t1) = (ticks(&frames0, 0), ticks(&frames1, 1));
    let gap = drop_tick + 1..rejoin_tick;
    assert!(t0.iter().filter(|t| gap.contains(t)).count() >= 5, "agent0's ticks {gap:?}: {t0:?}");
    assert!(t1.iter().any(|t| *t > rejoin_tick), "agent1 rendered again after tick {rejoin_tick}: {t1:?}");
    let left = processes_writing_to(&out);
    assert!(left.is_empty(), "node processes outlived fleet local:\n{}", left.join("\n"));
}
