//! `worldflow validate`: static checks of a dataflow file before anything runs.
//!
//! Checks, each reported as `file:line:column: message`: YAML syntax; unknown keys (root, node, input);
//! duplicate or missing node ids; inputs whose source node or output does not exist (dangling); required
//! inputs left unconnected; unknown `env:` settings of worldflow nodes; message-type mismatches between an
//! output and the input it feeds; placement (`deploy:` keys; in a fleet graph, where some node names a machine,
//! every node has one; with a known list of machines, no other is named); duplicate keys, timer periods and nodes
//! nothing can start (`graph_checks`); and finally dora's own descriptor parser, so that what passes here runs.

use std::collections::BTreeMap;

use crate::catalog::{self, MsgType};
pub use crate::graph::{Graph, GraphInput, GraphNode, Source};
use crate::graph_checks;
use crate::yaml_tree::{self, Node, Pos, Value};

const ROOT_KEYS: &[&str] = &[
    "nodes",
    "env",
    "deploy",
    "debug",
    "health_check_interval",
    "strict_types",
    "exit_when_nodes_finish",
    "type_rules",
];
const NODE_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "path",
    "args",
    "env",
    "build",
    "git",
    "branch",
    "tag",
    "rev",
    "inputs",
    "outputs",
    "input_types",
    "output_types",
    "output_framing",
    "output_metadata",
    "restart_policy",
    "max_restarts",
    "restart_delay",
    "health_check_timeout",
    "cpu_affinity",
    "shared_memory_pool_size",
    "deploy",
    "send_stdout_as",
    "send_logs_as",
    "min_log_level",
    "max_log_size",
    "max_rotated_files",
];
const INPUT_KEYS: &[&str] = &["source", "queue_size", "queue_policy", "input_timeout"];
const DEPLOY_KEYS: &[&str] = &["machine", "labels", "working_dir", "distribute"];

/// What validation checks beyond the graph itself.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// The machine ids a fleet offers (`worldflow validate --machines a,b`): a `deploy: {machine: …}` naming
    /// another is an error. `None`: any id.
    pub machines: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub message: String,
}

struct Checker<'a> {
    file: &'a str,
    diags: Vec<Diagnostic>,
    options: &'a ValidateOptions,
}

