//! The Arrow form of the messages (feature `dora`): what crosses dora's shared memory.
//!
//! * Small messages (actions, poses) are one-row `StructArray`s; their schemas are [`action_schema`] and
//!   [`pose_schema`]. Decoders name the missing or mistyped field.
//! * Image frames are a flat `UInt8` payload (written in place into the shared-memory sample with
//!   `send_output_raw`, so the pixels are never copied) plus a [`FrameHeader`] in the metadata parameters.

pub mod context;
pub mod latent;

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, StringArray, StructArray, UInt16Array, UInt32Array,
    UInt64Array, UInt8Array,
};
use dora_node_api::arrow_v59::datatypes::{
    DataType, Field, Fields, Float32Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use dora_node_api::{MetadataParameters, Parameter};

use crate::messages::{Action, ChunkMeta, Encoding, FrameHeader, Keys, StampedPose, VehicleControl};

/// Error decoding a message: names the field and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("{message}: field `{field}`: {expected}")]
pub struct DecodeError {
    pub message: &'static str,
    pub field: String,
    pub expected: String,
}

fn err(message: &'static str, field: &str, expected: impl Into<String>) -> DecodeError {
    DecodeError { message, field: field.to_string(), expected: expected.into() }
}

fn mat_type() -> DataType {
    DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), 16)
}

fn meta_fields() -> Vec<Field> {
    vec![
        Field::new("agent_id", DataType::UInt32, false),
        Field::new("tick", DataType::UInt64, false),
        Field::new("sim_time_ns", DataType::UInt64, false),
    ]
}

/// Schema of an action message.
pub fn action_schema() -> Fields {
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

/// Schema of a stamped pose message.
pub fn pose_schema() -> Fields {
    let mut f = meta_fields();
    f.extend([Field::new("frame_id", DataType::Utf8, false), Field::new("world_from_frame", mat_type(), false)]);
    f.into()
}

fn flatten(m: &[[f32; 4]; 4]) -> Vec<f32> {
    m.iter().flatten().copied().collect()
}

fn mat_array(m: Option<&[[f32; 4]; 4]>) -> ArrayRef {
    let values = Float32Array::from(m.map(flatten).unwrap_or_else(|| vec![0.0; 16]));
    let field = Arc::new(Field::new("item", DataType::Float32, false));
    let nulls = m.is_none().then(|| vec![false].into());
    Arc::new(FixedSizeListArray::new(field, 16, Arc::new(values), nulls))
}

fn meta_arrays(meta: &ChunkMeta) -> Vec<ArrayRef> {
    vec![
        Arc::new(UInt32Array::from(vec![meta.agent_id])),
        Arc::new(UInt64Array::from(vec![meta.tick])),
        Arc::new(UInt64Array::from(vec![meta.sim_time_ns])),
    ]
}

pub fn encode_action(a: &Action) -> StructArray {
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
    StructArray::new(action_schema(), cols, None)
}

pub fn encode_pose(p: &StampedPose) -> StructArray {
    let mut cols = meta_arrays(&p.meta);
    cols.push(Arc::new(StringArray::from(vec![p.frame_id.as_str()])));
    cols.push(mat_array(Some(&p.world_from_frame)));
    StructArray::new(pose_schema(), cols, None)
}

struct Row<'a> {
    message: &'static str,
    s: &'a StructArray,
}

impl<'a> Row<'a> {
    fn new(message: &'static str, array: &'a dyn Array) -> Result<Self, DecodeError> {
        let s = array
            .as_struct_opt()
            .ok_or_else(|| err(message, "<root>", format!("a struct array, found {}", array.data_type())))?;
        if s.len() != 1 {
            return Err(err(message, "<root>", format!("exactly one row, found {}", s.len())));
        }
        Ok(Self { message, s })
    }

