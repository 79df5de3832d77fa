//! `fleet start`: start a placed graph through the coordinator, stream its nodes' logs, and stop it everywhere
//! on Ctrl-C, `--stop-after`, a machine that leaves, or the end of the graph.
//!
//! Sequence, every step bounded: connect (5 s) → wait until a daemon serves every machine of the graph
//! (`--join-timeout`) → `Start` → subscribe to logs (a second connection) → `WaitForSpawn` → poll `Check`
//! twice a second and the connected machines once a second. A stop is sent on its own connection (the
//! coordinator answers it only when the graph has stopped); without an end after [`STOP_GRACE`] it is sent
//! again with `force`, and [`STOP_GIVE_UP`] later the launcher gives up with an error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use dora_message::cli_to_coordinator::ControlRequest;
use dora_message::common::{LogLevel, LogLevelOrStdout};
use dora_message::coordinator_to_cli::{ControlRequestReply, DataflowResult};
use dora_message::SessionId;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;
use uuid::Uuid;

use super::client::{Client, LogStream, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
use super::plan::{self, Placement};
use super::prepare::{prepare, Prepared};

/// How long the graph may take to spawn on every machine (the coordinator's own limit is 60 s).
pub const SPAWN_TIMEOUT: Duration = Duration::from_secs(75);
/// After a stop, how long before it is repeated with `force` (nodes are killed).
pub const STOP_GRACE: Duration = Duration::from_secs(20);
/// After a forced stop, how long before the launcher gives up waiting for the end.
pub const STOP_GIVE_UP: Duration = Duration::from_secs(15);

/// Options of `fleet start` (and `fleet local`, which runs the same session).
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub stop_after: Option<Duration>,
    /// Exported to the nodes as `WORLDFLOW_OUT_DIR` (an absolute path, the same on every machine).
    pub out_dir: Option<PathBuf>,
    /// Print every node log line, not only warnings and errors.
    pub print_logs: bool,
    /// How long to wait until a daemon serves every machine of the graph.
    pub join_timeout: Duration,
    /// The graph's name at the coordinator (`fleet list`, `fleet stop NAME`).
    pub name: Option<String>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self { stop_after: None, out_dir: None, print_logs: false, join_timeout: Duration::from_secs(10), name: None }
    }
}

/// A check polled while waiting and running (`fleet local`: whether a child process ended): `Some(message)`
/// stops the graph and fails the run with that message.
pub type Watchdog<'a> = &'a mut dyn FnMut() -> Option<String>;

/// A multi-threaded tokio runtime for the fleet commands.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")
}

/// `fleet start`: prepares `graph` and runs it on the fleet of the coordinator at `coordinator`.
pub fn run(graph: &Path, coordinator: SocketAddr, options: &FleetOptions) -> anyhow::Result<()> {
    let prepared = prepare(graph, options.out_dir.as_deref())?;
    run_prepared(&prepared, coordinator, options, None)
}

/// Runs a prepared graph; `watchdog` is polled while waiting for the machines and while the graph runs.
pub fn run_prepared(
    prepared: &Prepared,
    coordinator: SocketAddr,
    options: &FleetOptions,
    watchdog: Option<Watchdog<'_>>,
) -> anyhow::Result<()> {
    let rt = runtime()?;
    let mut started = false;
    let result = rt.block_on(session(prepared, coordinator, options, watchdog, &mut started));
    rt.shutdown_timeout(Duration::from_secs(5));
    if let (true, Some(out)) = (started, &options.out_dir) {
        match crate::timings::span_table(out) {
            Ok(table) => eprint!("{table}"),
            Err(e) => eprintln!("warning: span timings: {e:#}"),
        }
        if let Err(e) = crate::report_sections::merge(out) {
            eprintln!("warning: report.json: {e:#}");
        }
    }
    result
}

/// What a node's log line looks like on the terminal (`[machine/node] text`), or `None` when it is not shown:
/// warnings and errors always, everything with `verbose`.
pub fn format_log(
    machine: Option<&str>,
    node: Option<&str>,
    warns: bool,
    message: &str,
    verbose: bool,
) -> Option<String> {
    if !(verbose || warns) {
        return None;
    }
    let machine = machine.unwrap_or("?");
    let who = match node {
        Some(n) => format!("{machine}/{n}"),
        None => format!("{machine}: daemon"),
    };
    Some(format!("[{who}] {}", message.trim_end()))
}

