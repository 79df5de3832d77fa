//! What a bag read gives: its topics and messages.

/// One message of a bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BagMessage {
    /// The topic, e.g. `/agent0/cmd_vel`.
    pub topic: String,
    /// The ROS type name, e.g. `geometry_msgs/msg/Twist`.
    pub type_name: String,
    /// When the recorder logged it, ns.
    pub log_time_ns: u64,
    /// The serialized message, CDR encapsulation header included (`worldflow_ros2_msgs::from_cdr` reads it).
    pub cdr: Vec<u8>,
}

/// A topic of a bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BagTopic {
    /// The topic name.
    pub name: String,
    /// The ROS type name.
    pub type_name: String,
    /// Messages on it in the bag (all of them, whether read or filtered out).
    pub message_count: u64,
}

/// What [`Rosbag2Reader::read`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bag {
    /// Every topic of the bag, in the order the files define them.
    pub topics: Vec<BagTopic>,
    /// The messages of the topics asked for, in log-time order (equal times in file order).
    pub messages: Vec<BagMessage>,
}
