//! The `context` message: the memory set of one chunk, as a one-row Arrow struct.
//!
//! Columns: `agent_id` u32, `chunk` u64, `first_latent` u64 (= 4·chunk), then lists: `context` (latent indices
//! into the history, ascending, all < first_latent), `context_rope_time` (0..K−1), `query_rope_time`
//! (K..K+3, the chunk's own latents), `spatial_start` / `spatial_distance` (retrieved clips, best first).

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{Array, ArrayRef, Float32Array, StructArray, UInt32Array, UInt64Array};
use dora_node_api::arrow_v59::datatypes::{DataType, Field, Fields, Float32Type, UInt32Type, UInt64Type};

use super::columns::{list, list_type, Row};
use super::error::{unexpected, DecodeError};

/// The memory set of chunk `chunk`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextMsg {
    pub agent_id: u32,
    pub chunk: u64,
    pub first_latent: u64,
    pub context: Vec<u32>,
    pub context_rope_time: Vec<u32>,
    pub query_rope_time: Vec<u32>,
    pub spatial_start: Vec<u32>,
    pub spatial_distance: Vec<f32>,
}

const MESSAGE: &str = "context";

pub fn schema() -> Fields {
    vec![
        Field::new("agent_id", DataType::UInt32, false),
        Field::new("chunk", DataType::UInt64, false),
        Field::new("first_latent", DataType::UInt64, false),
        Field::new("context", list_type(DataType::UInt32), false),
        Field::new("context_rope_time", list_type(DataType::UInt32), false),
        Field::new("query_rope_time", list_type(DataType::UInt32), false),
        Field::new("spatial_start", list_type(DataType::UInt32), false),
        Field::new("spatial_distance", list_type(DataType::Float32), false),
    ]
    .into()
}

pub fn encode(m: &ContextMsg) -> StructArray {
    let u32s = |v: &[u32]| list(Arc::new(UInt32Array::from(v.to_vec())));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(vec![m.agent_id])),
        Arc::new(UInt64Array::from(vec![m.chunk])),
        Arc::new(UInt64Array::from(vec![m.first_latent])),
        u32s(&m.context),
        u32s(&m.context_rope_time),
        u32s(&m.query_rope_time),
        u32s(&m.spatial_start),
        list(Arc::new(Float32Array::from(m.spatial_distance.clone()))),
    ];
    StructArray::new(schema(), cols, None)
}

/// Decodes and checks a context message ([`ContextMsg::check`]); errors name the field.
pub fn decode(array: &dyn Array) -> Result<ContextMsg, DecodeError> {
    let r = Row::new(MESSAGE, array)?;
    let m = ContextMsg {
        agent_id: r.req::<UInt32Type>("agent_id")?,
        chunk: r.req::<UInt64Type>("chunk")?,
        first_latent: r.req::<UInt64Type>("first_latent")?,
        context: r.list_values::<UInt32Type>("context")?,
        context_rope_time: r.list_values::<UInt32Type>("context_rope_time")?,
        query_rope_time: r.list_values::<UInt32Type>("query_rope_time")?,
        spatial_start: r.list_values::<UInt32Type>("spatial_start")?,
        spatial_distance: r.list_values::<Float32Type>("spatial_distance")?,
    };
    m.check()?;
    Ok(m)
}

impl ContextMsg {
    /// Invariants: context ascending and before the chunk; reframed times 0..K−1 then K..; equal list lengths.
    /// The error names the chunk in its `expected` text.
    pub fn check(&self) -> Result<(), DecodeError> {
        let c = self.chunk;
        if self.context.windows(2).any(|w| w[1] <= w[0])
            || self.context.last().is_some_and(|&l| u64::from(l) >= self.first_latent)
        {
            return Err(unexpected(
                MESSAGE,
                "context",
                format!("ascending latent indices below {} (chunk {c}), found {:?}", self.first_latent, self.context),
            ));
        }
        let k = self.context.len() as u32;
        if self.context_rope_time != (0..k).collect::<Vec<_>>() {
            return Err(unexpected(
                MESSAGE,
                "context_rope_time",
                format!("0..{k} (temporal reframing, chunk {c}), found {:?}", self.context_rope_time),
            ));
        }
        if self.query_rope_time.is_empty() || self.query_rope_time.iter().enumerate().any(|(i, &t)| t != k + i as u32) {
            return Err(unexpected(
                MESSAGE,
                "query_rope_time",
                format!("{k}, {}, … (chunk {c}), found {:?}", k + 1, self.query_rope_time),
            ));
        }
        if self.spatial_start.len() != self.spatial_distance.len() {
            return Err(unexpected(
                MESSAGE,
                "spatial_distance",
                format!(
                    "as many entries as spatial_start ({}) (chunk {c}), found {}",
                    self.spatial_start.len(),
                    self.spatial_distance.len()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> ContextMsg {
        ContextMsg {
            agent_id: 1,
            chunk: 6,
            first_latent: 24,
            context: vec![0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23],
            context_rope_time: (0..20).collect(),
            query_rope_time: (20..24).collect(),
            spatial_start: vec![8],
            spatial_distance: vec![0.25],
        }
    }

    #[test]
    fn round_trip() {
        assert_eq!(decode(&encode(&msg())).unwrap(), msg());
        let empty = ContextMsg {
            chunk: 0,
            first_latent: 0,
            context: vec![],
            context_rope_time: vec![],
            query_rope_time: (0..4).collect(),
            spatial_start: vec![],
            spatial_distance: vec![],
            ..msg()
        };
        assert_eq!(decode(&encode(&empty)).unwrap(), empty);
    }

    #[test]
    fn invariants_name_the_field() {
        let mut m = msg();
        m.context.push(24);
        m.context_rope_time.push(20);
        assert_eq!(decode(&encode(&m)).unwrap_err().field(), "context");
        let mut m = msg();
        m.context_rope_time[0] = 5;
        assert!(decode(&encode(&m)).unwrap_err().to_string().contains("context_rope_time"));
        let mut m = msg();
        m.query_rope_time = vec![0, 1, 2, 3];
        assert!(decode(&encode(&m)).unwrap_err().to_string().contains("query_rope_time"));
    }
}