async fn print_logs(mut logs: LogStream, verbose: bool) {
    while let Some(m) = logs.next().await {
        match m {
            Ok(m) => {
                let warns = match m.level {
                    LogLevelOrStdout::LogLevel(l) => l <= LogLevel::Warn,
                    LogLevelOrStdout::Stdout => crate::run::is_warning_line(&m.message),
                };
                let machine = m.daemon_id.as_ref().and_then(|d| d.machine_id());
                let node = m.node_id.as_ref().map(|n| n.to_string());
                if let Some(line) = format_log(machine, node.as_deref(), warns, &m.message, verbose) {
                    eprintln!("{line}");
                }
            }
            Err(e) => eprintln!("fleet: warning: {e:#}"),
        }
    }
}

/// Sends a stop on its own connection (the coordinator answers it only once the graph has stopped).
fn stop_in_background(coordinator: SocketAddr, uuid: Uuid, force: bool) {
    tokio::spawn(async move {
        let stop = async {
            let mut c = Client::connect(coordinator, CONNECT_TIMEOUT).await?;
            let request = ControlRequest::Stop { dataflow_uuid: uuid, grace_duration: None, force };
            c.request(&request, STOP_GRACE + STOP_GIVE_UP).await
        };
        if let Err(e) = stop.await {
            eprintln!("fleet: warning: stopping the graph: {e:#}");
        }
    });
}

/// Waits (bounded) until a daemon serves every machine of the placement.
async fn wait_for_machines(
    control: &mut Client,
    placement: &Placement,
    timeout: Duration,
    watchdog: &mut Option<Watchdog<'_>>,
    interrupted: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let connected = control.connected_machines().await?;
        let missing = placement.missing(&connected);
        if missing.is_empty() {
            return Ok(());
        }
        if let Some(message) = watchdog.as_mut().and_then(|w| w()) {
            bail!("{message}, before every machine had joined");
        }
        if Instant::now() >= deadline {
            bail!(
                "{} (waited {timeout:?})",
                plan::missing_machines_message(&missing, &connected, &control.addr().to_string())
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = interrupted.recv() => bail!("interrupted while waiting for the machines {} to join", missing.join(", ")),
        }
    }
}

/// Tracks a requested stop: when, and whether it was forced.
struct Stopping {
    since: Instant,
    forced: bool,
}

fn request_stop(stopping: &mut Option<Stopping>, coordinator: SocketAddr, uuid: Uuid) {
    match stopping {
        None => {
            stop_in_background(coordinator, uuid, false);
            *stopping = Some(Stopping { since: Instant::now(), forced: false });
        }
        Some(s) if !s.forced => {
            eprintln!("fleet: stopping now (the nodes are killed)");
            stop_in_background(coordinator, uuid, true);
            s.forced = true;
        }
        Some(_) => {}
    }
}

