//! The `action` message: one row of `ChunkMeta`, `keys` (u16 bit set), `label` (u8, nullable),
//! `world_from_camera` (4×4, nullable) and the vehicle control `throttle` / `steer` / `brake` (float32,
//! null together when the action carries no control).

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{Array, ArrayRef, Float32Array, StructArray, UInt16Array, UInt8Array};
use dora_node_api::arrow_v59::datatypes::{DataType, Field, Fields, Float32Type, UInt16Type, UInt8Type};

use super::columns::{mat_array, mat_type, meta_arrays, meta_fields, Row};
use super::error::{invalid, unexpected, DecodeError};
use crate::messages::{Action, Keys, VehicleControl};

const MESSAGE: &str = "action";

/// Schema of an action message.
pub fn schema() -> Fields {
    let mut f = meta_fields();
    f.extend([
        Field::new("keys", DataType::UInt16, false),
        Field::new("label", DataType::UInt8, true),
        Field::new("world_from_camera", mat_type(), true),
        Field::new("throttle", DataType::Float32, true),
        Field::new("steer", DataType::Float32, true),
        Field::new("brake", DataType::Float32, true),
    ]);
    f.into()
}

pub fn encode(a: &Action) -> StructArray {
    let mut cols = meta_arrays(&a.meta);
    let c = a.control;
    cols.extend([
        Arc::new(UInt16Array::from(vec![a.keys.0])) as ArrayRef,
        Arc::new(UInt8Array::from(vec![a.label])),
        mat_array(a.world_from_camera.as_ref()),
        Arc::new(Float32Array::from(vec![c.map(|c| c.throttle)])),
        Arc::new(Float32Array::from(vec![c.map(|c| c.steer)])),
        Arc::new(Float32Array::from(vec![c.map(|c| c.brake)])),
    ]);
    StructArray::new(schema(), cols, None)
}

/// Decodes and checks an action (known keys, label range, vehicle control ranges).
pub fn decode(array: &dyn Array) -> Result<Action, DecodeError> {
    let r = Row::new(MESSAGE, array)?;
    let keys = Keys(r.req::<UInt16Type>("keys")?);
    if !keys.is_valid() {
        return Err(unexpected(MESSAGE, "keys", format!("a bit set of the 8 known keys, found {:#x}", keys.0)));
    }
    let label = r.prim::<UInt8Type>("label")?;
    if let Some(l) = label.filter(|l| *l > 80) {
        return Err(unexpected(MESSAGE, "label", format!("0..=80, found {l}")));
    }
    let throttle = r.prim::<Float32Type>("throttle")?;
    let control = match throttle {
        Some(throttle) => {
            let c = VehicleControl {
                throttle,
                steer: r.req::<Float32Type>("steer")?,
                brake: r.req::<Float32Type>("brake")?,
            };
            c.validate().map_err(|e| invalid(MESSAGE, "control", e))?;
            Some(c)
        }
        None => None,
    };
    Ok(Action { meta: r.meta()?, keys, label, world_from_camera: r.mat("world_from_camera")?, control })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ChunkMeta;

    fn action() -> Action {
        Action {
            meta: ChunkMeta { agent_id: 2, tick: 7, sim_time_ns: 700 },
            keys: Keys::W.union(Keys::RIGHT),
            label: Some(10),
            world_from_camera: Some([
                [1.0, 0.0, 0.0, 1.0],
                [0.0, 1.0, 0.0, 2.0],
                [0.0, 0.0, 1.0, 3.0],
                [0.0, 0.0, 0.0, 1.0],
            ]),
            control: Some(VehicleControl { throttle: 0.5, steer: -0.2, brake: 0.0 }),
        }
    }

    #[test]
    fn action_round_trip() {
        let a = action();
        assert_eq!(decode(&encode(&a)).unwrap(), a);
        let b = Action { control: None, world_from_camera: None, label: None, ..a };
        assert_eq!(decode(&encode(&b)).unwrap(), b);
    }

    #[test]
    fn bad_fields_are_named() {
        let a = Action { keys: Keys(0x8000), ..action() };
        let e = decode(&encode(&a)).unwrap_err();
        assert_eq!((e.message(), e.field()), ("action", "keys"));
        let a = Action { control: Some(VehicleControl { throttle: 2.0, steer: 0.0, brake: 0.0 }), ..action() };
        let e = decode(&encode(&a)).unwrap_err();
        assert!(matches!(e, DecodeError::Invalid { field, .. } if field == "control"));
        let mut m = action().world_from_camera.unwrap();
        m[1][2] = f32::NAN;
        let e = decode(&encode(&Action { world_from_camera: Some(m), ..action() })).unwrap_err().to_string();
        assert!(e.contains("world_from_camera") && e.contains("index 6"), "{e}");
    }
}
