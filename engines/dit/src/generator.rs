//! Chunk-wise causal generation (Self-Forcing / LongLive / WorldPlay loops).
//!
//! Each chunk of `chunk_frames` latents is denoised over `sigmas` while attending to a context
//! of earlier frames through a KV cache. Policies:
//! - [`CachePolicy::Rolling`]: the cache keeps the first `sink` and the last `window` frames;
//!   after a chunk is denoised, one pass at `cache_timestep` (0 = clean) writes its K/V. RoPE time
//!   indices are absolute frame numbers.
//! - [`CachePolicy::Rebuild`]: the context is recomputed for every chunk from a memory set of
//!   past frames (default: the first `first` and the last `recent` frames; or chosen by the
//!   caller) with temporal reframing: memory gets RoPE times 0..K−1 (original order, gaps
//!   collapsed), the new chunk K..K+n−1; memory is prefilled as one block at `context_timestep`.
//!
//! With Rebuild the memory prefill is one whole forward over the memory set, in the critical path of the
//! chunk. [`ChunkGenerator::prefill_memory`] runs it ahead, while the engine waits for the chunk's last
//! action (a speculative set, e.g. the memory-retriever's hint): the chunk reuses it when its memory set is
//! the same, bit for bit the context it would compute, and computes its own otherwise.
//!
//! Every guidance pass ([`Branch`]) has its own cache (its K/V depend on its text and controls).
//! Prompt switch (LongLive KV re-cache): [`ChunkGenerator::switch_prompt`] replaces the texts and
//! recomputes the cached frames' K/V under them, chunk by chunk (block-causal), at `cache_timestep`.
//! Invariant (tested): the cache equals a full block-causal recomputation over the cached frames.

use std::borrow::Cow;
use std::path::Path;

use crate::backend::DitBackend;
use crate::cache::{CachedFrame, KvCache};
use crate::error::{bad_input, Result};
use crate::guidance::Guidance;
use crate::history::{LatentConds, LatentHistory};
use crate::model::{FrameCond, SeqRequest, TextContext};
use crate::prope::Camera;
use crate::sampler::{euler_step, predict_x0, renoise, SamplerKind};
use crate::tensor::Tensor;
use crate::weights::Rng;

/// KV-cache policy.
#[derive(Clone, Debug, PartialEq)]
pub enum CachePolicy {
    Rolling { window: usize, sink: usize },
    Rebuild { recent: usize, first: usize, context_timestep: f32 },
}

/// Generation settings.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    pub chunk_frames: usize,
    /// Latent height and width.
    pub height: usize,
    pub width: usize,
    /// Noise levels of the denoising steps, decreasing, first ≤ 1 (see `sampler`).
    pub sigmas: Vec<f32>,
    pub sampler: SamplerKind,
    pub policy: CachePolicy,
    /// Timestep of the pass that writes a finished chunk's K/V (Rolling) — 0 = clean.
    pub cache_timestep: f32,
    pub seed: u64,
}

/// One guidance pass: a prompt and which controls it sees.
#[derive(Clone, Debug)]
pub struct Branch {
    pub text: TextContext,
    pub use_actions: bool,
    pub use_camera: bool,
}

/// Per-frame controls of the next chunk (`None` = not given).
#[derive(Clone, Debug, Default)]
pub struct ChunkControls {
    pub actions: Option<Vec<u32>>,
    pub cameras: Option<Vec<Camera>>,
}

/// How the memory prefills of Rebuild chunks went: computed ahead and used, computed ahead and dropped (the
/// chunk's memory set differed, or the prompt changed), computed in the chunk's own critical path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefillStats {
    pub ahead_used: usize,
    pub ahead_dropped: usize,
    pub in_chunk: usize,
}

/// Contexts prefilled ahead over `memory`, one per branch.
#[derive(Debug)]
struct Prefilled {
    memory: Vec<usize>,
    contexts: Vec<Option<KvCache>>,
}

