//! The `world-delta` message: [`crate::world_state::WorldDelta`] as one row whose columns are lists
//! (changes and bodies are each a group of equal-length list columns).

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{
    Array, ArrayRef, Float32Array, StructArray, UInt32Array, UInt64Array, UInt8Array,
};
use dora_node_api::arrow_v59::datatypes::{DataType, Field, Fields, Float32Type, UInt32Type, UInt64Type, UInt8Type};

use super::columns::{list, list_type, meta_arrays, meta_fields, unflatten, Row};
use super::error::{unexpected, DecodeError};
use crate::world_state::{BodyRecord, WorldDelta};

const MESSAGE: &str = "world-delta";

const COLUMNS: &[(&str, DataType)] = &[
    ("change_index", DataType::UInt32),
    ("change_class", DataType::UInt8),
    ("body_id", DataType::UInt64),
    ("body_class", DataType::UInt8),
    ("body_world_from_body", DataType::Float32),
    ("body_half_extent_m", DataType::Float32),
    ("body_velocity_mps", DataType::Float32),
    ("body_angular_velocity_rps", DataType::Float32),
    ("body_appearance_key", DataType::Float32),
];

/// Schema: agent_id/tick/sim_time_ns, dt_secs, then one list column per entry of the delta's tables.
pub fn schema() -> Fields {
    let mut f = meta_fields();
    f.push(Field::new("dt_secs", DataType::Float32, false));
    for (name, t) in COLUMNS {
        f.push(Field::new(*name, list_type(t.clone()), false));
    }
    f.into()
}

pub fn encode(d: &WorldDelta) -> StructArray {
    let flat = |f: &dyn Fn(&BodyRecord) -> Vec<f32>| -> ArrayRef {
        list(Arc::new(Float32Array::from(d.bodies.iter().flat_map(f).collect::<Vec<_>>())))
    };
    let mut cols = meta_arrays(&d.meta);
    cols.extend([
        Arc::new(Float32Array::from(vec![d.dt_secs])) as ArrayRef,
        list(Arc::new(UInt32Array::from(d.changes.iter().map(|c| c.0).collect::<Vec<_>>()))),
        list(Arc::new(UInt8Array::from(d.changes.iter().map(|c| c.1).collect::<Vec<_>>()))),
        list(Arc::new(UInt64Array::from(d.bodies.iter().map(|b| b.id).collect::<Vec<_>>()))),
        list(Arc::new(UInt8Array::from(d.bodies.iter().map(|b| b.class).collect::<Vec<_>>()))),
        flat(&|b| b.world_from_body.iter().flatten().copied().collect()),
        flat(&|b| b.half_extent_m.to_vec()),
        flat(&|b| b.velocity_mps.to_vec()),
        flat(&|b| b.angular_velocity_rps.to_vec()),
        flat(&|b| vec![b.appearance_key]),
    ]);
    StructArray::new(schema(), cols, None)
}

/// Decodes a delta; checks that the columns of each table have equal lengths and the floats are finite.
pub fn decode(array: &dyn Array) -> Result<WorldDelta, DecodeError> {
    let r = Row::new(MESSAGE, array)?;
    let f32s = |name: &str, per: usize, n: usize| -> Result<Vec<f32>, DecodeError> {
        let v = r.list_values::<Float32Type>(name)?;
        if v.len() != per * n || v.iter().any(|x| !x.is_finite()) {
            return Err(unexpected(
                MESSAGE,
                name,
                format!("{} finite values ({per} per entry), found {}", per * n, v.len()),
            ));
        }
        Ok(v)
    };
    let same_len = |name: &str, len: usize, like: &str, n: usize| {
        if len == n {
            Ok(())
        } else {
            Err(unexpected(MESSAGE, name, format!("{n} entries like {like}, found {len}")))
        }
    };
    let change_index = r.list_values::<UInt32Type>("change_index")?;
    let change_class = r.list_values::<UInt8Type>("change_class")?;
    same_len("change_class", change_class.len(), "change_index", change_index.len())?;
    let ids = r.list_values::<UInt64Type>("body_id")?;
    let n = ids.len();
    let classes = r.list_values::<UInt8Type>("body_class")?;
    same_len("body_class", classes.len(), "body_id", n)?;
    let pose = f32s("body_world_from_body", 16, n)?;
    let ext = f32s("body_half_extent_m", 3, n)?;
    let vel = f32s("body_velocity_mps", 3, n)?;
    let ang = f32s("body_angular_velocity_rps", 3, n)?;
    let key = f32s("body_appearance_key", 1, n)?;
    let v3 = |v: &[f32], i: usize| [v[3 * i], v[3 * i + 1], v[3 * i + 2]];
    let bodies = (0..n)
        .map(|i| BodyRecord {
            id: ids[i],
            class: classes[i],
            world_from_body: unflatten(&pose[16 * i..16 * (i + 1)]),
            half_extent_m: v3(&ext, i),
            velocity_mps: v3(&vel, i),
            angular_velocity_rps: v3(&ang, i),
            appearance_key: key[i],
        })
        .collect();
    Ok(WorldDelta {
        meta: r.meta()?,
        dt_secs: r.req::<Float32Type>("dt_secs")?,
        changes: change_index.into_iter().zip(change_class).collect(),
        bodies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ChunkMeta;

    #[test]
    fn world_delta_round_trip() {
        let d = WorldDelta {
            meta: ChunkMeta { agent_id: 0, tick: 5, sim_time_ns: 500 },
            dt_secs: 0.1,
            changes: vec![(3, 8), (9, 0)],
            bodies: vec![BodyRecord {
                id: 7,
                class: 8,
                world_from_body: [
                    [1.0, 0.0, 0.0, 2.0],
                    [0.0, 1.0, 0.0, 3.0],
                    [0.0, 0.0, 1.0, 0.5],
                    [0.0, 0.0, 0.0, 1.0],
                ],
                half_extent_m: [2.0, 0.9, 0.7],
                velocity_mps: [5.0, 0.0, 0.0],
                angular_velocity_rps: [0.0, 0.0, 0.1],
                appearance_key: 0.25,
            }],
        };
        assert_eq!(decode(&encode(&d)).unwrap(), d);
        assert_eq!(decode(&encode(&WorldDelta::default())).unwrap(), WorldDelta::default());
    }

    #[test]
    fn malformed_deltas_name_the_field() {
        let e = decode(&UInt8Array::from(vec![1u8])).unwrap_err();
        assert_eq!((e.message(), e.field()), ("world-delta", "<root>"));
        let meta_only = StructArray::new(meta_fields().into(), meta_arrays(&ChunkMeta::default()), None);
        let e = decode(&meta_only).unwrap_err();
        assert!(matches!(&e, DecodeError::Missing { field, .. } if field == "change_index"), "{e}");
    }
}
