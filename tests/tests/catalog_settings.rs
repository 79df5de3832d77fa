//! The launcher's catalogue lists exactly the settings each node reads: every catalogue entry's `settings`
//! equal its node crate's `SETTINGS` (the names the node reads through `worldflow-node-kit`, whose reader
//! refuses undeclared names and whose per-node tests check every declared name is read), and every
//! worldflow node is in the catalogue.

use std::collections::BTreeSet;

use worldflow::catalog;

/// Every node crate of the workspace: (binary, its `SETTINGS`).
const NODES: &[(&str, &[&str])] = &[
    ("worldflow-sensors", worldflow_sensors::SETTINGS),
    ("worldflow-action-encoder", worldflow_action_encoder::SETTINGS),
    ("worldflow-recorder", worldflow_recorder::SETTINGS),
    ("worldflow-splat-renderer", worldflow_splat_renderer::SETTINGS),
    ("worldflow-director", worldflow_director::SETTINGS),
    ("worldflow-actor", worldflow_actor::SETTINGS),
    ("worldflow-memory-retriever", worldflow_memory_retriever::SETTINGS),
    ("worldflow-dit-engine", worldflow_dit_engine::SETTINGS),
    ("worldflow-vae-decoder", worldflow_vae_decoder::SETTINGS),
    ("worldflow-ros2-bridge", worldflow_ros2_bridge::SETTINGS),
    ("worldflow-zenoh-bridge", worldflow_zenoh_bridge::SETTINGS),
];

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    let set: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(set.len(), names.len(), "a name is listed twice in {names:?}");
    set
}

#[test]
fn the_catalogue_lists_exactly_the_settings_each_node_reads() {
    let mut failures = Vec::new();
    for (binary, settings) in NODES {
        match catalog::find(binary) {
            None => failures.push(format!("{binary}: not in the catalogue")),
            Some(kind) => {
                let (listed, read) = (set(kind.settings), set(settings));
                if listed != read {
                    failures.push(format!(
                        "{binary}: the catalogue lists but the node does not read {:?}; the node reads but the catalogue does not list {:?}",
                        listed.difference(&read).collect::<Vec<_>>(),
                        read.difference(&listed).collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    let known: BTreeSet<&str> = NODES.iter().map(|(b, _)| *b).collect();
    for kind in catalog::all() {
        if !known.contains(kind.binary) {
            failures.push(format!("{}: in the catalogue but not checked here (add its crate to NODES)", kind.binary));
        }
    }
    assert!(failures.is_empty(), "catalogue and nodes disagree:\n{}", failures.join("\n"));
}
