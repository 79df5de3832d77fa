//! The node loop: settings → model → chunk generator; actions and contexts in, latents out.

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::Context as _;
use dora_node_api::{DoraNode, Event, EventStream, StopCause};
use worldflow_dit::{Branch, ChunkControls, ChunkGenerator, Guidance};
use worldflow_memory::chunking::{Chunk, ChunkAccumulator, LatentCond, CHUNK_LATENTS};
use worldflow_node_kit::{Env, ErrorChain as _};
use worldflow_protocol::arrow_io::context::{self as ctx_wire, ContextMsg};
use worldflow_protocol::arrow_io::latent::{self as wire, LatentHeader};
use worldflow_protocol::arrow_io::{action as action_io, latent as latent_io};
use worldflow_protocol::mat4_to_rows;
use worldflow_protocol::weights_notice as notice;

use crate::generated::Generated;
use crate::scheduler::{memory_indices, Scheduler};
use crate::settings::{model_of, DitModel, Settings, SETTINGS};

/// Generates one chunk with `gen`.
pub fn generate(
    gen: &mut ChunkGenerator<'_>,
    settings: &Settings,
    weights_tag: &str,
    chunk: &Chunk,
    ctx: Option<&ContextMsg>,
) -> anyhow::Result<Generated> {
    let cfg = &settings.config;
    let memory = memory_indices(ctx, gen.frames_generated(), gen.default_memory()).context("input `context`")?;
    let controls = ChunkControls {
        actions: cfg.action_classes.map(|_| chunk.latents.iter().map(|l| l.label as u32).collect()),
        cameras: cfg.camera_attention.then(|| chunk.latents.iter().map(|l| settings.camera(l)).collect()),
    };
    let t0 = Instant::now();
    let latents =
        gen.next_chunk_with_memory(&controls, &memory).with_context(|| format!("generating chunk {}", chunk.index))?;
    let chunk_ms = t0.elapsed().as_secs_f64() * 1e3;
    let header = LatentHeader {
        agent_id: chunk.latents[0].agent_id,
        chunk: chunk.index,
        first_latent: chunk.first_latent(),
        frames: CHUNK_LATENTS,
        channels: cfg.out_dim,
        height: settings.latent_height,
        width: settings.latent_width,
        ticks: chunk.latents.iter().map(|l| l.tick).collect(),
        sim_time_ns: chunk.latents.iter().map(|l| l.sim_time_ns).collect(),
        world_from_camera: chunk.latents.iter().map(|l| mat4_to_rows(&l.world_from_camera)).collect(),
        weights: weights_tag.to_owned(),
        chunk_ms,
    };
    if latents.data.len() != header.payload_len() / 4 {
        anyhow::bail!(
            "chunk {}: the generator returned {} values, expected {} ({:?})",
            chunk.index,
            latents.data.len(),
            header.payload_len() / 4,
            latents.shape
        );
    }
    Ok(Generated { header, cfhw: latents.data })
}

pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let env = Env::from_process(SETTINGS);
    if model_of(&env)? == DitModel::MatrixGame {
        return crate::matrixgame::run(node, events, &env);
    }
    let settings = Settings::from_env()?;
    let node_id = node.id().to_string();
    let source = settings.weights_source();
    let cfg = &settings.config;
    let t0 = Instant::now();
    let model = settings.load_backend()?;
    notice::announce(
        &settings.out_dir,
        &node_id,
        "DiT",
        &source,
        serde_json::json!({
            "model": format!("{:?}", settings.model), "config": settings.config_name, "quantize": format!("{:?}", settings.weight_format), "device": model.device(),
            "dim": cfg.dim, "layers": cfg.num_layers, "heads": cfg.num_heads,
            "actions": cfg.action_classes.is_some(), "camera_attention": cfg.camera_attention,
            "latent": [cfg.out_dim, settings.latent_height, settings.latent_width],
            "steps": settings.steps,
        }),
    )?;
    let weights_tag = source.tag();
    eprintln!(
        "dit-engine: {} (dim {}, {} layers) on {}, latent {}×{}×{}, {} steps, loaded in {:.0} ms",
        settings.config_name,
        cfg.dim,
        cfg.num_layers,
        model.device(),
        cfg.out_dim,
        settings.latent_height,
        settings.latent_width,
        settings.steps,
        t0.elapsed().as_secs_f64() * 1e3
    );
    if settings.model == DitModel::WorldPlayWan {
        eprintln!("dit-engine: {}", crate::settings::worldplay::describe(&settings));
    }
    // No text encoder in the loop: the empty prompt (zero context, as upstream pads).
    let (prompt, rows) = settings.empty_prompt();
    let text = model.encode_text(&prompt, rows).context("encoding the empty prompt")?;
    let branch = Branch { text, use_actions: cfg.action_classes.is_some(), use_camera: cfg.camera_attention };
    let mut gen = ChunkGenerator::new(model.as_ref(), settings.gen_config(), Guidance::None, vec![branch])
        .context("starting the chunk generator")?;
    gen.spill_history(&settings.out_dir, settings.history_ram_latents)
        .with_context(|| format!("setting HISTORY_RAM_LATENTS={}", settings.history_ram_latents))?;
    let needs_context = node.node_config().inputs.keys().any(|k| k.as_str() == "context");
    let mut acc = ChunkAccumulator::new();
    let mut sched = Scheduler::new(needs_context);
    let mut times = Vec::new();
    let mut hint: Option<ContextMsg> = None;
    'run: while let Some(event) = events.recv() {
        if take_event(event, &mut acc, &mut sched, &mut hint)?.is_break() {
            break;
        }
        // Take in every event already delivered before generating: dora's scheduler hands the inputs out in
        // turn, so one event per generated chunk would let `context` (one per chunk) run ahead of `action`
        // (four per chunk) whenever generation is slower than the stream.
        while let Ok(event) = events.try_recv() {
            if take_event(event, &mut acc, &mut sched, &mut hint)?.is_break() {
                break 'run;
            }
        }
        while let Some((chunk, ctx)) = sched.pop_ready() {
            let _span = tracing::info_span!("generate_chunk", chunk = chunk.index).entered();
            let g = generate(&mut gen, &settings, &weights_tag, &chunk, ctx.as_ref())?;
            eprintln!(
                "dit-engine: chunk {} (ticks {}..={}, {} context latents) in {:.0} ms",
                chunk.index,
                g.header.ticks[0],
                g.header.ticks[CHUNK_LATENTS - 1],
                ctx.as_ref()
                    .map(|c| c.context.len())
                    .unwrap_or_else(|| gen.default_memory().len().min(chunk.first_latent() as usize)),
                g.header.chunk_ms
            );
            times.push(g.header.chunk_ms);
            let (c, hw) = (g.header.channels, g.header.height * g.header.width);
            let cfhw = &g.cfhw;
            node.send_output_raw(
                "latent".to_owned().into(),
                latent_io::encode(&g.header),
                g.header.payload_len(),
                |out| wire::write_frame_major(cfhw, c, CHUNK_LATENTS, hw, out),
            )
            .with_chain_context(|| format!("sending the latents of chunk {}", chunk.index))?;
        }
        prefill_hint(&mut gen, &sched, &mut hint)?;
    }
    let mean = if times.is_empty() { 0.0 } else { times.iter().sum::<f64>() / times.len() as f64 };
    let p = gen.prefill_stats();
    eprintln!(
        "dit-engine: {} chunks ({} latents), mean {mean:.0} ms per chunk; memory prefilled ahead from a hint and used \
         {} time(s), dropped {}, prefilled in the chunk {}; {} trailing action(s) did not fill a chunk; {} chunk(s) \
         of actions and {} context(s) left unmatched; weights {weights_tag}",
        sched.handed_out(),
        gen.frames_generated(),
        p.ahead_used,
        p.ahead_dropped,
        p.in_chunk,
        acc.incomplete(),
        sched.pending().0,
        sched.pending().1
    );
    Ok(())
}

/// Prefills the memory of the next chunk from the memory-retriever's `context_hint` while the engine waits for
/// the chunk's last action: that forward leaves the action-to-frame path whenever the guess is right (the
/// chunk checks it against its real context). A hint for a later chunk waits for the chunks before it; one
/// for a chunk already generated, or whose own context is there, is dropped.
fn prefill_hint(gen: &mut ChunkGenerator<'_>, sched: &Scheduler, hint: &mut Option<ContextMsg>) -> anyhow::Result<()> {
    let Some(h) = hint.take_if(|h| h.chunk <= sched.handed_out()) else { return Ok(()) };
    if h.chunk < sched.handed_out() || sched.context_ready(h.chunk) {
        return Ok(());
    }
    let memory = memory_indices(Some(&h), gen.frames_generated(), Vec::new()).context("input `context_hint`")?;
    if memory.is_empty() {
        return Ok(()); // the first chunk has no memory
    }
    let _span = tracing::info_span!("prefill_memory", chunk = h.chunk).entered();
    gen.prefill_memory(&memory).with_context(|| format!("prefilling the memory of chunk {} from its hint", h.chunk))?;
    Ok(())
}

/// Hands one event to the chunk accumulator or the scheduler; `Break` on a manual stop. `AllInputsClosed` is
/// yielded *before* inputs still queued (dora's scheduler puts control events first), so it does not stop:
/// the stream ends by itself.
fn take_event(
    event: Event,
    acc: &mut ChunkAccumulator,
    sched: &mut Scheduler,
    hint: &mut Option<ContextMsg>,
) -> anyhow::Result<ControlFlow<()>> {
    match event {
        Event::Input { id, data, .. } if id.as_str() == "action" => {
            let action = action_io::decode(data.as_array().as_ref()).context("input `action`")?;
            let cond = LatentCond::from_action(&action).chain_context("input `action`")?;
            if let Some(chunk) = acc.push(cond).chain_context("input `action`")? {
                sched.add_chunk(chunk).context("input `action`")?;
            }
        }
        Event::Input { id, data, .. } if id.as_str() == "context" => {
            let ctx = ctx_wire::decode(data.as_array().as_ref()).chain_context("input `context`")?;
            sched.add_context(ctx).context("input `context`")?;
        }
        // Only the newest guess counts.
        Event::Input { id, data, .. } if id.as_str() == "context_hint" => {
            *hint = Some(ctx_wire::decode(data.as_array().as_ref()).chain_context("input `context_hint`")?);
        }
        Event::Stop(StopCause::Manual) => return Ok(ControlFlow::Break(())),
        _ => {}
    }
    Ok(ControlFlow::Continue(()))
}
