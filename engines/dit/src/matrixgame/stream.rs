//! Block-by-block generation as `CausalInferencePipeline.inference` runs it
//! (`pipeline/causal_inference.py`): for each block of `frames_per_block` latent frames,
//! one call per denoising timestep (x0 from the flow in f64, then re-noised to the next timestep),
//! then one context call on the final x0 at `context_noise` (0) that rewrites the block's cache
//! entries with clean keys/values. Keyboard/mouse actions are fed per pixel frame; a block of latent
//! frames `s..s+T` needs the first `1 + r·(s+T−1)` of them (`r` = 4).

use super::action::Actions;
use super::model::{CallInput, CallTrace, MatrixGameCaches, MatrixGameModel, VisualContext};
use super::nn::Grid;
use super::sampler::FlowMatchScheduler;
use crate::error::{bad_input, Result};
use crate::weights::Rng;

/// How the stream samples.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSettings {
    /// `timestep_shift` of the scheduler (5).
    pub timestep_shift: f32,
    /// The (already warped) denoising timesteps, e.g. [1000, 908.84, 713.98].
    pub timesteps: Vec<f32>,
    /// Timestep of the context call (`context_noise`, 0).
    pub context_noise: f32,
    /// Latent frames per block (`num_frame_per_block`, 3).
    pub frames_per_block: usize,
}

impl StreamSettings {
    /// Matrix-Game 2.0's settings with `denoising_step_list` warped by the shift-5 scheduler.
    pub fn matrix_game(denoising_steps: &[usize]) -> Self {
        let shift = 5.0;
        StreamSettings {
            timestep_shift: shift,
            timesteps: FlowMatchScheduler::new(shift, 1000).warp(denoising_steps),
            context_noise: 0.0,
            frames_per_block: 3,
        }
    }
}

impl Default for StreamSettings {
    /// The distilled model's `denoising_step_list` [1000, 666, 333].
    fn default() -> Self {
        Self::matrix_game(&[1000, 666, 333])
    }
}

/// One model call, as the stream made it (for checks and logs).
pub struct StreamCall<'a> {
    /// Block index, and step index within the block (`timesteps.len()` = the context call).
    pub block: usize,
    pub step: usize,
    /// Input `[out_dim, T, H, W]`, per-frame timesteps, flow prediction and x0.
    pub x: &'a [f32],
    pub timesteps: &'a [f32],
    pub flow: &'a [f32],
    pub x0: &'a [f32],
    pub trace: Option<&'a CallTrace>,
    pub context: &'a VisualContext,
    pub caches: &'a MatrixGameCaches,
}

/// A running Matrix-Game 2.0 stream: one image context, caches, the actions so far.
pub struct MatrixGameStream<'m> {
    model: &'m MatrixGameModel,
    scheduler: FlowMatchScheduler,
    settings: StreamSettings,
    height: usize,
    width: usize,
    context: VisualContext,
    caches: MatrixGameCaches,
    mouse: Vec<f32>,
    keyboard: Vec<f32>,
    pixel_frames: usize,
    next_frame: usize,
    block: usize,
}

impl<'m> MatrixGameStream<'m> {
    /// A stream on a `height × width` latent grid with CLIP image tokens `visual_context`
    /// [rows, clip_dim].
    pub fn new(
        model: &'m MatrixGameModel,
        visual_context: &[f32],
        rows: usize,
        height: usize,
        width: usize,
        settings: StreamSettings,
    ) -> Result<Self> {
        if settings.timesteps.is_empty() || settings.frames_per_block == 0 {
            return Err(bad_input("settings", "need at least one timestep and one frame per block"));
        }
        let tpf = model.tokens_per_frame(height, width);
        Ok(MatrixGameStream {
            model,
            scheduler: FlowMatchScheduler::new(settings.timestep_shift, 1000),
            settings,
            height,
            width,
            context: model.encode_context(visual_context, rows)?,
            caches: model.new_caches(tpf),
            mouse: Vec::new(),
            keyboard: Vec::new(),
            pixel_frames: 0,
            next_frame: 0,
            block: 0,
        })
    }

    fn action_widths(&self) -> (usize, usize, usize) {
        match &self.model.config().action_config {
            Some(a) => (
                if a.enable_mouse { a.mouse_dim_in } else { 0 },
                if a.enable_keyboard { a.keyboard_dim_in } else { 0 },
                a.vae_time_compression_ratio,
            ),
            None => (0, 0, 4),
        }
    }

