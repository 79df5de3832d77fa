//! Checks of a graph as a whole, for `validate`: duplicate keys anywhere in the file, timer periods a clock
//! can keep, and nodes that nothing can ever start (a cycle with no timer, no input-free node and no node
//! that emits on its own).

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog;
use crate::graph::{Graph, GraphNode, Source};
use crate::yaml_tree::{Node, Pos, Value};

/// Every key that repeats in one map, anywhere under `root`: (position of the repeat, message).
pub fn duplicate_keys(root: &Node) -> Vec<(Pos, String)> {
    let mut found = Vec::new();
    let mut pending = vec![root];
    while let Some(node) = pending.pop() {
        match &node.value {
            Value::Map(entries) => {
                let mut seen: BTreeMap<&str, Pos> = BTreeMap::new();
                for (k, v) in entries {
                    if let Some(key) = k.as_str() {
                        if let Some(first) = seen.insert(key, k.pos) {
                            found.push((
                                k.pos,
                                format!(
                                    "duplicate key `{key}` (first at line {}): which one counts is ambiguous",
                                    first.line
                                ),
                            ));
                        }
                    }
                    pending.push(v);
                }
            }
            Value::Seq(items) => pending.extend(items),
            Value::Scalar(_) => {}
        }
    }
    found.sort_by_key(|(p, _)| (p.line, p.column));
    found
}

/// The longest timer period (and the lowest rate) a graph may ask for.
pub const MAX_TIMER_SECS: u64 = 3600;
/// The highest timer rate.
pub const MAX_TIMER_HZ: u64 = 1000;

/// Whether `dora/timer/<unit>/<value>` is a period this runtime can keep: 1 ms to an hour, at most 1 kHz.
pub fn timer_in_range(unit: &str, value: u64) -> bool {
    match unit {
        "millis" => (1..=MAX_TIMER_SECS * 1000).contains(&value),
        "secs" => (1..=MAX_TIMER_SECS).contains(&value),
        "hz" => (1..=MAX_TIMER_HZ).contains(&value),
        _ => false,
    }
}

/// Nodes that can never receive an input: every node is fed, directly or through others, by a timer or by a
/// node without inputs — unless the graph holds a node that emits on its own (a bridge, or a program worldflow
/// does not know), which could start it. (position, message) per such node.
pub fn never_started(graph: &Graph) -> Vec<(Pos, String)> {
    let self_starting = |n: &GraphNode| match n.path.as_deref().and_then(catalog::find) {
        Some(kind) => catalog::EMITS_WITHOUT_INPUTS.contains(&kind.binary),
        None => true,
    };
    if graph.nodes.iter().any(self_starting) {
        return Vec::new();
    }
    let mut live: BTreeSet<&str> = graph
        .nodes
        .iter()
        .filter(|n| n.inputs.is_empty() || n.inputs.iter().any(|i| matches!(i.source, Source::Timer(_))))
        .map(|n| n.id.as_str())
        .collect();
    loop {
        let before = live.len();
        for n in &graph.nodes {
            let fed =
                n.inputs.iter().any(|i| matches!(&i.source, Source::Node { node, .. } if live.contains(node.as_str())));
            if fed {
                live.insert(&n.id);
            }
        }
        if live.len() == before {
            break;
        }
    }
    graph
        .nodes
        .iter()
        .filter(|n| !live.contains(n.id.as_str()))
        .map(|n| {
            (
                n.pos,
                format!(
                    "node `{}` can never receive an input: no timer and no node without inputs feeds it (a cycle with no source?)",
                    n.id
                ),
            )
        })
        .collect()
}