/// Streams chunks of latents, running the network on any [`DitBackend`] (the CPU `WanModel`, a GPU backend).
pub struct ChunkGenerator<'m> {
    model: &'m dyn DitBackend,
    cfg: GenConfig,
    guidance: Guidance,
    branches: Vec<(Branch, KvCache)>,
    history: LatentHistory,
    rng: Rng,
    chunks: usize,
    prefilled: Option<Prefilled>,
    prefill_stats: PrefillStats,
}

impl<'m> ChunkGenerator<'m> {
    pub fn new(model: &'m dyn DitBackend, cfg: GenConfig, guidance: Guidance, branches: Vec<Branch>) -> Result<Self> {
        if branches.len() != guidance.passes() {
            return Err(bad_input(
                "branches",
                format!("{} given, guidance needs {}", branches.len(), guidance.passes()),
            ));
        }
        let [_, ph, pw] = model.config().patch_size;
        if cfg.chunk_frames == 0
            || !cfg.height.is_multiple_of(ph)
            || !cfg.width.is_multiple_of(pw)
            || cfg.height == 0
            || cfg.width == 0
        {
            return Err(bad_input("gen_config", "chunk_frames > 0 and a latent size divisible by the patch required"));
        }
        if cfg.sigmas.is_empty()
            || cfg.sigmas.windows(2).any(|w| w[1] >= w[0])
            || cfg.sigmas[0] > 1.0
            || *cfg.sigmas.last().unwrap() <= 0.0
        {
            return Err(bad_input("sigmas", format!("{:?}: must be decreasing in (0, 1]", cfg.sigmas)));
        }
        let rng = Rng::new(cfg.seed);
        Ok(ChunkGenerator {
            model,
            cfg,
            guidance,
            branches: branches.into_iter().map(|b| (b, KvCache::new())).collect(),
            history: LatentHistory::default(),
            rng,
            chunks: 0,
            prefilled: None,
            prefill_stats: PrefillStats::default(),
        })
    }

    /// Frames generated so far.
    pub fn frames_generated(&self) -> usize {
        self.history.len()
    }

    /// The cache of guidance pass `branch` (Rolling policy).
    pub fn cache(&self, branch: usize) -> &KvCache {
        &self.branches[branch].1
    }

