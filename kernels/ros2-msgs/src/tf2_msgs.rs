//! `tf2_msgs`: the `/tf` and `/tf_static` message.

use serde::{Deserialize, Serialize};

use crate::geometry_msgs::TransformStamped;
use crate::Message;

/// `tf2_msgs/msg/TFMessage`: a batch of transforms, as published on `/tf` and `/tf_static`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TFMessage {
    /// Each transform maps points from `child_frame_id` into `header.frame_id`.
    pub transforms: Vec<TransformStamped>,
}

impl Message for TFMessage {
    const TYPE_NAME: &'static str = "tf2_msgs/msg/TFMessage";
}
