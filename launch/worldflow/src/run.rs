//! `worldflow run`: validate a graph, find (or build) the worldflow node binaries it names, and run it on the
//! dora daemon embedded in this binary — the same in-process local run that `dora run` performs, with no
//! coordinator and no separately installed dora CLI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use dora_daemon::{flume, Daemon, LogDestination, RunDataflowOptions};
use dora_message::config::{DataId, Input, InputMapping};
use dora_message::descriptor::{Descriptor, EnvValue};
use dora_message::SessionId;

use crate::catalog;
use worldflow_node_kit::ErrorChain as _;

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub stop_after: Option<Duration>,
    /// Exported to the nodes as `WORLDFLOW_OUT_DIR` (the recorder writes there).
    pub out_dir: Option<PathBuf>,
    /// Print node log lines (stdout/stderr of the nodes) as they come.
    pub print_logs: bool,
    /// `node.SETTING=value` overrides of node `env:` settings (e.g. `sensors.SOURCE=keyboard`).
    pub settings: Vec<String>,
    /// This process runs this graph alone (the `worldflow` binary): the first failing node and Ctrl-C stop the
    /// run at once, by signalling the process (`run_stop`). Library callers leave it off.
    pub owns_process: bool,
}

/// Applies `node.SETTING=value` overrides to a descriptor, checking node ids and (for worldflow nodes) the
/// setting names against the catalogue.
fn apply_settings(descriptor: &mut Descriptor, overrides: &[String]) -> anyhow::Result<()> {
    for o in overrides {
        let (target, value) = o.split_once('=').with_context(|| format!("--set `{o}`: expected node.SETTING=value"))?;
        let (node_id, key) =
            target.split_once('.').with_context(|| format!("--set `{o}`: expected node.SETTING=value"))?;
        let node = descriptor
            .nodes
            .iter_mut()
            .find(|n| n.id.to_string() == node_id)
            .with_context(|| format!("--set `{o}`: no node `{node_id}` in this graph"))?;
        if let Some(input) = node.inputs.get_mut(&DataId::from(key.to_owned())) {
            // A timer input is re-paced: `--set sensors.tick=dora/timer/millis/40`.
            let timer = |m: &InputMapping| matches!(m, InputMapping::Timer { .. });
            let new: Input = serde_yaml::from_str(value)
                .ok()
                .filter(|i: &Input| timer(&i.mapping))
                .with_context(|| format!("--set `{o}`: expected a timer such as dora/timer/millis/40"))?;
            if !timer(&input.mapping) {
                bail!(
                    "--set `{o}`: input `{key}` of node `{node_id}` is not a timer (only timer inputs can be re-paced)"
                );
            }
            input.mapping = new.mapping;
            continue;
        }
        if let Some(kind) = node.path.as_deref().and_then(catalog::find) {
            if !kind.settings.contains(&key) {
                bail!(
                    "--set `{o}`: node `{node_id}` ({}) has no setting `{key}` (expected one of: {})",
                    kind.binary,
                    kind.settings.join(", ")
                );
            }
        }
        node.env.get_or_insert_with(Default::default).insert(key.to_owned(), EnvValue::String(value.to_owned()));
    }
    Ok(())
}

/// A `--stop-after` value that is not a positive duration of at most [`MAX_DURATION_DAYS`].
#[derive(Debug, thiserror::Error)]
#[error("`{text}`: expected a positive duration up to {MAX_DURATION_DAYS} days, like 10s, 500ms or 2m")]
pub struct DurationError {
    pub text: String,
}

/// The longest `--stop-after` (a deadline further out overflows the clock's arithmetic).
pub const MAX_DURATION_DAYS: u32 = 365;

/// Parses `10`, `10s`, `500ms`, `2m`, `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let (num, scale) = if let Some(v) = t.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = t.strip_suffix('m') {
        (v, 60.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v * scale <= f64::from(MAX_DURATION_DAYS) * 86_400.0 => {
            Ok(Duration::from_secs_f64(v * scale))
        }
        _ => Err(DurationError { text: text.to_owned() }),
    }
}

/// Directory holding the worldflow binaries next to this executable (`target/<profile>`; test binaries live
/// one level deeper in `deps/`).
fn binary_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(dir) = std::env::var("WORLDFLOW_BIN_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            dirs.push(dir.to_path_buf());
            if dir.file_name().is_some_and(|n| n == "deps") {
                if let Some(parent) = dir.parent() {
                    dirs.push(parent.to_path_buf());
                }
            }
        }
    }
    dirs
}

