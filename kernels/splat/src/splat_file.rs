//! antimatter15 `.splat`: 32 bytes per splat, no header — 3×f32 position, 3×f32 linear scale,
//! 4×u8 RGBA (A = opacity·255), 4×u8 quaternion `q/|q|·128 + 128` in the order w, x, y, z.
//! Decoded as SH degree 0 with DC = (rgb/255 − 0.5)/C0.

use std::path::Path;

use glam::{Quat, Vec3};
use worldflow_protocol::{rgb_to_sh_dc, Gaussians};

use crate::error::SplatError;

const RECORD_BYTES: usize = 32;

/// Parses `.splat` bytes; `name` names the source in errors.
pub fn read_splat_bytes(bytes: &[u8], name: &str) -> Result<Gaussians, SplatError> {
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(SplatError::format(
            name,
            format!(
                "size {} is not a multiple of {RECORD_BYTES} bytes (splat {} is truncated)",
                bytes.len(),
                bytes.len() / RECORD_BYTES
            ),
        ));
    }
    let n = bytes.len() / RECORD_BYTES;
    let mut g = Gaussians::new(0);
    g.sh.reserve(n);
    let f = |r: &[u8], i: usize| f32::from_le_bytes(r[4 * i..4 * i + 4].try_into().unwrap());
    for (i, r) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let rgba = &r[24..28];
        let q = &r[28..32];
        let d = |b: u8| (b as f32 - 128.0) / 128.0;
        let raw = Quat::from_xyzw(d(q[1]), d(q[2]), d(q[3]), d(q[0]));
        let len = raw.length();
        let rotation = if len > 0.0 { raw / len } else { raw };
        let rgb = [rgba[0] as f32 / 255.0, rgba[1] as f32 / 255.0, rgba[2] as f32 / 255.0];
        g.push(
            i as u64,
            Vec3::new(f(r, 0), f(r, 1), f(r, 2)),
            Vec3::new(f(r, 3), f(r, 4), f(r, 5)),
            rotation,
            rgba[3] as f32 / 255.0,
            &[rgb_to_sh_dc(rgb)],
        );
    }
    Ok(g)
}

/// Reads a `.splat` file.
pub fn read_splat(path: &Path) -> Result<Gaussians, SplatError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SplatError::Io { path: shown.clone(), source })?;
    read_splat_bytes(&bytes, &shown)
}
