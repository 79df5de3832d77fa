//! The `frame` message: an image as a flat `UInt8` payload (written in place into the shared-memory
//! sample with `send_output_raw`, so the pixels are never copied) plus a [`FrameHeader`] in the metadata
//! parameters `agent_id`, `tick`, `sim_time_ns`, `camera`, `width`, `height`, `encoding`, `intrinsics`
//! (fx, fy, cx, cy) and `camera_from_world` (16 floats, row-major).

use dora_node_api::arrow_v59::array::{Array, AsArray};
use dora_node_api::arrow_v59::datatypes::UInt8Type;
use dora_node_api::{MetadataParameters, Parameter};

use super::columns::{flatten, unflatten};
use super::error::{unexpected, DecodeError};
use crate::messages::{ChunkMeta, Encoding, FrameHeader};

const MESSAGE: &str = "frame";

/// Writes a frame header into dora metadata parameters.
pub fn encode(h: &FrameHeader) -> MetadataParameters {
    let mut p = MetadataParameters::new();
    p.insert("agent_id".into(), Parameter::Integer(h.meta.agent_id as i64));
    p.insert("tick".into(), Parameter::Integer(h.meta.tick as i64));
    p.insert("sim_time_ns".into(), Parameter::Integer(h.meta.sim_time_ns as i64));
    p.insert("camera".into(), Parameter::String(h.camera.clone()));
    p.insert("width".into(), Parameter::Integer(h.width as i64));
    p.insert("height".into(), Parameter::Integer(h.height as i64));
    p.insert("encoding".into(), Parameter::String(h.encoding.name().into()));
    p.insert("intrinsics".into(), Parameter::ListFloat(h.intrinsics.iter().map(|v| *v as f64).collect()));
    p.insert(
        "camera_from_world".into(),
        Parameter::ListFloat(flatten(&h.camera_from_world).iter().map(|v| *v as f64).collect()),
    );
    p
}

fn int_param(p: &MetadataParameters, name: &str) -> Result<i64, DecodeError> {
    match p.get(name) {
        Some(Parameter::Integer(v)) => Ok(*v),
        _ => Err(unexpected(MESSAGE, name, "an integer metadata parameter")),
    }
}

fn floats_param(p: &MetadataParameters, name: &str, n: usize) -> Result<Vec<f32>, DecodeError> {
    match p.get(name) {
        Some(Parameter::ListFloat(v)) if v.len() == n && v.iter().all(|x| x.is_finite()) => {
            Ok(v.iter().map(|x| *x as f32).collect())
        }
        _ => Err(unexpected(MESSAGE, name, format!("a list of {n} finite floats"))),
    }
}

/// Reads a frame header from dora metadata parameters and checks it against the payload length.
pub fn decode(p: &MetadataParameters, payload_len: usize) -> Result<FrameHeader, DecodeError> {
    let camera = match p.get("camera") {
        Some(Parameter::String(s)) => s.clone(),
        _ => return Err(unexpected(MESSAGE, "camera", "a string metadata parameter")),
    };
    let encoding = match p.get("encoding") {
        Some(Parameter::String(s)) => Encoding::from_name(s)
            .ok_or_else(|| unexpected(MESSAGE, "encoding", format!("rgb8 or rgb32f, found {s}")))?,
        _ => return Err(unexpected(MESSAGE, "encoding", "a string metadata parameter")),
    };
    let dim = |name: &str| -> Result<u32, DecodeError> {
        let v = int_param(p, name)?;
        u32::try_from(v)
            .ok()
            .filter(|v| (1..=16384).contains(v))
            .ok_or_else(|| unexpected(MESSAGE, name, format!("1..=16384, found {v}")))
    };
    let intr = floats_param(p, "intrinsics", 4)?;
    let camera_from_world = unflatten(&floats_param(p, "camera_from_world", 16)?);
    let h = FrameHeader {
        meta: ChunkMeta {
            agent_id: int_param(p, "agent_id")? as u32,
            tick: int_param(p, "tick")? as u64,
            sim_time_ns: int_param(p, "sim_time_ns")? as u64,
        },
        camera,
        width: dim("width")?,
        height: dim("height")?,
        encoding,
        intrinsics: [intr[0], intr[1], intr[2], intr[3]],
        camera_from_world,
    };
    if h.payload_len() != payload_len {
        return Err(unexpected(
            MESSAGE,
            "<payload>",
            format!(
                "{} bytes for {}×{} {}, found {payload_len}",
                h.payload_len(),
                h.width,
                h.height,
                h.encoding.name()
            ),
        ));
    }
    Ok(h)
}

/// The bytes of a `UInt8` payload, borrowed from the received Arrow buffer (no copy).
pub fn payload_bytes(array: &dyn Array) -> Result<&[u8], DecodeError> {
    array
        .as_primitive_opt::<UInt8Type>()
        .map(|a| a.values().as_ref())
        .ok_or_else(|| unexpected(MESSAGE, "<payload>", format!("a UInt8 array, found {}", array.data_type())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_round_trip_and_size_check() {
        let h = FrameHeader {
            meta: ChunkMeta { agent_id: 0, tick: 3, sim_time_ns: 1 },
            camera: "front".into(),
            width: 4,
            height: 2,
            encoding: Encoding::Rgb8,
            intrinsics: [2.0, 2.0, 2.0, 1.0],
            camera_from_world: [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
        };
        let p = encode(&h);
        assert_eq!(decode(&p, 24).unwrap(), h);
        let e = decode(&p, 23).unwrap_err().to_string();
        assert!(e.contains("24 bytes"), "{e}");
    }
}
