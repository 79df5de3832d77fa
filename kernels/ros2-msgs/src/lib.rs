//! ROS 2 (Jazzy) message types and their CDR encoding, without a ROS installation.
//!
//! Every message is a serde struct whose fields are declared in the order of its `.msg` definition: CDR is
//! positional, so the field order *is* the wire format. [`to_cdr`] / [`from_cdr`] add and check the 4-byte
//! encapsulation header `00 01 00 00` (CDR, little-endian) that every ROS 2 payload starts with, the bytes a
//! DDS sample, a rosbag2 MCAP record or `rosbags.serialize_cdr` carry.
//!
//! The bytes are checked against an independent implementation (the Jazzy typestore of the Python `rosbags`
//! package) by `tests/cdr_matches_rosbags.rs`.
//!
//! Conventions (REP-103 / REP-105): SI units (metres, seconds, radians), right-handed frames; body frames
//! x forward, y left, z up; a positive yaw rate (`angular.z`) turns left; camera optical frames z forward,
//! x right, y down.

use byteorder::LittleEndian;
use serde::{de::DeserializeOwned, Serialize};

pub mod ackermann_msgs;
pub mod builtin_interfaces;
pub mod convert;
pub mod geometry_msgs;
mod msgdef;
pub mod nav_msgs;
pub mod rosgraph_msgs;
pub mod sensor_msgs;
pub mod std_msgs;
pub mod tf2_msgs;

/// A ROS 2 message type.
pub trait Message: Serialize + DeserializeOwned {
    /// The ROS 2 type name, `package/msg/Type` (as in `ros2 topic info`, rosbag2 and MCAP schemas).
    const TYPE_NAME: &'static str;
    /// The type's `ros2msg` schema text, as rosbag2 writes it into MCAP `Schema` records: the `.msg` fields,
    /// then for every nested message type (depth-first in field order, each once) a line of 80 `=`, a line
    /// `MSG: pkg/Type` and that type's fields. Comments are left out, as in `rosbags`' `generate_msgdef`.
    const DEFINITION: &'static str;
}

/// The encapsulation header of a little-endian plain-CDR payload: representation id `CDR_LE` (`00 01`) and
/// two option bytes (`00 00`).
pub const CDR_LE_HEADER: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// What went wrong encoding or decoding a CDR payload.
#[derive(Debug, thiserror::Error)]
pub enum Ros2MsgError {
    /// Fewer than 4 bytes: not even the encapsulation header is there.
    #[error("CDR payload of {len} bytes has no 4-byte encapsulation header")]
    MissingHeader {
        /// The payload length.
        len: usize,
    },
    /// The representation id is not `CDR_LE` (`00 01`).
    #[error(
        "CDR representation id {:02x} {:02x} is not supported: only CDR_LE (00 01, plain CDR little-endian) is read",
        id[0],
        id[1]
    )]
    UnsupportedRepresentation {
        /// The first two bytes of the payload.
        id: [u8; 2],
    },
    /// The payload ended before the message was complete.
    #[error("{type_name}: CDR payload truncated ({len} bytes after the header)")]
    Truncated {
        /// The Rust type being decoded.
        type_name: &'static str,
        /// The payload length after the header.
        len: usize,
    },
    /// More bytes follow the message than the at most 3 bytes of alignment padding.
    #[error(
        "{type_name}: {extra} bytes follow the message in the CDR payload (at most 3 bytes of padding are allowed)"
    )]
    TrailingBytes {
        /// The Rust type being decoded.
        type_name: &'static str,
        /// How many bytes follow the message.
        extra: usize,
    },
    /// The CDR serializer failed (for example a sequence longer than `u32::MAX`).
    #[error("{type_name}: CDR encoding failed")]
    Encode {
        /// The Rust type being encoded.
        type_name: &'static str,
        /// The serializer's error.
        #[source]
        source: cdr_encoding::Error,
    },
    /// The CDR deserializer failed on malformed data (a bad boolean, invalid UTF-8, ...).
    #[error("{type_name}: CDR decoding failed")]
    Decode {
        /// The Rust type being decoded.
        type_name: &'static str,
        /// The deserializer's error.
        #[source]
        source: cdr_encoding::Error,
    },
}

