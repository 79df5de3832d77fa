//! Output files of a run, each complete at every moment: PNGs are written to a temporary name and renamed;
//! JSON Lines files get whole lines, flushed per record. A run stopped at any point (Ctrl-C, a failing node)
//! leaves readable files up to its last frame.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// An append-only JSON Lines file.
pub struct JsonLines {
    path: PathBuf,
    file: File,
}

impl JsonLines {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path: path.to_path_buf(), file })
    }

    pub fn write<T: serde::Serialize>(&mut self, record: &T) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        // One write call per line, so a reader never sees a partial record unless the disk fills.
        self.file.write_all(&line).with_context(|| format!("writing {}", self.path.display()))?;
        self.file.flush().with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}

/// Writes an 8-bit RGB image as PNG atomically (temporary file + rename).
pub fn write_png_rgb8(path: &Path, width: u32, height: u32, rgb: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("png.partial");
    let encode = || -> anyhow::Result<()> {
        let file = File::create(&tmp)?;
        let mut enc = png::Encoder::new(BufWriter::new(file), width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc.write_header()?;
        w.write_image_data(rgb)?;
        w.finish()?;
        Ok(())
    };
    if let Err(e) = encode() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", tmp.display())));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Float RGB (renderer output, display-referred as 3DGS colours are) → 8-bit, clamped to [0, 1]; NaN → 0.
pub fn float_to_rgb8(values: &[f32], out: &mut Vec<u8>) {
    out.clear();
    out.extend(values.iter().map(|&c| if c.is_finite() { (c.clamp(0.0, 1.0) * 255.0 + 0.5) as u8 } else { 0 }));
}
