//! Helpers shared by the end-to-end tests in `tests/tests/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the workspace").to_path_buf()
}

/// The `worldflow` binary beside the running test's directory (`target/release/deps/..`), built by
/// `cargo build --release --workspace --bins` like the node binaries the graphs spawn.
pub fn worldflow_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(Path::parent).expect("test binaries live in target/<profile>/deps");
    let bin = dir.join("worldflow");
    assert!(bin.is_file(), "{} not found: run `cargo build --release --workspace --bins` first", bin.display());
    bin
}

/// A fresh output directory under the target dir, unique per test.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = workspace_root().join("target").join("e2e-out").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a graph on the embedded dora runtime.
///
/// One graph at a time per test binary (the tests of a binary run on parallel threads): dora proves each
/// output's direct shared-memory route in a startup handshake with a fixed 500 ms budget and leaves a route
/// that missed it on the copying daemon path for the whole run, so several graphs starting at once on the 2
/// cores of CI could turn a run's frames into copies (seen once: every frame of a drive.yml run copied).
pub fn run_graph(graph: &Path, out: &Path, stop_after: Option<Duration>) -> anyhow::Result<()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    worldflow::run::run_graph(
        graph,
        &worldflow::run::RunOptions {
            stop_after,
            out_dir: Some(out.to_path_buf()),
            print_logs: false,
            settings: Vec::new(),
            owns_process: false,
        },
    )
}

/// Parses every line of a JSON Lines file; panics (failing the test) on a partial or invalid line.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.is_empty() || text.ends_with('\n'), "{}: last line is incomplete", path.display());
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: bad line {l:?}: {e}", path.display())))
        .collect()
}

/// Decodes a PNG fully; returns (width, height, RGB bytes).
pub fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    ));
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// A process of a run: the launcher gives every node the run's output folder as `WORLDFLOW_OUT_DIR`, which
/// tells one run's processes from those of tests running beside it.
#[derive(Debug, Clone)]
pub struct RunProcess {
    pub pid: u32,
    /// The executable's file name (`worldflow-sensors`, …).
    pub name: String,
    /// The command line, arguments joined by spaces.
    pub cmdline: String,
    environ: Vec<String>,
}

impl RunProcess {
    /// Whether its environment holds `entry` (`NAME=value`).
    pub fn has_env(&self, entry: &str) -> bool {
        self.environ.iter().any(|e| e == entry)
    }
}

/// The processes whose environment names `out` as the run's output folder (the nodes; the launcher itself
/// is not among them).
pub fn run_processes(out: &Path) -> Vec<RunProcess> {
    let out = out.canonicalize().unwrap_or_else(|_| out.to_path_buf());
    let want = format!("WORLDFLOW_OUT_DIR={}", out.display());
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("environ")).ok()?;
            let environ: Vec<String> =
                raw.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
            if !environ.contains(&want) {
                return None;
            }
            let exe = std::fs::read_link(e.path().join("exe")).ok();
            let name = exe.and_then(|p| Some(p.file_name()?.to_string_lossy().into_owned())).unwrap_or_default();
            let name = name.trim_end_matches(" (deleted)").to_owned();
            let cmdline = std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default().replace('\0', " ");
            Some(RunProcess { pid, name, cmdline, environ })
        })
        .collect()
}

/// The pid of the run's `worldflow-sensors` process with `AGENT_ID=<agent>`.
pub fn sensors_pid(out: &Path, agent: u32) -> Option<u32> {
    let want = format!("AGENT_ID={agent}");
    run_processes(out).into_iter().find(|p| p.name.starts_with("worldflow-sensors") && p.has_env(&want)).map(|p| p.pid)
}

/// Sends `sig` (`-STOP`, `-CONT`, `-KILL`, `-INT`, …) to `pid`; fails the test if it cannot.
pub fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}
