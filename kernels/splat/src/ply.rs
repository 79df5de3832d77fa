//! Inria 3DGS `.ply`: binary little-endian, one `vertex` element of float properties in the order
//! `x y z [nx ny nz] f_dc_0..2 f_rest_0..(3·((d+1)²−1)−1) opacity scale_0..2 rot_0..3`.
//!
//! Stored values are raw (pre-activation): we apply `opacity = sigmoid(raw)`, `scale = exp(raw)`,
//! `rotation = normalize(rot)` with `rot_0 = w`, and transpose the channel-major `f_rest`
//! (`f_rest[c·(K−1) + k−1]`) to coefficient-major SH. A zero or non-finite quaternion is kept as read
//! (the renderer drops it). The SH degree is inferred from the number of `f_rest` properties.
//! Every error names the file, and the property (with its index) or the vertex.

use std::path::Path;

use glam::{Quat, Vec3};
use worldflow_protocol::{sh_coeffs_per_gaussian, Gaussians};

use crate::error::SplatError;

/// Expected property names for SH degree `d` (normals included).
fn expected_properties(d: u8, with_normals: bool) -> Vec<String> {
    let mut names: Vec<String> = ["x", "y", "z"].iter().map(|s| s.to_string()).collect();
    if with_normals {
        names.extend(["nx", "ny", "nz"].iter().map(|s| s.to_string()));
    }
    names.extend((0..3).map(|i| format!("f_dc_{i}")));
    names.extend((0..3 * (sh_coeffs_per_gaussian(d) - 1)).map(|i| format!("f_rest_{i}")));
    names.push("opacity".into());
    names.extend((0..3).map(|i| format!("scale_{i}")));
    names.extend((0..4).map(|i| format!("rot_{i}")));
    names
}

/// Parses `.ply` bytes; `name` names the source in errors.
pub fn read_ply_bytes(bytes: &[u8], name: &str) -> Result<Gaussians, SplatError> {
    let err = |m: String| SplatError::format(name, m);
    let end_marker = b"end_header\n";
    let header_end = bytes
        .windows(end_marker.len())
        .position(|w| w == end_marker)
        .ok_or_else(|| err("no 'end_header' line (not a .ply file, or truncated header)".into()))?
        + end_marker.len();
    let header = std::str::from_utf8(&bytes[..header_end]).map_err(|_| err("header is not ASCII".into()))?;
    let mut lines = header.lines().enumerate();
    if lines.next().map(|(_, l)| l.trim()) != Some("ply") {
        return Err(err("line 1: expected 'ply'".into()));
    }
    let mut vertex_count: Option<usize> = None;
    let mut properties: Vec<String> = Vec::new();
    let mut format_seen = false;
    for (i, line) in lines {
        let line_no = i + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] | ["comment", ..] | ["obj_info", ..] | ["end_header"] => {}
            ["format", fmt, _version] => {
                if *fmt != "binary_little_endian" {
                    return Err(err(format!(
                        "line {line_no}: format '{fmt}' unsupported, expected binary_little_endian"
                    )));
                }
                format_seen = true;
            }
            ["element", elem, count] => {
                if *elem != "vertex" || vertex_count.is_some() {
                    return Err(err(format!("line {line_no}: element '{elem}': expected a single 'vertex' element")));
                }
                vertex_count =
                    Some(count.parse().map_err(|_| err(format!("line {line_no}: bad vertex count '{count}'")))?);
            }
            ["property", ty, prop] => {
                if vertex_count.is_none() {
                    return Err(err(format!("line {line_no}: property '{prop}' before 'element vertex'")));
                }
                if *ty != "float" && *ty != "float32" {
                    return Err(err(format!("line {line_no}: property '{prop}' has type '{ty}', expected float")));
                }
                properties.push(prop.to_string());
            }
            _ => return Err(err(format!("line {line_no}: cannot parse header line '{line}'"))),
        }
    }
    if !format_seen {
        return Err(err("header has no 'format' line".into()));
    }
    let n = vertex_count.ok_or_else(|| err("header has no 'element vertex' line".into()))?;
    let with_normals = properties.get(3).map(String::as_str) == Some("nx");
    let rest = properties.iter().filter(|p| p.starts_with("f_rest_")).count();
    let degree = match rest {
        0 => 0,
        9 => 1,
        24 => 2,
        45 => 3,
        r => return Err(err(format!("{r} f_rest properties: expected 0, 9, 24 or 45 (SH degree 0..3)"))),
    };
    let expected = expected_properties(degree, with_normals);
    for (i, want) in expected.iter().enumerate() {
        match properties.get(i) {
            Some(got) if got == want => {}
            Some(got) => return Err(err(format!("property {i} is '{got}', expected '{want}' (Inria layout order)"))),
            None => return Err(err(format!("missing property '{want}' (property {i})"))),
        }
    }
    if properties.len() > expected.len() {
        return Err(err(format!("unexpected property '{}' (property {})", properties[expected.len()], expected.len())));
    }
    let stride = properties.len() * 4;
    let body = &bytes[header_end..];
    let need = n.checked_mul(stride).ok_or_else(|| err("vertex count overflows".into()))?;
    if body.len() < need {
        return Err(err(format!(
            "truncated data: {n} vertices need {need} bytes, found {} (vertex {} is incomplete)",
            body.len(),
            body.len() / stride
        )));
    }
    if body.len() > need {
        return Err(err(format!("{} unexpected bytes after the last vertex", body.len() - need)));
    }

    let k = sh_coeffs_per_gaussian(degree);
    let rest_off = if with_normals { 9 } else { 6 };
    let after = rest_off + 3 * (k - 1);
    let mut g = Gaussians::new(degree);
    g.ids.reserve(n);
    g.sh.reserve(n * k);
    let mut f = vec![0.0f32; properties.len()];
    let mut sh = vec![[0.0f32; 3]; k];
    for (v, rec) in body.chunks_exact(stride).enumerate() {
        for (dst, src) in f.iter_mut().zip(rec.chunks_exact(4)) {
            *dst = f32::from_le_bytes(src.try_into().unwrap());
        }
        sh[0] = [f[rest_off - 3], f[rest_off - 2], f[rest_off - 1]];
        for (kk, coeff) in sh.iter_mut().enumerate().skip(1) {
            for (c, value) in coeff.iter_mut().enumerate() {
                *value = f[rest_off + c * (k - 1) + kk - 1];
            }
        }
        let raw_q = Quat::from_xyzw(f[after + 5], f[after + 6], f[after + 7], f[after + 4]);
        let len = raw_q.length();
        let rotation = if len > 0.0 && len.is_finite() { raw_q / len } else { raw_q };
        g.push(
            v as u64,
            Vec3::new(f[0], f[1], f[2]),
            Vec3::new(f[after + 1].exp(), f[after + 2].exp(), f[after + 3].exp()),
            rotation,
            sigmoid(f[after]),
            &sh,
        );
    }
    Ok(g)
}

