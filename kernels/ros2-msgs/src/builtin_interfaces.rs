//! `builtin_interfaces`: time.

use serde::{Deserialize, Serialize};

use crate::msgdef::{ros2msg_definition, MsgText};
use crate::Message;

/// `builtin_interfaces/msg/Time`: a point in time, `sec + nanosec·1e-9` seconds (simulation time when
/// `use_sim_time` is set, else since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Time {
    /// Whole seconds (may be negative).
    pub sec: i32,
    /// Nanoseconds past `sec`, in `0..1_000_000_000`.
    pub nanosec: u32,
}

impl Message for Time {
    const TYPE_NAME: &'static str = "builtin_interfaces/msg/Time";
    const DEFINITION: &'static str = ros2msg_definition!(TIME_MSG);
}

/// The `.msg` fields of [`Time`].
pub(crate) const TIME_MSG: MsgText =
    MsgText { name: "builtin_interfaces/Time", fields: "int32 sec\nuint32 nanosec\n", uses: &[] };
