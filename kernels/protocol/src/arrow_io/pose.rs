//! The `pose` message: one row of `ChunkMeta`, `frame_id` (utf8) and `world_from_frame` (4×4).

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{Array, AsArray, StringArray, StructArray};
use dora_node_api::arrow_v59::datatypes::{DataType, Field, Fields};

use super::columns::{mat_array, mat_type, meta_arrays, meta_fields, Row};
use super::error::{unexpected, DecodeError};
use crate::messages::StampedPose;

const MESSAGE: &str = "pose";

/// Schema of a stamped pose message.
pub fn schema() -> Fields {
    let mut f = meta_fields();
    f.extend([Field::new("frame_id", DataType::Utf8, false), Field::new("world_from_frame", mat_type(), false)]);
    f.into()
}

pub fn encode(p: &StampedPose) -> StructArray {
    let mut cols = meta_arrays(&p.meta);
    cols.push(Arc::new(StringArray::from(vec![p.frame_id.as_str()])));
    cols.push(mat_array(Some(&p.world_from_frame)));
    StructArray::new(schema(), cols, None)
}

pub fn decode(array: &dyn Array) -> Result<StampedPose, DecodeError> {
    let r = Row::new(MESSAGE, array)?;
    let frame_id = r.col("frame_id")?;
    let frame_id =
        frame_id.as_string_opt::<i32>().ok_or_else(|| unexpected(MESSAGE, "frame_id", "utf8"))?.value(0).to_owned();
    let world_from_frame =
        r.mat("world_from_frame")?.ok_or_else(|| unexpected(MESSAGE, "world_from_frame", "a value, found null"))?;
    Ok(StampedPose { meta: r.meta()?, frame_id, world_from_frame })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ChunkMeta;

    #[test]
    fn pose_round_trip_and_wrong_type_names_field() {
        let p = StampedPose {
            meta: ChunkMeta::default(),
            frame_id: "base_link".into(),
            world_from_frame: [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
        };
        assert_eq!(decode(&encode(&p)).unwrap(), p);
        let e = super::super::action::decode(&encode(&p)).unwrap_err().to_string();
        assert!(e.contains("keys"), "{e}");
    }
}
