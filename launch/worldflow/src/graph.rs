//! The wiring of a dataflow graph as validation understands it: nodes, their inputs (from a timer or another
//! node's output), outputs and machine. Built by `validate`, read by `graph_checks` and `mermaid`.

use crate::yaml_tree::Pos;

/// Where an input's messages come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Timer(String),
    Node { node: String, output: String },
}

#[derive(Debug, Clone)]
pub struct GraphInput {
    pub name: String,
    pub source: Source,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct GraphNode {
    pub id: String,
    pub path: Option<String>,
    pub inputs: Vec<GraphInput>,
    pub outputs: Vec<String>,
    /// The machine the node is placed on (`deploy: {machine: …}` of the node, or of the graph).
    pub machine: Option<String>,
    /// The node's `env:` settings with scalar values: (key, value, position of the value).
    pub env: Vec<(String, String, Pos)>,
    pub pos: Pos,
}

/// The wiring of a graph, as far as validation understood it.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
}
