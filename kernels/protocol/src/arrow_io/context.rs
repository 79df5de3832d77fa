//! The `context` message: the memory set of one chunk, as a one-row Arrow struct.
//!
//! Columns: `agent_id` u32, `chunk` u64, `first_latent` u64 (= 4·chunk), then lists: `context` (latent indices
//! into the history, ascending, all < first_latent), `context_rope_time` (0..K−1), `query_rope_time`
//! (K..K+3, the chunk's own latents), `spatial_start` / `spatial_distance` (retrieved clips, best first).

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{
    Array, ArrayRef, AsArray, Float32Array, ListArray, StructArray, UInt32Array, UInt64Array,
};
use dora_node_api::arrow_v59::buffer::OffsetBuffer;
use dora_node_api::arrow_v59::datatypes::{DataType, Field, Fields, Float32Type, UInt32Type, UInt64Type};

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

fn list_field(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, false)))
}

pub fn schema() -> Fields {
    vec![
        Field::new("agent_id", DataType::UInt32, false),
        Field::new("chunk", DataType::UInt64, false),
        Field::new("first_latent", DataType::UInt64, false),
        Field::new("context", list_field(DataType::UInt32), false),
        Field::new("context_rope_time", list_field(DataType::UInt32), false),
        Field::new("query_rope_time", list_field(DataType::UInt32), false),
        Field::new("spatial_start", list_field(DataType::UInt32), false),
        Field::new("spatial_distance", list_field(DataType::Float32), false),
    ]
    .into()
}

fn list(values: ArrayRef) -> ArrayRef {
    let field = Arc::new(Field::new("item", values.data_type().clone(), false));
    Arc::new(ListArray::new(field, OffsetBuffer::from_lengths([values.len()]), values, None))
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

/// Decodes and checks a context message; errors name the field.
pub fn decode(array: &dyn Array) -> Result<ContextMsg, String> {
    let s = array.as_struct_opt().filter(|s| s.len() == 1).ok_or_else(|| {
        format!("context: expected a one-row struct array, found {} of length {}", array.data_type(), array.len())
    })?;
    let col = |name: &str| s.column_by_name(name).ok_or_else(|| format!("context: field `{name}` missing"));
    let items = |name: &str| -> Result<ArrayRef, String> {
        Ok(col(name)?.as_list_opt::<i32>().ok_or_else(|| format!("context: field `{name}`: expected a list"))?.value(0))
    };
    let u32s = |name: &str| -> Result<Vec<u32>, String> {
        Ok(items(name)?
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| format!("context: field `{name}`: expected list<uint32>"))?
            .values()
            .to_vec())
    };
    let u64v = |name: &str| -> Result<u64, String> {
        col(name)?
            .as_primitive_opt::<UInt64Type>()
            .map(|a| a.value(0))
            .ok_or_else(|| format!("context: field `{name}`: expected uint64"))
    };
    let m = ContextMsg {
        agent_id: col("agent_id")?
            .as_primitive_opt::<UInt32Type>()
            .map(|a| a.value(0))
            .ok_or("context: field `agent_id`: expected uint32")?,
        chunk: u64v("chunk")?,
        first_latent: u64v("first_latent")?,
        context: u32s("context")?,
        context_rope_time: u32s("context_rope_time")?,
        query_rope_time: u32s("query_rope_time")?,
        spatial_start: u32s("spatial_start")?,
        spatial_distance: items("spatial_distance")?
            .as_primitive_opt::<Float32Type>()
            .ok_or("context: field `spatial_distance`: expected list<float32>")?
            .values()
            .to_vec(),
    };
    m.check()?;
    Ok(m)
}

impl ContextMsg {
    /// Invariants: context ascending and before the chunk; reframed times 0..K−1 then K..; equal list lengths.
    pub fn check(&self) -> Result<(), String> {
        let c = self.chunk;
        if self.context.windows(2).any(|w| w[1] <= w[0])
            || self.context.last().is_some_and(|&l| l as u64 >= self.first_latent)
        {
            return Err(format!(
                "context of chunk {c}: field `context` {:?}: expected ascending latent indices below {}",
                self.context, self.first_latent
            ));
        }
        let k = self.context.len() as u32;
        if self.context_rope_time != (0..k).collect::<Vec<_>>() {
            return Err(format!(
                "context of chunk {c}: field `context_rope_time` {:?}: expected 0..{k} (temporal reframing)",
                self.context_rope_time
            ));
        }
        if self.query_rope_time.is_empty() || self.query_rope_time.iter().enumerate().any(|(i, &t)| t != k + i as u32) {
            return Err(format!(
                "context of chunk {c}: field `query_rope_time` {:?}: expected {k}, {}, …",
                self.query_rope_time,
                k + 1
            ));
        }
        if self.spatial_start.len() != self.spatial_distance.len() {
            return Err(format!(
                "context of chunk {c}: fields `spatial_start` and `spatial_distance` differ in length"
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
        assert!(decode(&encode(&m)).unwrap_err().contains("`context`"));
        let mut m = msg();
        m.context_rope_time[0] = 5;
        assert!(decode(&encode(&m)).unwrap_err().contains("context_rope_time"));
        let mut m = msg();
        m.query_rope_time = vec![0, 1, 2, 3];
        assert!(decode(&encode(&m)).unwrap_err().contains("query_rope_time"));
    }
}
