//! The `latent` message: one chunk of clean latents, `[F, C, H, W]` f32 little-endian, frame-major so that
//! each latent is one contiguous slice the VAE can decode on its own. The payload is written in place into
//! dora's shared-memory sample (`send_output_raw`); everything else travels in the metadata parameters:
//!
//! `agent_id`, `chunk`, `first_latent`, `shape` = [F, C, H, W], `ticks` / `sim_time_ns` (per latent: the action
//! tick it answers), `world_from_camera` (16·F floats, row-major per latent), `weights` (where the DiT's
//! weights came from: `random(seed=…)` or the checkpoint path), `chunk_ms` (generation time).

use dora_node_api::{MetadataParameters, Parameter};

use super::error::{unexpected, DecodeError};

const MESSAGE: &str = "latent";

#[derive(Debug, Clone, PartialEq)]
pub struct LatentHeader {
    pub agent_id: u32,
    pub chunk: u64,
    pub first_latent: u64,
    pub frames: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub ticks: Vec<u64>,
    pub sim_time_ns: Vec<u64>,
    pub world_from_camera: Vec<[[f32; 4]; 4]>,
    pub weights: String,
    pub chunk_ms: f64,
}

impl LatentHeader {
    pub fn latent_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn payload_len(&self) -> usize {
        4 * self.frames * self.latent_len()
    }

    /// The metadata parameters of the header (the payload is written by [`write_frame_major`]).
    fn to_params(&self) -> MetadataParameters {
        let mut p = MetadataParameters::new();
        p.insert("agent_id".into(), Parameter::Integer(self.agent_id as i64));
        p.insert("chunk".into(), Parameter::Integer(self.chunk as i64));
        p.insert("first_latent".into(), Parameter::Integer(self.first_latent as i64));
        // Per dora convention a message of one tick carries `tick`: the chunk's last action tick.
        p.insert("tick".into(), Parameter::Integer(self.ticks.last().copied().unwrap_or(0) as i64));
        p.insert(
            "shape".into(),
            Parameter::ListInt(
                [self.frames, self.channels, self.height, self.width].iter().map(|&v| v as i64).collect(),
            ),
        );
        p.insert("ticks".into(), Parameter::ListInt(self.ticks.iter().map(|&t| t as i64).collect()));
        p.insert("sim_time_ns".into(), Parameter::ListInt(self.sim_time_ns.iter().map(|&t| t as i64).collect()));
        p.insert(
            "world_from_camera".into(),
            Parameter::ListFloat(self.world_from_camera.iter().flatten().flatten().map(|&v| v as f64).collect()),
        );
        p.insert("weights".into(), Parameter::String(self.weights.clone()));
        p.insert("chunk_ms".into(), Parameter::Float(self.chunk_ms));
        p
    }

    /// Reads the header and checks it against the payload size; errors name the parameter.
    fn from_params(p: &MetadataParameters, payload_len: usize) -> Result<Self, DecodeError> {
        let int = |name: &str| match p.get(name) {
            Some(Parameter::Integer(v)) if *v >= 0 => Ok(*v as u64),
            _ => Err(unexpected(MESSAGE, name, "a non-negative integer")),
        };
        let ints = |name: &str, n: usize| match p.get(name) {
            Some(Parameter::ListInt(v)) if v.len() == n && v.iter().all(|x| *x >= 0) => {
                Ok(v.iter().map(|&x| x as u64).collect::<Vec<u64>>())
            }
            _ => Err(unexpected(MESSAGE, name, format!("a list of {n} non-negative integers"))),
        };
        let shape = ints("shape", 4)?;
        let (frames, channels, height, width) =
            (shape[0] as usize, shape[1] as usize, shape[2] as usize, shape[3] as usize);
        if frames == 0 || channels == 0 || height == 0 || width == 0 {
            return Err(unexpected(MESSAGE, "shape", format!("positive [F, C, H, W], found {shape:?}")));
        }
        let poses = match p.get("world_from_camera") {
            Some(Parameter::ListFloat(v)) if v.len() == 16 * frames && v.iter().all(|x| x.is_finite()) => v
                .chunks_exact(16)
                .map(|m| {
                    let mut rows = [[0.0f32; 4]; 4];
                    for (i, x) in m.iter().enumerate() {
                        rows[i / 4][i % 4] = *x as f32;
                    }
                    rows
                })
                .collect(),
            _ => {
                return Err(unexpected(
                    MESSAGE,
                    "world_from_camera",
                    format!("{} finite floats (a 4×4 per latent)", 16 * frames),
                ))
            }
        };
        let h = LatentHeader {
            agent_id: int("agent_id")? as u32,
            chunk: int("chunk")?,
            first_latent: int("first_latent")?,
            frames,
            channels,
            height,
            width,
            ticks: ints("ticks", frames)?,
            sim_time_ns: ints("sim_time_ns", frames)?,
            world_from_camera: poses,
            weights: match p.get("weights") {
                Some(Parameter::String(s)) => s.clone(),
                _ => return Err(unexpected(MESSAGE, "weights", "a string")),
            },
            chunk_ms: match p.get("chunk_ms") {
                Some(Parameter::Float(v)) => *v,
                _ => return Err(unexpected(MESSAGE, "chunk_ms", "a float")),
            },
        };
        if payload_len != h.payload_len() {
            return Err(unexpected(
                MESSAGE,
                "<payload>",
                format!("{} bytes for shape {shape:?} f32, found {payload_len}", h.payload_len()),
            ));
        }
        Ok(h)
    }
}