impl Checker<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic { pos, message: message.into() });
    }

    fn check_keys(&mut self, map: &Node, allowed: &[&str], what: &str) {
        if let Some(entries) = map.as_map() {
            for (k, _) in entries {
                let key = k.as_str().unwrap_or("");
                if !allowed.contains(&key) {
                    self.error(k.pos, format!("unknown {what} key `{key}` (expected one of: {})", allowed.join(", ")));
                }
            }
        }
    }

    /// Checks a `deploy:` map (of a node or of the graph) and returns its machine id, if it names one.
    fn deploy(&mut self, deploy: &Node, owner: &str) -> Option<String> {
        if deploy.as_map().is_none() {
            self.error(
                deploy.pos,
                format!("{owner}: `deploy:` must be a map such as `{{machine: robot1}}`, found {}", deploy.kind()),
            );
            return None;
        }
        self.check_keys(deploy, DEPLOY_KEYS, "deploy");
        let m = deploy.get("machine")?;
        let id = match m.as_str().map(str::trim) {
            Some(id) if !id.is_empty() && !id.contains(char::is_whitespace) => id.to_owned(),
            _ => {
                self.error(m.pos, format!("{owner}: `deploy.machine` must be a machine id (a name without spaces)"));
                return None;
            }
        };
        if let Some(known) = self.options.machines.as_ref().filter(|k| !k.contains(&id)) {
            self.error(
                m.pos,
                format!("{owner}: unknown machine `{id}` (expected one of --machines: {})", known.join(", ")),
            );
        }
        Some(id)
    }

    /// In a fleet graph (some node names a machine), every node has one.
    fn placement(&mut self, graph: &Graph) {
        if graph.nodes.iter().all(|n| n.machine.is_none()) {
            return;
        }
        for n in graph.nodes.iter().filter(|n| n.machine.is_none()) {
            self.error(
                n.pos,
                format!(
                    "node `{}` has no machine, but other nodes are placed: in a fleet graph every node names one \
                     (`deploy: {{machine: ID}}` on the node, or once at the top of the graph for all)",
                    n.id
                ),
            );
        }
    }

    fn parse_source(&mut self, text: &str, pos: Pos) -> Option<Source> {
        if let Some(rest) = text.strip_prefix("dora/") {
            let parts: Vec<&str> = rest.split('/').collect();
            let ok = parts.len() == 3
                && parts[0] == "timer"
                && parts[2].parse::<u64>().is_ok_and(|v| graph_checks::timer_in_range(parts[1], v));
            if !ok {
                self.error(
                    pos,
                    format!(
                        "input source `{text}`: expected a timer like `dora/timer/millis/100` or `dora/timer/hz/24` \
                         (a period of 1 ms to {} s, at most {} Hz)",
                        graph_checks::MAX_TIMER_SECS,
                        graph_checks::MAX_TIMER_HZ
                    ),
                );
                return None;
            }
            return Some(Source::Timer(text.to_owned()));
        }
        match text.split_once('/') {
            Some((node, output)) if !node.is_empty() && !output.is_empty() && !output.contains('/') => {
                Some(Source::Node { node: node.into(), output: output.into() })
            }
            _ => {
                self.error(pos, format!("input source `{text}`: expected `<node id>/<output id>`"));
                None
            }
        }
    }

    fn node(&mut self, n: &Node, top_machine: Option<&str>) -> Option<GraphNode> {
        if n.as_map().is_none() {
            self.error(n.pos, format!("expected a node (a map with `id:` and `path:`), found {}", n.kind()));
            return None;
        }
        self.check_keys(n, NODE_KEYS, "node");
        let id = match n.get("id").and_then(Node::as_str) {
            Some(id) if !id.is_empty() && !id.contains('/') => id.to_owned(),
            Some(id) => {
                self.error(n.get("id").unwrap().pos, format!("node id `{id}`: expected a non-empty name without `/`"));
                return None;
            }
            None => {
                self.error(n.pos, "node without `id:`");
                return None;
            }
        };
        let path = n.get("path").and_then(Node::as_str).map(str::to_owned);
        if n.get("path").is_none() && n.get("build").is_none() {
            self.error(n.pos, format!("node `{id}`: missing `path:` (a worldflow node binary such as `worldflow-sensors`, or an executable)"));
        }
        let mut outputs = Vec::new();
        if let Some(o) = n.get("outputs") {
            match o.as_seq() {
                Some(items) => {
                    for item in items {
                        match item.as_str() {
                            Some(s) => outputs.push(s.to_owned()),
                            None => self
                                .error(item.pos, format!("node `{id}`: outputs must be names, found {}", item.kind())),
                        }
                    }
                }
                None => self.error(o.pos, format!("node `{id}`: `outputs:` must be a list of names")),
            }
        }
        let mut inputs = Vec::new();
        if let Some(i) = n.get("inputs") {
            match i.as_map() {
                Some(entries) => {
                    for (k, v) in entries {
                        let name = k.as_str().unwrap_or("").to_owned();
                        let (text, pos) = match &v.value {
                            Value::Scalar(s) => (s.clone(), v.pos),
                            Value::Map(_) => {
                                self.check_keys(v, INPUT_KEYS, "input");
                                if let Some(policy) = v.get("queue_policy") {
                                    if !matches!(policy.as_str(), Some("drop_oldest") | Some("backpressure")) {
                                        self.error(
                                            policy.pos,
                                            "queue_policy: expected `drop_oldest` or `backpressure`",
                                        );
                                    }
                                }
                                if let Some(q) = v.get("queue_size") {
                                    if q.as_str().and_then(|s| s.parse::<usize>().ok()).filter(|q| *q > 0).is_none() {
                                        self.error(
                                            q.pos,
                                            "queue_size: expected a positive integer (queues are bounded)",
                                        );
                                    }
                                }
                                match v.get("source").and_then(Node::as_str) {
                                    Some(s) => (s.to_owned(), v.get("source").unwrap().pos),
                                    None => {
                                        self.error(v.pos, format!("input `{name}` of node `{id}`: missing `source:`"));
                                        continue;
                                    }
                                }
                            }
                            Value::Seq(_) => {
                                self.error(
                                    v.pos,
                                    format!(
                                        "input `{name}` of node `{id}`: expected `node/output` or a map with `source:`"
                                    ),
                                );
                                continue;
                            }
                        };
                        if let Some(source) = self.parse_source(&text, pos) {
                            inputs.push(GraphInput { name, source, pos });
                        }
                    }
                }
                None => self.error(i.pos, format!("node `{id}`: `inputs:` must be a map of input name to source")),
            }
        }
        if let (Some(kind), Some(env)) = (path.as_deref().and_then(catalog::find), n.get("env")) {
            if let Some(entries) = env.as_map() {
                for (k, _) in entries {
                    let key = k.as_str().unwrap_or("");
                    if !kind.settings.contains(&key) {
                        self.error(
                            k.pos,
                            format!(
                                "node `{id}` ({}): unknown setting `{key}` (expected one of: {})",
                                kind.binary,
                                kind.settings.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        let env = n
            .get("env")
            .and_then(Node::as_map)
            .unwrap_or(&[])
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned(), v.pos)))
            .collect();
        let machine = match n.get("deploy") {
            Some(d) => self.deploy(d, &format!("node `{id}`")),
            None => None,
        }
        .or_else(|| top_machine.map(str::to_owned));
        Some(GraphNode { id, path, inputs, outputs, machine, env, pos: n.pos })
    }

    fn wiring(&mut self, graph: &Graph) {
        let mut by_id: BTreeMap<&str, &GraphNode> = BTreeMap::new();
        for n in &graph.nodes {
            if by_id.insert(&n.id, n).is_some() {
                self.error(n.pos, format!("duplicate node id `{}`", n.id));
            }
        }
        for n in &graph.nodes {
            let kind = n.path.as_deref().and_then(catalog::find);
            if let Some(kind) = kind {
                for o in &n.outputs {
                    if kind.output_type(o).is_none() {
                        let known: Vec<&str> = kind.outputs.iter().map(|(n, _)| *n).collect();
                        self.error(
                            n.pos,
                            format!(
                                "node `{}` ({}) has no output `{o}` (it has: {})",
                                n.id,
                                kind.binary,
                                known.join(", ")
                            ),
                        );
                    }
                }
                if let catalog::Inputs::Fixed(list) = &kind.inputs {
                    for (name, _, required) in list.iter() {
                        if *required && !n.inputs.iter().any(|i| i.name == *name) {
                            self.error(
                                n.pos,
                                format!("node `{}` ({}): required input `{name}` is not connected", n.id, kind.binary),
                            );
                        }
                    }
                }
            }
            for input in &n.inputs {
                let accepted = match kind {
                    Some(k) => match k.input_types(&input.name) {
                        Some(t) => Some(t),
                        None => {
                            self.error(
                                input.pos,
                                format!("node `{}` ({}) has no input `{}`", n.id, k.binary, input.name),
                            );
                            continue;
                        }
                    },
                    None => None,
                };
                let source_type = match &input.source {
                    Source::Timer(_) => Some(MsgType::Tick),
                    Source::Node { node, output } => match by_id.get(node.as_str()) {
                        None => {
                            self.error(
                                input.pos,
                                format!(
                                    "input `{}` of node `{}` is dangling: no node `{node}` in this graph",
                                    input.name, n.id
                                ),
                            );
                            continue;
                        }
                        Some(src) => {
                            if !src.outputs.iter().any(|o| o == output) {
                                self.error(input.pos, format!("input `{}` of node `{}` is dangling: node `{node}` declares no output `{output}` (outputs: {})", input.name, n.id, src.outputs.join(", ")));
                                continue;
                            }
                            src.path.as_deref().and_then(catalog::find).and_then(|k| k.output_type(output))
                        }
                    },
                };
                if let (Some(accepted), Some(t)) = (accepted, source_type) {
                    if !accepted.contains(&t) {
                        let names: Vec<&str> = accepted.iter().map(|t| t.name()).collect();
                        self.error(
                            input.pos,
                            format!(
                                "type mismatch: input `{}` of node `{}` expects {} but its source sends {}",
                                input.name,
                                n.id,
                                names.join(" or "),
                                t.name()
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Every error found in a graph: one `file:line:column: message` per entry, in file order. Displays as
/// those lines joined by newlines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .lines.join("\n"))]
pub struct GraphErrors {
    pub lines: Vec<String>,
}

impl IntoIterator for GraphErrors {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.lines.into_iter()
    }
}

/// Validates graph text; `file` names it in the messages. Returns the wiring, or every error found.
pub fn validate_text(text: &str, file: &str) -> Result<Graph, GraphErrors> {
    validate_text_with(text, file, &ValidateOptions::default())
}

/// [`validate_text`] with options (the machines a fleet offers).
pub fn validate_text_with(text: &str, file: &str, options: &ValidateOptions) -> Result<Graph, GraphErrors> {
    let root = yaml_tree::parse(text).map_err(|e| GraphErrors {
        lines: vec![format!("{file}:{}:{}: invalid YAML: {}", e.line, e.column, e.message)],
    })?;
    let mut c = Checker { file, diags: Vec::new(), options };
    let mut graph = Graph::default();
    if root.as_map().is_none() {
        c.error(root.pos, format!("expected a map with `nodes:` at the top, found {}", root.kind()));
    } else {
        for (pos, message) in graph_checks::duplicate_keys(&root) {
            c.error(pos, message);
        }
        c.check_keys(&root, ROOT_KEYS, "top-level");
        let top_machine = root.get("deploy").and_then(|d| c.deploy(d, "the graph"));
        match root.get("nodes") {
            None => c.error(root.pos, "missing `nodes:`"),
            Some(nodes) => match nodes.as_seq() {
                Some([]) => c.error(nodes.pos, "`nodes:` is empty"),
                Some(items) => graph.nodes = items.iter().filter_map(|n| c.node(n, top_machine.as_deref())).collect(),
                None => c.error(nodes.pos, "`nodes:` must be a list"),
            },
        }
        if c.diags.is_empty() {
            c.wiring(&graph);
            c.placement(&graph);
        }
        if c.diags.is_empty() {
            for (pos, message) in graph_checks::never_started(&graph) {
                c.error(pos, message);
            }
        }
    }
    if c.diags.is_empty() {
        // Last word to dora's own parser: what passes here must be accepted by the runtime.
        if let Err(e) = serde_yaml::from_str::<dora_message::descriptor::Descriptor>(text) {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
            c.error(Pos { line, column }, format!("dora rejects the descriptor: {e}"));
        }
    }
    if c.diags.is_empty() {
        Ok(graph)
    } else {
        let file = c.file;
        let mut diags = c.diags;
        diags.sort_by_key(|d| (d.pos.line, d.pos.column));
        Err(GraphErrors {
            lines: diags
                .into_iter()
                .map(|d| format!("{file}:{}:{}: {}", d.pos.line, d.pos.column, d.message))
                .collect(),
        })
    }
}

/// Reads and validates a graph file.
pub fn validate_file(path: &std::path::Path) -> Result<Graph, GraphErrors> {
    validate_file_with(path, &ValidateOptions::default())
}

/// [`validate_file`] with options (the machines a fleet offers).
pub fn validate_file_with(path: &std::path::Path, options: &ValidateOptions) -> Result<Graph, GraphErrors> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| GraphErrors { lines: vec![format!("{shown}: cannot read: {e}")] })?;
    let graph = validate_text_with(&text, &shown, options)?;
    // Nodes run in the graph's folder: the files their settings name are read from there.
    let folder = path.parent().unwrap_or(std::path::Path::new("."));
    let mut problems = graph_checks::scenarios(&graph, folder);
    if problems.is_empty() {
        return Ok(graph);
    }
    problems.sort_by_key(|(pos, _)| (pos.line, pos.column));
    Err(GraphErrors {
        lines: problems.into_iter().map(|(pos, m)| format!("{shown}:{}:{}: {m}", pos.line, pos.column)).collect(),
    })
}

#[cfg(test)]
mod deploy_tests {
    use super::*;

    const FLEET: &str = "deploy: {machine: sim}\nnodes:\n  - id: a\n    path: ./a\n  - id: b\n    path: ./b\n    deploy:\n      machine: render\n";

    fn errors(text: &str, machines: Option<&[&str]>) -> Vec<String> {
        let options = ValidateOptions { machines: machines.map(|m| m.iter().map(|s| (*s).to_owned()).collect()) };
        validate_text_with(text, "g.yml", &options).err().map(|e| e.lines).unwrap_or_default()
    }

    #[test]
    fn nodes_take_their_own_machine_or_the_graphs() {
        let g = validate_text(FLEET, "g.yml").unwrap();
        let machines: Vec<Option<&str>> = g.nodes.iter().map(|n| n.machine.as_deref()).collect();
        assert_eq!(machines, [Some("sim"), Some("render")]);
        assert!(errors(FLEET, Some(&["sim", "render", "spare"])).is_empty());
    }

    #[test]
    fn unknown_machines_are_named_against_the_list() {
        assert_eq!(
            errors(FLEET, Some(&["sim"])),
            ["g.yml:8:16: node `b`: unknown machine `render` (expected one of --machines: sim)"]
        );
    }

    #[test]
    fn a_fleet_graph_places_every_node() {
        let text = "nodes:\n  - id: a\n    path: ./a\n    deploy: {machine: m1}\n  - id: b\n    path: ./b\n";
        let e = errors(text, None);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("g.yml:5:7: node `b` has no machine, but other nodes are placed"), "{e:?}");
    }

    #[test]
    fn deploy_keys_and_machine_ids_are_checked() {
        let text = "nodes:\n  - id: a\n    path: ./a\n    deploy: {machin: m1}\n";
        let e = errors(text, None);
        assert!(e[0].starts_with("g.yml:4:14: unknown deploy key `machin` (expected one of: machine, labels"), "{e:?}");
        let e = errors("nodes:\n  - id: a\n    path: ./a\n    deploy: {machine: 'a b'}\n", None);
        assert_eq!(e, ["g.yml:4:23: node `a`: `deploy.machine` must be a machine id (a name without spaces)"]);
        let e = errors("deploy: robot\nnodes:\n  - id: a\n    path: ./a\n", None);
        assert!(e[0].starts_with("g.yml:1:9: the graph: `deploy:` must be a map"), "{e:?}");
    }
}
