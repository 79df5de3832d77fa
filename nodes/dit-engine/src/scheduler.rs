//! Pairing chunks of actions with their memory context, in chunk order.

use std::collections::BTreeMap;

use worldflow_memory::chunking::{Chunk, CHUNK_LATENTS};
use worldflow_node_kit::BoxError;
use worldflow_protocol::arrow_io::context::ContextMsg;

/// Why a chunk or a context cannot be scheduled.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("chunk {0} of actions arrived twice")]
    ChunkTwice(u64),
    #[error("{waiting} chunks of actions wait for the `context` of chunk {next}: is the memory-retriever fed the same action stream?")]
    ChunksWaiting { waiting: usize, next: u64 },
    #[error("got a `context` message but the scheduler was built without context")]
    UnexpectedContext,
    #[error("context of chunk {0} arrived twice")]
    ContextTwice(u64),
    #[error("context of chunk {chunk}: first_latent {first_latent} and {queries} query latents; this engine generates chunks of {CHUNK_LATENTS} latents starting at {expected_first}")]
    ContextShape { chunk: u64, first_latent: u64, queries: usize, expected_first: u64 },
    #[error("{waiting} contexts wait for the actions of chunk {next}: is the engine fed the same action stream as the memory-retriever?")]
    ContextsWaiting { waiting: usize, next: u64 },
    #[error("context of chunk {chunk} starts at latent {first_latent}, but {generated} latents have been generated")]
    ContextOutOfStep { chunk: u64, first_latent: u64, generated: usize },
    #[error("context of chunk {chunk}")]
    BadContext {
        chunk: u64,
        #[source]
        source: BoxError,
    },
}

/// Pairs complete chunks of actions with their memory context, in chunk order. Bounded: a chunk waiting
/// for a context that never comes (or the reverse) fails after [`Scheduler::MAX_PENDING`] entries.
#[derive(Debug)]
pub struct Scheduler {
    needs_context: bool,
    next: u64,
    chunks: BTreeMap<u64, Chunk>,
    contexts: BTreeMap<u64, ContextMsg>,
}

impl Scheduler {
    /// Chunks (or contexts) that may wait: an engine this far behind the stream (32 chunks, 12.8 s of a 10 Hz
    /// stream) fails instead of buffering without bound.
    pub const MAX_PENDING: usize = 32;

    pub fn new(needs_context: bool) -> Self {
        Self { needs_context, next: 0, chunks: BTreeMap::new(), contexts: BTreeMap::new() }
    }

    pub fn add_chunk(&mut self, c: Chunk) -> Result<(), ScheduleError> {
        if c.index < self.next || self.chunks.contains_key(&c.index) {
            return Err(ScheduleError::ChunkTwice(c.index));
        }
        self.chunks.insert(c.index, c);
        if self.chunks.len() > Self::MAX_PENDING {
            return Err(ScheduleError::ChunksWaiting { waiting: self.chunks.len(), next: self.next });
        }
        Ok(())
    }

    pub fn add_context(&mut self, c: ContextMsg) -> Result<(), ScheduleError> {
        if !self.needs_context {
            return Err(ScheduleError::UnexpectedContext);
        }
        if c.chunk < self.next || self.contexts.contains_key(&c.chunk) {
            return Err(ScheduleError::ContextTwice(c.chunk));
        }
        if c.first_latent != c.chunk * CHUNK_LATENTS as u64 || c.query_rope_time.len() != CHUNK_LATENTS {
            return Err(ScheduleError::ContextShape {
                chunk: c.chunk,
                first_latent: c.first_latent,
                queries: c.query_rope_time.len(),
                expected_first: c.chunk * CHUNK_LATENTS as u64,
            });
        }
        self.contexts.insert(c.chunk, c);
        if self.contexts.len() > Self::MAX_PENDING {
            return Err(ScheduleError::ContextsWaiting { waiting: self.contexts.len(), next: self.next });
        }
        Ok(())
    }

    /// The next chunk to generate, when it (and its context, if needed) is there.
    pub fn pop_ready(&mut self) -> Option<(Chunk, Option<ContextMsg>)> {
        if !self.chunks.contains_key(&self.next) || (self.needs_context && !self.contexts.contains_key(&self.next)) {
            return None;
        }
        let chunk = self.chunks.remove(&self.next)?;
        let ctx = self.contexts.remove(&self.next);
        self.next += 1;
        Some((chunk, ctx))
    }

    /// Whether the context of `chunk` has arrived (and waits for its actions).
    pub fn context_ready(&self, chunk: u64) -> bool {
        self.contexts.contains_key(&chunk)
    }

    /// (chunks of actions, contexts) waiting for their counterpart.
    pub fn pending(&self) -> (usize, usize) {
        (self.chunks.len(), self.contexts.len())
    }

    /// Chunks generated (handed out) so far.
    pub fn handed_out(&self) -> u64 {
        self.next
    }
}

/// The memory set of a chunk as generator history indices: the context's latents (checked against what has
/// been generated), or the generator's default when no context is wired.
pub fn memory_indices(
    ctx: Option<&ContextMsg>,
    generated: usize,
    default: Vec<usize>,
) -> Result<Vec<usize>, ScheduleError> {
    let Some(ctx) = ctx else { return Ok(default) };
    if ctx.first_latent != generated as u64 {
        return Err(ScheduleError::ContextOutOfStep { chunk: ctx.chunk, first_latent: ctx.first_latent, generated });
    }
    ctx.check().map_err(|e| ScheduleError::BadContext { chunk: ctx.chunk, source: e.into() })?;
    Ok(ctx.context.iter().map(|&i| i as usize).collect())
}
