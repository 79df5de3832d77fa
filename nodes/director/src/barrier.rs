//! The director's lock-step barrier over agents that come and go (the cross-agent sync of a shared world).
//!
//! Each agent's actions queue in arrival order. Tick k is stepped once every *active* agent has an action
//! queued, or when the deadline passes: `timeout` (wall clock, `AGENT_TIMEOUT_SECS`, default 0.5 s) after the
//! first action of tick k arrived. An active agent with nothing queued at the deadline is **dropped**: the
//! others go on without waiting for it, and its ego holds (a car brakes, a free camera stays). When actions of
//! a dropped agent arrive again it is **re-admitted at the current tick**: until that tick is stepped each of
//! its new actions replaces the queued one (the backlog of a resumed source collapses into its newest action),
//! which counts for the tick being assembled. An agent whose input closed (its source ended)
//! is neither waited for nor reported. Ticks are the barrier's own count; simulation time is `tick · dt`,
//! whatever the wall clock did.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;
use worldflow_protocol::Action;

/// What happened to an agent's membership, and at which tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Membership {
    /// Missed the deadline of `tick`: the world went on without it.
    Dropped { agent: u32, tick: u64 },
    /// Its actions came back: it takes part again from `tick`.
    Rejoined { agent: u32, tick: u64 },
}

impl std::fmt::Display for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Membership::Dropped { agent, tick } => {
                write!(f, "agent{agent} dropped from the barrier at tick {tick} (no action within the timeout)")
            }
            Membership::Rejoined { agent, tick } => write!(f, "agent{agent} re-admitted at tick {tick}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Dropped,
    /// Its input closed: no more actions will come.
    Closed,
}

#[derive(Debug)]
struct Slot {
    queue: VecDeque<Action>,
    state: State,
    /// Re-admitted and not yet stepped: each new action replaces the queued one (the backlog a stopped source
    /// sends when it resumes collapses into its newest action).
    catching_up: bool,
}

/// One step of the world: the tick and each agent's action (`None`: absent, its ego holds).
#[derive(Debug)]
pub struct Step {
    pub tick: u64,
    pub actions: Vec<Option<Action>>,
}

/// The barrier.
#[derive(Debug)]
pub struct Barrier {
    slots: Vec<Slot>,
    timeout: Duration,
    tick: u64,
    deadline: Option<Instant>,
    /// Every drop and rejoin so far, in order.
    pub history: Vec<Membership>,
}

/// Actions queued per agent before the oldest are discarded (a source far ahead of the world).
const MAX_QUEUED: usize = 256;

impl Barrier {
    pub fn new(agents: usize, timeout: Duration) -> Self {
        let slots =
            (0..agents).map(|_| Slot { queue: VecDeque::new(), state: State::Active, catching_up: false }).collect();
        Self { slots, timeout, tick: 0, deadline: None, history: Vec::new() }
    }

    /// Queues `action` of `agent` (< the number of agents); returns its re-admission if it had been dropped.
    pub fn push(&mut self, agent: u32, action: Action) -> Option<Membership> {
        let slot = &mut self.slots[agent as usize];
        let rejoined = slot.state == State::Dropped;
        if rejoined {
            slot.state = State::Active;
            slot.catching_up = true;
        }
        if slot.catching_up {
            slot.queue.clear();
        }
        if slot.queue.len() == MAX_QUEUED {
            slot.queue.pop_front();
        }
        slot.queue.push_back(action);
        let event = rejoined.then_some(Membership::Rejoined { agent, tick: self.tick });
        self.history.extend(event);
        event
    }

    /// `agent`'s input closed: the barrier stops waiting for it once its queue is used up.
    pub fn close(&mut self, agent: u32) {
        self.slots[agent as usize].state = State::Closed;
    }

    /// Every input closed and every queue empty: nothing more to step (until an input that overtook its own
    /// close arrives).
    pub fn finished(&self) -> bool {
        self.slots.iter().all(|s| s.state == State::Closed && s.queue.is_empty())
    }