fn find_binary(name: &str, extra_dir: Option<&Path>) -> Option<PathBuf> {
    extra_dir.map(Path::to_path_buf).into_iter().chain(binary_dirs()).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The workspace root above `start`, if this is a worldflow checkout.
fn workspace_root(start: &Path) -> Option<PathBuf> {
    let mut dir = start.canonicalize().ok()?;
    loop {
        if dir.join("Cargo.toml").is_file() && dir.join("nodes").is_dir() && dir.join("launch").is_dir() {
            return Some(dir);
        }
        dir = dir.parent()?.to_path_buf();
    }
}

/// Finds the binaries of the worldflow nodes a graph uses; builds the missing ones with cargo when run from a
/// checkout. Returns node path → absolute binary.
pub fn resolve_binaries(graph_path: &Path, paths: &[String]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let kinds: Vec<&catalog::NodeKind> = paths.iter().filter_map(|p| catalog::find(p)).collect();
    let missing: Vec<&catalog::NodeKind> =
        kinds.iter().copied().filter(|k| find_binary(k.binary, None).is_none()).collect();
    let mut built_dir = None;
    if !missing.is_empty() {
        let root = workspace_root(graph_path.parent().unwrap_or(Path::new(".")))
            .or_else(|| workspace_root(Path::new(".")))
            .with_context(|| {
                let names: Vec<&str> = missing.iter().map(|k| k.binary).collect();
                format!(
                    "node binaries not found next to the launcher ({}), and no worldflow checkout to build them in",
                    names.join(", ")
                )
            })?;
        let mut cmd = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&root).args(["build", "--release"]);
        for k in &missing {
            cmd.args(["-p", k.package]);
        }
        eprintln!(
            "worldflow: building node binaries: {}",
            missing.iter().map(|k| k.package).collect::<Vec<_>>().join(", ")
        );
        let status = cmd.status().context("running cargo to build the node binaries")?;
        if !status.success() {
            bail!("cargo build of the node binaries failed ({status})");
        }
        // Cargo's target dir may differ from the launcher's: look there too.
        let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
        built_dir = Some(target.join("release"));
    }
    kinds
        .iter()
        .map(|k| {
            find_binary(k.binary, built_dir.as_deref())
                .map(|p| (k.binary.to_owned(), p))
                .with_context(|| format!("node binary `{}` still not found after building", k.binary))
        })
        .collect()
}

