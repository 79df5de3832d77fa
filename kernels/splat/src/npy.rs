//! NumPy `.npy` (format 1.0/2.0/3.0) reading of little-endian `f4`, `f8`, `u1`, `i4`, `i8` C-order arrays,
//! and writing of `f4` arrays. Errors name the source and the header field.

use std::path::Path;

use crate::error::SplatError;
use crate::image::Image;

/// Element data of an array, converted to host values.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    U8(Vec<u8>),
    I64(Vec<i64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

impl NpyArray {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32 (lossy for f64/i64).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::U8(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parses `.npy` bytes; `name` names the source in errors.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<NpyArray, SplatError> {
    let err = |m: String| SplatError::format(name, m);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(err("not a .npy file (missing \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (header_len, header_start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(err("truncated .npy header".into()));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(err(format!("unsupported .npy format version {v}"))),
    };
    let data_start = header_start + header_len;
    if bytes.len() < data_start {
        return Err(err(format!("truncated .npy header: expected {header_len} header bytes")));
    }
    let header =
        std::str::from_utf8(&bytes[header_start..data_start]).map_err(|_| err("header is not UTF-8".into()))?;
    let descr = dict_value(header, "descr").ok_or_else(|| err(format!("header has no 'descr': {header}")))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order").ok_or_else(|| err("header has no 'fortran_order'".into()))?;
    if fortran != "False" {
        return Err(err(format!("fortran_order: expected False, found {fortran}")));
    }
    let shape_text = dict_value(header, "shape").ok_or_else(|| err("header has no 'shape'".into()))?;
    let shape = parse_shape(shape_text).ok_or_else(|| err(format!("shape: cannot parse {shape_text}")))?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| err("shape overflows".into()))?;
    let body = &bytes[data_start..];
    let (elem, make): (usize, fn(&[u8]) -> NpyData) = match descr {
        "<f4" => (4, |b| NpyData::F32(b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())),
        "<f8" => (8, |b| NpyData::F64(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect())),
        "|u1" | "<u1" => (1, |b| NpyData::U8(b.to_vec())),
        "<i8" => (8, |b| NpyData::I64(b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect())),
        "<i4" => {
            (4, |b| NpyData::I64(b.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect()))
        }
        other => return Err(err(format!("descr: unsupported dtype {other} (expected <f4, <f8, |u1, <i4 or <i8)"))),
    };
    let need = count.checked_mul(elem).filter(|&n| n <= body.len());
    let Some(need) = need else {
        let need = count as u128 * elem as u128;
        return Err(err(format!("truncated data: shape {shape:?} needs {need} bytes, found {}", body.len())));
    };
    Ok(NpyArray { shape, data: make(&body[..need]) })
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray, SplatError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SplatError::Io { path: shown.clone(), source })?;
    parse_npy(&bytes, &shown)
}

/// Encodes a C-order little-endian f32 array.
pub fn encode_npy_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes an image as a float32 `.npy` of shape (H, W, 3).
pub fn write_npy_f32(path: &Path, image: &Image) -> Result<(), SplatError> {
    let bytes = encode_npy_f32(&[image.height as usize, image.width as usize, 3], &image.data);
    std::fs::write(path, bytes).map_err(|source| SplatError::Write { path: path.display().to_string(), source })
}

/// The raw text of `'key': value` in a Python dict literal (value ends at the matching `,` or `}`).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
    Some(rest[..end].trim())
}

fn parse_shape(text: &str) -> Option<Vec<usize>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_round_trip_and_alignment() {
        let bytes = encode_npy_f32(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let a = parse_npy(&bytes, "x.npy").unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, NpyData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]));
        let scalar = parse_npy(&encode_npy_f32(&[], &[7.0]), "s.npy").unwrap();
        assert_eq!(scalar.shape, Vec::<usize>::new());
        assert_eq!(scalar.to_f32(), vec![7.0]);
    }

    #[test]
    fn malformed_headers_are_named() {
        let mut bytes = encode_npy_f32(&[4], &[1.0; 4]);
        let e = parse_npy(&bytes[..bytes.len() - 2], "t.npy").unwrap_err().to_string();
        assert!(e.starts_with("t.npy: truncated data"), "{e}");
        let pos = bytes.windows(3).position(|w| w == b"<f4").unwrap();
        bytes[pos..pos + 3].copy_from_slice(b">f4");
        let e = parse_npy(&bytes, "t.npy").unwrap_err().to_string();
        assert!(e.contains("unsupported dtype >f4"), "{e}");
        assert!(parse_npy(b"hello world", "h.npy").unwrap_err().to_string().contains("magic"));
    }

    #[test]
    fn sizes_that_overflow_are_errors_not_panics() {
        // A header claiming 2^62 f32 values (2^64 bytes: the byte count wraps in 64 bits) and one whose
        // shape product itself overflows.
        for (shape, expected) in [
            ("(4611686018427387904,)", "needs 18446744073709551616 bytes"),
            ("(4294967296, 4294967296)", "shape overflows"),
        ] {
            let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            let pad = (64 - (10 + header.len() + 1) % 64) % 64;
            let header = format!("{header}{}\n", " ".repeat(pad));
            bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(&[0; 16]);
            let e = parse_npy(&bytes, "big.npy").unwrap_err().to_string();
            assert!(e.starts_with("big.npy: ") && e.contains(expected), "{e}");
        }
    }
}
