//! **memory-retriever** node: the context set of every chunk (WorldPlay memory, reference/world-models.md §2).
//!
//! Input `action`: the action-encoder's dual action (one per tick = one per latent; its pose is the latent's
//! camera). Every [`worldflow_memory::chunking::CHUNK_LATENTS`] ticks it asks the memory policy which earlier
//! latents form the context of the chunk made of those ticks, emits it as `context` ([`wire`]), then adds the
//! chunk's poses to the history. When the optional output `context_hint` is wired, it also sends, once a
//! chunk lacks only its last action, a guess at that chunk's context ([`Memory::hint`]: the last pose
//! extrapolated), so that the dit-engine can prefill the memory while it waits for that action. Settings:
//! * `POLICY`: `worldflow` (default; [`worldflow_memory::MemoryRetriever`]: the recent window, the first chunk
//!   and the clips most relevant to the chunk's cameras by FOV overlap) or `worldplay`
//!   ([`worldflow_memory::WorldPlayRetriever`]: HY-WorldPlay's own `select_mem_frames_wan`: the whole history
//!   until it reaches TEMPORAL_LATENTS + MEMORY_LATENTS latents, then the recent window and the best clips);
//! * `TEMPORAL_LATENTS` (12): the most recent latents, always in the context;
//! * `MEMORY_LATENTS`: the context latents beyond the recent window, whole clips of 4: `worldflow` 8 (the first
//!   chunk + 1 clip), `worldplay` 4 (1 clip; the official `memory_frames` = 16 = 12 + 4).

use anyhow::Context as _;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters, Parameter, StopCause};
use worldflow_memory::{ContextPolicy, MemoryConfig, MemoryPolicy, WorldPlayConfig};
use worldflow_node_kit::{Env, ErrorChain as _};
use worldflow_protocol::arrow_io::action as action_io;

use worldflow_memory::chunking::{Chunk, ChunkAccumulator, LatentCond, CHUNK_LATENTS};
use worldflow_protocol::arrow_io::context::{self as wire, ContextMsg};

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] = &["POLICY", "TEMPORAL_LATENTS", "MEMORY_LATENTS", "OUT_DIR"];

