//! `rosgraph_msgs`: the simulation clock.

use serde::{Deserialize, Serialize};

use crate::builtin_interfaces::Time;
use crate::Message;

/// `rosgraph_msgs/msg/Clock`: the current simulation time, published on `/clock` for nodes with
/// `use_sim_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Clock {
    /// Simulation time.
    pub clock: Time,
}

impl Message for Clock {
    const TYPE_NAME: &'static str = "rosgraph_msgs/msg/Clock";
}
