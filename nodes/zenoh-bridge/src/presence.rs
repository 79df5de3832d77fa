//! Which agents are present, for their liveliness tokens: an agent **joins** when it is first seen (its first
//! pose or frame), **leaves** when no pose of it came for `AGENT_TIMEOUT_SECS` (wall clock, as the director's
//! barrier drops a silent agent), and joins again with its next pose. No runtime here: the caller declares
//! and undeclares the tokens.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A join or a leave, with the tick it happened at (a leave: the agent's last tick seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Membership {
    Joined { agent: u32, tick: u64 },
    Left { agent: u32, tick: u64 },
}

impl std::fmt::Display for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Membership::Joined { agent, tick } => write!(f, "agent{agent} joined at tick {tick}"),
            Membership::Left { agent, tick } => {
                write!(f, "agent{agent} left after tick {tick} (no pose within the timeout)")
            }
        }
    }
}

#[derive(Debug)]
struct Seen {
    /// When its last pose (or, before any pose, its first frame) arrived.
    at: Instant,
    tick: u64,
    present: bool,
}

/// The agents seen so far and whether each is present.
#[derive(Debug)]
pub struct Presence {
    timeout: Duration,
    agents: BTreeMap<u32, Seen>,
    /// Every join and leave so far, in order.
    pub history: Vec<Membership>,
}

impl Presence {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, agents: BTreeMap::new(), history: Vec::new() }
    }

    /// A pose of `agent` at `tick`: a join if it was absent or never seen.
    pub fn on_pose(&mut self, agent: u32, tick: u64, now: Instant) -> Option<Membership> {
        let seen = self.agents.entry(agent).or_insert(Seen { at: now, tick, present: false });
        seen.at = now;
        seen.tick = seen.tick.max(tick);
        self.join(agent, tick)
    }

    /// A frame of `agent` at `tick`: a join only if the agent was never seen (frames lag poses; a frame of an
    /// agent that left does not bring it back).
    pub fn on_frame(&mut self, agent: u32, tick: u64, now: Instant) -> Option<Membership> {
        if self.agents.contains_key(&agent) {
            return None;
        }
        self.agents.insert(agent, Seen { at: now, tick, present: false });
        self.join(agent, tick)
    }

    fn join(&mut self, agent: u32, tick: u64) -> Option<Membership> {
        let seen = self.agents.get_mut(&agent)?;
        if seen.present {
            return None;
        }
        seen.present = true;
        let m = Membership::Joined { agent, tick };
        self.history.push(m);
        Some(m)
    }

    /// The agents that left by `now` (no pose within the timeout).
    pub fn poll(&mut self, now: Instant) -> Vec<Membership> {
        let mut left = Vec::new();
        for (&agent, seen) in &mut self.agents {
            if seen.present && now.duration_since(seen.at) > self.timeout {
                seen.present = false;
                left.push(Membership::Left { agent, tick: seen.tick });
            }
        }
        self.history.extend(&left);
        left
    }

    /// The agents present now.
    pub fn present(&self) -> Vec<u32> {
        self.agents.iter().filter(|(_, s)| s.present).map(|(a, _)| *a).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_join_leave_after_the_timeout_and_come_back() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Presence::new(ms(500));
        assert_eq!(p.on_frame(1, 0, t0), Some(Membership::Joined { agent: 1, tick: 0 }), "a first frame joins");
        assert_eq!(p.on_pose(0, 0, t0), Some(Membership::Joined { agent: 0, tick: 0 }));
        assert_eq!(p.on_pose(0, 1, t0 + ms(100)), None, "already present");
        assert_eq!(p.on_pose(1, 1, t0 + ms(100)), None);
        assert!(p.poll(t0 + ms(550)).is_empty(), "both posed 450 ms ago");
        p.on_pose(1, 2, t0 + ms(300));
        assert_eq!(p.poll(t0 + ms(601)), [Membership::Left { agent: 0, tick: 1 }]);
        assert_eq!(p.present(), [1]);
        assert_eq!(p.on_frame(0, 2, t0 + ms(650)), None, "a late frame does not bring it back");
        assert!(p.poll(t0 + ms(700)).is_empty(), "left once");
        assert_eq!(p.on_pose(0, 9, t0 + ms(900)), Some(Membership::Joined { agent: 0, tick: 9 }));
        assert_eq!(p.poll(t0 + ms(901)), [Membership::Left { agent: 1, tick: 2 }]);
        let h: Vec<String> = p.history.iter().map(ToString::to_string).collect();
        assert_eq!(h[0], "agent1 joined at tick 0");
        assert_eq!(h[2], "agent0 left after tick 1 (no pose within the timeout)");
        assert_eq!(h.len(), 5);
        let json = serde_json::to_value(p.history[2]).unwrap();
        assert_eq!(json, serde_json::json!({"event": "left", "agent": 0, "tick": 1}));
    }
}