/// Runs a graph to completion (or until `stop_after`). Errors if any node failed.
pub fn run_graph(graph_path: &Path, options: &RunOptions) -> anyhow::Result<()> {
    let graph = crate::validate::validate_file(graph_path)?;
    let text = std::fs::read_to_string(graph_path)?;
    let mut descriptor: Descriptor =
        serde_yaml::from_str(&text).with_context(|| format!("{}: dora descriptor", graph_path.display()))?;
    apply_settings(&mut descriptor, &options.settings)?;
    refuse_placed_nodes(graph_path, &descriptor)?;
    let paths: Vec<String> = graph.nodes.iter().filter_map(|n| n.path.clone()).collect();
    let binaries = resolve_binaries(graph_path, &paths)?;
    for node in descriptor.nodes.iter_mut() {
        if let Some(path) = node.path.as_ref() {
            if let Some((_, bin)) = binaries.iter().find(|(name, _)| name == path) {
                node.path = Some(bin.display().to_string());
            }
        }
    }
    if let Some(out) = &options.out_dir {
        let out = crate::out_dir::prepare_announced(out)?;
        descriptor
            .env
            .get_or_insert_with(Default::default)
            .insert("WORLDFLOW_OUT_DIR".into(), EnvValue::String(out.display().to_string()));
    }
    let graph_path = graph_path.canonicalize()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")?;
    if options.owns_process {
        crate::run_stop::arm()?;
    }
    let (log_tx, log_rx) = flume::bounded(256);
    let print_logs = options.print_logs;
    let printer = std::thread::Builder::new().name("worldflow-log".into()).spawn(move || {
        for m in log_rx {
            let m: dora_message::common::LogMessage = m;
            crate::run_stop::watch(&m);
            let warns = match m.level {
                dora_message::common::LogLevelOrStdout::LogLevel(l) => l <= dora_message::common::LogLevel::Warn,
                dora_message::common::LogLevelOrStdout::Stdout => is_warning_line(&m.message),
            };
            if print_logs || warns {
                let node = m.node_id.as_ref().map(|n| n.to_string()).unwrap_or_else(|| "daemon".into());
                eprintln!("[{node}] {}", m.message.trim_end());
            }
        }
    })?;
    let stop_after = options.stop_after;
    let handle = rt.spawn(async move {
        Daemon::run_dataflow_with(
            None,
            &graph_path,
            None,
            None,
            SessionId::generate(),
            false,
            LogDestination::Channel { sender: log_tx },
            None,
            stop_after,
            false,
            None,
            Some(descriptor),
            RunDataflowOptions::default(),
        )
        .await
    });
    let result = rt.block_on(handle);
    rt.shutdown_timeout(Duration::from_secs(10));
    let _ = printer.join();
    if let Some(out) = &options.out_dir {
        match crate::timings::span_table(out) {
            Ok(table) => eprint!("{table}"),
            Err(e) => eprintln!("warning: span timings: {e:#}"),
        }
        if let Err(e) = crate::report_sections::merge(out) {
            eprintln!("warning: report.json: {e:#}");
        }
    }
    let result = result.context("the dora daemon task panicked")?.chain_context("the dora daemon")?;
    let mut failed = failed_nodes(&result);
    if let Some((node, cause)) = crate::run_stop::first_failure() {
        // The node that failed first stopped the run: name it first (the others may have failed because of it).
        failed.retain(|line| !line.starts_with(&format!("node `{node}` failed")));
        failed.insert(0, format!("node `{node}` failed (the run was stopped): {cause}"));
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    if crate::run_stop::interrupted() {
        return Err(crate::run_stop::Interrupted.into());
    }
    Ok(())
}

/// A graph whose nodes name machines (`deploy: {machine: …}`) is a fleet graph: `worldflow run` (one host, dora's
/// local run) cannot place them, so it says which command can, instead of dora's own refusal.
fn refuse_placed_nodes(graph_path: &Path, descriptor: &Descriptor) -> anyhow::Result<()> {
    let placed: Vec<String> = descriptor
        .nodes
        .iter()
        .filter_map(|n| n.deploy.as_ref()?.machine.as_ref().map(|m| format!("{} on `{m}`", n.id)))
        .collect();
    if !placed.is_empty() {
        let shown = graph_path.display();
        bail!(
            "{shown} places nodes on machines ({}): run it with `worldflow fleet local {shown}` (every machine on this \
             host) or `worldflow fleet start {shown} --coordinator ADDR:PORT`",
            placed.join(", ")
        );
    }
    Ok(())
}

/// "node `ID` failed: …" for every node of a finished dataflow that failed (`worldflow run`, `fleet stop`).
pub fn failed_nodes(result: &dora_message::coordinator_to_cli::DataflowResult) -> Vec<String> {
    result
        .node_results
        .iter()
        .filter_map(|(id, r)| r.as_ref().err().map(|e| format!("node `{id}` failed: {e}")))
        .collect()
}

/// A node's plain output line that is a warning or an error: worldflow nodes write them as
/// `<node>: warn: …` / `<node>: error: …` (the telemetry subscriber's events) or `<node>: warning: …`.
pub fn is_warning_line(line: &str) -> bool {
    let Some((_, rest)) = line.split_once(": ") else { return false };
    ["warn: ", "warning: ", "error: "].iter().any(|p| rest.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_graph_with_placed_nodes_is_sent_to_the_fleet_commands() {
        let placed =
            GRAPH.replace("path: worldflow-recorder\n", "path: worldflow-recorder\n    deploy: {machine: render}\n");
        let d: Descriptor = serde_yaml::from_str(&placed).unwrap();
        let e = refuse_placed_nodes(Path::new("g.yml"), &d).unwrap_err().to_string();
        assert!(e.contains("recorder on `render`") && e.contains("worldflow fleet local g.yml"), "{e}");
        refuse_placed_nodes(Path::new("g.yml"), &descriptor()).unwrap();
    }

    #[test]
    fn durations_are_positive_and_bounded() {
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        // 1e20 s panicked in the Duration conversion; 0, negative, NaN and words are errors too.
        for text in ["1e20s", "366d", "0", "-1s", "NaN", "inf", "soon", "600000m"] {
            let e = parse_duration(text).unwrap_err().to_string();
            assert!(e.contains("expected a positive duration up to 365 days"), "{text}: {e}");
        }
    }

    #[test]
    fn node_warning_lines_are_recognised() {
        for line in ["bridge: warn: /agent0/cmd_vel: rejected", "director: warning: agent0 left", "x: error: boom"] {
            assert!(is_warning_line(line), "{line}");
        }
        for line in
            ["bridge: info: ROS 2 bridge up", "sensors: emitted 40 ticks", "warning", "frames: 3 warnings: none"]
        {
            assert!(!is_warning_line(line), "{line}");
        }
    }

    const GRAPH: &str = "nodes:\n  - id: sensors\n    path: worldflow-sensors\n    inputs:\n      tick: dora/timer/millis/100\n    outputs: [action]\n  - id: recorder\n    path: worldflow-recorder\n    inputs:\n      actions: sensors/action\n";

    fn descriptor() -> Descriptor {
        serde_yaml::from_str(GRAPH).unwrap()
    }

    #[test]
    fn set_overrides_a_setting_and_repaces_a_timer() {
        let mut d = descriptor();
        apply_settings(&mut d, &["sensors.SOURCE=keyboard".into(), "sensors.tick=dora/timer/millis/40".into()])
            .unwrap();
        let sensors = &d.nodes[0];
        assert!(matches!(sensors.env.as_ref().unwrap()["SOURCE"], EnvValue::String(ref v) if v == "keyboard"));
        let tick = &sensors.inputs[&DataId::from("tick".to_owned())];
        assert!(matches!(tick.mapping, InputMapping::Timer { interval } if interval == Duration::from_millis(40)));
    }

    #[test]
    fn set_rejects_unknown_settings_and_non_timer_inputs() {
        for (arg, expected) in [
            ("sensors.NOPE=1", "has no setting `NOPE`"),
            ("recorder.actions=dora/timer/millis/40", "is not a timer"),
            ("sensors.tick=sensors/action", "expected a timer"),
            ("ghost.X=1", "no node `ghost`"),
            ("sensors", "expected node.SETTING=value"),
        ] {
            let err = apply_settings(&mut descriptor(), &[arg.into()]).unwrap_err().to_string();
            assert!(err.contains(expected), "{arg}: {err}");
        }
    }
}
