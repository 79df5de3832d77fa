//! The few-step sampler around the model, as Matrix-Game 2.0 runs it:
//! `FlowMatchScheduler(shift, sigma_min=0, extra_one_step=True)` with 1000 training steps
//! (`utils/scheduler.py`), the warped denoising steps `timesteps[1000 − s]`
//! (`causal_inference.py`), the wrapper's flow → x0 in f64 (`utils/wan_wrapper.py`) and the
//! re-noising `add_noise` `(1 − σ)·x0 + σ·ε` in f32. σ of a timestep is taken at
//! `argmin |timesteps − t|` (first on ties), as upstream.

/// The scheduler's tables, f32 like PyTorch's.
#[derive(Clone, Debug)]
pub struct FlowMatchScheduler {
    pub sigmas: Vec<f32>,
    pub timesteps: Vec<f32>,
}

/// `torch.linspace(start, end, steps)` in f32 (the CPU kernel's two-sided formula).
fn linspace_f32(start: f32, end: f32, steps: usize) -> Vec<f32> {
    let step = (end - start) / (steps - 1) as f32;
    let half = steps / 2;
    (0..steps).map(|i| if i < half { start + step * i as f32 } else { end - step * (steps - i - 1) as f32 }).collect()
}

impl FlowMatchScheduler {
    /// `num_train_timesteps` steps warped by `shift` (Matrix-Game: 1000 and 5).
    pub fn new(shift: f32, num_train_timesteps: usize) -> Self {
        let mut sigmas = linspace_f32(1.0, 0.0, num_train_timesteps + 1);
        sigmas.pop();
        for s in &mut sigmas {
            *s = shift * *s / (1.0 + (shift - 1.0) * *s);
        }
        let timesteps = sigmas.iter().map(|s| s * num_train_timesteps as f32).collect();
        FlowMatchScheduler { sigmas, timesteps }
    }

    /// Warped denoising steps: `cat[timesteps, 0][N − s]` for each `s` of the list
    /// (e.g. [1000, 666, 333] → [1000, 908.84, 713.98]). Steps above N are clamped to N.
    pub fn warp(&self, steps: &[usize]) -> Vec<f32> {
        let n = self.timesteps.len();
        steps.iter().map(|&s| self.timesteps.get(n - s.min(n)).copied().unwrap_or(0.0)).collect()
    }

    /// Index of the table entry nearest `t` (first on ties), compared in f64.
    fn index_f64(&self, t: f64) -> usize {
        let mut best = (0, f64::INFINITY);
        for (i, &v) in self.timesteps.iter().enumerate() {
            let d = (v as f64 - t).abs();
            if d < best.1 {
                best = (i, d);
            }
        }
        best.0
    }

    /// The same in f32 (`add_noise`).
    fn index_f32(&self, t: f32) -> usize {
        let mut best = (0, f32::INFINITY);
        for (i, &v) in self.timesteps.iter().enumerate() {
            let d = (v - t).abs();
            if d < best.1 {
                best = (i, d);
            }
        }
        best.0
    }

    /// σ used for the wrapper's flow → x0 at timestep `t`.
    pub fn sigma_of(&self, t: f32) -> f32 {
        self.sigmas[self.index_f64(t as f64)]
    }

    /// `x0 = x_t − σ(t)·flow` in f64, rounded to f32 (upstream `_convert_flow_pred_to_x0`);
    /// `timesteps` has one entry per frame of the `[C, F, H, W]` tensors.
    pub fn flow_to_x0(&self, x: &[f32], flow: &[f32], timesteps: &[f32], channels: usize) -> Vec<f32> {
        let frames = timesteps.len();
        let plane = x.len() / (channels * frames).max(1);
        let sig: Vec<f64> = timesteps.iter().map(|&t| self.sigmas[self.index_f64(t as f64)] as f64).collect();
        x.iter()
            .zip(flow)
            .enumerate()
            .map(|(i, (&a, &v))| (a as f64 - sig[(i / plane) % frames] * v as f64) as f32)
            .collect()
    }

    /// `(1 − σ(t))·x0 + σ(t)·ε` in f32 (upstream `add_noise`).
    pub fn add_noise(&self, x0: &[f32], noise: &[f32], t: f32) -> Vec<f32> {
        let s = self.sigmas[self.index_f32(t)];
        x0.iter().zip(noise).map(|(a, e)| (1.0 - s) * a + s * e).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warped_steps_match_matrix_game() {
        let s = FlowMatchScheduler::new(5.0, 1000);
        assert_eq!(s.timesteps.len(), 1000);
        assert_eq!(s.timesteps[0], 1000.0);
        let w = s.warp(&[1000, 666, 333]);
        assert!((w[1] - 908.8427).abs() < 1e-3 && (w[2] - 713.9794).abs() < 1e-3, "{w:?}");
        // x0 at σ = 1 is x − flow; t = 0 picks the last (smallest) σ.
        let x0 = s.flow_to_x0(&[1.0, 2.0], &[0.5, 0.5], &[1000.0], 1);
        assert_eq!(x0, vec![0.5, 1.5]);
        assert_eq!(s.sigma_of(0.0), *s.sigmas.last().unwrap());
        assert_eq!(s.add_noise(&[2.0], &[4.0], 1000.0), vec![4.0]);
    }
}
