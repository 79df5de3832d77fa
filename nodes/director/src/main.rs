fn main() -> anyhow::Result<()> {
    let (node, events) = dora_node_api::DoraNode::init_from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    let _timings = worldflow_telemetry::SpanTimes::install(node.id().as_ref(), &worldflow_protocol::output_dir());
    worldflow_director::run(node, events)
}
