//! NumPy `.npz` reading (a zip of `.npy` files, as written by `np.savez`: entries *stored*, not
//! compressed; compressed entries are rejected with a clear error), plus the gsplat test-garden layout
//! (points, colours, cameras) used by benchmarks.
//!
//! The archive is read by the `zip` crate (zip64 included: numpy writes zip64 records); malformed
//! archives produce errors naming the file and the entry.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;

use glam::Vec3;
use worldflow_protocol::{mat4_from_rows, Camera, Intrinsics};
use zip::{CompressionMethod, ZipArchive};

use crate::error::SplatError;
use crate::npy::{parse_npy, NpyArray, NpyData};

/// Parses all arrays of an `.npz` held in memory; keys are the entry names without `.npy`. `name` (the
/// file) is named by every error, and so is the entry where one is at fault.
pub fn parse_npz(bytes: &[u8], name: &str) -> Result<BTreeMap<String, NpyArray>, SplatError> {
    let zip_err = |what: String| move |source| SplatError::Zip { path: name.to_owned(), what, source };
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(zip_err("not a readable zip archive".to_owned()))?;
    let mut out = BTreeMap::new();
    for index in 0..archive.len() {
        let entry_name = archive.name_for_index(index).unwrap_or_default().to_owned();
        // The method is checked on the raw entry: opening an entry this build cannot decompress fails
        // with a less helpful error.
        let method = archive.by_index_raw(index).map_err(zip_err(entry_name.clone()))?.compression();
        if method != CompressionMethod::Stored {
            return Err(SplatError::format(
                name,
                format!(
                    "{entry_name}: compressed ({method}); only stored entries are read (save with np.savez, not \
                     savez_compressed)"
                ),
            ));
        }
        let mut entry = archive.by_index(index).map_err(zip_err(entry_name.clone()))?;
        let shown = format!("{name}:{entry_name}");
        // The declared size only sizes the buffer (bounded by the archive's length); reading checks the CRC.
        let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(bytes.len()));
        entry.read_to_end(&mut data).map_err(|source| SplatError::Io { path: shown.clone(), source })?;
        let key = entry_name.strip_suffix(".npy").unwrap_or(&entry_name).to_owned();
        out.insert(key, parse_npy(&data, &shown)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/goldens/inria_sh3_37x29.npz");

    #[test]
    fn reads_a_numpy_archive() {
        let arrays = read_npz(Path::new(GOLDEN)).unwrap();
        assert!(!arrays.is_empty());
        assert!(arrays.keys().all(|k| !k.ends_with(".npy")), "{:?}", arrays.keys());
    }

    #[test]
    fn malformed_archives_name_the_file_and_the_entry() {
        let bytes = std::fs::read(GOLDEN).unwrap();
        let e = parse_npz(&bytes[..bytes.len() / 2], "half.npz").unwrap_err().to_string();
        assert!(e.starts_with("half.npz: "), "{e}");

        // The first entry's method patched to 8 (deflate) in its local and central headers.
        let mut deflated = bytes.clone();
        let central = (0..deflated.len() - 4).find(|&i| deflated[i..i + 4] == [0x50, 0x4b, 0x01, 0x02]).unwrap();
        deflated[8] = 8;
        deflated[central + 10] = 8;
        let e = parse_npz(&deflated, "packed.npz").unwrap_err().to_string();
        assert!(e.starts_with("packed.npz: ") && e.contains("only stored entries") && e.contains(".npy"), "{e}");

        // A corrupted array body: the CRC check fails, naming the entry.
        let mut corrupt = bytes;
        let last = central - 1;
        corrupt[last] ^= 0xFF;
        let e = parse_npz(&corrupt, "corrupt.npz").unwrap_err().to_string();
        assert!(e.starts_with("corrupt.npz:") && e.contains(".npy"), "{e}");
    }
}