    /// When the barrier stops waiting for the tick being assembled, if it waits.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next step if it is due at `now`, with the agents dropped on the way.
    pub fn poll(&mut self, now: Instant) -> Option<(Step, Vec<Membership>)> {
        let waiting_for = |s: &Slot| s.queue.is_empty() && s.state == State::Active;
        if self.slots.iter().all(|s| s.queue.is_empty()) {
            self.deadline = None;
            return None;
        }
        let deadline = *self.deadline.get_or_insert(now + self.timeout);
        let mut dropped = Vec::new();
        if self.slots.iter().any(waiting_for) {
            if now < deadline {
                return None;
            }
            for (i, s) in self.slots.iter_mut().enumerate() {
                if waiting_for(s) {
                    s.state = State::Dropped;
                    dropped.push(Membership::Dropped { agent: i as u32, tick: self.tick });
                }
            }
            self.history.extend(&dropped);
        }
        let actions = self
            .slots
            .iter_mut()
            .map(|s| {
                s.catching_up = false;
                s.queue.pop_front()
            })
            .collect();
        let step = Step { tick: self.tick, actions };
        self.tick += 1;
        self.deadline = None;
        Some((step, dropped))
    }
}

#[cfg(test)]
mod tests {
    use worldflow_protocol::ChunkMeta;

    use super::*;

    fn a(agent: u32, tick: u64) -> Action {
        Action { meta: ChunkMeta { agent_id: agent, tick, sim_time_ns: 0 }, ..Default::default() }
    }

    fn ticks(step: &Step) -> Vec<Option<u64>> {
        step.actions.iter().map(|x| x.as_ref().map(|x| x.meta.tick)).collect()
    }

    #[test]
    fn a_tick_steps_when_every_agent_is_there() {
        let t0 = Instant::now();
        let mut b = Barrier::new(2, Duration::from_millis(500));
        assert!(b.poll(t0).is_none());
        b.push(0, a(0, 0));
        assert!(b.poll(t0).is_none(), "agent1 missing, within the timeout");
        b.push(1, a(1, 0));
        let (step, dropped) = b.poll(t0).unwrap();
        assert_eq!((step.tick, ticks(&step), dropped), (0, vec![Some(0), Some(0)], vec![]));
        assert!(b.poll(t0).is_none());
    }

    #[test]
    fn a_silent_agent_is_dropped_at_the_deadline_and_rejoins_at_the_current_tick() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut b = Barrier::new(2, ms(500));
        b.push(0, a(0, 0));
        b.push(1, a(1, 0));
        b.poll(t0).unwrap();
        b.push(0, a(0, 1));
        assert!(b.poll(t0).is_none());
        assert!(b.poll(t0 + ms(499)).is_none());
        let (step, dropped) = b.poll(t0 + ms(500)).unwrap();
        assert_eq!(dropped, vec![Membership::Dropped { agent: 1, tick: 1 }]);
        assert_eq!(ticks(&step), vec![Some(1), None], "agent1 holds");
        // Without agent1 the world does not wait.
        b.push(0, a(0, 2));
        let (step, dropped) = b.poll(t0 + ms(501)).unwrap();
        assert_eq!((step.tick, dropped.len()), (2, 0));
        // agent1 comes back with a backlog: only its newest action counts, for the current tick.
        assert_eq!(b.push(1, a(1, 1)), Some(Membership::Rejoined { agent: 1, tick: 3 }));
        assert_eq!(b.push(1, a(1, 2)), None);
        assert!(b.poll(t0 + ms(502)).is_none(), "agent0 not yet there for tick 3");
        b.push(0, a(0, 3));
        let (step, _) = b.poll(t0 + ms(502)).unwrap();
        assert_eq!((step.tick, ticks(&step)), (3, vec![Some(3), Some(2)]));
        assert!(b.poll(t0 + ms(503)).is_none());
        // Rejoined, it is waited for again.
        b.push(0, a(0, 4));
        assert!(b.poll(t0 + ms(600)).is_none());
        assert_eq!(b.history.len(), 2);
    }

    #[test]
    fn closed_inputs_are_drained_then_not_waited_for() {
        let t0 = Instant::now();
        let mut b = Barrier::new(2, Duration::from_secs(60));
        b.push(1, a(1, 0));
        b.close(1);
        b.push(0, a(0, 0));
        let (step, _) = b.poll(t0).unwrap();
        assert_eq!(ticks(&step), vec![Some(0), Some(0)], "the closed agent's queued action is used");
        b.push(0, a(0, 1));
        let (step, dropped) = b.poll(t0).unwrap();
        assert_eq!((ticks(&step), dropped), (vec![Some(1), None], vec![]), "no wait, no drop for a closed input");
        assert!(!b.finished());
        b.close(0);
        assert!(b.finished());
        assert!(b.history.is_empty());
    }
}
