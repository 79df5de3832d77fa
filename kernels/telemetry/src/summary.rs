//! The per-node timing summary and its JSON file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Durations of one span name, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanSummary {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One node's file: `<dir>/timings/<node>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeTimings {
    pub node: String,
    pub spans: BTreeMap<String, SpanSummary>,
}

/// The `q`-quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl NodeTimings {
    pub(crate) fn from_durations(node: &str, closed: &HashMap<&'static str, Vec<f64>>) -> Self {
        let spans = closed
            .iter()
            .filter(|(_, d)| !d.is_empty())
            .map(|(name, secs)| {
                let mut ms: Vec<f64> = secs.iter().map(|s| s * 1e3).collect();
                ms.sort_by(f64::total_cmp);
                let summary = SpanSummary {
                    count: ms.len(),
                    mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
                    p50_ms: quantile(&ms, 0.5),
                    p99_ms: quantile(&ms, 0.99),
                    max_ms: ms[ms.len() - 1],
                };
                (name.to_string(), summary)
            })
            .collect();
        Self { node: node.to_owned(), spans }
    }
}

/// A timings file or folder that cannot be read; names the path.
#[derive(Debug, thiserror::Error)]
pub enum TimingsError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a timings file: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// For callers that still carry text errors (the error's `Display`, its sources included in the text).
impl From<TimingsError> for String {
    fn from(e: TimingsError) -> Self {
        e.to_string()
    }
}

/// Reads every `*.json` in `dir` (a run's `timings/` folder), sorted by node name. A missing folder
/// gives an empty list; an unreadable file is an error naming it.
pub fn read_timings(dir: &Path) -> Result<Vec<NodeTimings>, TimingsError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TimingsError::Io { path, source }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let timings = serde_json::from_str(&text).map_err(|source| TimingsError::Parse { path, source })?;
            out.push(timings);
        }
    }
    out.sort_by(|a: &NodeTimings, b| a.node.cmp(&b.node));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_files_are_named() {
        let dir = std::env::temp_dir().join(format!("worldflow-telemetry-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("broken.json"), "{ not json").unwrap();
        let e = read_timings(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(e, TimingsError::Parse { .. }) && e.to_string().contains("broken.json"), "{e}");
        assert!(read_timings(&dir).unwrap().is_empty(), "a missing folder is an empty list");
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
    }
}
