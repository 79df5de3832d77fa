//! Column helpers shared by the struct-array messages: the `ChunkMeta` columns, 4×4 matrix columns,
//! one-row list columns, and [`Row`], the reader of a one-row struct array whose errors name the field.

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, ListArray, StructArray, UInt32Array, UInt64Array,
};
use dora_node_api::arrow_v59::buffer::OffsetBuffer;
use dora_node_api::arrow_v59::datatypes::{ArrowPrimitiveType, DataType, Field, Float32Type, UInt32Type, UInt64Type};

use super::error::{missing, unexpected, DecodeError};
use crate::messages::ChunkMeta;

/// A 4×4 matrix column: a fixed-size list of 16 float32, row-major.
pub(super) fn mat_type() -> DataType {
    DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), 16)
}

/// A list column of `t` (non-null items).
pub(super) fn list_type(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, false)))
}

/// The `ChunkMeta` columns every struct message starts with.
pub(super) fn meta_fields() -> Vec<Field> {
    vec![
        Field::new("agent_id", DataType::UInt32, false),
        Field::new("tick", DataType::UInt64, false),
        Field::new("sim_time_ns", DataType::UInt64, false),
    ]
}

pub(super) fn meta_arrays(meta: &ChunkMeta) -> Vec<ArrayRef> {
    vec![
        Arc::new(UInt32Array::from(vec![meta.agent_id])),
        Arc::new(UInt64Array::from(vec![meta.tick])),
        Arc::new(UInt64Array::from(vec![meta.sim_time_ns])),
    ]
}

/// A 4×4 matrix, row-major, as 16 values.
pub(super) fn flatten(m: &[[f32; 4]; 4]) -> Vec<f32> {
    m.iter().flatten().copied().collect()
}

/// 16 row-major values as a 4×4 matrix.
pub(super) fn unflatten(values: &[f32]) -> [[f32; 4]; 4] {
    let mut m = [[0.0f32; 4]; 4];
    for (i, x) in values.iter().take(16).enumerate() {
        m[i / 4][i % 4] = *x;
    }
    m
}

/// One row of a matrix column (`None` → null).
pub(super) fn mat_array(m: Option<&[[f32; 4]; 4]>) -> ArrayRef {
    let values = Float32Array::from(m.map(flatten).unwrap_or_else(|| vec![0.0; 16]));
    let field = Arc::new(Field::new("item", DataType::Float32, false));
    let nulls = m.is_none().then(|| vec![false].into());
    Arc::new(FixedSizeListArray::new(field, 16, Arc::new(values), nulls))
}

/// One row of a list column holding all of `values`.
pub(super) fn list(values: ArrayRef) -> ArrayRef {
    let field = Arc::new(Field::new("item", values.data_type().clone(), false));
    Arc::new(ListArray::new(field, OffsetBuffer::from_lengths([values.len()]), values, None))
}

/// The one row of a struct-array message; every accessor's error names `message` and the field.
pub(super) struct Row<'a> {
    message: &'static str,
    s: &'a StructArray,
}

impl<'a> Row<'a> {
    /// Checks that `array` is a struct array of exactly one row.
    pub fn new(message: &'static str, array: &'a dyn Array) -> Result<Self, DecodeError> {
        let s = array
            .as_struct_opt()
            .ok_or_else(|| unexpected(message, "<root>", format!("a struct array, found {}", array.data_type())))?;
        if s.len() != 1 {
            return Err(unexpected(message, "<root>", format!("exactly one row, found {}", s.len())));
        }
        Ok(Self { message, s })
    }

    pub fn col(&self, name: &str) -> Result<&'a ArrayRef, DecodeError> {
        self.s.column_by_name(name).ok_or_else(|| missing(self.message, name))
    }

    /// A primitive column's value (`None` when null).
    pub fn prim<T: ArrowPrimitiveType>(&self, name: &str) -> Result<Option<T::Native>, DecodeError> {
        let c = self.col(name)?;
        let a = c
            .as_primitive_opt::<T>()
            .ok_or_else(|| unexpected(self.message, name, format!("type {}, found {}", T::DATA_TYPE, c.data_type())))?;
        Ok(a.is_valid(0).then(|| a.value(0)))
    }

    /// A primitive column's value, which must not be null.
    pub fn req<T: ArrowPrimitiveType>(&self, name: &str) -> Result<T::Native, DecodeError> {
        self.prim::<T>(name)?.ok_or_else(|| unexpected(self.message, name, "a value, found null"))
    }

    /// A matrix column's value (`None` when null); every entry must be finite.
    pub fn mat(&self, name: &str) -> Result<Option<[[f32; 4]; 4]>, DecodeError> {
        let c = self.col(name)?;
        let l = c
            .as_fixed_size_list_opt()
            .ok_or_else(|| unexpected(self.message, name, "a fixed-size list of 16 float32"))?;
        if !l.is_valid(0) {
            return Ok(None);
        }
        let v = l.value(0);
        let v = v
            .as_primitive_opt::<Float32Type>()
            .filter(|v| v.len() == 16)
            .ok_or_else(|| unexpected(self.message, name, "16 float32 values"))?;
        if let Some((i, x)) = v.values().iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(unexpected(self.message, name, format!("finite values, found {x} at index {i}")));
        }
        Ok(Some(unflatten(v.values())))
    }

    /// The items of a list column's row.
    pub fn items(&self, name: &str) -> Result<ArrayRef, DecodeError> {
        Ok(self.col(name)?.as_list_opt::<i32>().ok_or_else(|| unexpected(self.message, name, "a list"))?.value(0))
    }

    /// The items of a list column of primitives, copied.
    pub fn list_values<T: ArrowPrimitiveType>(&self, name: &str) -> Result<Vec<T::Native>, DecodeError> {
        Ok(self
            .items(name)?
            .as_primitive_opt::<T>()
            .ok_or_else(|| unexpected(self.message, name, format!("list<{}>", T::DATA_TYPE)))?
            .values()
            .to_vec())
    }

    /// The `ChunkMeta` columns.
    pub fn meta(&self) -> Result<ChunkMeta, DecodeError> {
        Ok(ChunkMeta {
            agent_id: self.req::<UInt32Type>("agent_id")?,
            tick: self.req::<UInt64Type>("tick")?,
            sim_time_ns: self.req::<UInt64Type>("sim_time_ns")?,
        })
    }
}