/// The metadata parameters of a chunk's header (the payload is written by [`write_frame_major`]).
pub fn encode(h: &LatentHeader) -> MetadataParameters {
    h.to_params()
}

/// Reads a chunk's header and checks it against the payload size; errors name the parameter.
pub fn decode(p: &MetadataParameters, payload_len: usize) -> Result<LatentHeader, DecodeError> {
    LatentHeader::from_params(p, payload_len)
}

/// `[C, F, H, W]` (the generator's layout) → `[F, C, H, W]` little-endian bytes into `out`.
pub fn write_frame_major(cfhw: &[f32], c: usize, f: usize, hw: usize, out: &mut [u8]) {
    debug_assert_eq!(cfhw.len(), c * f * hw);
    debug_assert_eq!(out.len(), 4 * cfhw.len());
    for fi in 0..f {
        for ci in 0..c {
            let src = &cfhw[(ci * f + fi) * hw..][..hw];
            let dst = &mut out[4 * (fi * c + ci) * hw..][..4 * hw];
            for (d, v) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// Latent `i` of a frame-major payload as f32 values.
pub fn read_latent(payload: &[u8], header: &LatentHeader, i: usize) -> Vec<f32> {
    let n = header.latent_len();
    payload[4 * i * n..4 * (i + 1) * n].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> LatentHeader {
        LatentHeader {
            agent_id: 0,
            chunk: 2,
            first_latent: 8,
            frames: 2,
            channels: 3,
            height: 1,
            width: 2,
            ticks: vec![8, 9],
            sim_time_ns: vec![800, 900],
            world_from_camera: vec![
                [
                    [1.0, 0.0, 0.0, 0.5],
                    [0.0, 1.0, 0.0, 0.0],
                    [0.0, 0.0, 1.0, 0.0],
                    [0.0, 0.0, 0.0, 1.0]
                ];
                2
            ],
            weights: "random(seed=0)".into(),
            chunk_ms: 12.5,
        }
    }

    #[test]
    fn params_round_trip_and_size_check() {
        let h = header();
        assert_eq!(LatentHeader::from_params(&h.to_params(), h.payload_len()).unwrap(), h);
        let e = LatentHeader::from_params(&h.to_params(), 4).unwrap_err().to_string();
        assert!(e.contains("48"), "{e}");
        let mut p = h.to_params();
        p.insert("ticks".into(), Parameter::ListInt(vec![1]));
        assert!(LatentHeader::from_params(&p, h.payload_len()).unwrap_err().to_string().contains("`ticks`"));
    }

    #[test]
    fn frame_major_layout() {
        let h = header();
        // [C=3, F=2, HW=2]: value = 100·c + 10·f + pixel.
        let cfhw: Vec<f32> =
            (0..3).flat_map(|c| (0..2).flat_map(move |f| (0..2).map(move |p| (100 * c + 10 * f + p) as f32))).collect();
        let mut bytes = vec![0u8; h.payload_len()];
        write_frame_major(&cfhw, 3, 2, 2, &mut bytes);
        assert_eq!(read_latent(&bytes, &h, 0), vec![0.0, 1.0, 100.0, 101.0, 200.0, 201.0]);
        assert_eq!(read_latent(&bytes, &h, 1), vec![10.0, 11.0, 110.0, 111.0, 210.0, 211.0]);
    }
}
