//! An H×W×3 float image, row-major, channels interleaved (`data[(v·W + u)·3 + c]`).
//!
//! Values are whatever the renderer produced (not clamped). 3DGS scenes are trained on sRGB photographs,
//! so the values are already display-referred: [`Image::to_rgb8`] clamps to [0, 1] and quantises without
//! applying a transfer function.

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    /// `width·height·3` values.
    pub data: Vec<f32>,
}

impl Image {
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, data: vec![0.0; width as usize * height as usize * 3] }
    }

    /// Resizes to `width × height` (reusing the allocation when it is large enough).
    pub fn resize(&mut self, width: u32, height: u32) {
        self.width = width;
        self.height = height;
        self.data.resize(width as usize * height as usize * 3, 0.0);
    }

    pub fn pixel(&self, u: u32, v: u32) -> [f32; 3] {
        let i = (v as usize * self.width as usize + u as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// 8-bit RGB: each value clamped to [0, 1], times 255, rounded to nearest. NaN maps to 0.
    pub fn to_rgb8(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len());
        self.write_rgb8(&mut out);
        out
    }

    /// Same as [`Image::to_rgb8`] into a reused buffer.
    pub fn write_rgb8(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend(self.data.iter().map(|&v| {
            let c = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
            (c * 255.0 + 0.5) as u8
        }));
    }
}