/// The memory policy of the process environment.
pub fn config_from_env() -> anyhow::Result<MemoryPolicy> {
    config_from_settings(&Env::from_process(SETTINGS))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PolicyName {
    Worldflow,
    WorldPlay,
}

/// The memory policy of `env`.
pub fn config_from_settings(env: &Env) -> anyhow::Result<MemoryPolicy> {
    let policy = env.choice(
        "POLICY",
        PolicyName::Worldflow,
        &[("worldflow", PolicyName::Worldflow), ("worldplay", PolicyName::WorldPlay)],
    )?;
    let (default_memory, least) = match policy {
        PolicyName::Worldflow => (8, "the first chunk"),
        PolicyName::WorldPlay => (CHUNK_LATENTS, "one clip"),
    };
    let temporal: usize = env.parse_or("TEMPORAL_LATENTS", 12, "a non-negative integer")?;
    let memory = env.parse_valid(
        "MEMORY_LATENTS",
        default_memory,
        &format!("a multiple of {CHUNK_LATENTS} (whole clips), at least {CHUNK_LATENTS} ({least})"),
        |m: &usize| *m >= CHUNK_LATENTS && m.checked_rem(CHUNK_LATENTS) == Some(0),
    )?;
    let policy = match policy {
        PolicyName::Worldflow => MemoryPolicy::Worldflow(MemoryConfig {
            clip_latents: CHUNK_LATENTS,
            first_chunk_latents: CHUNK_LATENTS,
            temporal_latents: temporal,
            memory_latents: memory,
            ..MemoryConfig::default()
        }),
        PolicyName::WorldPlay => MemoryPolicy::WorldPlay(WorldPlayConfig {
            temporal_context_size: temporal,
            memory_frames: temporal + memory,
            context_window_length: temporal + memory,
            ..WorldPlayConfig::default()
        }),
    };
    match &policy {
        MemoryPolicy::Worldflow(c) => c.validate(),
        MemoryPolicy::WorldPlay(c) => c.validate(),
    }
    .context("settings POLICY / TEMPORAL_LATENTS / MEMORY_LATENTS")?;
    Ok(policy)
}

/// The node's state: the chunk accumulator and the pose history.
pub struct Memory {
    acc: ChunkAccumulator,
    retriever: Box<dyn ContextPolicy>,
}

impl Memory {
    pub fn new(policy: MemoryPolicy) -> anyhow::Result<Self> {
        Ok(Self { acc: ChunkAccumulator::new(), retriever: policy.build().chain_context("memory config")? })
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
        let ctx = self.select(chunk.index, chunk.latents[0].agent_id, &queries)?;
        for q in queries {
            self.retriever.push(q).with_context(|| format!("adding the poses of chunk {}", chunk.index))?;
        }
        Ok(ctx)
    }

    /// A guess at the context of the chunk being filled once it lacks only its last latent: the selection for
    /// its known poses and a last pose that continues their motion (the pose before it moved by the last
    /// step). The dit-engine may prefill it while it waits for that last action.
    pub fn hint(&self) -> anyhow::Result<Option<ContextMsg>> {
        let pending = self.acc.pending();
        if CHUNK_LATENTS < 2 || pending.len() != CHUNK_LATENTS - 1 {
            return Ok(None);
        }
        let mut queries: Vec<glam::Mat4> = pending.iter().map(|l| l.world_from_camera).collect();
        let (before, last) = (queries[queries.len() - 2], queries[queries.len() - 1]);
        queries.push(last * before.inverse() * last);
        let index = pending[0].tick / CHUNK_LATENTS as u64;
        self.select(index, pending[0].agent_id, &queries).map(Some)
    }

    /// The context of chunk `index` (the next one after the history) for the camera poses `queries`.
    fn select(&self, index: u64, agent_id: u32, queries: &[glam::Mat4]) -> anyhow::Result<ContextMsg> {
        let sel = self.retriever.select(queries).with_context(|| format!("selecting the memory of chunk {index}"))?;
        let u32s = |v: &[usize]| v.iter().map(|&i| i as u32).collect::<Vec<u32>>();
        Ok(ContextMsg {
            agent_id,
            chunk: index,
            first_latent: index * CHUNK_LATENTS as u64,
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
    let policy = config_from_env()?;
    match &policy {
        MemoryPolicy::Worldflow(c) => eprintln!(
            "memory-retriever: POLICY=worldflow, temporal {} latents, memory {} latents (first chunk + clips of \
             {CHUNK_LATENTS})",
            c.temporal_latents, c.memory_latents
        ),
        MemoryPolicy::WorldPlay(c) => eprintln!(
            "memory-retriever: POLICY=worldplay (HY-WorldPlay select_mem_frames_wan), whole history below {} \
             latents, then {} recent + {} clip(s) of {CHUNK_LATENTS} by FOV overlap",
            c.context_window_length,
            c.temporal_context_size,
            c.retrieved_clips()
        ),
    }
    let mut memory = Memory::new(policy)?;
    let send_hints = node.node_config().outputs.iter().any(|o| o.as_str() == "context_hint");
    let (mut chunks, mut hints) = (0u64, 0u64);
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, data, .. } if id.as_str() == "action" => {
                let _span = tracing::info_span!("retrieve_memory").entered();
                let action = action_io::decode(data.as_array().as_ref()).context("input `action`")?;
                let cond = LatentCond::from_action(&action).chain_context("input `action`")?;
                let tick = action.meta.tick;
                if let Some(ctx) = memory.on_latent(cond)? {
                    send(&mut node, "context", &ctx, tick)?;
                    chunks += 1;
                } else if let Some(hint) = send_hints.then(|| memory.hint()).transpose()?.flatten() {
                    send(&mut node, "context_hint", &hint, tick)?;
                    hints += 1;
                }
            }
            // A manual stop ends the run now. `AllInputsClosed` is yielded *before* inputs still queued
            // (dora's scheduler puts control events first), so keep receiving: the stream ends by itself.
            Event::Stop(StopCause::Manual) => break,
            _ => {}
        }
    }
    eprintln!(
        "memory-retriever: {chunks} chunk contexts, {hints} hints; {} trailing latent(s) did not fill a chunk",
        memory.incomplete()
    );
    Ok(())
}

fn send(node: &mut DoraNode, output: &str, ctx: &ContextMsg, tick: u64) -> anyhow::Result<()> {
    let mut p = MetadataParameters::new();
    p.insert("chunk".into(), Parameter::Integer(ctx.chunk as i64));
    p.insert("tick".into(), Parameter::Integer(tick as i64));
    node.send_output(output.to_owned().into(), p, wire::encode(ctx))
        .with_chain_context(|| format!("sending `{output}` of chunk {}", ctx.chunk))
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
        let mut m = Memory::new(MemoryPolicy::Worldflow(MemoryConfig {
            clip_latents: 4,
            first_chunk_latents: 4,
            ..MemoryConfig::default()
        }))
        .unwrap();
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
        let MemoryPolicy::Worldflow(cfg) = config_from_settings(&env).unwrap() else { panic!("default policy") };
        assert_eq!((cfg.temporal_latents, cfg.memory_latents), (16, 8));
        assert_eq!(env.out_dir().unwrap(), std::path::PathBuf::from("/tmp/x"));
        assert_eq!(env.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
    }

    #[test]
    fn worldplay_policy_settings() {
        let env = Env::from_pairs(SETTINGS, &[("POLICY", "worldplay")]);
        assert_eq!(config_from_settings(&env).unwrap(), MemoryPolicy::WorldPlay(WorldPlayConfig::default()));
        let env = Env::from_pairs(SETTINGS, &[("POLICY", "worldplay"), ("MEMORY_LATENTS", "8")]);
        let MemoryPolicy::WorldPlay(c) = config_from_settings(&env).unwrap() else { panic!("worldplay") };
        assert_eq!((c.temporal_context_size, c.memory_frames, c.context_window_length), (12, 20, 20));
        let e = config_from_settings(&Env::from_pairs(SETTINGS, &[("POLICY", "hyworld")])).unwrap_err().to_string();
        assert!(e.contains("POLICY") && e.contains("worldflow or worldplay"), "{e}");
        let env = Env::from_pairs(SETTINGS, &[("POLICY", "worldplay"), ("TEMPORAL_LATENTS", "10")]);
        let e = format!("{:#}", config_from_settings(&env).unwrap_err());
        assert!(e.contains("temporal_context_size") && e.contains("multiple of 4"), "{e}");
    }

    #[test]
    fn worldplay_contexts_are_the_policy_selection_on_the_wire() {
        let mut m = Memory::new(MemoryPolicy::WorldPlay(WorldPlayConfig::default())).unwrap();
        let mut direct = worldflow_memory::WorldPlayRetriever::new(WorldPlayConfig::default()).unwrap();
        // A camera turning in place and drifting: 12 chunks.
        let poses: Vec<Mat4> = (0..48)
            .map(|t| Mat4::from_rotation_translation(Quat::from_rotation_y(0.17 * t as f32), Vec3::X * 0.05 * t as f32))
            .collect();
        for (t, p) in poses.iter().enumerate() {
            let Some(ctx) = m.on_latent(cond(t as u64, *p)).unwrap() else { continue };
            let n = ctx.first_latent as usize;
            let sel = direct.select(&poses[n..n + 4]).unwrap();
            poses[n..n + 4].iter().for_each(|q| direct.push(*q).unwrap());
            assert_eq!(ctx.context, sel.context.iter().map(|&i| i as u32).collect::<Vec<_>>());
            let k = ctx.context.len() as u32;
            match n {
                0 => assert!(ctx.context.is_empty()),
                4..=12 => assert_eq!(ctx.context, (0..n as u32).collect::<Vec<_>>()),
                _ => {
                    assert_eq!(k, 16, "chunk {}", ctx.chunk);
                    assert_eq!(&ctx.context[4..], &(n as u32 - 12..n as u32).collect::<Vec<_>>()[..]);
                    assert_eq!(ctx.spatial_start, vec![ctx.context[0]]);
                    assert_eq!(ctx.spatial_distance.len(), 1);
                }
            }
            assert_eq!(ctx.query_rope_time, (k..k + 4).collect::<Vec<_>>());
            ctx.check().unwrap();
            assert_eq!(wire::decode(&wire::encode(&ctx)).unwrap(), ctx);
        }
    }

    #[test]
    fn hints_come_one_action_early_and_match_the_context_for_steady_motion() {
        let mut m = Memory::new(MemoryPolicy::WorldPlay(WorldPlayConfig::default())).unwrap();
        // A camera turning at a steady rate and drifting: the extrapolated last pose is the real one.
        let pose =
            |t: u64| Mat4::from_rotation_translation(Quat::from_rotation_y(0.17 * t as f32), Vec3::X * 0.05 * t as f32);
        let mut hint = None;
        let (mut hints, mut matched) = (0, 0);
        for t in 0..48u64 {
            if let Some(ctx) = m.on_latent(cond(t, pose(t))).unwrap() {
                let h: ContextMsg = hint.take().expect("a hint before every chunk");
                assert_eq!((h.chunk, h.first_latent), (ctx.chunk, ctx.first_latent));
                matched += usize::from(h.context == ctx.context);
                assert_eq!(h.query_rope_time, ctx.query_rope_time);
                continue;
            }
            let h = m.hint().unwrap();
            assert_eq!(h.is_some(), t % 4 == 2, "tick {t}: a hint once the chunk lacks only its last action");
            if let Some(h) = h {
                h.check().unwrap();
                hints += 1;
                hint = Some(h);
            }
        }
        assert_eq!((hints, matched), (12, 12), "steady motion: every hint is the chunk's context");
    }
}
