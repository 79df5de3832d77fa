//! Commands in, actions out: the bridge as the action source of controlled agents, without DDS or dora.
//!
//! Every controlled agent `agentN` (N < `AGENTS`) takes `/agentN/cmd_vel` (`geometry_msgs/Twist`: a velocity
//! set-point, every ego kind) and `/agentN/ackermann_cmd` (`ackermann_msgs/AckermannDriveStamped`: cars); the
//! latest valid command of either kind is the agent's command. A command that is not finite or out of range is
//! rejected with a warning naming the topic and agent, and the last valid command stays.
//!
//! **Lock-step** (`CONTROL=lockstep`, the synchronous mode of closed-loop testing): the action of tick 0 is sent
//! at start (every agent: stop). Once every ego pose and every camera frame of tick k has been published,
//! the bridge waits until each agent has sent a command since its action of tick k went out, or until the
//! timeout (wall clock, `TIMEOUT_SECS`, default 1 s) passes; then it sends the actions of tick k + 1. An agent
//! that did not answer in time is counted (per agent, in the report), logged, and *holds* its last command
//! (`Action::held`: a car brakes to a stop on it). Simulation time is `tick · DT_SECS`, never the wall clock.
//!
//! **Free-running** (`CONTROL=free`): each `tick` input (a dora timer) sends the next tick's actions with the
//! latest commands; an agent whose last command is older than the timeout holds it.
//!
//! A command cannot say which tick it answers (a `Twist` has no stamp): in lock-step, any command received
//! after an agent's action of tick k went out answers tick k. A controller that answers tick k − 1 only after
//! its timeout is therefore taken as answering tick k.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use worldflow_protocol::{AckermannCommand, Action, ChunkMeta, CommandError, VelocityCommand};

/// How the bridge drives the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Publish only; no commands in, no actions out (`CONTROL=none`, the default).
    PublishOnly,
    /// An action per `tick` timer input, with the latest commands (`CONTROL=free`).
    FreeRunning,
    /// Each tick waits for every agent's command or the timeout (`CONTROL=lockstep`).
    LockStep,
}

/// One agent's command, either kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    Velocity(VelocityCommand),
    Ackermann(AckermannCommand),
}

/// The settings of the control loop.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlSettings {
    pub mode: Mode,
    /// Controlled agents `agent0..agent{agents-1}`.
    pub agents: u32,
    /// The cameras each agent's rig renders every tick (lock-step waits for all of them).
    pub cameras: Vec<String>,
    /// Simulated time per tick, ns.
    pub dt_ns: u64,
    /// Wall-clock time an agent's controller has to answer a tick.
    pub timeout: Duration,
    /// Stop after this many ticks (unset: run until stopped).
    pub max_ticks: Option<u64>,
}

/// What the bridge has published of one agent: the latest tick of its ego pose and of each camera.
#[derive(Debug, Default)]
struct Published {
    pose_tick: Option<u64>,
    camera_ticks: BTreeMap<String, u64>,
}

/// One agent's commands and their accounting.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AgentReport {
    /// Valid commands received.
    pub commands: u64,
    /// Commands rejected (not finite, out of range, undecodable).
    pub rejected: u64,
    /// Ticks the agent did not answer within the timeout (lock-step), or ticks sent while its last command was
    /// older than the timeout (free-running).
    pub timeouts: u64,
    /// Ticks whose action held a stale command.
    pub held_ticks: u64,
    #[serde(skip)]
    latest: Option<Command>,
    #[serde(skip)]
    latest_at: Option<Instant>,
    /// A command arrived since the agent's current action went out.
    #[serde(skip)]
    answered: bool,
}

/// The control loop's account of a run (written into report.json as `ros2_bridge`).
#[derive(Debug, Clone, Serialize)]
pub struct ControlReport {
    pub mode: Mode,
    pub timeout_secs: f64,
    /// Ticks whose actions were sent.
    pub ticks: u64,
    /// Per agent, `agentN`.
    pub agents: BTreeMap<String, AgentReport>,
    /// Command topics of agents that are not controlled (reported once each).
    pub unknown_topics: Vec<String>,
}

/// The state machine of commands and ticks.
#[derive(Debug)]
pub struct Control {
    s: ControlSettings,
    agents: Vec<AgentReport>,
    published: Vec<Published>,
    /// The tick whose actions went out last.
    sent: Option<u64>,
    /// Lock-step: the wall-clock time by which the controllers must answer the tick in flight (set once its
    /// data has all been published).
    deadline: Option<Instant>,
    unknown: BTreeSet<String>,
}