    fn col(&self, name: &str) -> Result<&'a ArrayRef, DecodeError> {
        self.s.column_by_name(name).ok_or_else(|| err(self.message, name, "present"))
    }

    fn prim<T: dora_node_api::arrow_v59::datatypes::ArrowPrimitiveType>(
        &self,
        name: &str,
    ) -> Result<Option<T::Native>, DecodeError> {
        let c = self.col(name)?;
        let a = c
            .as_primitive_opt::<T>()
            .ok_or_else(|| err(self.message, name, format!("type {}, found {}", T::DATA_TYPE, c.data_type())))?;
        Ok(a.is_valid(0).then(|| a.value(0)))
    }

    fn req<T: dora_node_api::arrow_v59::datatypes::ArrowPrimitiveType>(
        &self,
        name: &str,
    ) -> Result<T::Native, DecodeError> {
        self.prim::<T>(name)?.ok_or_else(|| err(self.message, name, "a value, found null"))
    }

    fn mat(&self, name: &str) -> Result<Option<[[f32; 4]; 4]>, DecodeError> {
        let c = self.col(name)?;
        let l = c.as_fixed_size_list_opt().ok_or_else(|| err(self.message, name, "a fixed-size list of 16 float32"))?;
        if !l.is_valid(0) {
            return Ok(None);
        }
        let v = l.value(0);
        let v = v
            .as_primitive_opt::<Float32Type>()
            .filter(|v| v.len() == 16)
            .ok_or_else(|| err(self.message, name, "16 float32 values"))?;
        let mut m = [[0.0f32; 4]; 4];
        for (i, x) in v.values().iter().enumerate() {
            if !x.is_finite() {
                return Err(err(self.message, name, format!("finite values, found {x} at index {i}")));
            }
            m[i / 4][i % 4] = *x;
        }
        Ok(Some(m))
    }

    fn meta(&self) -> Result<ChunkMeta, DecodeError> {
        Ok(ChunkMeta {
            agent_id: self.req::<UInt32Type>("agent_id")?,
            tick: self.req::<UInt64Type>("tick")?,
            sim_time_ns: self.req::<UInt64Type>("sim_time_ns")?,
        })
    }
}

pub fn decode_action(array: &dyn Array) -> Result<Action, DecodeError> {
    let r = Row::new("action", array)?;
    let keys = Keys(r.req::<UInt16Type>("keys")?);
    if !keys.is_valid() {
        return Err(err("action", "keys", format!("a bit set of the 8 known keys, found {:#x}", keys.0)));
    }
    let label = r.prim::<UInt8Type>("label")?;
    if let Some(l) = label.filter(|l| *l > 80) {
        return Err(err("action", "label", format!("0..=80, found {l}")));
    }
    let throttle = r.prim::<Float32Type>("throttle")?;
    let control = match throttle {
        Some(throttle) => {
            let c = VehicleControl {
                throttle,
                steer: r.req::<Float32Type>("steer")?,
                brake: r.req::<Float32Type>("brake")?,
            };
            c.validate().map_err(|e| err("action", "control", e))?;
            Some(c)
        }
        None => None,
    };
    Ok(Action { meta: r.meta()?, keys, label, world_from_camera: r.mat("world_from_camera")?, control })
}

pub fn decode_pose(array: &dyn Array) -> Result<StampedPose, DecodeError> {
    let r = Row::new("pose", array)?;
    let frame_id = r.col("frame_id")?;
    let frame_id = frame_id.as_string_opt::<i32>().ok_or_else(|| err("pose", "frame_id", "utf8"))?.value(0).to_string();
    let world_from_frame =
        r.mat("world_from_frame")?.ok_or_else(|| err("pose", "world_from_frame", "a value, found null"))?;
    Ok(StampedPose { meta: r.meta()?, frame_id, world_from_frame })
}

/// Writes a frame header into dora metadata parameters.
pub fn frame_header_to_params(h: &FrameHeader) -> MetadataParameters {
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
        _ => Err(err("frame", name, "an integer metadata parameter")),
    }
}

fn floats_param(p: &MetadataParameters, name: &str, n: usize) -> Result<Vec<f32>, DecodeError> {
    match p.get(name) {
        Some(Parameter::ListFloat(v)) if v.len() == n && v.iter().all(|x| x.is_finite()) => {
            Ok(v.iter().map(|x| *x as f32).collect())
        }
        _ => Err(err("frame", name, format!("a list of {n} finite floats"))),
    }
}

