//! Video output: one YUV4MPEG2 (`.y4m`) stream per agent and camera — the uncompressed format that
//! ffmpeg, mpv and VLC play directly (`ffmpeg -i agent0_front.y4m out.mp4` makes an MP4).
//!
//! Header `YUV4MPEG2 W<w> H<h> F<fps>:1 Ip A1:1 C444 XCOLORRANGE=LIMITED`, then per frame `FRAME\n` and
//! the full-resolution Y, Cb, Cr planes (4:4:4, no chroma subsampling), BT.601 limited range. Each frame is
//! one `write_all` of its whole record, so a stopped run leaves a stream of complete frames.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The `VIDEO` setting (read by `VideoSettings` in the crate root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFormat {
    None,
    Y4m,
}

/// BT.601 limited-range Y'CbCr of an 8-bit RGB pixel (the studio-swing matrix of Rec. 601).
pub fn ycbcr_from_rgb(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(|v| v as f32 / 255.0);
    let y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b;
    let cb = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b;
    let cr = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b;
    [y, cb, cr].map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// One `.y4m` stream of fixed size.
pub struct Y4mWriter {
    path: PathBuf,
    file: File,
    width: u32,
    height: u32,
    record: Vec<u8>,
    pub frames: u64,
}

impl Y4mWriter {
    pub fn create(path: &Path, width: u32, height: u32, fps: u32) -> anyhow::Result<Self> {
        let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let header = format!("YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C444 XCOLORRANGE=LIMITED\n");
        file.write_all(header.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        Ok(Self { path: path.to_path_buf(), file, width, height, record: Vec::new(), frames: 0 })
    }

    /// Appends one RGB8 frame (`width·height·3` bytes, row-major).
    pub fn write_rgb8(&mut self, width: u32, height: u32, rgb: &[u8]) -> anyhow::Result<()> {
        if (width, height) != (self.width, self.height) {
            anyhow::bail!(
                "{}: frame of {width}×{height}, but the stream is {}×{} (one video per camera needs one size)",
                self.path.display(),
                self.width,
                self.height
            );
        }
        let n = width as usize * height as usize;
        anyhow::ensure!(rgb.len() == 3 * n, "frame of {} bytes, expected {}", rgb.len(), 3 * n);
        self.record.clear();
        self.record.extend_from_slice(b"FRAME\n");
        let planes = self.record.len();
        self.record.resize(planes + 3 * n, 0);
        let (y, rest) = self.record[planes..].split_at_mut(n);
        let (cb, cr) = rest.split_at_mut(n);
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            let [py, pcb, pcr] = ycbcr_from_rgb([px[0], px[1], px[2]]);
            (y[i], cb[i], cr[i]) = (py, pcb, pcr);
        }
        self.file.write_all(&self.record).with_context(|| format!("writing {}", self.path.display()))?;
        self.frames += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bt601_limited_range_endpoints() {
        assert_eq!(ycbcr_from_rgb([0, 0, 0]), [16, 128, 128]);
        assert_eq!(ycbcr_from_rgb([255, 255, 255]), [235, 128, 128]);
        assert_eq!(ycbcr_from_rgb([255, 0, 0]), [81, 90, 240]);
    }

    #[test]
    fn writes_a_header_and_whole_frames() {
        let path = std::env::temp_dir().join(format!("worldflow-y4m-{}.y4m", std::process::id()));
        let mut w = Y4mWriter::create(&path, 2, 1, 10).unwrap();
        w.write_rgb8(2, 1, &[0, 0, 0, 255, 255, 255]).unwrap();
        w.write_rgb8(2, 1, &[255, 0, 0, 0, 0, 0]).unwrap();
        assert!(w.write_rgb8(1, 1, &[0, 0, 0]).unwrap_err().to_string().contains("one size"));
        let bytes = std::fs::read(&path).unwrap();
        let header = b"YUV4MPEG2 W2 H1 F10:1 Ip A1:1 C444 XCOLORRANGE=LIMITED\n";
        assert_eq!(&bytes[..header.len()], header);
        let frames = &bytes[header.len()..];
        assert_eq!(frames, b"FRAME\n\x10\xeb\x80\x80\x80\x80FRAME\n\x51\x10\x5a\x80\xf0\x80");
        std::fs::remove_file(path).unwrap();
    }
}
