//! A fleet graph made ready to send to the coordinator: validated (placement included), node binaries found
//! the way `worldflow run` finds them, every node placed and working in the graph's directory (as under
//! `worldflow run`: relative settings such as `SCENARIO` resolve there), the output directory exported.

use std::path::{Path, PathBuf};

use anyhow::Context;
use dora_message::descriptor::{Descriptor, EnvValue};
use worldflow_node_kit::LAUNCHER_OUT_DIR;

use super::plan::{self, Placement};

/// A graph ready to start.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub descriptor: Descriptor,
    pub placement: Placement,
    /// The graph file's directory (absolute): every node's working directory, unless its `deploy` names one.
    pub graph_dir: PathBuf,
}

/// Validates `graph`, places its nodes, points worldflow node paths at their binaries (built when missing, in a
/// checkout), sets each node's working directory to the graph's, and exports `out_dir` (absolute, created) as
/// `WORLDFLOW_OUT_DIR`. Each machine must hold the same binaries and graph directory at the same paths (one
/// checkout per machine at the same place, or `WORLDFLOW_BIN_DIR`).
pub fn prepare(graph: &Path, out_dir: Option<&Path>) -> anyhow::Result<Prepared> {
    let validated = crate::validate::validate_file(graph)?;
    let text = std::fs::read_to_string(graph).with_context(|| format!("reading {}", graph.display()))?;
    let mut descriptor: Descriptor =
        serde_yaml::from_str(&text).with_context(|| format!("{}: dora descriptor", graph.display()))?;
    let placement = plan::placement(&descriptor).with_context(|| graph.display().to_string())?;
    plan::apply_top_level_deploy(&mut descriptor);
    let paths: Vec<String> = validated.nodes.iter().filter_map(|n| n.path.clone()).collect();
    let binaries = crate::run::resolve_binaries(graph, &paths)?;
    for node in descriptor.nodes.iter_mut() {
        if let Some(path) = node.path.as_ref() {
            if let Some((_, bin)) = binaries.iter().find(|(name, _)| name == path) {
                node.path = Some(bin.display().to_string());
            }
        }
    }
    if let Some(out) = out_dir {
        let out = crate::out_dir::prepare_announced(out)?;
        descriptor
            .env
            .get_or_insert_with(Default::default)
            .insert(LAUNCHER_OUT_DIR.into(), EnvValue::String(out.display().to_string()));
    }
    let graph_dir = graph
        .canonicalize()
        .with_context(|| format!("graph {}", graph.display()))?
        .parent()
        .map(Path::to_path_buf)
        .with_context(|| format!("graph {} has no directory", graph.display()))?;
    // Without one, a coordinator-started node works in `<daemon's directory>/_work/<session>`.
    for deploy in descriptor.nodes.iter_mut().filter_map(|n| n.deploy.as_mut()) {
        deploy.working_dir.get_or_insert_with(|| graph_dir.clone());
    }
    Ok(Prepared { descriptor, placement, graph_dir })
}