impl Control {
    pub fn new(s: ControlSettings) -> Self {
        let n = s.agents as usize;
        Self {
            agents: vec![AgentReport::default(); n],
            published: (0..n).map(|_| Published::default()).collect(),
            s,
            sent: None,
            deadline: None,
            unknown: BTreeSet::new(),
        }
    }

    /// A valid command from `agent` (< `AGENTS`). Returns `false` for an agent that is not controlled.
    pub fn on_command(&mut self, agent: u32, cmd: Command, now: Instant) -> bool {
        let Some(a) = self.agents.get_mut(agent as usize) else { return false };
        a.commands += 1;
        a.latest = Some(cmd);
        a.latest_at = Some(now);
        a.answered = true;
        true
    }

    /// A command that failed its checks: counted, and the warning to log (naming the topic and agent).
    pub fn on_rejected(&mut self, agent: u32, topic: &str, error: &dyn std::fmt::Display) -> String {
        if let Some(a) = self.agents.get_mut(agent as usize) {
            a.rejected += 1;
        }
        format!("{topic}: command of agent{agent} rejected ({error}); its last valid command stays")
    }

    /// A command topic of an agent that is not controlled: the warning to log, the first time only.
    pub fn on_unknown_topic(&mut self, topic: &str) -> Option<String> {
        self.unknown.insert(topic.to_owned()).then(|| {
            format!(
                "{topic}: commands for an agent this bridge does not control (AGENTS={}: agent0..agent{}); ignored",
                self.s.agents,
                self.s.agents.saturating_sub(1)
            )
        })
    }

    /// The ego pose of `agent` at `tick` was published.
    pub fn on_pose_published(&mut self, agent: u32, tick: u64) {
        if let Some(p) = self.published.get_mut(agent as usize) {
            p.pose_tick = Some(p.pose_tick.map_or(tick, |t| t.max(tick)));
        }
    }

    /// A frame of `agent`'s camera `camera` at `tick` was published.
    pub fn on_frame_published(&mut self, agent: u32, camera: &str, tick: u64) {
        if let Some(p) = self.published.get_mut(agent as usize) {
            let t = p.camera_ticks.entry(camera.to_owned()).or_insert(tick);
            *t = (*t).max(tick);
        }
    }

    /// Every ego pose and camera frame of `tick` has been published.
    fn tick_published(&self, tick: u64) -> bool {
        self.published.iter().all(|p| {
            p.pose_tick.is_some_and(|t| t >= tick)
                && self.s.cameras.iter().all(|c| p.camera_ticks.get(c).is_some_and(|t| *t >= tick))
        })
    }

    /// No more actions will be sent (`MAX_TICKS` reached).
    pub fn finished(&self) -> bool {
        let next = self.sent.map_or(0, |t| t + 1);
        self.s.max_ticks.is_some_and(|m| next >= m)
    }

    /// Every action has been sent and the last tick's data published: the run is over.
    pub fn done(&self) -> bool {
        self.finished() && self.sent.is_none_or(|t| self.tick_published(t))
    }

    /// Lock-step: the actions of the next tick if it is time to send them, with the warnings to log (agents
    /// that missed the timeout). Call after every published message, command and timeout.
    pub fn poll_lockstep(&mut self, now: Instant) -> Option<(Vec<Action>, Vec<String>)> {
        if self.s.mode != Mode::LockStep || self.finished() {
            return None;
        }
        let Some(k) = self.sent else { return Some((self.send(0), Vec::new())) };
        if !self.tick_published(k) {
            return None;
        }
        let deadline = *self.deadline.get_or_insert(now + self.s.timeout);
        let all_answered = self.agents.iter().all(|a| a.answered);
        if !all_answered && now < deadline {
            return None;
        }
        let mut warnings = Vec::new();
        for (i, a) in self.agents.iter_mut().enumerate() {
            if !a.answered {
                a.timeouts += 1;
                warnings.push(format!(
                    "agent{i}: no command within {:?} after tick {k} (timeout {} of the run); holding its last command",
                    self.s.timeout, a.timeouts
                ));
            }
        }
        Some((self.send(k + 1), warnings))
    }