    /// Appends one pixel frame's actions: `mouse` [mouse_dim_in] (empty without a mouse branch) and
    /// `keyboard` [keyboard_dim_in].
    pub fn push_action(&mut self, mouse: &[f32], keyboard: &[f32]) -> Result<()> {
        let (wm, wk, _) = self.action_widths();
        if mouse.len() != wm || keyboard.len() != wk {
            return Err(bad_input(
                "action",
                format!("mouse {} / keyboard {} values, the model takes {wm} / {wk}", mouse.len(), keyboard.len()),
            ));
        }
        if mouse.iter().chain(keyboard).any(|v| !v.is_finite()) {
            return Err(bad_input("action", "non-finite value"));
        }
        self.mouse.extend_from_slice(mouse);
        self.keyboard.extend_from_slice(keyboard);
        self.pixel_frames += 1;
        Ok(())
    }

    /// Pixel frames of actions the next block needs in total (`1 + r·(s+T−1)`).
    pub fn pixel_frames_needed(&self) -> usize {
        let (_, _, r) = self.action_widths();
        1 + r * (self.next_frame + self.settings.frames_per_block - 1)
    }

    /// Pixel frames of actions pushed so far.
    pub fn pixel_frames(&self) -> usize {
        self.pixel_frames
    }

    /// Latent frames generated so far.
    pub fn frames_done(&self) -> usize {
        self.next_frame
    }

    pub fn caches(&self) -> &MatrixGameCaches {
        &self.caches
    }

    pub fn context(&self) -> &VisualContext {
        &self.context
    }

    /// Shape of one block `[out_dim, T, H, W]` as a grid.
    pub fn block_grid(&self) -> Grid {
        Grid { frames: self.settings.frames_per_block, height: self.height, width: self.width }
    }

    /// Generates the next block with noise drawn from `rng`: returns its x0 latents `[out_dim, T, H, W]`.
    pub fn next_block_seeded(&mut self, cond_concat: &[f32], rng: &mut Rng) -> Result<Vec<f32>> {
        let g = self.block_grid();
        let len = self.model.config().out_dim * g.frames * g.height * g.width;
        let noise = rng.normal_vec(len, 1.0);
        let renoise: Vec<Vec<f32>> = (1..self.settings.timesteps.len()).map(|_| rng.normal_vec(len, 1.0)).collect();
        let refs: Vec<&[f32]> = renoise.iter().map(Vec::as_slice).collect();
        self.next_block(cond_concat, &noise, &refs, false, &mut |_| {})
    }

    /// Generates the next block from `noise` and one `renoise` per step after the first (all
    /// `[out_dim, T, H, W]`), with `cond_concat` `[in_dim − out_dim, T, H, W]` for its frames; calls
    /// `observe` after every model call (with module traces when `trace`). Returns the x0 latents.
    pub fn next_block(
        &mut self,
        cond_concat: &[f32],
        noise: &[f32],
        renoise: &[&[f32]],
        trace: bool,
        observe: &mut dyn FnMut(StreamCall),
    ) -> Result<Vec<f32>> {
        let steps = self.settings.timesteps.clone();
        if renoise.len() + 1 != steps.len() {
            return Err(bad_input("renoise", format!("{} tensors for {} steps", renoise.len(), steps.len())));
        }
        let needed = self.pixel_frames_needed();
        if self.pixel_frames < needed {
            return Err(bad_input(
                "actions",
                format!("{} pixel frames pushed, the next block needs {needed}", self.pixel_frames),
            ));
        }
        let (wm, wk, _) = self.action_widths();
        let actions = Actions {
            mouse: &self.mouse[..needed * wm],
            keyboard: &self.keyboard[..needed * wk],
            pixel_frames: needed,
        };
        let (grid, t) = (self.block_grid(), self.settings.frames_per_block);
        let out_dim = self.model.config().out_dim;
        let mut x = noise.to_vec();
        let mut x0 = Vec::new();
        let mut call_trace = CallTrace::default();
        for (i, &step) in steps.iter().chain(std::iter::once(&self.settings.context_noise)).enumerate() {
            let context_call = i == steps.len();
            if context_call {
                x = x0.clone();
            }
            let ts = vec![step; t];
            let call =
                CallInput { noisy: &x, cond_concat, grid, timesteps: &ts, actions, start_frame: self.next_frame };
            let flow = self.model.forward(&call, &self.context, &mut self.caches, trace.then_some(&mut call_trace))?;
            let pred = self.scheduler.flow_to_x0(&x, &flow, &ts, out_dim);
            observe(StreamCall {
                block: self.block,
                step: i,
                x: &x,
                timesteps: &ts,
                flow: &flow,
                x0: &pred,
                trace: trace.then_some(&call_trace),
                context: &self.context,
                caches: &self.caches,
            });
            if context_call {
                break;
            }
            if let Some(eps) = renoise.get(i) {
                if eps.len() != x.len() {
                    return Err(bad_input("renoise", format!("step {i}: {} values, expected {}", eps.len(), x.len())));
                }
                x = self.scheduler.add_noise(&pred, eps, steps[i + 1]);
            }
            x0 = pred;
        }
        self.next_frame += t;
        self.block += 1;
        Ok(x0)
    }
}
