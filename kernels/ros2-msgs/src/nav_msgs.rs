//! `nav_msgs`: odometry.

use serde::{Deserialize, Serialize};

use crate::geometry_msgs::{
    PoseWithCovariance, TwistWithCovariance, POSE_WITH_COVARIANCE_MSG, TWIST_WITH_COVARIANCE_MSG,
};
use crate::msgdef::{ros2msg_definition, MsgText};
use crate::std_msgs::{Header, HEADER_MSG};
use crate::Message;

/// `nav_msgs/msg/Odometry`: an estimate of position and velocity.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Odometry {
    /// `stamp`: time of the estimate; `frame_id`: the frame of `pose` (e.g. `map` or `odom`).
    pub header: Header,
    /// The frame of `twist`: the body frame (e.g. `agent0/base_link`; x forward, y left, z up).
    pub child_frame_id: String,
    /// Pose of `child_frame_id` in `header.frame_id` (metres, unit quaternion).
    pub pose: PoseWithCovariance,
    /// Velocity in the body frame `child_frame_id` (m/s, rad/s; `angular.z` > 0 turns left).
    pub twist: TwistWithCovariance,
}

impl Message for Odometry {
    const TYPE_NAME: &'static str = "nav_msgs/msg/Odometry";
    const DEFINITION: &'static str = ros2msg_definition!(ODOMETRY_MSG);
}

/// The `.msg` fields of [`Odometry`].
pub(crate) const ODOMETRY_MSG: MsgText = MsgText {
    name: "nav_msgs/Odometry",
    fields: concat!(
        "std_msgs/Header header\n",
        "string child_frame_id\n",
        "geometry_msgs/PoseWithCovariance pose\n",
        "geometry_msgs/TwistWithCovariance twist\n"
    ),
    uses: &[&HEADER_MSG, &POSE_WITH_COVARIANCE_MSG, &TWIST_WITH_COVARIANCE_MSG],
};