/// Encodes `value` as a ROS 2 CDR payload: the `CDR_LE` encapsulation header, then the little-endian CDR body
/// (alignment counted from the end of the header).
pub fn to_cdr<T: Serialize>(value: &T) -> Result<Vec<u8>, Ros2MsgError> {
    let body = cdr_encoding::to_vec::<T, LittleEndian>(value)
        .map_err(|source| Ros2MsgError::Encode { type_name: std::any::type_name::<T>(), source })?;
    let mut out = Vec::with_capacity(CDR_LE_HEADER.len() + body.len());
    out.extend_from_slice(&CDR_LE_HEADER);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a ROS 2 CDR payload (encapsulation header included). Only `CDR_LE` is accepted; the option
/// bytes are ignored; up to 3 bytes of trailing alignment padding are allowed.
pub fn from_cdr<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Ros2MsgError> {
    let type_name = std::any::type_name::<T>();
    let Some((header, body)) = bytes.split_first_chunk::<4>() else {
        return Err(Ros2MsgError::MissingHeader { len: bytes.len() });
    };
    if header[..2] != CDR_LE_HEADER[..2] {
        return Err(Ros2MsgError::UnsupportedRepresentation { id: [header[0], header[1]] });
    }
    let (value, consumed) = cdr_encoding::from_bytes::<T, LittleEndian>(body).map_err(|source| match source {
        cdr_encoding::Error::Eof => Ros2MsgError::Truncated { type_name, len: body.len() },
        source => Ros2MsgError::Decode { type_name, source },
    })?;
    let extra = body.len() - consumed;
    if extra > 3 {
        return Err(Ros2MsgError::TrailingBytes { type_name, extra });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin_interfaces::Time;
    use crate::geometry_msgs::{Transform, TransformStamped};
    use crate::sensor_msgs::RegionOfInterest;
    use crate::std_msgs::Header;

    #[test]
    fn time_layout_by_hand() {
        let t = Time { sec: -2, nanosec: 0x0102_0304 };
        let bytes = to_cdr(&t).unwrap();
        assert_eq!(bytes, [0x00, 0x01, 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, 0x04, 0x03, 0x02, 0x01]);
        assert_eq!(from_cdr::<Time>(&bytes).unwrap(), t);
    }

    #[test]
    fn header_with_three_char_frame_id_by_hand() {
        let h = Header { stamp: Time { sec: 7, nanosec: 9 }, frame_id: "map".to_owned() };
        let bytes = to_cdr(&h).unwrap();
        #[rustfmt::skip]
        let expected = [
            0x00, 0x01, 0x00, 0x00, // encapsulation: CDR_LE
            0x07, 0x00, 0x00, 0x00, // stamp.sec
            0x09, 0x00, 0x00, 0x00, // stamp.nanosec
            0x04, 0x00, 0x00, 0x00, // frame_id length, terminator included
            b'm', b'a', b'p', 0x00, // "map\0"
        ];
        assert_eq!(bytes, expected);
        assert_eq!(from_cdr::<Header>(&bytes).unwrap(), h);
    }

    #[test]
    fn alignment_counts_from_after_the_header() {
        // A string of 1 char then a float64: the f64 starts at body offset 8 + 2 = 10 -> padded to 16.
        let tf = TransformStamped {
            header: Header { stamp: Time { sec: 1, nanosec: 2 }, frame_id: "m".to_owned() },
            child_frame_id: "b".to_owned(),
            transform: Transform::default(),
        };
        let bytes = to_cdr(&tf).unwrap();
        // body: sec(4) nanosec(4) len(4) "m\0"(2) pad(2) len(4) "b\0"(2) pad(6) -> translation.x at body offset 24
        assert_eq!(bytes.len(), 4 + 24 + 7 * 8);
        assert_eq!(&bytes[4 + 14..4 + 16], [0, 0]);
        assert_eq!(&bytes[4 + 16..4 + 20], [2, 0, 0, 0]);
        // rotation.w = 1.0 is the last f64
        assert_eq!(&bytes[bytes.len() - 8..], 1.0f64.to_le_bytes());
    }

    #[test]
    fn header_errors_name_what_is_wrong() {
        let e = from_cdr::<Time>(&[0x00, 0x01]).unwrap_err();
        assert!(matches!(e, Ros2MsgError::MissingHeader { len: 2 }), "{e}");

        let mut be = to_cdr(&Time { sec: 1, nanosec: 2 }).unwrap();
        be[1] = 0x00; // CDR_BE
        let e = from_cdr::<Time>(&be).unwrap_err();
        assert!(matches!(e, Ros2MsgError::UnsupportedRepresentation { id: [0, 0] }), "{e}");
        assert!(e.to_string().contains("00 00"), "{e}");

        let e = from_cdr::<Time>(&[0x00, 0x03, 0x00, 0x00]).unwrap_err(); // PL_CDR_LE
        assert!(e.to_string().contains("00 03"), "{e}");

        let full = to_cdr(&Time { sec: 1, nanosec: 2 }).unwrap();
        let e = from_cdr::<Time>(&full[..full.len() - 1]).unwrap_err();
        assert!(matches!(e, Ros2MsgError::Truncated { len: 7, .. }), "{e}");
        assert!(e.to_string().contains("Time"), "{e}");

        let mut long = full.clone();
        long.extend_from_slice(&[0; 4]);
        let e = from_cdr::<Time>(&long).unwrap_err();
        assert!(matches!(e, Ros2MsgError::TrailingBytes { extra: 4, .. }), "{e}");

        // Options bytes and up to 3 bytes of padding are accepted.
        let mut padded = full;
        padded[3] = 0x03;
        padded.extend_from_slice(&[0; 3]);
        assert_eq!(from_cdr::<Time>(&padded).unwrap(), Time { sec: 1, nanosec: 2 });

        let mut bad_bool = to_cdr(&RegionOfInterest::default()).unwrap();
        *bad_bool.last_mut().unwrap() = 2;
        let e = from_cdr::<RegionOfInterest>(&bad_bool).unwrap_err();
        assert!(matches!(e, Ros2MsgError::Decode { .. }), "{e}");
    }
}
