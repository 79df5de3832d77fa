//! Commands in, actions out, free-running: each `tick` input sends every controlled agent (`agent0` ..
//! `agent{AGENTS-1}`) an action with its latest valid command (a stop before its first). A command older than
//! `COMMAND_TIMEOUT_SECS` is sent `held` (a car brakes to a stop on it: a peer that went silent does not drive
//! on). Simulation time is `tick · DT_SECS`. No runtime here.

use std::time::{Duration, Instant};

use serde::Serialize;
use worldflow_protocol::{Action, ChunkMeta, VelocityCommand};

use crate::payload::Command;

/// One controlled agent's account.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AgentAccount {
    /// Valid commands received.
    pub commands: u64,
    /// Commands refused (bad JSON, missing or unknown field, not finite, out of range).
    pub rejected: u64,
    /// Ticks whose action held a command older than the timeout.
    pub held_ticks: u64,
    #[serde(skip)]
    latest: Option<(Command, Instant)>,
}

/// The commands of the controlled agents and the ticks sent.
#[derive(Debug)]
pub struct Control {
    agents: Vec<AgentAccount>,
    dt_ns: u64,
    timeout: Duration,
    /// The next tick to send.
    next: u64,
}

impl Control {
    pub fn new(agents: u32, dt_ns: u64, timeout: Duration) -> Self {
        Self { agents: vec![AgentAccount::default(); agents as usize], dt_ns, timeout, next: 0 }
    }

    /// Whether `agent` is controlled.
    pub fn controls(&self, agent: u32) -> bool {
        (agent as usize) < self.agents.len()
    }

    /// A valid command for a controlled `agent` (others are ignored: see [`Control::controls`]).
    pub fn on_command(&mut self, agent: u32, cmd: Command, now: Instant) {
        if let Some(a) = self.agents.get_mut(agent as usize) {
            a.commands += 1;
            a.latest = Some((cmd, now));
        }
    }

    /// A refused command of a controlled `agent`.
    pub fn on_rejected(&mut self, agent: u32) {
        if let Some(a) = self.agents.get_mut(agent as usize) {
            a.rejected += 1;
        }
    }

    /// The actions of the next tick.
    pub fn on_tick(&mut self, now: Instant) -> Vec<Action> {
        let tick = self.next;
        self.next += 1;
        let meta = |i: usize| ChunkMeta { agent_id: i as u32, tick, sim_time_ns: tick * self.dt_ns };
        let timeout = self.timeout;
        let mut actions = Vec::with_capacity(self.agents.len());
        for (i, a) in self.agents.iter_mut().enumerate() {
            let mut action = Action { meta: meta(i), ..Default::default() };
            match a.latest {
                None => action.velocity = Some(VelocityCommand::default()),
                Some((cmd, at)) => {
                    action.held = now.duration_since(at) > timeout;
                    a.held_ticks += u64::from(action.held);
                    match cmd {
                        Command::Control(c) => action.control = Some(c),
                        Command::Velocity(v) => action.velocity = Some(v),
                        Command::Ackermann(k) => action.ackermann = Some(k),
                    }
                }
            }
            actions.push(action);
        }
        actions
    }

    /// Ticks sent so far.
    pub fn ticks(&self) -> u64 {
        self.next
    }

    /// Per controlled agent, in order.
    pub fn accounts(&self) -> &[AgentAccount] {
        &self.agents
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use worldflow_protocol::{AckermannCommand, VehicleControl};

    #[test]
    fn each_tick_sends_the_latest_command_and_holds_stale_ones() {
        let t0 = Instant::now();
        let mut c = Control::new(2, 100_000_000, Duration::from_secs(1));
        let a = c.on_tick(t0);
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].meta, ChunkMeta { agent_id: 1, tick: 0, sim_time_ns: 0 });
        assert_eq!(a[0].velocity, Some(VelocityCommand::default()), "stop before the first command");
        c.on_command(0, Command::Control(VehicleControl { throttle: 0.5, steer: 0.0, brake: 0.0 }), t0);
        c.on_command(1, Command::Ackermann(AckermannCommand { speed_mps: 2.0, steering_angle_rad: 0.1 }), t0);
        let a = c.on_tick(t0 + Duration::from_millis(100));
        assert_eq!((a[0].meta.tick, a[0].meta.sim_time_ns), (1, 100_000_000));
        assert_eq!(a[0].control.unwrap().throttle, 0.5);
        assert_eq!(a[1].ackermann.unwrap().speed_mps, 2.0);
        assert!(!a[0].held && !a[1].held);
        c.on_command(
            1,
            Command::Velocity(VelocityCommand { forward_mps: 3.0, ..Default::default() }),
            t0 + Duration::from_millis(900),
        );
        let a = c.on_tick(t0 + Duration::from_millis(1500));
        assert!(a[0].held, "agent0's command is 1.5 s old");
        assert!(!a[1].held && a[1].velocity.is_some());
        assert_eq!(c.ticks(), 3);
        assert_eq!(c.accounts()[0].held_ticks, 1);
        c.on_rejected(1);
        c.on_rejected(9);
        assert!(c.controls(1) && !c.controls(2));
        assert_eq!(c.accounts()[1].rejected, 1);
    }
}
