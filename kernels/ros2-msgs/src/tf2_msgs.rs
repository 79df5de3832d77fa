//! `tf2_msgs`: the `/tf` and `/tf_static` message.

use serde::{Deserialize, Serialize};

use crate::geometry_msgs::{TransformStamped, TRANSFORM_STAMPED_MSG};
use crate::msgdef::{ros2msg_definition, MsgText};
use crate::Message;

/// `tf2_msgs/msg/TFMessage`: a batch of transforms, as published on `/tf` and `/tf_static`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TFMessage {
    /// Each transform maps points from `child_frame_id` into `header.frame_id`.
    pub transforms: Vec<TransformStamped>,
}

impl Message for TFMessage {
    const TYPE_NAME: &'static str = "tf2_msgs/msg/TFMessage";
    const DEFINITION: &'static str = ros2msg_definition!(TF_MESSAGE_MSG);
}

/// The `.msg` fields of [`TFMessage`].
pub(crate) const TF_MESSAGE_MSG: MsgText = MsgText {
    name: "tf2_msgs/TFMessage",
    fields: "geometry_msgs/TransformStamped[] transforms\n",
    uses: &[&TRANSFORM_STAMPED_MSG],
};
