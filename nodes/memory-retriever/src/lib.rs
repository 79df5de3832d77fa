//! **memory-retriever** node: the context set of every chunk (WorldPlay memory, reference/world-models.md §2).
//!
//! Input `action`: the action-encoder's dual action (one per tick = one per latent; its pose is the latent's
//! camera). Every [`worldflow_memory::chunking::CHUNK_LATENTS`] ticks it asks [`worldflow_memory::MemoryRetriever`] which earlier
//! latents form the context of the chunk made of those ticks (the recent window, the first chunk and the
//! clips most relevant to the chunk's cameras by FOV overlap), emits it as `context` ([`wire`]), then adds the
//! chunk's poses to the history. Settings: `TEMPORAL_LATENTS` (12), `MEMORY_LATENTS` (8, first chunk
//! included).

use anyhow::Context as _;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters, Parameter, StopCause};
use worldflow_memory::{MemoryConfig, MemoryRetriever};
use worldflow_node_kit::{Env, ErrorChain as _};
use worldflow_protocol::arrow_io::action as action_io;

use worldflow_memory::chunking::{Chunk, ChunkAccumulator, LatentCond, CHUNK_LATENTS};
use worldflow_protocol::arrow_io::context::{self as wire, ContextMsg};

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] = &["TEMPORAL_LATENTS", "MEMORY_LATENTS", "OUT_DIR"];

/// The memory configuration of the process environment.
pub fn config_from_env() -> anyhow::Result<MemoryConfig> {
    config_from_settings(&Env::from_process(SETTINGS))
}

/// The memory configuration of `env`.
pub fn config_from_settings(env: &Env) -> anyhow::Result<MemoryConfig> {
    let mut cfg =
        MemoryConfig { clip_latents: CHUNK_LATENTS, first_chunk_latents: CHUNK_LATENTS, ..MemoryConfig::default() };
    cfg.temporal_latents = env.parse_or("TEMPORAL_LATENTS", cfg.temporal_latents, "a non-negative integer")?;
    cfg.memory_latents = env.parse_valid(
        "MEMORY_LATENTS",
        cfg.memory_latents,
        &format!("a multiple of {CHUNK_LATENTS} (whole clips), at least {CHUNK_LATENTS} (the first chunk)"),
        |m: &usize| *m >= CHUNK_LATENTS && m.checked_rem(CHUNK_LATENTS) == Some(0),
    )?;
    cfg.validate().context("settings TEMPORAL_LATENTS / MEMORY_LATENTS")?;
    Ok(cfg)
}

/// The node's state: the chunk accumulator and the pose history.
pub struct Memory {
    acc: ChunkAccumulator,
    retriever: MemoryRetriever,
}

impl Memory {
    pub fn new(cfg: MemoryConfig) -> anyhow::Result<Self> {
        Ok(Self { acc: ChunkAccumulator::new(), retriever: MemoryRetriever::new(cfg).chain_context("memory config")? })
    }

    /// Adds one latent's conditions; returns the context of the chunk it completes.
    pub fn on_latent(&mut self, c: LatentCond) -> anyhow::Result<Option<ContextMsg>> {
        match self.acc.push(c).chain_context("input `action`")? {
            Some(chunk) => self.context_of(&chunk).map(Some),
            None => Ok(None),
        }
    }

    /// Selects the context of `chunk` from the history before it, then appends the chunk's poses.
    fn context_of(&mut self, chunk: &Chunk) -> anyhow::Result<ContextMsg> {
        debug_assert_eq!(self.retriever.len() as u64, chunk.first_latent());
        let queries: Vec<glam::Mat4> = chunk.latents.iter().map(|l| l.world_from_camera).collect();
        let sel = self
            .retriever
            .select(&queries)
            .with_context(|| format!("selecting the memory of chunk {}", chunk.index))?;
        for q in queries {
            self.retriever.push(q).with_context(|| format!("adding the poses of chunk {}", chunk.index))?;
        }
        let u32s = |v: &[usize]| v.iter().map(|&i| i as u32).collect::<Vec<u32>>();
        Ok(ContextMsg {
            agent_id: chunk.latents[0].agent_id,
            chunk: chunk.index,
            first_latent: chunk.first_latent(),
            context: u32s(&sel.context),
            context_rope_time: sel.context_rope_time,
            query_rope_time: sel.query_rope_time,
            spatial_start: sel.spatial.iter().map(|s| s.start as u32).collect(),
            spatial_distance: sel.spatial.iter().map(|s| s.distance).collect(),
        })
    }

