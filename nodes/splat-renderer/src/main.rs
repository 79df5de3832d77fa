use worldflow_node_kit::{Env, ErrorChain as _};

fn main() -> anyhow::Result<()> {
    let prepared = worldflow_splat_renderer::prepare()?;
    let (node, events) = dora_node_api::DoraNode::init_from_env().chain_context("starting the dora node")?;
    let out_dir = Env::from_process(worldflow_splat_renderer::SETTINGS).out_dir()?;
    let _timings = worldflow_telemetry::SpanTimes::install(node.id().as_ref(), &out_dir);
    worldflow_splat_renderer::run(node, events, prepared)
}
