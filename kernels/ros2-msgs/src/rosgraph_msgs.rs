//! `rosgraph_msgs`: the simulation clock.

use serde::{Deserialize, Serialize};

use crate::builtin_interfaces::{Time, TIME_MSG};
use crate::msgdef::{ros2msg_definition, MsgText};
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
    const DEFINITION: &'static str = ros2msg_definition!(CLOCK_MSG);
}

/// The `.msg` fields of [`Clock`].
pub(crate) const CLOCK_MSG: MsgText =
    MsgText { name: "rosgraph_msgs/Clock", fields: "builtin_interfaces/Time clock\n", uses: &[&TIME_MSG] };
