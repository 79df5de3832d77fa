//! Ending a `worldflow run` early: a node that fails stops the whole run, and Ctrl-C stops it with a
//! non-zero exit status.
//!
//! The embedded dora daemon stops a dataflow on its own termination signal (SIGTERM: every node gets a stop
//! event, stragglers are killed after the grace period). So both paths end in the same place: the first
//! node failure the daemon reports, and the user's Ctrl-C, send SIGTERM to this process. A second Ctrl-C
//! sends a second SIGTERM, which the daemon answers by exiting at once (its own escalation ladder).
//!
//! A signal reaches the whole process, so this is only armed by the `worldflow` binary, whose process is the
//! run's alone ([`crate::run::RunOptions::owns_process`]); a library caller running several graphs in one
//! process (the tests) gets the node failures when the run ends, as before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use dora_message::common::{LogLevel, LogLevelOrStdout, LogMessage};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A run that the user interrupted (Ctrl-C): `main` exits with status 130, like a shell.
#[derive(Debug, thiserror::Error)]
#[error("interrupted (Ctrl-C): every node was stopped; the files hold every frame recorded before the stop")]
pub struct Interrupted;

/// The exit status of an interrupted run (128 + SIGINT).
pub const INTERRUPTED_EXIT_STATUS: u8 = 130;

#[derive(Default)]
struct StopState {
    armed: AtomicBool,
    interrupted: AtomicBool,
    /// The first node failure the daemon reported: (node, cause).
    first_failure: Mutex<Option<(String, String)>>,
}

fn state() -> &'static StopState {
    static STATE: OnceLock<StopState> = OnceLock::new();
    STATE.get_or_init(StopState::default)
}

/// Prepares a run: clears what an earlier run in this process left, and (once per process) takes Ctrl-C from
/// the daemon, which then only ever sees SIGTERM.
pub fn arm() -> anyhow::Result<()> {
    static CTRLC: OnceLock<Result<(), String>> = OnceLock::new();
    let s = state();
    s.armed.store(true, Ordering::SeqCst);
    s.interrupted.store(false, Ordering::SeqCst);
    *s.first_failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
    CTRLC
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                state().interrupted.store(true, Ordering::SeqCst);
                request_stop();
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the Ctrl-C handler: {e}"))
}

/// Asks the daemon to stop the dataflow (SIGTERM to this process).
fn request_stop() {
    // An error (impossible for our own pid) would leave the run going, as without this request.
    let _ = kill(Pid::this(), Signal::SIGTERM);
}

/// Looks at one daemon log record; on the first node failure, remembers it and stops the run.
pub fn watch(message: &LogMessage) {
    if !state().armed.load(Ordering::SeqCst) {
        return;
    }
    if let Some(failure) = node_failure(message) {
        let mut first = state().first_failure.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(failure);
            drop(first);
            request_stop();
        }
    }
}

/// Whether the user pressed Ctrl-C during the run.
pub fn interrupted() -> bool {
    state().interrupted.load(Ordering::SeqCst)
}

/// The first node failure of the run, if any: (node, cause).
pub fn first_failure() -> Option<(String, String)> {
    state().first_failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The daemon's record of a node that ended in failure (its `NodeError`, logged at error level by the daemon
/// for that node), as (node, cause).
pub fn node_failure(m: &LogMessage) -> Option<(String, String)> {
    let from_daemon = m.target.as_deref() == Some("daemon");
    let error = matches!(m.level, LogLevelOrStdout::LogLevel(LogLevel::Error));
    const FAILURES: &[&str] = &[
        "exited with code",
        "exited because of signal",
        "failed to spawn node",
        "node was killed by dora",
        "unknown exit status",
        "I/O error while reading exit status",
    ];
    let node = m.node_id.as_ref()?;
    (from_daemon && error && FAILURES.iter().any(|f| m.message.starts_with(f)))
        .then(|| (node.to_string(), m.message.trim_end().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(level: LogLevel, target: &str, node: Option<&str>, message: &str) -> LogMessage {
        LogMessage {
            build_id: None,
            dataflow_id: None,
            node_id: node.map(|n| n.to_owned().into()),
            daemon_id: None,
            level: LogLevelOrStdout::LogLevel(level),
            target: Some(target.to_owned()),
            module_path: None,
            file: None,
            line: None,
            message: message.to_owned(),
            timestamp: Default::default(),
            fields: None,
        }
    }

    #[test]
    fn the_daemons_node_errors_are_failures_and_nothing_else_is() {
        let failed = record(LogLevel::Error, "daemon", Some("renderer"), "exited with code 1 with stderr output:\nx");
        assert_eq!(
            node_failure(&failed),
            Some(("renderer".to_owned(), "exited with code 1 with stderr output:\nx".to_owned()))
        );
        let killed = record(LogLevel::Error, "daemon", Some("actor"), "exited because of signal SIGKILL");
        assert_eq!(node_failure(&killed).map(|f| f.0), Some("actor".to_owned()));
        for other in [
            record(LogLevel::Info, "daemon", Some("renderer"), "renderer finished successfully"),
            record(LogLevel::Error, "renderer", Some("renderer"), "exited with code 1"),
            record(LogLevel::Error, "daemon", None, "exited with code 1"),
            record(LogLevel::Error, "daemon", Some("recorder"), "failed to send output"),
        ] {
            assert_eq!(node_failure(&other), None, "{}", other.message);
        }
    }
}
