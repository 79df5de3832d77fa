//! Queues stay bounded under a slow consumer: the main job's recorder runs only 50 ms of every 250 ms
//! (SIGSTOP/SIGCONT) for 15 s while the renderer keeps producing 4 frames per tick (600 frames, 100 MB of RGB8 at
//! 320×180). Its `frames` queue holds 32 (drop_oldest), so the run's memory (the launcher with its embedded
//! daemon, and every node) stays flat; afterwards the recorder records again and the run ends cleanly. (A consumer
//! frozen for good is another matter: dora applies `queue_size` in the consumer's process, so the daemon buffers
//! for a stopped process: docs/RELIABILITY.md.)

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use worldflow_tests::{out_dir, read_jsonl, run_processes, workspace_root, worldflow_binary};

/// Resident memory of `pid` (VmRSS), KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn frames(out: &Path) -> usize {
    std::fs::read_to_string(out.join("frames.jsonl")).map(|t| t.lines().count()).unwrap_or(0)
}

#[test]
fn a_slow_recorder_keeps_the_runs_memory_bounded_and_catches_up() {
    let out = out_dir("slow-consumer");
    let run = Command::new(worldflow_binary())
        .args(["run", "--stop-after", "30s", "--set", "sensors.LOOP=true", "--out"])
        .arg(&out)
        .arg(workspace_root().join("graphs/drive.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting worldflow run");
    let deadline = Instant::now() + Duration::from_secs(60);
    while frames(&out) < 40 {
        assert!(Instant::now() < deadline, "fewer than 40 frames within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let processes: Vec<(u32, String)> = std::iter::once((run.id(), "worldflow".to_owned()))
        .chain(run_processes(&out).into_iter().map(|p| (p.pid, p.name)))
        .collect();
    let recorder = processes.iter().find(|(_, n)| n.starts_with("worldflow-recorder")).expect("the recorder").0;
    let total = || processes.iter().map(|(pid, _)| rss_kib(*pid)).sum::<u64>();
    let each = || processes.iter().map(|(pid, n)| format!("{n} {}", rss_kib(*pid) / 1024)).collect::<Vec<_>>();
    eprintln!("before: {:?}", each());
    let before_kib = total();
    // A slow consumer: the recorder runs 50 ms of every 250 ms (SIGSTOP/SIGCONT duty cycle) for 15 s.
    let signal = |sig: &str| Command::new("kill").args([sig, &recorder.to_string()]).status().unwrap().success();
    let stopped_at = frames(&out);
    let mut peak_kib = before_kib;
    let slow = Instant::now();
    while slow.elapsed() < Duration::from_secs(15) {
        assert!(signal("-STOP"));
        std::thread::sleep(Duration::from_millis(200));
        peak_kib = peak_kib.max(total());
        assert!(signal("-CONT"));
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("after the slow phase: {:?}", each());
    let resumed = Instant::now();
    while frames(&out) < stopped_at + 40 {
        assert!(resumed.elapsed() < Duration::from_secs(20), "the recorder did not record again after SIGCONT");
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = run.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let growth_mib = peak_kib.saturating_sub(before_kib) as f64 / 1024.0;
    eprintln!(
        "run memory: {:.1} MiB before, +{growth_mib:.1} MiB at most while the recorder was slow",
        before_kib as f64 / 1024.0
    );
    // Unbounded queues would hold most of the 600 frames produced meanwhile (100 MB); the bounded ones hold 32.
    assert!(growth_mib < 30.0, "memory grew by {growth_mib:.1} MiB while the recorder was slow");
    read_jsonl(&out.join("frames.jsonl"));
}
