//! The driver of `scripts/bench_fleet.sh` (docs/BENCHMARKS.md, "Fleet"): fleets of fake machines on one host
//! (`worldflow_testkit::netns`: network namespaces joined by veth links, each process with its own /dev/shm), root
//! only. Modes (each prints JSON lines to stdout, one per measurement):
//!
//! * `latency --rounds R --secs S --out DIR`: one car, Director + Actor + a 640×360 front-camera renderer on
//!   machine `sim` (namespace A); three `fleet_probe` nodes subscribe to `director/world` (the world delta) and
//!   `renderer/frame`: one on `sim` itself (same daemon: shared memory for the frame), one on `near` (a second
//!   daemon in namespace A: the daemon-to-daemon path over the namespace's loopback) and one on `robot`
//!   (namespace B, across the veth). One-way latency from the sender's dora timestamp to the probe's arrival, per
//!   round after a warm-up; all three probes see the same messages in the same run.
//! * `agents --rounds R --counts 1,2,4,8,16 --secs S --out DIR`: N agents whose keys and encoders run on
//!   `robots` (namespace B); `server` (namespace A) runs the Director (N agents), the Actor and one renderer drawing
//!   every agent's 160×90 front camera, sent to a probe on `robots`. Per case: server CPU (the server daemon and
//!   its nodes, utime + stime from /proc) per world tick, ticks/s, frames/s arriving on `robots`, veth bytes per
//!   tick. Cases interleaved round by round on one fleet.
//! * `bytes --graph G --machines m0,m1[,m2] --rounds R --secs S --out DIR`: runs a fleet graph with machine mi in
//!   namespace i (two machines: a veth pair; three: a star, each machine's veth into a bridge), and reads each
//!   machine's veth counters (tx + rx) against the world ticks in `poses.jsonl` (lines ÷ agents), after the
//!   control plane's idle rate is read with no graph running.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use worldflow_testkit::netns::{Fleet, Lab, LinkBytes, Process};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    mode: String,
    rounds: usize,
    secs: f64,
    counts: Vec<usize>,
    graph: Option<PathBuf>,
    machines: Vec<String>,
    out: PathBuf,
}

fn parse_args() -> Res<Args> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("usage: fleet_bench latency|agents|bytes [--rounds R] [--secs S] …")?;
    let mut a = Args {
        mode,
        rounds: 3,
        secs: 20.0,
        counts: vec![1, 2, 4, 8, 16],
        graph: None,
        machines: Vec::new(),
        out: PathBuf::from("out/bench_fleet"),
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag}: a value is missing"))?;
        match flag.as_str() {
            "--rounds" => a.rounds = value.parse()?,
            "--secs" => a.secs = value.parse()?,
            "--counts" => a.counts = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--graph" => a.graph = Some(PathBuf::from(value)),
            "--machines" => a.machines = value.split(',').map(str::to_owned).collect(),
            "--out" => a.out = PathBuf::from(value),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(a)
}

fn bin_dir() -> PathBuf {
    // target/release/examples/fleet_bench → target/release
    std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf()
}

fn worldflow() -> PathBuf {
    bin_dir().join("worldflow")
}

fn probe() -> PathBuf {
    bin_dir().join("examples/fleet_probe")
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// Starts `worldflow fleet start GRAPH` inside machine `machine` of `lab`, stderr to `log`.
fn start_graph(lab: &Lab, machine: usize, fleet: &Fleet, graph: &Path, out: &Path, log: &Path) -> Res<Process> {
    let mut cmd = lab.command(machine, worldflow());
    cmd.args(["fleet", "start"])
        .arg(graph)
        .args(["--coordinator", &fleet.coordinator.to_string(), "--join-timeout", "30s", "--stop-after", "300s"])
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?);
    Ok(Process::spawn("fleet start", cmd)?)
}

