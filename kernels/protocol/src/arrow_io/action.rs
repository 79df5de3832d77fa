//! The `action` message: one row of `ChunkMeta`, `keys` (u16 bit set), `label` (u8, nullable),
//! `world_from_camera` (4×4, nullable), the vehicle control `throttle` / `steer` / `brake` (float32,
//! null together when the action carries no control), the velocity set-point `vel_forward_mps` /
//! `vel_left_mps` / `vel_up_mps` / `vel_yaw_rate_rps` and the Ackermann set-point `ack_speed_mps` /
//! `ack_steering_angle_rad` (float32, null together when absent), and `held` (u8, 0 or 1).

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{Array, ArrayRef, Float32Array, StructArray, UInt16Array, UInt8Array};
use dora_node_api::arrow_v59::datatypes::{DataType, Field, Fields, Float32Type, UInt16Type, UInt8Type};

use super::columns::{mat_array, mat_type, meta_arrays, meta_fields, Row};
use super::error::{invalid, unexpected, DecodeError};
use crate::commands::{AckermannCommand, VehicleControl, VelocityCommand};
use crate::messages::{Action, Keys};

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
        Field::new("vel_forward_mps", DataType::Float32, true),
        Field::new("vel_left_mps", DataType::Float32, true),
        Field::new("vel_up_mps", DataType::Float32, true),
        Field::new("vel_yaw_rate_rps", DataType::Float32, true),
        Field::new("ack_speed_mps", DataType::Float32, true),
        Field::new("ack_steering_angle_rad", DataType::Float32, true),
        Field::new("held", DataType::UInt8, false),
    ]);
    f.into()
}

pub fn encode(a: &Action) -> StructArray {
    let mut cols = meta_arrays(&a.meta);
    let (c, v, k) = (a.control, a.velocity, a.ackermann);
    let f32s = |x: Option<f32>| Arc::new(Float32Array::from(vec![x])) as ArrayRef;
    cols.extend([
        Arc::new(UInt16Array::from(vec![a.keys.0])) as ArrayRef,
        Arc::new(UInt8Array::from(vec![a.label])),
        mat_array(a.world_from_camera.as_ref()),
        f32s(c.map(|c| c.throttle)),
        f32s(c.map(|c| c.steer)),
        f32s(c.map(|c| c.brake)),
        f32s(v.map(|v| v.forward_mps)),
        f32s(v.map(|v| v.left_mps)),
        f32s(v.map(|v| v.up_mps)),
        f32s(v.map(|v| v.yaw_rate_rps)),
        f32s(k.map(|k| k.speed_mps)),
        f32s(k.map(|k| k.steering_angle_rad)),
        Arc::new(UInt8Array::from(vec![u8::from(a.held)])),
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
    let velocity = match r.prim::<Float32Type>("vel_forward_mps")? {
        Some(forward_mps) => {
            let v = VelocityCommand {
                forward_mps,
                left_mps: r.req::<Float32Type>("vel_left_mps")?,
                up_mps: r.req::<Float32Type>("vel_up_mps")?,
                yaw_rate_rps: r.req::<Float32Type>("vel_yaw_rate_rps")?,
            };
            v.validate().map_err(|e| invalid(MESSAGE, "velocity", e))?;
            Some(v)
        }
        None => None,
    };
    let ackermann = match r.prim::<Float32Type>("ack_speed_mps")? {
        Some(speed_mps) => {
            let k = AckermannCommand { speed_mps, steering_angle_rad: r.req::<Float32Type>("ack_steering_angle_rad")? };
            k.validate().map_err(|e| invalid(MESSAGE, "ackermann", e))?;
            Some(k)
        }
        None => None,
    };
    let held = match r.req::<UInt8Type>("held")? {
        0 => false,
        1 => true,
        h => return Err(unexpected(MESSAGE, "held", format!("0 or 1, found {h}"))),
    };
    Ok(Action {
        meta: r.meta()?,
        keys,
        label,
        world_from_camera: r.mat("world_from_camera")?,
        control,
        velocity,
        ackermann,
        held,
    })
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
            velocity: Some(VelocityCommand { forward_mps: 2.0, left_mps: -0.5, up_mps: 0.25, yaw_rate_rps: -0.3 }),
            ackermann: Some(AckermannCommand { speed_mps: 4.0, steering_angle_rad: 0.1 }),
            held: true,
        }
    }

    #[test]
    fn action_round_trip() {
        let a = action();
        assert_eq!(decode(&encode(&a)).unwrap(), a);
        let b = Action {
            control: None,
            world_from_camera: None,
            label: None,
            velocity: None,
            ackermann: None,
            held: false,
            ..a
        };
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
        let v = VelocityCommand { yaw_rate_rps: f32::NAN, ..Default::default() };
        let e = decode(&encode(&Action { velocity: Some(v), ..action() })).unwrap_err().to_string();
        assert!(e.contains("velocity") && e.contains("yaw_rate_rps"), "{e}");
        let k = AckermannCommand { speed_mps: 1.0, steering_angle_rad: 3.0 };
        let e = decode(&encode(&Action { ackermann: Some(k), ..action() })).unwrap_err().to_string();
        assert!(e.contains("ackermann") && e.contains("steering_angle_rad"), "{e}");
        let mut m = action().world_from_camera.unwrap();
        m[1][2] = f32::NAN;
        let e = decode(&encode(&Action { world_from_camera: Some(m), ..action() })).unwrap_err().to_string();
        assert!(e.contains("world_from_camera") && e.contains("index 6"), "{e}");
    }
}
