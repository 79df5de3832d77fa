//! Per-node time from `tracing` spans.
//!
//! Nodes mark their work with spans (`info_span!("render_tick", tick).entered()`). [`SpanTimes::install`]
//! makes a small subscriber the node thread's default; it measures every span from creation to close and
//! keeps the durations per span name. The summary (count, mean, p50, p99, max in milliseconds) is written
//! atomically to `<dir>/timings/<node>.json` every [`FLUSH_EVERY`] and when the guard drops, so a stopped
//! run still leaves the figures up to its last flush. Only spans whose target (module path) starts with
//! `worldflow` are collected. Events (log lines) of worldflow's own crates at INFO, WARN and ERROR go to stderr as
//! one line each, `<node>: <level>: <message> key=value …` (the launcher shows WARN and ERROR lines always,
//! INFO with `--verbose`); DEBUG and TRACE are dropped.
//!
//! ```text
//! {"node": "renderer", "spans": {"render_tick": {"count": 120, "mean_ms": 61.2, "p50_ms": 60.8,
//!  "p99_ms": 71.0, "max_ms": 73.5}}}
//! ```

mod summary;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// An event as one line: its message, then its other fields as ` key=value`.
#[derive(Default)]
struct LogLine {
    message: String,
    fields: String,
}

impl Visit for LogLine {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

pub use summary::{read_timings, NodeTimings, SpanSummary, TimingsError};

/// How often the summary file is rewritten while the node runs.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
struct State {
    /// Open spans: name and creation time.
    open: HashMap<u64, (&'static str, Instant)>,
    /// Closed span durations per name, seconds.
    closed: HashMap<&'static str, Vec<f64>>,
    last_flush: Option<Instant>,
}

/// The subscriber (cheap to clone; all clones share one state).
#[derive(Clone)]
pub struct SpanTimes {
    node: String,
    path: PathBuf,
    next_id: Arc<AtomicU64>,
    state: Arc<Mutex<State>>,
}

/// Keeps the subscriber installed on this thread; writes the final summary when dropped.
pub struct Guard {
    times: SpanTimes,
    _default: tracing::subscriber::DefaultGuard,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.times.flush() {
            eprintln!("warning: span timings of node `{}`: {e}", self.times.node);
        }
    }
}

impl SpanTimes {
    /// A collector for node `node` writing `<dir>/timings/<node>.json`.
    pub fn new(node: &str, dir: &Path) -> Self {
        Self {
            node: node.to_owned(),
            path: dir.join("timings").join(format!("{node}.json")),
            next_id: Arc::new(AtomicU64::new(1)),
            state: Arc::default(),
        }
    }

    /// Makes a collector for `node` (under `worldflow_protocol`-style `dir`) this thread's default
    /// subscriber until the guard drops.
    pub fn install(node: &str, dir: &Path) -> Guard {
        let times = Self::new(node, dir);
        let default = tracing::subscriber::set_default(times.clone());
        Guard { times, _default: default }
    }

    /// The current summary.
    pub fn summary(&self) -> NodeTimings {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        NodeTimings::from_durations(&self.node, &state.closed)
    }

    /// Writes the summary now (atomically: temporary file, then rename).
    pub fn flush(&self) -> std::io::Result<()> {
        let summary = self.summary();
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&summary).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, &self.path)
    }

    fn flush_if_due(&self) {
        let due = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let due = state.last_flush.is_none_or(|t| now.duration_since(t) >= FLUSH_EVERY);
            if due {
                state.last_flush = Some(now);
            }
            due
        };
        if due {
            if let Err(e) = self.flush() {
                eprintln!("warning: span timings of node `{}`: {e}", self.node);
            }
        }
    }
}

impl Subscriber for SpanTimes {
    /// Only worldflow's own spans (libraries such as zenoh inside dora open spans on node threads too).
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("worldflow") && (metadata.is_span() || *metadata.level() <= Level::INFO)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.open.insert(id, (span.metadata().name(), Instant::now()));
        Id::from_u64(id)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = LogLine::default();
        event.record(&mut line);
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        eprintln!("{}: {level}: {}{}", self.node, line.message, line.fields);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}

    fn try_close(&self, id: Id) -> bool {
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let Some((name, start)) = state.open.remove(&id.into_u64()) else { return false };
            state.closed.entry(name).or_default().push(start.elapsed().as_secs_f64());
        }
        self.flush_if_due();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_timed_per_name_and_written() {
        let dir = std::env::temp_dir().join(format!("worldflow-telemetry-{}", std::process::id()));
        {
            let _guard = SpanTimes::install("node-a", &dir);
            for tick in 0..5u64 {
                let _span = tracing::info_span!("work", tick).entered();
                std::thread::sleep(Duration::from_millis(2));
            }
            let _other = tracing::info_span!("other").entered();
        }
        let timings = read_timings(&dir.join("timings")).unwrap();
        assert_eq!(timings.len(), 1);
        let node = &timings[0];
        assert_eq!(node.node, "node-a");
        let work = &node.spans["work"];
        assert_eq!(work.count, 5);
        assert!(work.p50_ms >= 2.0 && work.max_ms >= work.p50_ms, "{work:?}");
        assert_eq!(node.spans["other"].count, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
