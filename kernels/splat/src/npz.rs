//! NumPy `.npz` reading (a zip of `.npy` files, as written by `np.savez`: entries *stored*, not
//! compressed; compressed entries are rejected with a clear error), plus the gsplat test-garden layout
//! (points, colours, cameras) used by benchmarks.
//!
//! Only the central directory is trusted for sizes (numpy writes zip64 local headers with placeholder
//! sizes). Every offset is bounds-checked; malformed archives produce errors naming the entry.

use std::collections::BTreeMap;
use std::path::Path;

use glam::Vec3;
use worldflow_protocol::{mat4_from_rows, Camera, Intrinsics};

use crate::error::SplatError;
use crate::npy::{parse_npy, NpyArray, NpyData};

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// Parses all arrays of an `.npz` held in memory; keys are the entry names without `.npy`.
pub fn parse_npz(bytes: &[u8], name: &str) -> Result<BTreeMap<String, NpyArray>, SplatError> {
    let err = |m: String| SplatError::format(name, m);
    // End of central directory: last occurrence of its signature (a comment may follow it).
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| err("not a zip archive (no end-of-central-directory record)".into()))?;
    let entries = u16_at(bytes, eocd + 10).unwrap_or(0) as usize;
    let mut cd = u32_at(bytes, eocd + 16).unwrap_or(u32::MAX) as u64;
    if cd == 0xffff_ffff {
        // Zip64: the locator precedes the EOCD and points at the zip64 EOCD record.
        let loc = eocd.checked_sub(20).filter(|&l| u32_at(bytes, l) == Some(0x0706_4b50));
        let z64 = loc.and_then(|l| u64_at(bytes, l + 8)).ok_or_else(|| err("bad zip64 locator".into()))? as usize;
        cd = u64_at(bytes, z64 + 48).ok_or_else(|| err("bad zip64 end record".into()))?;
    }
    let mut pos = cd as usize;
    let mut out = BTreeMap::new();
    for _ in 0..entries {
        if u32_at(bytes, pos) != Some(0x0201_4b50) {
            return Err(err(format!("bad central directory entry at byte {pos}")));
        }
        let method = u16_at(bytes, pos + 10).unwrap_or(0);
        let mut comp_size = u32_at(bytes, pos + 20).unwrap_or(0) as u64;
        let mut size = u32_at(bytes, pos + 24).unwrap_or(0) as u64;
        let name_len = u16_at(bytes, pos + 28).unwrap_or(0) as usize;
        let extra_len = u16_at(bytes, pos + 30).unwrap_or(0) as usize;
        let comment_len = u16_at(bytes, pos + 32).unwrap_or(0) as usize;
        let mut local = u32_at(bytes, pos + 42).unwrap_or(0) as u64;
        let entry_name = bytes
            .get(pos + 46..pos + 46 + name_len)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .ok_or_else(|| err("truncated central directory".into()))?;
        // Zip64 extra field: the 0xffffffff fields, in the order size, compressed size, offset.
        let mut e = pos + 46 + name_len;
        let extra_end = e + extra_len;
        while e + 4 <= extra_end {
            let (id, len) = (u16_at(bytes, e).unwrap_or(0), u16_at(bytes, e + 2).unwrap_or(0) as usize);
            if id == 1 {
                let mut f = e + 4;
                for field in [&mut size, &mut comp_size, &mut local] {
                    if *field == 0xffff_ffff {
                        *field = u64_at(bytes, f).ok_or_else(|| err(format!("{entry_name}: bad zip64 extra")))?;
                        f += 8;
                    }
                }
            }
            e += 4 + len;
        }
        if method != 0 {
            return Err(err(format!(
                "{entry_name}: compression method {method} unsupported (save with np.savez, not savez_compressed)"
            )));
        }
        if comp_size != size {
            return Err(err(format!("{entry_name}: stored entry with differing sizes")));
        }
        let l = local as usize;
        if u32_at(bytes, l) != Some(0x0403_4b50) {
            return Err(err(format!("{entry_name}: bad local header at byte {l}")));
        }
        let data_start =
            l + 30 + u16_at(bytes, l + 26).unwrap_or(0) as usize + u16_at(bytes, l + 28).unwrap_or(0) as usize;
        let data = bytes
            .get(data_start..data_start + size as usize)
            .ok_or_else(|| err(format!("{entry_name}: truncated entry data")))?;
        let key = entry_name.strip_suffix(".npy").unwrap_or(&entry_name).to_string();
        out.insert(key, parse_npy(data, &format!("{name}:{entry_name}"))?);
        pos = extra_end + comment_len;
    }
    Ok(out)
}