/// Reads an Inria `.ply` file.
pub fn read_ply(path: &Path) -> Result<Gaussians, SplatError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SplatError::Io { path: shown.clone(), source })?;
    read_ply_bytes(&bytes, &shown)
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Inverse sigmoid, with opacity clamped to [1e-7, 1 − 1e-7] so the result is finite.
fn logit(p: f32) -> f32 {
    let p = (p as f64).clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln() as f32
}

/// Encodes Gaussians as an Inria `.ply` (with zero normals), raw (pre-activation) values.
pub fn write_ply_bytes(g: &Gaussians) -> Result<Vec<u8>, SplatError> {
    g.validate()?;
    let names = expected_properties(g.sh_degree, true);
    let mut out = Vec::with_capacity(1024 + g.len() * names.len() * 4);
    out.extend_from_slice(format!("ply\nformat binary_little_endian 1.0\nelement vertex {}\n", g.len()).as_bytes());
    for p in &names {
        out.extend_from_slice(format!("property float {p}\n").as_bytes());
    }
    out.extend_from_slice(b"end_header\n");
    let k = g.coeffs_per_gaussian();
    let mut put = |v: f32| out.extend_from_slice(&v.to_le_bytes());
    for i in 0..g.len() {
        let m = g.means[i];
        [m.x, m.y, m.z, 0.0, 0.0, 0.0].into_iter().for_each(&mut put);
        let sh = g.sh_of(i);
        sh[0].into_iter().for_each(&mut put);
        for c in 0..3 {
            for coeff in &sh[1..k] {
                put(coeff[c]);
            }
        }
        put(logit(g.opacities[i]));
        let s = g.scales[i];
        [s.x.ln(), s.y.ln(), s.z.ln()].into_iter().for_each(&mut put);
        let q = g.rotations[i];
        [q.w, q.x, q.y, q.z].into_iter().for_each(&mut put);
    }
    Ok(out)
}

/// Writes an Inria `.ply` file.
pub fn write_ply(path: &Path, g: &Gaussians) -> Result<(), SplatError> {
    let bytes = write_ply_bytes(g)?;
    std::fs::write(path, bytes).map_err(|source| SplatError::Write { path: path.display().to_string(), source })
}