    /// Clean latent of generated frame `index` [C, H, W] (read back from the spill file when it left RAM).
    pub fn frame_latent(&self, index: usize) -> Result<Cow<'_, [f32]>> {
        if index >= self.history.len() {
            return Err(bad_input("index", format!("frame {index}: {} frames generated", self.history.len())));
        }
        self.history.latent(index)
    }

    /// Bounds the RAM the generated latents take: the newest `ram_latents` stay in RAM, older ones (any of which
    /// a memory set may still name) move to an unnamed spill file in `dir`. Set before the first chunk.
    pub fn spill_history(&mut self, dir: &Path, ram_latents: usize) -> Result<()> {
        self.history.spill_to(dir, ram_latents)
    }

    /// Generated latents held in RAM now (all of them unless [`Self::spill_history`] was set).
    pub fn latents_in_ram(&self) -> usize {
        self.history.in_ram()
    }

    fn frame_size(&self) -> usize {
        self.model.config().in_dim * self.cfg.height * self.cfg.width
    }

    fn cond(branch: &Branch, t: f32, action: Option<u32>, camera: Option<Camera>) -> FrameCond {
        FrameCond {
            timestep: t,
            action: if branch.use_actions { action } else { None },
            camera: if branch.use_camera { camera } else { None },
        }
    }

    /// [C, F, H, W] from per-frame [C, H, W].
    fn stack(&self, frames: &[&[f32]]) -> Vec<f32> {
        let (c, hw) = (self.model.config().in_dim, self.cfg.height * self.cfg.width);
        let mut out = vec![0.0f32; c * frames.len() * hw];
        for (f, lat) in frames.iter().enumerate() {
            for ci in 0..c {
                out[(ci * frames.len() + f) * hw..(ci * frames.len() + f + 1) * hw]
                    .copy_from_slice(&lat[ci * hw..(ci + 1) * hw]);
            }
        }
        out
    }

    fn unstack(&self, x: &[f32], frames: usize) -> Vec<Vec<f32>> {
        let (c, hw) = (self.model.config().in_dim, self.cfg.height * self.cfg.width);
        (0..frames)
            .map(|f| {
                let mut v = Vec::with_capacity(c * hw);
                for ci in 0..c {
                    v.extend_from_slice(&x[(ci * frames + f) * hw..(ci * frames + f + 1) * hw]);
                }
                v
            })
            .collect()
    }

    /// Default memory set of the Rebuild policy: first `first` + last `recent` frames.
    pub fn default_memory(&self) -> Vec<usize> {
        let n = self.history.len();
        let (recent, first) = match self.cfg.policy {
            CachePolicy::Rebuild { recent, first, .. } => (recent, first),
            CachePolicy::Rolling { window, sink } => (window, sink),
        };
        let mut m: Vec<usize> = (0..first.min(n)).collect();
        m.extend(n.saturating_sub(recent).max(first.min(n))..n);
        m
    }

    /// Generates the next chunk (memory set by the policy's default). Returns [C, n, H, W].
    pub fn next_chunk(&mut self, controls: &ChunkControls) -> Result<Tensor> {
        let memory = self.default_memory();
        self.next_chunk_with_memory(controls, &memory)
    }

    /// Generates the next chunk; with the Rebuild policy `memory` lists the past frames (indices,
    /// increasing) forming the context. Ignored by the Rolling policy.
    pub fn next_chunk_with_memory(&mut self, controls: &ChunkControls, memory: &[usize]) -> Result<Tensor> {
        let n = self.cfg.chunk_frames;
        let (h, w) = (self.cfg.height, self.cfg.width);
        for (name, len) in [
            ("actions", controls.actions.as_ref().map(|a| a.len())),
            ("cameras", controls.cameras.as_ref().map(|a| a.len())),
        ] {
            if len.is_some_and(|l| l != n) {
                return Err(bad_input(name, format!("{} values for a chunk of {n} frames", len.unwrap_or(0))));
            }
        }
        self.check_memory(memory)?;
        let action = |f: usize| controls.actions.as_ref().map(|a| a[f]);
        let camera = |f: usize| controls.cameras.as_ref().map(|c| c[f]);
        let start = self.history.len();

        // Context per branch: the rolling cache, or a prefill over the memory set.
        let rebuild = match self.cfg.policy {
            CachePolicy::Rebuild { context_timestep, .. } => Some(context_timestep),
            CachePolicy::Rolling { .. } => None,
        };
        let rope_time: Vec<usize> = match rebuild {
            Some(_) => (memory.len()..memory.len() + n).collect(),
            None => (start..start + n).collect(),
        };
        let contexts = match (rebuild, self.prefilled.take()) {
            (None, _) => vec![None; self.branches.len()],
            (Some(_), Some(p)) if p.memory == memory => {
                self.prefill_stats.ahead_used += 1;
                p.contexts
            }
            (Some(_), other) => {
                self.prefill_stats.ahead_dropped += usize::from(other.is_some());
                self.prefill_stats.in_chunk += usize::from(!memory.is_empty());
                self.memory_contexts(memory)?
            }
        };

        // Denoising.
        let size = self.frame_size() * n;
        let mut x = self.rng.normal_vec(size, 1.0);
        let sigmas = self.cfg.sigmas.clone();
        let mut x0 = Vec::new();
        for (si, &sigma) in sigmas.iter().enumerate() {
            let next = sigmas.get(si + 1).copied().unwrap_or(0.0);
            let mut preds = Vec::with_capacity(self.branches.len());
            for (bi, (branch, cache)) in self.branches.iter().enumerate() {
                let conds: Vec<FrameCond> =
                    (0..n).map(|f| Self::cond(branch, sigma * 1000.0, action(f), camera(f))).collect();
                let req = SeqRequest {
                    latents: &x,
                    frames: n,
                    height: h,
                    width: w,
                    conds: &conds,
                    rope_time: &rope_time,
                    groups: None,
                };
                let past: &KvCache = match rebuild {
                    Some(_) => contexts[bi].as_ref().unwrap_or(cache),
                    None => cache,
                };
                let past = if rebuild.is_some() && contexts[bi].is_none() { None } else { Some(past) };
                let (v, _) = self.model.forward_seq(&req, &branch.text, past.map(|p| p as _), false, None)?;
                preds.push(v);
            }
            let v = self.guidance.combine(&preds);
            match self.cfg.sampler {
                SamplerKind::EulerFlow => {
                    euler_step(&mut x, &v, sigma, next);
                    x0.clone_from(&x);
                }
                SamplerKind::X0Renoise => {
                    x0 = predict_x0(&x, &v, sigma);
                    if si + 1 < sigmas.len() {
                        let noise = self.rng.normal_vec(size, 1.0);
                        x = renoise(&x0, &noise, next);
                    }
                }
            }
        }

        // Cache pass (Rolling): write the clean chunk's K/V.
        let group = self.chunks;
        if let CachePolicy::Rolling { window, sink } = self.cfg.policy {
            let t = self.cfg.cache_timestep;
            let frames = self.unstack(&x0, n);
            for (branch, cache) in self.branches.iter_mut() {
                let conds: Vec<FrameCond> = (0..n).map(|f| Self::cond(branch, t, action(f), camera(f))).collect();
                let req = SeqRequest {
                    latents: &x0,
                    frames: n,
                    height: h,
                    width: w,
                    conds: &conds,
                    rope_time: &rope_time,
                    groups: None,
                };
                let (_, rec) = self.model.forward_seq(&req, &branch.text, Some(&*cache as _), true, None)?;
                let meta = (0..n)
                    .map(|f| CachedFrame {
                        index: start + f,
                        rope_time: rope_time[f],
                        group,
                        latent: frames[f].clone(),
                        cond: conds[f],
                        layers: Vec::new(),
                    })
                    .collect();
                let tpf = {
                    let [_, ph, pw] = self.model.config().patch_size;
                    (h / ph) * (w / pw)
                };
                cache.push_chunk(meta, rec.expect("recorded"), tpf, self.model.config().dim);
                cache.evict_rolling(window, sink);
            }
        }
        for (f, lat) in self.unstack(&x0, n).into_iter().enumerate() {
            self.history.push(lat, LatentConds { action: action(f), camera: camera(f) })?;
        }
        self.chunks += 1;
        Ok(Tensor::new(vec![self.model.config().in_dim, n, h, w], x0))
    }

    fn check_memory(&self, memory: &[usize]) -> Result<()> {
        if memory.windows(2).any(|p| p[1] <= p[0]) || memory.last().is_some_and(|&m| m >= self.history.len()) {
            return Err(bad_input("memory", format!("{memory:?}: increasing indices of generated frames required")));
        }
        Ok(())
    }

    /// Rebuild: prefills the context of the next chunk over `memory` now, ahead of the chunk (a speculative
    /// set: the next [`Self::next_chunk_with_memory`] uses it only if its own memory set is the same). Returns
    /// whether there was anything to prefill (Rebuild policy, non-empty set).
    pub fn prefill_memory(&mut self, memory: &[usize]) -> Result<bool> {
        self.check_memory(memory)?;
        if !matches!(self.cfg.policy, CachePolicy::Rebuild { .. }) || memory.is_empty() {
            return Ok(false);
        }
        if self.prefilled.as_ref().is_some_and(|p| p.memory == memory) {
            return Ok(true);
        }
        self.prefill_stats.ahead_dropped += usize::from(self.prefilled.is_some());
        let contexts = self.memory_contexts(memory)?;
        self.prefilled = Some(Prefilled { memory: memory.to_vec(), contexts });
        Ok(true)
    }

    /// How the memory prefills went so far.
    pub fn prefill_stats(&self) -> PrefillStats {
        self.prefill_stats
    }

    /// Rebuild: the context of every branch over the memory set (`None` for an empty set), prefilled as one
    /// block at `context_timestep` with RoPE times 0..K−1.
    fn memory_contexts(&self, memory: &[usize]) -> Result<Vec<Option<KvCache>>> {
        let (h, w) = (self.cfg.height, self.cfg.width);
        let mut contexts: Vec<Option<KvCache>> = vec![None; self.branches.len()];
        let CachePolicy::Rebuild { context_timestep, .. } = self.cfg.policy else { return Ok(contexts) };
        if memory.is_empty() {
            return Ok(contexts);
        }
        let t_ctx = context_timestep;
        let lat = memory.iter().map(|&i| self.history.latent(i)).collect::<Result<Vec<_>>>()?;
        let latents = self.stack(&lat.iter().map(|l| l.as_ref()).collect::<Vec<_>>());
        let mem_rope: Vec<usize> = (0..memory.len()).collect();
        for (bi, (branch, _)) in self.branches.iter().enumerate() {
            let conds: Vec<FrameCond> = memory
                .iter()
                .map(|&i| {
                    let c = self.history.conds(i);
                    Self::cond(branch, t_ctx, c.action, c.camera)
                })
                .collect();
            let req = SeqRequest {
                latents: &latents,
                frames: memory.len(),
                height: h,
                width: w,
                conds: &conds,
                rope_time: &mem_rope,
                groups: None,
            };
            let (_, rec) = self.model.forward_seq(&req, &branch.text, None, true, None)?;
            let meta = memory
                .iter()
                .zip(&conds)
                .zip(&mem_rope)
                .map(|((&i, c), &rt)| CachedFrame {
                    index: i,
                    rope_time: rt,
                    group: 0,
                    latent: Vec::new(),
                    cond: *c,
                    layers: Vec::new(),
                })
                .collect();
            let mut cache = KvCache::new();
            cache.push_chunk(meta, rec.expect("recorded"), self.tokens_per_frame(), self.model.config().dim);
            contexts[bi] = Some(cache);
        }
        Ok(contexts)
    }

    fn tokens_per_frame(&self) -> usize {
        let [_, ph, pw] = self.model.config().patch_size;
        (self.cfg.height / ph) * (self.cfg.width / pw)
    }

    /// Prompt switch: new text per branch; the cached frames' K/V are recomputed under it
    /// (block-causal by original chunk, at `cache_timestep`), keeping the motion context.
    pub fn switch_prompt(&mut self, texts: Vec<TextContext>) -> Result<()> {
        if texts.len() != self.branches.len() {
            return Err(bad_input("texts", format!("{} given for {} branches", texts.len(), self.branches.len())));
        }
        let (h, w) = (self.cfg.height, self.cfg.width);
        let (tpf, dim) = (self.tokens_per_frame(), self.model.config().dim);
        // A context prefilled ahead was computed under the old texts.
        self.prefill_stats.ahead_dropped += usize::from(self.prefilled.take().is_some());
        for ((branch, cache), text) in self.branches.iter_mut().zip(texts) {
            branch.text = text;
            let old = std::mem::take(&mut cache.frames);
            let mut i = 0;
            while i < old.len() {
                let g = old[i].group;
                let j = i + old[i..].iter().take_while(|f| f.group == g).count();
                let grp = &old[i..j];
                let lat: Vec<&[f32]> = grp.iter().map(|f| f.latent.as_slice()).collect();
                let latents = {
                    let (c, hw) = (self.model.config().in_dim, h * w);
                    let mut out = vec![0.0f32; c * lat.len() * hw];
                    for (f, l) in lat.iter().enumerate() {
                        for ci in 0..c {
                            out[(ci * lat.len() + f) * hw..(ci * lat.len() + f + 1) * hw]
                                .copy_from_slice(&l[ci * hw..(ci + 1) * hw]);
                        }
                    }
                    out
                };
                let conds: Vec<FrameCond> = grp.iter().map(|f| f.cond).collect();
                let rope: Vec<usize> = grp.iter().map(|f| f.rope_time).collect();
                let req = SeqRequest {
                    latents: &latents,
                    frames: grp.len(),
                    height: h,
                    width: w,
                    conds: &conds,
                    rope_time: &rope,
                    groups: None,
                };
                let (_, rec) = self.model.forward_seq(&req, &branch.text, Some(&*cache as _), true, None)?;
                let meta = grp.iter().map(|f| CachedFrame { layers: Vec::new(), ..f.clone() }).collect();
                cache.push_chunk(meta, rec.expect("recorded"), tpf, dim);
                i = j;
            }
        }
        Ok(())
    }
}
