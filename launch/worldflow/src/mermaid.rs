//! `worldflow graph`: the wiring of a graph as a mermaid flowchart.

use std::fmt::Write;

use crate::catalog;
use crate::graph::{Graph, Source};

pub fn to_mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    for n in &graph.nodes {
        let kind = n.path.as_deref().unwrap_or("?");
        let _ = writeln!(out, "  {}[\"{}<br/><small>{}</small>\"]", n.id, n.id, kind);
    }
    for n in &graph.nodes {
        for i in &n.inputs {
            match &i.source {
                Source::Timer(t) => {
                    let timer_id = format!("timer_{}", t.replace('/', "_"));
                    let _ = writeln!(out, "  {timer_id}((\"{t}\")) -- {} --> {}", i.name, n.id);
                }
                Source::Node { node, output } => {
                    let ty = graph
                        .nodes
                        .iter()
                        .find(|s| &s.id == node)
                        .and_then(|s| s.path.as_deref())
                        .and_then(catalog::find)
                        .and_then(|k| k.output_type(output))
                        .map(|t| format!(" : {}", t.name()))
                        .unwrap_or_default();
                    let label = if *output == i.name {
                        format!("{output}{ty}")
                    } else {
                        format!("{output} → {}{ty}", i.name)
                    };
                    let _ = writeln!(out, "  {node} -- \"{label}\" --> {}", n.id);
                }
            }
        }
    }
    out
}
