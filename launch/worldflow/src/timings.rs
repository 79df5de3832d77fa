//! The end-of-run table of per-node span times (written by each node under `<out>/timings/`).

use std::path::Path;

use worldflow_node_kit::ErrorChain as _;
use worldflow_telemetry::read_timings;

/// The table as text (empty if no node wrote timings).
pub fn span_table(out: &Path) -> anyhow::Result<String> {
    let dir = out.join("timings");
    let nodes = read_timings(&dir).with_chain_context(|| format!("reading {}", dir.display()))?;
    if nodes.is_empty() {
        return Ok(String::new());
    }
    let mut text = format!(
        "per-node time from tracing spans (ms):\n  {:<34} {:>7} {:>9} {:>9} {:>9} {:>9}\n",
        "node/span", "count", "mean", "p50", "p99", "max"
    );
    for node in &nodes {
        for (span, s) in &node.spans {
            text += &format!(
                "  {:<34} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2}\n",
                format!("{}/{span}", node.node),
                s.count,
                s.mean_ms,
                s.p50_ms,
                s.p99_ms,
                s.max_ms
            );
        }
    }
    Ok(text)
}
