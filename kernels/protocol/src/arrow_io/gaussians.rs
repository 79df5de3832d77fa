//! A Gaussian set on the wire: a flat little-endian payload written in place into the shared-memory sample
//! (`send_output_raw`) plus metadata parameters `count`, `sh_degree`, `part` (`static` or `dynamic`) and
//! `version`. Payload: `count` u64 ids, then per Gaussian `3 mean + 3 scale + 4 rotation (w x y z) +
//! 1 opacity + 3·(d+1)² SH` f32.

use dora_node_api::{MetadataParameters, Parameter};
use glam::{Quat, Vec3};

use super::error::{unexpected, DecodeError};
use crate::gaussians::{sh_coeffs_per_gaussian, Gaussians};

const MESSAGE: &str = "gaussians";

/// Which part of the actor's set a message carries: `Static` replaces the static set (sent when it
/// changes), `Dynamic` replaces the moving Gaussians (sent every tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Static,
    Dynamic,
}

fn floats_per(sh_degree: u8) -> usize {
    11 + 3 * sh_coeffs_per_gaussian(sh_degree)
}

/// Bytes of the payload of `g`.
pub fn payload_len(g: &Gaussians) -> usize {
    g.len() * (8 + 4 * floats_per(g.sh_degree))
}

/// The metadata parameters of a set (`count`, `sh_degree`, `part`, `version`, `tick`); the payload is
/// written by [`encode_into`].
pub fn encode(g: &Gaussians, part: Part, version: u64, tick: u64) -> MetadataParameters {
    let mut p = MetadataParameters::new();
    p.insert("count".into(), Parameter::Integer(g.len() as i64));
    p.insert("sh_degree".into(), Parameter::Integer(g.sh_degree as i64));
    p.insert(
        "part".into(),
        Parameter::String(
            match part {
                Part::Static => "static",
                Part::Dynamic => "dynamic",
            }
            .into(),
        ),
    );
    p.insert("version".into(), Parameter::Integer(version as i64));
    p.insert("tick".into(), Parameter::Integer(tick as i64));
    p
}

/// Writes `g` into `out` (exactly `payload_len(g)` bytes).
pub fn encode_into(g: &Gaussians, out: &mut [u8]) {
    let n = g.len();
    let (ids, rest) = out.split_at_mut(8 * n);
    for (dst, id) in ids.chunks_exact_mut(8).zip(&g.ids) {
        dst.copy_from_slice(&id.to_le_bytes());
    }
    let k = g.coeffs_per_gaussian();
    let mut w = rest.chunks_exact_mut(4);
    let mut put = |v: f32| w.next().expect("payload sized by payload_len").copy_from_slice(&v.to_le_bytes());
    for i in 0..n {
        let (m, s, q) = (g.means[i], g.scales[i], g.rotations[i]);
        for v in [m.x, m.y, m.z, s.x, s.y, s.z, q.w, q.x, q.y, q.z, g.opacities[i]] {
            put(v);
        }
        for c in &g.sh[i * k..(i + 1) * k] {
            for v in c {
                put(*v);
            }
        }
    }
}

fn int(p: &MetadataParameters, name: &str) -> Result<i64, DecodeError> {
    match p.get(name) {
        Some(Parameter::Integer(v)) => Ok(*v),
        _ => Err(unexpected(MESSAGE, name, "an integer metadata parameter")),
    }
}

/// Reads a set; checks the payload size against `count` and `sh_degree`.
pub fn decode(bytes: &[u8], p: &MetadataParameters) -> Result<(Part, u64, Gaussians), DecodeError> {
    let count = usize::try_from(int(p, "count")?).map_err(|_| unexpected(MESSAGE, "count", "a non-negative count"))?;
    let deg = u8::try_from(int(p, "sh_degree")?)
        .ok()
        .filter(|d| *d <= 3)
        .ok_or_else(|| unexpected(MESSAGE, "sh_degree", "0..=3"))?;
    let part = match p.get("part") {
        Some(Parameter::String(s)) if s == "static" => Part::Static,
        Some(Parameter::String(s)) if s == "dynamic" => Part::Dynamic,
        _ => return Err(unexpected(MESSAGE, "part", "`static` or `dynamic`")),
    };
    let version = int(p, "version")? as u64;
    let per = floats_per(deg);
    let expected = count
        .checked_mul(8 + 4 * per)
        .ok_or_else(|| unexpected(MESSAGE, "count", format!("a count whose payload fits in memory, found {count}")))?;
    if bytes.len() != expected {
        return Err(unexpected(
            MESSAGE,
            "<payload>",
            format!("{expected} bytes for {count} Gaussians of SH degree {deg}, found {}", bytes.len()),
        ));
    }
    let (ids, rest) = bytes.split_at(8 * count);
    let mut g = Gaussians::new(deg);
    g.ids = ids.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap())).collect();
    let f: Vec<f32> = rest.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let k = sh_coeffs_per_gaussian(deg);
    g.means.reserve(count);
    for r in f.chunks_exact(per) {
        g.means.push(Vec3::new(r[0], r[1], r[2]));
        g.scales.push(Vec3::new(r[3], r[4], r[5]));
        g.rotations.push(Quat::from_xyzw(r[7], r[8], r[9], r[6]));
        g.opacities.push(r[10]);
        g.sh.extend((0..k).map(|c| [r[11 + 3 * c], r[12 + 3 * c], r[13 + 3 * c]]));
    }
    Ok((part, version, g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut g = Gaussians::new(1);
        g.push(
            42,
            Vec3::new(1.0, 2.0, 3.0),
            Vec3::splat(0.5),
            Quat::from_rotation_z(0.3),
            0.7,
            &[[0.1, 0.2, 0.3], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
        );
        let mut buf = vec![0u8; payload_len(&g)];
        encode_into(&g, &mut buf);
        let (part, version, back) = decode(&buf, &encode(&g, Part::Dynamic, 3, 0)).unwrap();
        assert_eq!((part, version), (Part::Dynamic, 3));
        assert_eq!(back, g);
        assert!(decode(&buf[1..], &encode(&g, Part::Dynamic, 3, 0)).is_err());
    }
}
