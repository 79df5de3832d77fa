fn main() -> anyhow::Result<()> {
    let (node, events) = dora_node_api::DoraNode::init_from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    worldflow_director::run(node, events)
}