    /// Free-running: the actions of the next tick (a `tick` timer input), or `None` once `MAX_TICKS` are sent.
    pub fn on_timer(&mut self, now: Instant) -> Option<Vec<Action>> {
        if self.s.mode != Mode::FreeRunning || self.finished() {
            return None;
        }
        let tick = self.sent.map_or(0, |t| t + 1);
        for a in &mut self.agents {
            // Answered = a command no older than the timeout.
            a.answered = a.latest_at.is_some_and(|t| now.duration_since(t) <= self.s.timeout);
            if !a.answered && a.latest.is_some() {
                a.timeouts += 1;
            }
        }
        Some(self.send(tick))
    }

    /// The actions of `tick`: each agent's latest command (stop before its first), held when not answered.
    fn send(&mut self, tick: u64) -> Vec<Action> {
        let sim_time_ns = tick * self.s.dt_ns;
        let first = self.sent.is_none();
        self.sent = Some(tick);
        self.deadline = None;
        let actions = self
            .agents
            .iter_mut()
            .enumerate()
            .map(|(i, a)| {
                let held = !first && !a.answered && a.latest.is_some();
                a.held_ticks += u64::from(held);
                a.answered = false;
                let mut action =
                    Action { meta: ChunkMeta { agent_id: i as u32, tick, sim_time_ns }, held, ..Default::default() };
                match a.latest {
                    Some(Command::Velocity(v)) => action.velocity = Some(v),
                    Some(Command::Ackermann(k)) => action.ackermann = Some(k),
                    None => action.velocity = Some(VelocityCommand::default()),
                }
                action
            })
            .collect();
        actions
    }

    /// The account of the run so far.
    pub fn report(&self) -> ControlReport {
        ControlReport {
            mode: self.s.mode,
            timeout_secs: self.s.timeout.as_secs_f64(),
            ticks: self.sent.map_or(0, |t| t + 1),
            agents: self.agents.iter().enumerate().map(|(i, a)| (format!("agent{i}"), a.clone())).collect(),
            unknown_topics: self.unknown.iter().cloned().collect(),
        }
    }
}

/// Validates a command (the error names the field; the caller names the topic and agent).
pub fn checked(cmd: Command) -> Result<Command, CommandError> {
    match &cmd {
        Command::Velocity(v) => v.validate()?,
        Command::Ackermann(k) => k.validate()?,
    }
    Ok(cmd)
}