/// Reads a frame header from dora metadata parameters and checks it against the payload length.
pub fn frame_header_from_params(p: &MetadataParameters, payload_len: usize) -> Result<FrameHeader, DecodeError> {
    let camera = match p.get("camera") {
        Some(Parameter::String(s)) => s.clone(),
        _ => return Err(err("frame", "camera", "a string metadata parameter")),
    };
    let encoding = match p.get("encoding") {
        Some(Parameter::String(s)) => {
            Encoding::from_name(s).ok_or_else(|| err("frame", "encoding", format!("rgb8 or rgb32f, found {s}")))?
        }
        _ => return Err(err("frame", "encoding", "a string metadata parameter")),
    };
    let dim = |name: &str| -> Result<u32, DecodeError> {
        let v = int_param(p, name)?;
        u32::try_from(v)
            .ok()
            .filter(|v| (1..=16384).contains(v))
            .ok_or_else(|| err("frame", name, format!("1..=16384, found {v}")))
    };
    let intr = floats_param(p, "intrinsics", 4)?;
    let cfw = floats_param(p, "camera_from_world", 16)?;
    let mut m = [[0.0f32; 4]; 4];
    for (i, x) in cfw.iter().enumerate() {
        m[i / 4][i % 4] = *x;
    }
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
        camera_from_world: m,
    };
    if h.payload_len() != payload_len {
        return Err(err(
            "frame",
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
        .ok_or_else(|| err("frame", "<payload>", format!("a UInt8 array, found {}", array.data_type())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_round_trip() {
        let a = Action {
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
        };
        assert_eq!(decode_action(&encode_action(&a)).unwrap(), a);
        let b = Action { control: None, world_from_camera: None, label: None, ..a };
        assert_eq!(decode_action(&encode_action(&b)).unwrap(), b);
    }

    #[test]
    fn pose_round_trip_and_wrong_type_names_field() {
        let p = StampedPose {
            meta: ChunkMeta::default(),
            frame_id: "base_link".into(),
            world_from_frame: [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
        };
        assert_eq!(decode_pose(&encode_pose(&p)).unwrap(), p);
        let e = decode_action(&encode_pose(&p)).unwrap_err().to_string();
        assert!(e.contains("keys"), "{e}");
    }

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
        let p = frame_header_to_params(&h);
        assert_eq!(frame_header_from_params(&p, 24).unwrap(), h);
        let e = frame_header_from_params(&p, 23).unwrap_err().to_string();
        assert!(e.contains("24 bytes"), "{e}");
    }
}

pub mod world {
    //! Arrow form of [`crate::world_state::WorldDelta`]: one row whose columns are lists (changes, flow cells,
    //! bodies are each a list of equal-length columns).

    use std::sync::Arc;

    use dora_node_api::arrow_v59::array::{
        Array, ArrayRef, AsArray, Float32Array, ListArray, StructArray, UInt32Array, UInt64Array, UInt8Array,
    };
    use dora_node_api::arrow_v59::buffer::OffsetBuffer;
    use dora_node_api::arrow_v59::datatypes::{
        DataType, Field, Fields, Float32Type, UInt32Type, UInt64Type, UInt8Type,
    };

    use super::{err, DecodeError};
    use crate::messages::ChunkMeta;
    use crate::world_state::{BodyRecord, WorldDelta};

    const COLUMNS: &[(&str, DataType)] = &[
        ("change_index", DataType::UInt32),
        ("change_class", DataType::UInt8),
        ("flow_index", DataType::UInt32),
        ("flow_velocity_mps", DataType::Float32),
        ("flow_body_id", DataType::UInt64),
        ("body_id", DataType::UInt64),
        ("body_class", DataType::UInt8),
        ("body_world_from_body", DataType::Float32),
        ("body_half_extent_m", DataType::Float32),
        ("body_velocity_mps", DataType::Float32),
        ("body_angular_velocity_rps", DataType::Float32),
        ("body_appearance_key", DataType::Float32),
    ];

    fn list(values: ArrayRef) -> ArrayRef {
        let field = Arc::new(Field::new("item", values.data_type().clone(), false));
        Arc::new(ListArray::new(field, OffsetBuffer::from_lengths([values.len()]), values, None))
    }

    /// Schema: agent_id/tick/sim_time_ns, dt_secs, then one list column per entry of the delta's tables.
    pub fn schema() -> Fields {
        let mut f = vec![
            Field::new("agent_id", DataType::UInt32, false),
            Field::new("tick", DataType::UInt64, false),
            Field::new("sim_time_ns", DataType::UInt64, false),
            Field::new("dt_secs", DataType::Float32, false),
        ];
        for (name, t) in COLUMNS {
            f.push(Field::new(*name, DataType::List(Arc::new(Field::new("item", t.clone(), false))), false));
        }
        f.into()
    }

    pub fn encode(d: &WorldDelta) -> StructArray {
        let flat = |f: &dyn Fn(&BodyRecord) -> Vec<f32>| -> ArrayRef {
            list(Arc::new(Float32Array::from(d.bodies.iter().flat_map(f).collect::<Vec<_>>())))
        };
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(vec![d.meta.agent_id])),
            Arc::new(UInt64Array::from(vec![d.meta.tick])),
            Arc::new(UInt64Array::from(vec![d.meta.sim_time_ns])),
            Arc::new(Float32Array::from(vec![d.dt_secs])),
            list(Arc::new(UInt32Array::from(d.changes.iter().map(|c| c.0).collect::<Vec<_>>()))),
            list(Arc::new(UInt8Array::from(d.changes.iter().map(|c| c.1).collect::<Vec<_>>()))),
            list(Arc::new(UInt32Array::from(d.flow.iter().map(|c| c.0).collect::<Vec<_>>()))),
            list(Arc::new(Float32Array::from(d.flow.iter().flat_map(|c| c.1).collect::<Vec<_>>()))),
            list(Arc::new(UInt64Array::from(d.flow.iter().map(|c| c.2).collect::<Vec<_>>()))),
            list(Arc::new(UInt64Array::from(d.bodies.iter().map(|b| b.id).collect::<Vec<_>>()))),
            list(Arc::new(UInt8Array::from(d.bodies.iter().map(|b| b.class).collect::<Vec<_>>()))),
            flat(&|b| b.world_from_body.iter().flatten().copied().collect()),
            flat(&|b| b.half_extent_m.to_vec()),
            flat(&|b| b.velocity_mps.to_vec()),
            flat(&|b| b.angular_velocity_rps.to_vec()),
            flat(&|b| vec![b.appearance_key]),
        ];
        StructArray::new(schema(), cols, None)
    }

    pub fn decode(array: &dyn Array) -> Result<WorldDelta, DecodeError> {
        const M: &str = "world-delta";
        let s =
            array.as_struct_opt().filter(|s| s.len() == 1).ok_or_else(|| err(M, "<root>", "a one-row struct array"))?;
        let col = |name: &str| s.column_by_name(name).ok_or_else(|| err(M, name, "present"));
        let scalar_u64 = |name: &str| -> Result<u64, DecodeError> {
            col(name)?.as_primitive_opt::<UInt64Type>().map(|a| a.value(0)).ok_or_else(|| err(M, name, "uint64"))
        };
        let items = |name: &str| -> Result<ArrayRef, DecodeError> {
            Ok(col(name)?.as_list_opt::<i32>().ok_or_else(|| err(M, name, "a list"))?.value(0))
        };
        let u32s = |name: &str| -> Result<Vec<u32>, DecodeError> {
            Ok(items(name)?
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(|| err(M, name, "list<uint32>"))?
                .values()
                .to_vec())
        };
        let u8s = |name: &str| -> Result<Vec<u8>, DecodeError> {
            Ok(items(name)?
                .as_primitive_opt::<UInt8Type>()
                .ok_or_else(|| err(M, name, "list<uint8>"))?
                .values()
                .to_vec())
        };
        let u64s = |name: &str| -> Result<Vec<u64>, DecodeError> {
            Ok(items(name)?
                .as_primitive_opt::<UInt64Type>()
                .ok_or_else(|| err(M, name, "list<uint64>"))?
                .values()
                .to_vec())
        };
        let f32s = |name: &str, per: usize, n: usize| -> Result<Vec<f32>, DecodeError> {
            let v = items(name)?
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(|| err(M, name, "list<float32>"))?
                .values()
                .to_vec();
            if v.len() != per * n || v.iter().any(|x| !x.is_finite()) {
                return Err(err(M, name, format!("{} finite values ({per} per entry), found {}", per * n, v.len())));
            }
            Ok(v)
        };
        let change_index = u32s("change_index")?;
        let change_class = u8s("change_class")?;
        if change_index.len() != change_class.len() {
            return Err(err(
                M,
                "change_class",
                format!("{} entries like change_index, found {}", change_index.len(), change_class.len()),
            ));
        }
        let flow_index = u32s("flow_index")?;
        let flow_v = f32s("flow_velocity_mps", 3, flow_index.len())?;
        let flow_body = u64s("flow_body_id")?;
        if flow_body.len() != flow_index.len() {
            return Err(err(
                M,
                "flow_body_id",
                format!("{} entries like flow_index, found {}", flow_index.len(), flow_body.len()),
            ));
        }
        let ids = u64s("body_id")?;
        let n = ids.len();
        let classes = u8s("body_class")?;
        if classes.len() != n {
            return Err(err(M, "body_class", format!("{n} entries like body_id, found {}", classes.len())));
        }
        let pose = f32s("body_world_from_body", 16, n)?;
        let ext = f32s("body_half_extent_m", 3, n)?;
        let vel = f32s("body_velocity_mps", 3, n)?;
        let ang = f32s("body_angular_velocity_rps", 3, n)?;
        let key = f32s("body_appearance_key", 1, n)?;
        let v3 = |v: &[f32], i: usize| [v[3 * i], v[3 * i + 1], v[3 * i + 2]];
        let bodies = (0..n)
            .map(|i| {
                let mut m = [[0.0; 4]; 4];
                for k in 0..16 {
                    m[k / 4][k % 4] = pose[16 * i + k];
                }
                BodyRecord {
                    id: ids[i],
                    class: classes[i],
                    world_from_body: m,
                    half_extent_m: v3(&ext, i),
                    velocity_mps: v3(&vel, i),
                    angular_velocity_rps: v3(&ang, i),
                    appearance_key: key[i],
                }
            })
            .collect();
        let dt_secs = col("dt_secs")?
            .as_primitive_opt::<Float32Type>()
            .map(|a| a.value(0))
            .ok_or_else(|| err(M, "dt_secs", "float32"))?;
        Ok(WorldDelta {
            meta: ChunkMeta {
                agent_id: col("agent_id")?
                    .as_primitive_opt::<UInt32Type>()
                    .map(|a| a.value(0))
                    .ok_or_else(|| err(M, "agent_id", "uint32"))?,
                tick: scalar_u64("tick")?,
                sim_time_ns: scalar_u64("sim_time_ns")?,
            },
            dt_secs,
            changes: change_index.into_iter().zip(change_class).collect(),
            flow: flow_index.iter().enumerate().map(|(i, idx)| (*idx, v3(&flow_v, i), flow_body[i])).collect(),
            bodies,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn world_delta_round_trip() {
            let d = WorldDelta {
                meta: ChunkMeta { agent_id: 0, tick: 5, sim_time_ns: 500 },
                dt_secs: 0.1,
                changes: vec![(3, 8), (9, 0)],
                flow: vec![(3, [1.0, 0.0, 0.0], 7), (4, [0.5, 0.5, 0.0], crate::world_state::NO_BODY)],
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
    }
}

pub mod gaussians {
    //! A Gaussian set on the wire: a flat little-endian payload written in place into the shared-memory sample
    //! (`send_output_raw`) plus metadata parameters `count`, `sh_degree`, `part` (`static` or `dynamic`) and
    //! `version`. Payload: `count` u64 ids, then per Gaussian `3 mean + 3 scale + 4 rotation (w x y z) +
    //! 1 opacity + 3·(d+1)² SH` f32.

    use dora_node_api::{MetadataParameters, Parameter};
    use glam::{Quat, Vec3};

    use super::{err, DecodeError};
    use crate::gaussians::{sh_coeffs_per_gaussian, Gaussians};

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

    pub fn payload_len(g: &Gaussians) -> usize {
        g.len() * (8 + 4 * floats_per(g.sh_degree))
    }

    pub fn params(g: &Gaussians, part: Part, version: u64, tick: u64) -> MetadataParameters {
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
            _ => Err(err("gaussians", name, "an integer metadata parameter")),
        }
    }

    /// Reads a set; checks the payload size against `count` and `sh_degree`.
    pub fn decode(bytes: &[u8], p: &MetadataParameters) -> Result<(Part, u64, Gaussians), DecodeError> {
        let count = usize::try_from(int(p, "count")?).map_err(|_| err("gaussians", "count", "a non-negative count"))?;
        let deg = u8::try_from(int(p, "sh_degree")?)
            .ok()
            .filter(|d| *d <= 3)
            .ok_or_else(|| err("gaussians", "sh_degree", "0..=3"))?;
        let part = match p.get("part") {
            Some(Parameter::String(s)) if s == "static" => Part::Static,
            Some(Parameter::String(s)) if s == "dynamic" => Part::Dynamic,
            _ => return Err(err("gaussians", "part", "`static` or `dynamic`")),
        };
        let version = int(p, "version")? as u64;
        let per = floats_per(deg);
        let expected = count * (8 + 4 * per);
        if bytes.len() != expected {
            return Err(err(
                "gaussians",
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
            let (part, version, back) = decode(&buf, &params(&g, Part::Dynamic, 3, 0)).unwrap();
            assert_eq!((part, version), (Part::Dynamic, 3));
            assert_eq!(back, g);
            assert!(decode(&buf[1..], &params(&g, Part::Dynamic, 3, 0)).is_err());
        }
    }
}