    pub fn incomplete(&self) -> usize {
        self.acc.incomplete()
    }
}

pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let cfg = config_from_env()?;
    eprintln!(
        "memory-retriever: temporal {} latents, memory {} latents (first chunk + clips of {CHUNK_LATENTS})",
        cfg.temporal_latents, cfg.memory_latents
    );
    let mut memory = Memory::new(cfg)?;
    let mut chunks = 0u64;
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, data, .. } if id.as_str() == "action" => {
                let _span = tracing::info_span!("retrieve_memory").entered();
                let action = action_io::decode(data.as_array().as_ref()).context("input `action`")?;
                let cond = LatentCond::from_action(&action).chain_context("input `action`")?;
                if let Some(ctx) = memory.on_latent(cond)? {
                    let mut p = MetadataParameters::new();
                    p.insert("chunk".into(), Parameter::Integer(ctx.chunk as i64));
                    p.insert("tick".into(), Parameter::Integer(action.meta.tick as i64));
                    node.send_output("context".to_owned().into(), p, wire::encode(&ctx))
                        .with_chain_context(|| format!("sending context of chunk {}", ctx.chunk))?;
                    chunks += 1;
                }
            }
            // A manual stop ends the run now. `AllInputsClosed` is yielded *before* inputs still queued
            // (dora's scheduler puts control events first), so keep receiving: the stream ends by itself.
            Event::Stop(StopCause::Manual) => break,
            _ => {}
        }
    }
    eprintln!(
        "memory-retriever: {chunks} chunk contexts; {} trailing latent(s) did not fill a chunk",
        memory.incomplete()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{Mat4, Quat, Vec3};

    fn cond(tick: u64, c2w: Mat4) -> LatentCond {
        LatentCond { agent_id: 0, tick, sim_time_ns: 0, label: 0, world_from_camera: c2w }
    }

    #[test]
    fn contexts_grow_then_select_and_reframe() {
        let mut m =
            Memory::new(MemoryConfig { clip_latents: 4, first_chunk_latents: 4, ..MemoryConfig::default() }).unwrap();
        let mut out = vec![];
        // A camera walking forward and turning: 10 chunks.
        for t in 0..40u64 {
            let c2w = Mat4::from_rotation_translation(
                Quat::from_rotation_y(0.05 * t as f32),
                Vec3::new(0.0, 0.0, 0.3 * t as f32),
            );
            if let Some(ctx) = m.on_latent(cond(t, c2w)).unwrap() {
                out.push(ctx);
            }
        }
        assert_eq!(out.len(), 10);
        assert!(out[0].context.is_empty(), "first chunk has no history");
        assert_eq!(out[0].query_rope_time, vec![0, 1, 2, 3]);
        // Chunk 5 has 20 latents of history: all of them (temporal 12 + memory 8).
        assert_eq!(out[5].context, (0..20).collect::<Vec<u32>>());
        // Chunk 9 (36 latents of history): first chunk + 1 clip + the 12 most recent = 20 latents.
        let c = &out[9];
        assert_eq!(c.context.len(), 20);
        assert_eq!(&c.context[..4], &[0, 1, 2, 3]);
        assert_eq!(&c.context[8..], &(24..36).collect::<Vec<u32>>()[..]);
        assert_eq!(c.spatial_start.len(), 1);
        assert_eq!(c.query_rope_time, vec![20, 21, 22, 23]);
        for c in &out {
            c.check().unwrap();
            assert_eq!(wire::decode(&wire::encode(c)).unwrap(), *c);
        }
    }

    #[test]
    fn memory_setting_must_be_whole_clips() {
        let e = config_from_settings(&Env::from_pairs(SETTINGS, &[("MEMORY_LATENTS", "6")])).unwrap_err().to_string();
        assert!(e.contains("MEMORY_LATENTS=`6`") && e.contains("a multiple of 4"), "{e}");
        let env = Env::from_pairs(SETTINGS, &[("TEMPORAL_LATENTS", " 16 "), ("OUT_DIR", "/tmp/x")]);
        let cfg = config_from_settings(&env).unwrap();
        assert_eq!((cfg.temporal_latents, cfg.memory_latents), (16, 8));
        assert_eq!(env.out_dir().unwrap(), std::path::PathBuf::from("/tmp/x"));
        assert_eq!(env.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
    }
}
