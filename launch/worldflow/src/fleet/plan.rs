//! Where a fleet graph's nodes run: every node names a machine (`deploy: {machine: ID}` on the node, or once
//! at the top of the graph for the nodes that name none), and one daemon serves each machine.
//!
//! Pure functions over the dora descriptor: the placement, the machines a coordinator is missing, and the
//! status lines `fleet start` prints.

use std::collections::BTreeMap;

use dora_message::descriptor::Descriptor;

/// One machine of a fleet graph and the nodes placed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub id: String,
    /// Node ids, in graph order.
    pub nodes: Vec<String>,
}

/// Every node of a graph on its machine. Machines are in the order the graph first names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub machines: Vec<Machine>,
}

/// A graph that cannot run on a fleet as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error(
        "no node names a machine: a fleet graph places its nodes with `deploy: {{machine: ID}}` (on each node, \
         or once at the top for all); run a graph without placement with `worldflow run`"
    )]
    NotAFleetGraph,
    #[error(
        "node(s) without a machine: {} (expected `deploy: {{machine: ID}}` on each, or a top-level `deploy: \
         {{machine: ID}}` for the nodes that name none)",
        .nodes.join(", ")
    )]
    Unplaced { nodes: Vec<String> },
    #[error("node `{node}`: `deploy: {{machine: …}}` is empty (expected a machine id)")]
    EmptyMachine { node: String },
}

/// The machine a node runs on: its own `deploy.machine`, else the graph's top-level one.
fn machine_of<'a>(descriptor: &'a Descriptor, node: &'a dora_message::descriptor::Node) -> Option<&'a str> {
    node.deploy
        .as_ref()
        .and_then(|d| d.machine.as_deref())
        .or_else(|| descriptor.deploy.as_ref().and_then(|d| d.machine.as_deref()))
}

/// The placement of every node. Errors when no node names a machine, or when some do and others do not.
pub fn placement(descriptor: &Descriptor) -> Result<Placement, PlacementError> {
    let mut machines: Vec<Machine> = Vec::new();
    let mut unplaced = Vec::new();
    for node in &descriptor.nodes {
        let id = node.id.to_string();
        match machine_of(descriptor, node).map(str::trim) {
            None => unplaced.push(id),
            Some("") => return Err(PlacementError::EmptyMachine { node: id }),
            Some(m) => match machines.iter_mut().find(|x| x.id == m) {
                Some(x) => x.nodes.push(id),
                None => machines.push(Machine { id: m.to_owned(), nodes: vec![id] }),
            },
        }
    }
    if machines.is_empty() {
        return Err(PlacementError::NotAFleetGraph);
    }
    if !unplaced.is_empty() {
        return Err(PlacementError::Unplaced { nodes: unplaced });
    }
    Ok(Placement { machines })
}

/// Gives every node without its own `deploy` the graph's top-level one: dora's coordinator places nodes by
/// their own `deploy` only.
pub fn apply_top_level_deploy(descriptor: &mut Descriptor) {
    if let Some(top) = descriptor.deploy.clone() {
        for node in descriptor.nodes.iter_mut().filter(|n| n.deploy.is_none()) {
            node.deploy = Some(top.clone());
        }
    }
}

impl Placement {
    pub fn machine_ids(&self) -> Vec<&str> {
        self.machines.iter().map(|m| m.id.as_str()).collect()
    }

    /// The graph's machines that no connected daemon serves, in graph order.
    pub fn missing<'a>(&'a self, connected: &[String]) -> Vec<&'a str> {
        self.machine_ids().into_iter().filter(|m| !connected.iter().any(|c| c == m)).collect()
    }

    /// The machine a node is placed on.
    pub fn machine_of_node(&self, node: &str) -> Option<&str> {
        self.machines.iter().find(|m| m.nodes.iter().any(|n| n == node)).map(|m| m.id.as_str())
    }

    /// One line per machine: its id, padded, then its nodes.
    pub fn status_lines(&self) -> String {
        let width = self.machines.iter().map(|m| m.id.len()).max().unwrap_or(0);
        self.machines.iter().map(|m| format!("  {:<width$}  {}\n", m.id, m.nodes.join(", "))).collect()
    }
}

/// The error for machines of a graph that no daemon serves, naming each and the machines that are there.
pub fn missing_machines_message(missing: &[&str], connected: &[String], coordinator: &str) -> String {
    let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
    let there = if connected.is_empty() {
        "no daemon is connected".to_owned()
    } else {
        let mut c = connected.to_vec();
        c.sort();
        format!("connected: {}", c.join(", "))
    };
    format!(
        "machine{} {} of the graph: no daemon serves {} at the coordinator {coordinator} ({there}); start one \
         with `worldflow fleet daemon --coordinator {coordinator} --machine-id ID`",
        if missing.len() > 1 { "s" } else { "" },
        names.join(", "),
        if missing.len() > 1 { "them" } else { "it" },
    )
}

