//! Checks of a graph as a whole, for `validate`: duplicate keys anywhere in the file, timer periods a clock
//! can keep, and nodes that nothing can ever start (a cycle with no timer, no input-free node and no node
//! that emits on its own); and the scenario files that nodes name (they load, and hold the egos the director's
//! `agentK` inputs drive).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use worldflow_world::Scenario;

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

/// The scenarios the nodes' `SCENARIO` settings name, read from `folder` (the graph's folder, where the nodes
/// run): each must load (the file's own error, field and line, is passed on), hold at least one ego, and, for
/// the director, one ego for every `agentK` input it is wired to (agent K drives `egos[K]`).
pub fn scenarios(graph: &Graph, folder: &Path) -> Vec<(Pos, String)> {
    let mut loaded: BTreeMap<&str, Result<usize, String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for node in &graph.nodes {
        let Some(kind) = node.path.as_deref().and_then(catalog::find) else { continue };
        if !kind.settings.contains(&"SCENARIO") {
            continue;
        }
        let Some((_, setting, pos)) = node.env.iter().find(|(k, _, _)| k == "SCENARIO") else { continue };
        let egos = loaded.entry(setting).or_insert_with(|| ego_count(setting, folder));
        let egos = match egos {
            Ok(egos) => *egos,
            Err(e) => {
                problems.push((*pos, format!("node `{}`: SCENARIO: {e}", node.id)));
                continue;
            }
        };
        if egos == 0 {
            problems.push((
                *pos,
                format!("node `{}`: SCENARIO `{setting}` has no `egos:` (expected at least one ego agent)", node.id),
            ));
            continue;
        }
        if kind.binary != "worldflow-director" {
            continue;
        }
        for input in &node.inputs {
            let agent = input.name.strip_prefix("agent").and_then(|k| k.parse::<usize>().ok());
            if let Some(k) = agent.filter(|k| *k >= egos) {
                problems.push((
                    input.pos,
                    format!(
                        "node `{}`: input `{}` drives egos[{k}], but SCENARIO `{setting}` has {egos} ego(s) (agent0..agent{})",
                        node.id,
                        input.name,
                        egos - 1
                    ),
                ));
            }
        }
    }
    problems
}

/// How many egos the scenario a `SCENARIO` setting names holds, or why it does not load.
fn ego_count(setting: &str, folder: &Path) -> Result<usize, String> {
    let scenario = match setting {
        "" | "builtin" => Ok(Scenario::default()),
        path => Scenario::from_file(&folder.join(path)),
    };
    scenario.map(|s| s.egos.len()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod scenario_tests {
    use crate::validate::validate_file;

    const GRAPH: &str = "nodes:\n  - id: sensors\n    path: worldflow-sensors\n    inputs:\n      tick: dora/timer/millis/100\n    outputs: [agent0, agent1]\n  - id: director\n    path: worldflow-director\n    inputs:\n      agent0: sensors/agent0\n      agent1: sensors/agent1\n    outputs: [world, ego_pose]\n    env:\n      SCENARIO: s.yaml\n";

    /// Validates GRAPH beside a scenario file holding `scenario`; the errors, or none.
    fn errors_with(scenario: Option<&str>, name: &str) -> Vec<String> {
        let dir = std::env::temp_dir().join(format!("wf-scenario-check-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(text) = scenario {
            std::fs::write(dir.join("s.yaml"), text).unwrap();
        }
        std::fs::write(dir.join("g.yml"), GRAPH).unwrap();
        let result = validate_file(&dir.join("g.yml"));
        std::fs::remove_dir_all(&dir).unwrap();
        result.err().map(|e| e.lines).unwrap_or_default()
    }

    #[test]
    fn a_directors_scenario_must_load_and_hold_the_wired_agents() {
        let two = "egos:\n  - {name: a, kind: car, x_m: 44.25, y_m: 20.0, yaw_deg: 90.0}\n  - {name: b, kind: car, x_m: 44.25, y_m: 40.0, yaw_deg: 90.0}\n";
        assert_eq!(errors_with(Some(two), "two"), Vec::<String>::new());

        let none = errors_with(Some("seed: 3\n"), "none");
        assert_eq!(none.len(), 1, "{none:?}");
        assert!(none[0].contains("g.yml:14:") && none[0].contains("has no `egos:`"), "{none:?}");

        let one = errors_with(Some("egos:\n  - {name: a, kind: car, x_m: 44.25, y_m: 20.0, yaw_deg: 90.0}\n"), "one");
        assert_eq!(one.len(), 1, "{one:?}");
        assert!(one[0].contains("g.yml:11:") && one[0].contains("`agent1` drives egos[1]"), "{one:?}");

        let missing = errors_with(None, "missing");
        assert!(missing.len() == 1 && missing[0].contains("SCENARIO") && missing[0].contains("s.yaml"), "{missing:?}");

        let bad = errors_with(Some("egos: 5\n"), "bad");
        assert!(bad.len() == 1 && bad[0].contains("s.yaml"), "{bad:?}");
    }
}