/// Reads an `.npz` file.
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, NpyArray>, SplatError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SplatError::Io { path: shown.clone(), source })?;
    parse_npz(&bytes, &shown)
}

/// A coloured point cloud with cameras, in the layout of gsplat's `test_garden.npz`:
/// `means3d (N,3) f32`, `colors (N,3) u8`, `viewmats (C,4,4)` (camera_from_world), `Ks (C,3,3)`,
/// `width`, `height`.
#[derive(Debug, Clone)]
pub struct GardenScene {
    pub points: Vec<Vec3>,
    pub colors: Vec<[u8; 3]>,
    pub cameras: Vec<Camera>,
}

impl GardenScene {
    pub fn from_npz(arrays: &BTreeMap<String, NpyArray>, name: &str) -> Result<Self, SplatError> {
        let get = |k: &str| arrays.get(k).ok_or_else(|| SplatError::format(name, format!("missing array '{k}'")));
        let means = get("means3d")?;
        if means.shape.len() != 2 || means.shape[1] != 3 {
            return Err(SplatError::format(name, format!("means3d: expected shape (N, 3), found {:?}", means.shape)));
        }
        let n = means.shape[0];
        let m = means.to_f32();
        let points = (0..n).map(|i| Vec3::new(m[3 * i], m[3 * i + 1], m[3 * i + 2])).collect();
        let colors = match arrays.get("colors") {
            Some(c) if c.shape == [n, 3] => match &c.data {
                NpyData::U8(v) => v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
                _ => {
                    let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                    c.to_f32().chunks_exact(3).map(|c| [q(c[0]), q(c[1]), q(c[2])]).collect()
                }
            },
            Some(c) => {
                return Err(SplatError::format(name, format!("colors: expected shape ({n}, 3), found {:?}", c.shape)))
            }
            None => vec![[128, 128, 128]; n],
        };
        let mut cameras = Vec::new();
        if let (Some(v), Some(k)) = (arrays.get("viewmats"), arrays.get("Ks")) {
            let scalar = |key: &str| -> Result<u32, SplatError> {
                let a = get(key)?;
                a.to_f32().first().map(|&v| v as u32).ok_or_else(|| SplatError::format(name, format!("{key}: empty")))
            };
            let (width, height) = (scalar("width")?, scalar("height")?);
            let c = v.shape.first().copied().unwrap_or(0);
            if v.shape != [c, 4, 4] || k.shape != [c, 3, 3] {
                return Err(SplatError::format(
                    name,
                    format!("viewmats/Ks: expected (C,4,4)/(C,3,3), found {:?}/{:?}", v.shape, k.shape),
                ));
            }
            let (vm, km) = (v.to_f32(), k.to_f32());
            for i in 0..c {
                let mut rows = [[0.0f32; 4]; 4];
                for (r, row) in rows.iter_mut().enumerate() {
                    row.copy_from_slice(&vm[i * 16 + r * 4..i * 16 + r * 4 + 4]);
                }
                let kk = &km[i * 9..i * 9 + 9];
                let camera = Camera {
                    width,
                    height,
                    intrinsics: Intrinsics { fx: kk[0], fy: kk[4], cx: kk[2], cy: kk[5] },
                    camera_from_world: mat4_from_rows(&rows),
                };
                camera.validate().map_err(|e| SplatError::format(name, format!("camera {i}: {e}")))?;
                cameras.push(camera);
            }
        }
        Ok(Self { points, colors, cameras })
    }

    pub fn read(path: &Path) -> Result<Self, SplatError> {
        Self::from_npz(&read_npz(path)?, &path.display().to_string())
    }
}