async fn session(
    prepared: &Prepared,
    coordinator: SocketAddr,
    options: &FleetOptions,
    mut watchdog: Option<Watchdog<'_>>,
    started: &mut bool,
) -> anyhow::Result<()> {
    let placement = &prepared.placement;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut control = Client::connect(coordinator, CONNECT_TIMEOUT).await?;
    wait_for_machines(&mut control, placement, options.join_timeout, &mut watchdog, &mut sigint).await?;

    let start = ControlRequest::Start {
        build_id: None,
        session_id: SessionId::generate(),
        dataflow: prepared.descriptor.clone(),
        name: options.name.clone(),
        // Every node names its working directory (the graph's, see `prepare`).
        local_working_dir: None,
        uv: false,
        write_events_to: None,
    };
    let uuid = match control.request(&start, REQUEST_TIMEOUT).await? {
        ControlRequestReply::DataflowStartTriggered { uuid } => uuid,
        other => bail!("the coordinator at {coordinator} answered start with {other:?}"),
    };
    *started = true;

    let level = if options.print_logs { log::LevelFilter::Info } else { log::LevelFilter::Warn };
    let logs = match Client::connect(coordinator, CONNECT_TIMEOUT).await {
        Ok(c) => c.subscribe_logs(uuid, level).await,
        Err(e) => Err(e),
    };
    let printer = match logs {
        Ok(stream) => Some(tokio::spawn(print_logs(stream, options.print_logs))),
        Err(e) => {
            eprintln!("fleet: warning: the nodes' logs will not be shown: {e:#}");
            None
        }
    };

    let wait_for_spawn = ControlRequest::WaitForSpawn { dataflow_id: uuid };
    let spawned = tokio::select! {
        r = control.request(&wait_for_spawn, SPAWN_TIMEOUT) => r,
        _ = sigint.recv() => Err(anyhow!("interrupted while the graph was starting")),
    };
    match spawned {
        Ok(ControlRequestReply::DataflowSpawned { .. }) => {}
        // A graph that already ended is unknown to wait-for-spawn; the check below reports its result.
        Err(e) if format!("{e:#}").contains("unknown dataflow") => {}
        Ok(other) => bail!("the coordinator at {coordinator} answered wait-for-spawn with {other:?}"),
        Err(e) => {
            stop_in_background(coordinator, uuid, true);
            tokio::time::sleep(Duration::from_millis(500)).await;
            return Err(e.context(format!("the graph did not start on every machine ({uuid})")));
        }
    }
    eprintln!(
        "fleet: graph {uuid} running on {} machine(s) (coordinator {coordinator}):\n{}",
        placement.machines.len(),
        placement.status_lines()
    );

    let deadline = options.stop_after.map(|d| Instant::now() + d);
    let mut stopping: Option<Stopping> = None;
    let mut failure: Option<String> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut machines_checked = Instant::now();
    let result: DataflowResult = loop {
        let stop_at = deadline.filter(|_| stopping.is_none());
        tokio::select! {
            _ = sigint.recv() => {
                eprintln!("fleet: Ctrl-C: stopping the graph on every machine");
                request_stop(&mut stopping, coordinator, uuid);
            }
            _ = sigterm.recv() => request_stop(&mut stopping, coordinator, uuid),
            _ = tokio::time::sleep_until(stop_at.unwrap_or_else(Instant::now)), if stop_at.is_some() => {
                eprintln!("fleet: --stop-after elapsed: stopping the graph on every machine");
                request_stop(&mut stopping, coordinator, uuid);
            }
            _ = tick.tick() => {
                if failure.is_none() {
                    if let Some(message) = watchdog.as_mut().and_then(|w| w()) {
                        eprintln!("fleet: error: {message}: stopping the graph on the other machines");
                        failure = Some(message);
                        request_stop(&mut stopping, coordinator, uuid);
                    }
                }
                match control.request(&ControlRequest::Check { dataflow_uuid: uuid }, REQUEST_TIMEOUT).await? {
                    ControlRequestReply::DataflowStopped { result, .. } => break result,
                    ControlRequestReply::DataflowSpawned { .. } => {}
                    other => bail!("the coordinator at {coordinator} answered check with {other:?}"),
                }
                if failure.is_none() && machines_checked.elapsed() >= Duration::from_secs(1) {
                    machines_checked = Instant::now();
                    let connected = control.connected_machines().await?;
                    let missing = placement.missing(&connected);
                    if !missing.is_empty() {
                        let message = format!(
                            "machine(s) {} left the fleet: the daemon disconnected from the coordinator",
                            missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                        );
                        eprintln!("fleet: error: {message}: stopping the graph on the other machines");
                        failure = Some(message);
                        request_stop(&mut stopping, coordinator, uuid);
                    }
                }
                if let Some(s) = &stopping {
                    if !s.forced && s.since.elapsed() >= STOP_GRACE {
                        request_stop(&mut stopping, coordinator, uuid);
                    } else if s.forced && s.since.elapsed() >= STOP_GRACE + STOP_GIVE_UP {
                        bail!(
                            "the graph {uuid} did not stop within {:?} on the machines {}",
                            STOP_GRACE + STOP_GIVE_UP,
                            placement.machine_ids().join(", ")
                        );
                    }
                }
            }
        }
    };
    if let Some(p) = printer {
        // Let the last log lines through, then stop printing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.abort();
    }

    let results: BTreeMap<String, Result<(), String>> = result
        .node_results
        .iter()
        .map(|(id, r)| (id.to_string(), r.as_ref().map(|_| ()).map_err(|e| e.to_string())))
        .collect();
    let mut failed = Vec::new();
    for (machine, ok, failures) in plan::results_by_machine(placement, &results) {
        eprintln!(
            "fleet: machine `{machine}`: {ok} node(s) ended cleanly{}",
            if failures.is_empty() { "" } else { "," }
        );
        for f in failures {
            eprintln!("fleet:   {f}");
            failed.push(format!("machine `{machine}`: {f}"));
        }
    }
    if let Some(message) = failure {
        failed.insert(0, message);
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_show_warnings_always_and_the_rest_when_verbose() {
        assert_eq!(
            format_log(Some("sim"), Some("director"), true, "director: warn: x\n", false).as_deref(),
            Some("[sim/director] director: warn: x")
        );
        assert_eq!(format_log(Some("sim"), Some("director"), false, "tick 3", false), None);
        assert_eq!(format_log(None, None, false, "joined", true).as_deref(), Some("[?: daemon] joined"));
    }
}
