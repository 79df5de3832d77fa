//! `Video`: a dense f32 clip stored frame-major, `[T, C, H, W]` (row-major, W fastest).
//!
//! Frame-major order makes streaming natural (a frame is one contiguous slice). PyTorch checkpoints and
//! goldens use `[C, T, H, W]`; [`Video::from_cthw`] / [`Video::to_cthw`] convert at the boundary.

use crate::error::{input_err, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    pub t: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// `t * c * h * w` values, `[T, C, H, W]`.
    pub data: Vec<f32>,
}

impl Video {
    pub fn zeros(t: usize, c: usize, h: usize, w: usize) -> Self {
        Self { t, c, h, w, data: vec![0.0; t * c * h * w] }
    }

    /// Wraps `[T, C, H, W]` data; `name` labels errors.
    pub fn new(t: usize, c: usize, h: usize, w: usize, data: Vec<f32>, name: &str) -> Result<Self> {
        if data.len() != t * c * h * w {
            return Err(input_err(
                name,
                format!("expected {t}×{c}×{h}×{w} = {} values, found {}", t * c * h * w, data.len()),
            ));
        }
        Ok(Self { t, c, h, w, data })
    }

    /// Converts PyTorch layout `[C, T, H, W]` into a frame-major video.
    pub fn from_cthw(c: usize, t: usize, h: usize, w: usize, data: &[f32], name: &str) -> Result<Self> {
        if data.len() != t * c * h * w {
            return Err(input_err(
                name,
                format!("expected {c}×{t}×{h}×{w} = {} values, found {}", t * c * h * w, data.len()),
            ));
        }
        let hw = h * w;
        let mut out = Self::zeros(t, c, h, w);
        for ci in 0..c {
            for ti in 0..t {
                let src = &data[(ci * t + ti) * hw..][..hw];
                out.data[(ti * c + ci) * hw..][..hw].copy_from_slice(src);
            }
        }
        Ok(out)
    }

    /// PyTorch layout `[C, T, H, W]`.
    pub fn to_cthw(&self) -> Vec<f32> {
        let hw = self.h * self.w;
        let mut out = vec![0.0; self.data.len()];
        for ti in 0..self.t {
            for ci in 0..self.c {
                out[(ci * self.t + ti) * hw..][..hw].copy_from_slice(self.frame_channel(ti, ci));
            }
        }
        out
    }

    pub fn frame_len(&self) -> usize {
        self.c * self.h * self.w
    }

    pub fn frame(&self, t: usize) -> &[f32] {
        let n = self.frame_len();
        &self.data[t * n..(t + 1) * n]
    }

    pub fn frame_mut(&mut self, t: usize) -> &mut [f32] {
        let n = self.frame_len();
        &mut self.data[t * n..(t + 1) * n]
    }

    pub fn frame_channel(&self, t: usize, c: usize) -> &[f32] {
        let hw = self.h * self.w;
        &self.data[(t * self.c + c) * hw..][..hw]
    }

    /// Appends the frames of `other` (same C, H, W).
    pub fn append(&mut self, other: &Video) -> Result<()> {
        if self.t == 0 && self.data.is_empty() {
            *self = other.clone();
            return Ok(());
        }
        if (self.c, self.h, self.w) != (other.c, other.h, other.w) {
            return Err(input_err(
                "video",
                format!(
                    "cannot append frames of shape {}×{}×{} to {}×{}×{}",
                    other.c, other.h, other.w, self.c, self.h, self.w
                ),
            ));
        }
        self.data.extend_from_slice(&other.data);
        self.t += other.t;
        Ok(())
    }

    /// Frames `start..end` as a new video.
    pub fn frames(&self, start: usize, end: usize) -> Video {
        let n = self.frame_len();
        Video { t: end - start, c: self.c, h: self.h, w: self.w, data: self.data[start * n..end * n].to_vec() }
    }

    pub fn max_abs_diff(&self, other: &Video) -> f32 {
        self.data.iter().zip(&other.data).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
    }
}
