//! `std_msgs`: the header of stamped messages.

use serde::{Deserialize, Serialize};

use crate::builtin_interfaces::{Time, TIME_MSG};
use crate::msgdef::{ros2msg_definition, MsgText};
use crate::Message;

/// `std_msgs/msg/Header` (ROS 2: no `seq`): when the data was taken and in which frame it is expressed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Header {
    /// Acquisition time of the data.
    pub stamp: Time,
    /// The coordinate frame of the data (a tf2 frame name, e.g. `map`, `agent0/base_link`).
    pub frame_id: String,
}

impl Message for Header {
    const TYPE_NAME: &'static str = "std_msgs/msg/Header";
    const DEFINITION: &'static str = ros2msg_definition!(HEADER_MSG);
}

/// The `.msg` fields of [`Header`].
pub(crate) const HEADER_MSG: MsgText = MsgText {
    name: "std_msgs/Header",
    fields: concat!("builtin_interfaces/Time stamp\n", "string frame_id\n"),
    uses: &[&TIME_MSG],
};