/// The agent of a command topic `/agentN/cmd_vel` or `/agentN/ackermann_cmd`.
pub fn agent_of_command_topic(topic: &str) -> Option<u32> {
    let rest = topic.strip_prefix("/agent")?;
    let (n, tail) = rest.split_once('/')?;
    if !matches!(tail, "cmd_vel" | "ackermann_cmd") || n.is_empty() || (n.len() > 1 && n.starts_with('0')) {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: Mode, agents: u32) -> ControlSettings {
        ControlSettings {
            mode,
            agents,
            cameras: vec!["front".into()],
            dt_ns: 100_000_000,
            timeout: Duration::from_secs(1),
            max_ticks: Some(3),
        }
    }

    fn publish(c: &mut Control, agents: u32, tick: u64) {
        for a in 0..agents {
            c.on_pose_published(a, tick);
            c.on_frame_published(a, "front", tick);
        }
    }

    fn go(yaw_rate_rps: f32) -> Command {
        Command::Velocity(VelocityCommand { forward_mps: 3.0, yaw_rate_rps, ..Default::default() })
    }

    #[test]
    fn lockstep_sends_tick_zero_then_waits_for_the_data_and_every_agent() {
        let t0 = Instant::now();
        let mut c = Control::new(settings(Mode::LockStep, 2));
        let (a0, w) = c.poll_lockstep(t0).unwrap();
        assert!(w.is_empty());
        assert_eq!(a0.len(), 2);
        assert_eq!(a0[1].meta, ChunkMeta { agent_id: 1, tick: 0, sim_time_ns: 0 });
        assert_eq!(a0[0].velocity, Some(VelocityCommand::default()), "stop before the first command");
        assert!(c.poll_lockstep(t0).is_none(), "tick 0 not published yet");
        // A command may come before the tick's data is all out (it answers the tick in flight).
        assert!(c.on_command(0, go(0.5), t0));
        c.on_pose_published(0, 0);
        c.on_frame_published(0, "front", 0);
        c.on_pose_published(1, 0);
        assert!(c.poll_lockstep(t0).is_none(), "agent1's camera is missing");
        c.on_frame_published(1, "front", 0);
        assert!(c.poll_lockstep(t0).is_none(), "agent1 has not answered");
        assert!(c.on_command(1, go(-0.5), t0));
        let (a1, w) = c.poll_lockstep(t0).unwrap();
        assert!(w.is_empty());
        assert_eq!((a1[0].meta.tick, a1[0].meta.sim_time_ns), (1, 100_000_000));
        assert_eq!(a1[1].velocity.unwrap().yaw_rate_rps, -0.5);
        assert!(!a1[0].held && !a1[1].held);
        assert!(!c.on_command(5, go(0.0), t0), "agent5 is not controlled");
    }

    #[test]
    fn a_silent_agent_times_out_is_counted_and_holds_its_last_command() {
        let t0 = Instant::now();
        let mut c = Control::new(settings(Mode::LockStep, 1));
        c.poll_lockstep(t0).unwrap();
        c.on_command(0, go(0.2), t0);
        publish(&mut c, 1, 0);
        c.poll_lockstep(t0).unwrap();
        publish(&mut c, 1, 1);
        assert!(c.poll_lockstep(t0).is_none(), "waits");
        assert!(c.poll_lockstep(t0 + Duration::from_millis(999)).is_none(), "still within the timeout");
        let (a2, w) = c.poll_lockstep(t0 + Duration::from_millis(1001)).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("agent0: no command within 1s after tick 1"), "{}", w[0]);
        assert!(a2[0].held);
        assert_eq!(a2[0].velocity.unwrap().yaw_rate_rps, 0.2, "holds the last command");
        assert_eq!(a2[0].meta.sim_time_ns, 200_000_000, "simulation time is tick · dt, not the wall clock");
        let r = c.report();
        assert_eq!((r.ticks, r.agents["agent0"].timeouts, r.agents["agent0"].held_ticks), (3, 1, 1));
        assert!(c.finished() && !c.done(), "MAX_TICKS=3 sent; tick 2 not yet published");
        publish(&mut c, 1, 2);
        assert!(c.done());
        assert!(c.poll_lockstep(t0 + Duration::from_secs(9)).is_none());
    }

    #[test]
    fn free_running_sends_on_the_timer_and_holds_stale_commands() {
        let t0 = Instant::now();
        let mut c = Control::new(ControlSettings { max_ticks: None, ..settings(Mode::FreeRunning, 1) });
        assert!(c.poll_lockstep(t0).is_none());
        let a = c.on_timer(t0).unwrap();
        assert_eq!((a[0].meta.tick, a[0].held), (0, false));
        c.on_command(0, Command::Ackermann(AckermannCommand { speed_mps: 2.0, steering_angle_rad: 0.1 }), t0);
        let a = c.on_timer(t0 + Duration::from_millis(100)).unwrap();
        assert_eq!((a[0].meta.tick, a[0].held, a[0].ackermann.is_some()), (1, false, true));
        let a = c.on_timer(t0 + Duration::from_secs(2)).unwrap();
        assert!(a[0].held, "a command older than the timeout is held");
        assert_eq!(c.report().agents["agent0"].timeouts, 1);
    }

    #[test]
    fn bad_commands_and_unknown_agents_are_reported() {
        let mut c = Control::new(settings(Mode::LockStep, 1));
        let bad = Command::Velocity(VelocityCommand { forward_mps: f32::NAN, ..Default::default() });
        let e = checked(bad).unwrap_err();
        let w = c.on_rejected(0, "/agent0/cmd_vel", &e);
        assert!(w.contains("/agent0/cmd_vel") && w.contains("agent0") && w.contains("forward_mps"), "{w}");
        assert_eq!(c.report().agents["agent0"].rejected, 1);
        assert!(c.on_unknown_topic("/agent3/cmd_vel").unwrap().contains("AGENTS=1"));
        assert!(c.on_unknown_topic("/agent3/cmd_vel").is_none(), "reported once");
        assert_eq!(agent_of_command_topic("/agent12/ackermann_cmd"), Some(12));
        for t in ["/agent/cmd_vel", "/agent01/cmd_vel", "/agent1/odom", "/agentx/cmd_vel", "/robot1/cmd_vel"] {
            assert_eq!(agent_of_command_topic(t), None, "{t}");
        }
    }
}