/// Waits (bounded) until `cond` holds; an error naming `what` otherwise, or when `start` ended first.
fn wait_until(what: &str, limit: Duration, start: &mut Process, mut cond: impl FnMut() -> bool) -> Res<()> {
    let deadline = Instant::now() + limit;
    while !cond() {
        if let Some(s) = start.try_wait() {
            return Err(format!("{what}: fleet start ended first ({s})").into());
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {limit:?}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// One probe line.
struct Sample {
    input: String,
    recv_ns: u128,
    lat_us: f64,
}

fn read_probe(path: &Path) -> Vec<Sample> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| l.ends_with('}'))
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some(Sample {
                input: v["input"].as_str()?.to_owned(),
                recv_ns: v["recv_ns"].as_u64()? as u128,
                lat_us: v["lat_us"].as_f64()?,
            })
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// CPU seconds (utime + stime) of `root` and every descendant, per pid.
fn tree_cpu(root: u32) -> HashMap<u32, f64> {
    let tck = 100.0; // USER_HZ on Linux
    let mut parent = HashMap::new();
    let mut cpu = HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (Some(ppid), Some(ut), Some(st)) = (f.get(1), f.get(11), f.get(12)) else { continue };
        parent.insert(pid, ppid.parse::<u32>().unwrap_or(0));
        cpu.insert(pid, (ut.parse::<f64>().unwrap_or(0.0) + st.parse::<f64>().unwrap_or(0.0)) / tck);
    }
    let in_tree = |mut p: u32| {
        for _ in 0..64 {
            if p == root {
                return true;
            }
            match parent.get(&p) {
                Some(&q) if q != 0 => p = q,
                _ => return false,
            }
        }
        false
    };
    cpu.into_iter().filter(|(p, _)| in_tree(*p)).collect()
}

/// CPU seconds spent between two [`tree_cpu`] readings by the processes present in both.
fn cpu_between(a: &HashMap<u32, f64>, b: &HashMap<u32, f64>) -> f64 {
    b.iter().filter_map(|(p, t)| a.get(p).map(|t0| t - t0)).sum()
}

fn emit(v: serde_json::Value) {
    println!("{v}");
}

fn write(path: &Path, text: &str) -> Res<()> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

fn scenario(n: usize, kind: &str) -> String {
    let mut s = String::from("seed: 7\negos:\n");
    for i in 0..n {
        // Free cameras 3 m apart along the first north–south road; cars in its northbound lane.
        s += &format!("  - {{name: e{i}, kind: {kind}, x_m: 5.25, y_m: {}, yaw_deg: 90.0}}\n", 20.0 + 3.0 * i as f64);
    }
    s
}

fn latency_graph(dir: &Path, probe_out: &Path) -> String {
    let probe_node = |id: &str, machine: &str| {
        format!(
            "  - id: {id}\n    path: {}\n    deploy: {{machine: {machine}}}\n    inputs:\n      world: {{source: director/world, queue_size: 64}}\n      frame: {{source: renderer/frame, queue_size: 8}}\n    env: {{PROBE_OUT: {}}}\n",
            probe().display(),
            probe_out.join(format!("{id}.jsonl")).display()
        )
    };
    let sc = dir.join("one-car.scenario.yaml");
    format!(
        "nodes:
  - id: sensors
    path: worldflow-sensors
    deploy: {{machine: sim}}
    inputs: {{tick: dora/timer/millis/100}}
    outputs: [action]
    env: {{SOURCE: drive, SCRIPT: \"throttle=0.3 x20; throttle=0.1 x3000\", DT_SECS: 0.1, AGENT_ID: 0}}
  - id: encoder
    path: worldflow-action-encoder
    deploy: {{machine: sim}}
    inputs: {{action: sensors/action}}
    outputs: [action]
  - id: director
    path: worldflow-director
    deploy: {{machine: sim}}
    inputs: {{agent0: encoder/action}}
    outputs: [world, ego_pose]
    env: {{SCENARIO: {sc}, DT_SECS: 0.1}}
  - id: actor
    path: worldflow-actor
    deploy: {{machine: sim}}
    inputs: {{world: {{source: director/world, queue_size: 64}}}}
    outputs: [gaussians]
    env: {{SCENARIO: {sc}}}
  - id: renderer
    path: worldflow-splat-renderer
    deploy: {{machine: sim}}
    inputs:
      pose: {{source: director/ego_pose, queue_size: 8, queue_policy: drop_oldest}}
      gaussians: {{source: actor/gaussians, queue_size: 8, queue_policy: drop_oldest}}
    outputs: [frame]
    env: {{SCENE: stream, CATCHUP: newest, RIG: front, WIDTH: 640, HEIGHT: 360}}
{}{}{}",
        probe_node("probe_same", "sim"),
        probe_node("probe_near", "near"),
        probe_node("probe_veth", "robot"),
        sc = sc.display(),
    )
}

fn latency(a: &Args) -> Res<()> {
    let lab = Lab::pair()?;
    lab.check_private_shm()?;
    let mut fleet = lab.fleet(&worldflow(), &[(0, "sim"), (0, "near"), (1, "robot")], &a.out.join("logs"))?;
    for round in 1..=a.rounds {
        let dir = a.out.join(format!("latency-r{round}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        write(&dir.join("one-car.scenario.yaml"), &scenario(1, "car"))?;
        let graph = dir.join("latency.yml");
        write(&graph, &latency_graph(&dir, &dir))?;
        let mut start = start_graph(&lab, 0, &fleet, &graph, &dir, &dir.join("start.log"))?;
        let frames =
            |p: &str| read_probe(&dir.join(format!("{p}.jsonl"))).iter().filter(|s| s.input == "frame").count();
        wait_until("the first frame across the veth", Duration::from_secs(60), &mut start, || {
            frames("probe_veth") > 0
        })?;
        let warm = Duration::from_secs(3);
        std::thread::sleep(warm + Duration::from_secs_f64(a.secs));
        start.stop(Duration::from_secs(30));
        if let Some(m) = fleet.ended() {
            return Err(m.into());
        }
        for p in ["probe_same", "probe_near", "probe_veth"] {
            let samples = read_probe(&dir.join(format!("{p}.jsonl")));
            let Some(first) = samples.iter().map(|s| s.recv_ns).min() else { continue };
            for input in ["world", "frame"] {
                let mut lat: Vec<f64> = samples
                    .iter()
                    .filter(|s| s.input == input && s.recv_ns > first + warm.as_nanos())
                    .map(|s| s.lat_us / 1e3)
                    .collect();
                lat.sort_by(|x, y| x.total_cmp(y));
                emit(serde_json::json!({"mode": "latency", "round": round, "probe": p, "input": input,
                    "n": lat.len(), "p50_ms": percentile(&lat, 50.0), "p99_ms": percentile(&lat, 99.0),
                    "max_ms": lat.last()}));
            }
        }
    }
    fleet.stop(Duration::from_secs(10));
    Ok(())
}

fn agents_graph(n: usize, dir: &Path) -> String {
    let sc = dir.join(format!("agents{n}.scenario.yaml"));
    let mut g = String::from("nodes:\n");
    let mut director_inputs = String::new();
    for i in 0..n {
        g += &format!(
            "  - id: keys{i}\n    path: worldflow-sensors\n    deploy: {{machine: robots}}\n    inputs: {{tick: dora/timer/millis/100}}\n    outputs: [action]\n    env: {{SOURCE: script, SCRIPT: \"w-3000\", AGENT_ID: {i}, DT_SECS: 0.1}}\n  - id: enc{i}\n    path: worldflow-action-encoder\n    deploy: {{machine: robots}}\n    inputs: {{action: keys{i}/action}}\n    outputs: [action]\n"
        );
        director_inputs += &format!("      agent{i}: enc{i}/action\n");
    }
    g += &format!(
        "  - id: director
    path: worldflow-director
    deploy: {{machine: server}}
    inputs:
{director_inputs}    outputs: [world, ego_pose]
    env: {{SCENARIO: {sc}, DT_SECS: 0.1, STEP_M: 0.1}}
  - id: actor
    path: worldflow-actor
    deploy: {{machine: server}}
    inputs: {{world: {{source: director/world, queue_size: 64}}}}
    outputs: [gaussians]
    env: {{SCENARIO: {sc}}}
  - id: renderer
    path: worldflow-splat-renderer
    deploy: {{machine: server}}
    inputs:
      pose: {{source: director/ego_pose, queue_size: 64, queue_policy: drop_oldest}}
      gaussians: {{source: actor/gaussians, queue_size: 8, queue_policy: drop_oldest}}
    outputs: [frame]
    env: {{SCENE: stream, CATCHUP: newest, RIG: front, WIDTH: 160, HEIGHT: 90}}
  - id: probe_server
    path: {probe}
    deploy: {{machine: server}}
    inputs: {{world: {{source: director/world, queue_size: 64}}}}
    env: {{PROBE_OUT: {ps}}}
  - id: probe_robots
    path: {probe}
    deploy: {{machine: robots}}
    inputs: {{frame: {{source: renderer/frame, queue_size: 256}}}}
    env: {{PROBE_OUT: {pr}}}
",
        sc = sc.display(),
        probe = probe().display(),
        ps = dir.join("probe_server.jsonl").display(),
        pr = dir.join("probe_robots.jsonl").display(),
    );
    g
}

fn agents(a: &Args) -> Res<()> {
    let lab = Lab::pair()?;
    lab.check_private_shm()?;
    let mut fleet = lab.fleet(&worldflow(), &[(0, "server"), (1, "robots")], &a.out.join("logs"))?;
    let server = fleet.daemon_pid("server").unwrap();
    let robots = fleet.daemon_pid("robots").unwrap();
    for round in 1..=a.rounds {
        for &n in &a.counts {
            let dir = a.out.join(format!("agents{n}-r{round}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            let dir = dir.canonicalize()?;
            write(&dir.join(format!("agents{n}.scenario.yaml")), &scenario(n, "free_camera"))?;
            let graph = dir.join(format!("agents{n}.yml"));
            write(&graph, &agents_graph(n, &dir))?;
            let load = std::fs::read_to_string("/proc/loadavg")?.split(' ').next().unwrap_or("?").to_owned();
            let mut start = start_graph(&lab, 0, &fleet, &graph, &dir, &dir.join("start.log"))?;
            let ps = dir.join("probe_server.jsonl");
            wait_until("the first world tick", Duration::from_secs(60), &mut start, || !read_probe(&ps).is_empty())?;
            std::thread::sleep(Duration::from_secs(4));
            let (c0, r0, l0, t0) = (tree_cpu(server), tree_cpu(robots), lab.link_bytes(0)?, now_ns());
            std::thread::sleep(Duration::from_secs_f64(a.secs));
            let (c1, r1, l1, t1) = (tree_cpu(server), tree_cpu(robots), lab.link_bytes(0)?, now_ns());
            start.stop(Duration::from_secs(30));
            if let Some(m) = fleet.ended() {
                return Err(m.into());
            }
            let within = |s: &Sample| s.recv_ns >= t0 && s.recv_ns <= t1;
            let ticks = read_probe(&ps).iter().filter(|s| within(s)).count();
            let frames = read_probe(&dir.join("probe_robots.jsonl")).iter().filter(|s| within(s)).count();
            let secs = (t1 - t0) as f64 / 1e9;
            let cpu = cpu_between(&c0, &c1);
            emit(serde_json::json!({"mode": "agents", "round": round, "agents": n, "secs": secs,
                "ticks": ticks, "ticks_per_s": ticks as f64 / secs, "frames_per_s": frames as f64 / secs,
                "server_cpu_s": cpu, "server_cpu_ms_per_tick": cpu * 1e3 / ticks.max(1) as f64,
                "server_cpu_share": cpu / secs, "robots_cpu_share": cpu_between(&r0, &r1) / secs,
                "link_bytes_per_tick": l1.since(&l0) as f64 / ticks.max(1) as f64, "load_before": load}));
        }
    }
    fleet.stop(Duration::from_secs(10));
    Ok(())
}

/// The run's poses.jsonl: `OUT/poses.jsonl`, else the first `OUT/<dir>/poses.jsonl` (a profile whose recorders
/// write per machine, e.g. robots.yml's `robot0/`).
fn poses_file(out: &Path) -> PathBuf {
    let top = out.join("poses.jsonl");
    if top.is_file() {
        return top;
    }
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(out).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    dirs.sort();
    dirs.into_iter().map(|d| d.join("poses.jsonl")).find(|p| p.is_file()).unwrap_or(top)
}

/// Lines and distinct agents of the run's poses.jsonl.
fn poses(out: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(poses_file(out)).unwrap_or_default();
    let mut agents = std::collections::BTreeSet::new();
    let mut lines = 0;
    for l in text.lines().filter(|l| l.ends_with('}')) {
        lines += 1;
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
            agents.insert(v["meta"]["agent_id"].as_u64().unwrap_or(0));
        }
    }
    (lines, agents.len().max(1))
}

fn bytes(a: &Args) -> Res<()> {
    let graph = a.graph.as_ref().ok_or("bytes: --graph is missing")?.canonicalize()?;
    let m = &a.machines;
    let lab = match m.len() {
        2 => Lab::pair()?,
        3..=8 => Lab::star(m.len())?,
        _ => return Err("bytes: --machines names 2 to 8 machines".into()),
    };
    lab.check_private_shm()?;
    let daemons: Vec<(usize, &str)> = m.iter().enumerate().map(|(i, id)| (i, id.as_str())).collect();
    let mut fleet = lab.fleet(&worldflow(), &daemons, &a.out.join("logs"))?;
    let read_links =
        || -> Res<Vec<LinkBytes>> { Ok((0..m.len()).map(|i| lab.link_bytes(i)).collect::<Result<_, _>>()?) };
    let name = graph.file_stem().unwrap().to_string_lossy().to_string();
    for round in 1..=a.rounds {
        // The control plane alone (coordinator ↔ daemons, Zenoh keep-alives), no graph running.
        std::thread::sleep(Duration::from_secs(2));
        let (i0, it0) = (read_links()?, Instant::now());
        std::thread::sleep(Duration::from_secs(4));
        let (i1, idle_secs) = (read_links()?, it0.elapsed().as_secs_f64());
        let dir = a.out.join(format!("bytes-{name}-r{round}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        let mut start = start_graph(&lab, 0, &fleet, &graph, &dir, &dir.join("start.log"))?;
        // Samples every 250 ms until the graph ends (or --secs of poses).
        let mut samples: Vec<(Instant, usize, Vec<LinkBytes>)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs_f64(a.secs + 60.0);
        let mut first_pose: Option<Instant> = None;
        loop {
            let (lines, _) = poses(&dir);
            samples.push((Instant::now(), lines, read_links()?));
            if lines > 0 && first_pose.is_none() {
                first_pose = Some(Instant::now());
            }
            let ran = first_pose.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
            if start.try_wait().is_some() || ran > a.secs || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        start.stop(Duration::from_secs(30));
        if let Some(msg) = fleet.ended() {
            return Err(msg.into());
        }
        let (_, agents) = poses(&dir);
        let Some(t_first) = first_pose else { return Err(format!("{name}: no pose was recorded").into()) };
        // From 1 s after the first pose to the last sample whose pose count grew.
        let begin = samples.iter().position(|s| s.0 >= t_first + Duration::from_secs(1)).ok_or("too short a run")?;
        let end = (begin..samples.len()).rev().find(|&k| k > 0 && samples[k].1 > samples[k - 1].1).unwrap_or(begin);
        if end <= begin {
            return Err(format!("{name}: fewer than 2 samples in the measurement window").into());
        }
        let ticks = (samples[end].1 - samples[begin].1) as f64 / agents as f64;
        let secs = (samples[end].0 - samples[begin].0).as_secs_f64();
        let mut links = BTreeMap::new();
        for (i, id) in m.iter().enumerate() {
            let run = samples[end].2[i].since(&samples[begin].2[i]) as f64;
            let idle = i1[i].since(&i0[i]) as f64 / idle_secs;
            links.insert(id.clone(), serde_json::json!({"bytes_per_tick": run / ticks,
                "bytes_per_tick_less_idle": (run - idle * secs) / ticks, "bytes_per_s": run / secs, "idle_bytes_per_s": idle}));
        }
        emit(serde_json::json!({"mode": "bytes", "graph": name, "round": round, "agents": agents, "ticks": ticks,
            "secs": secs, "ticks_per_s": ticks / secs, "links": links}));
    }
    fleet.stop(Duration::from_secs(10));
    Ok(())
}

fn main() {
    let result = parse_args().and_then(|a| {
        std::fs::create_dir_all(&a.out)?;
        match a.mode.as_str() {
            "latency" => latency(&a),
            "agents" => agents(&a),
            "bytes" => bytes(&a),
            other => Err(format!("unknown mode {other} (latency, agents, bytes)").into()),
        }
    });
    if let Err(e) = result {
        eprintln!("fleet_bench: error: {e}");
        std::process::exit(1);
    }
}