/// Node outcomes grouped per machine, for the end-of-run summary: machine → (ok count, failures).
pub fn results_by_machine(
    placement: &Placement,
    results: &BTreeMap<String, Result<(), String>>,
) -> Vec<(String, usize, Vec<String>)> {
    placement
        .machines
        .iter()
        .map(|m| {
            let mut ok = 0;
            let mut failed = Vec::new();
            for n in &m.nodes {
                match results.get(n) {
                    Some(Ok(())) => ok += 1,
                    Some(Err(e)) => failed.push(format!("node `{n}` failed: {e}")),
                    None => failed.push(format!("node `{n}`: no result (its daemon did not report it)")),
                }
            }
            (m.id.clone(), ok, failed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(yaml: &str) -> Descriptor {
        serde_yaml::from_str(yaml).unwrap()
    }

    const TWO: &str = "nodes:\n  - id: a\n    path: x\n    deploy: {machine: sim}\n  - id: b\n    path: x\n    deploy: {machine: render}\n  - id: c\n    path: x\n    deploy: {machine: sim}\n";

    #[test]
    fn nodes_are_grouped_by_machine_in_graph_order() {
        let p = placement(&descriptor(TWO)).unwrap();
        assert_eq!(p.machine_ids(), ["sim", "render"]);
        assert_eq!(p.machines[0].nodes, ["a", "c"]);
        assert_eq!(p.machine_of_node("b"), Some("render"));
        assert_eq!(p.status_lines(), "  sim     a, c\n  render  b\n");
    }

    #[test]
    fn a_top_level_machine_places_the_nodes_that_name_none() {
        let mut d = descriptor("deploy: {machine: laptop}\nnodes:\n  - id: a\n    path: x\n  - id: b\n    path: x\n    deploy: {machine: gpu}\n");
        let p = placement(&d).unwrap();
        assert_eq!(p.machine_ids(), ["laptop", "gpu"]);
        apply_top_level_deploy(&mut d);
        assert_eq!(d.nodes[0].deploy.as_ref().unwrap().machine.as_deref(), Some("laptop"));
        assert_eq!(d.nodes[1].deploy.as_ref().unwrap().machine.as_deref(), Some("gpu"));
    }

    #[test]
    fn unplaced_nodes_and_graphs_without_machines_are_errors() {
        let e = placement(&descriptor("nodes:\n  - id: a\n    path: x\n")).unwrap_err();
        assert_eq!(e, PlacementError::NotAFleetGraph);
        let e = placement(&descriptor(
            "nodes:\n  - id: a\n    path: x\n    deploy: {machine: m}\n  - id: b\n    path: x\n  - id: c\n    path: x\n",
        ))
        .unwrap_err();
        assert!(e.to_string().starts_with("node(s) without a machine: b, c"), "{e}");
        let e = placement(&descriptor("nodes:\n  - id: a\n    path: x\n    deploy: {machine: ' '}\n")).unwrap_err();
        assert!(e.to_string().contains("node `a`"), "{e}");
    }

    #[test]
    fn missing_machines_are_named_with_what_is_connected() {
        let p = placement(&descriptor(TWO)).unwrap();
        assert_eq!(p.missing(&["sim".into()]), ["render"]);
        assert!(p.missing(&["render".into(), "sim".into(), "other".into()]).is_empty());
        let m = missing_machines_message(&["render"], &["sim".into()], "127.0.0.1:6013");
        assert!(m.starts_with("machine `render` of the graph: no daemon serves it"), "{m}");
        assert!(m.contains("(connected: sim)"), "{m}");
        let m = missing_machines_message(&["a", "b"], &[], "h:1");
        assert!(m.contains("machines `a`, `b`") && m.contains("no daemon is connected"), "{m}");
    }

    #[test]
    fn results_are_summarised_per_machine() {
        let p = placement(&descriptor(TWO)).unwrap();
        let results =
            BTreeMap::from([("a".to_owned(), Ok(())), ("b".to_owned(), Err("exited with code 1".to_owned()))]);
        let r = results_by_machine(&p, &results);
        assert_eq!(r[0], ("sim".to_owned(), 1, vec!["node `c`: no result (its daemon did not report it)".to_owned()]));
        assert_eq!(r[1], ("render".to_owned(), 0, vec!["node `b` failed: exited with code 1".to_owned()]));
    }
}
