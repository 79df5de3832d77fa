//! Pairs each tick's poses with that tick's dynamic Gaussians.
//!
//! Both inputs arrive in tick order, each on its own bounded `drop_oldest` queue, so under load either may
//! lose a tick independently. Because each edge is FIFO, once tick `k` has both parts, a tick `j < k` still
//! missing a part can never complete (its part would have arrived before `k`'s): such ticks are discarded
//! and counted as skipped instead of waiting forever. When several ticks are complete at once (the renderer
//! fell behind), [`Catchup::Every`] renders them all in order (with large queues: nothing lost), and
//! [`Catchup::Newest`] renders the newest and skips the older ones, keeping the view close to the present
//! for an interactive run (a renderer that keeps up never has two).
//!
//! A tick's poses arrive one message per agent. A tick counts as complete once it holds as many poses as the
//! most any tick has held (every agent the director steps sends one each tick), or once a later tick's pose
//! has arrived (FIFO: nothing more of it can come): rendering a tick at its first pose would leave the
//! later agents' poses of that tick behind, dropped as stale.
//!
//! Poses of agents the renderer does not draw (`AGENTS`, see [`AgentFilter`]) are left out on arrival: they
//! never make a tick wait and never count as skipped; a tick with none of this renderer's poses is not one of
//! its ticks (its dynamic set is discarded with the older ones once a later tick renders).

use std::collections::BTreeMap;

use worldflow_protocol::{Gaussians, StampedPose};

use crate::agents::AgentFilter;

/// Poses and dynamic Gaussian sets waiting for their partner.
#[derive(Debug, Default)]
pub struct Pairing {
    poses: BTreeMap<u64, Vec<StampedPose>>,
    dynamic: BTreeMap<u64, Gaussians>,
    /// The agents whose poses are drawn.
    agents: AgentFilter,
    /// The most poses one tick has held so far: how many a complete tick holds.
    most_poses: usize,
    /// Ticks discarded because one of their parts was dropped upstream.
    pub skipped_ticks: u64,
    /// Poses taken, and poses left out because their agent is not drawn here.
    pub admitted_poses: u64,
    pub filtered_poses: u64,
}

/// Which complete tick to render when several are waiting (the `CATCHUP` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catchup {
    /// Every complete tick, oldest first.
    Every,
    /// Only the newest complete tick.
    Newest,
}

/// One tick ready to render.
#[derive(Debug)]
pub struct ReadyTick {
    pub tick: u64,
    pub poses: Vec<StampedPose>,
    /// The tick's dynamic Gaussians (`None` for a fixed scene).
    pub dynamic: Option<Gaussians>,
}

impl Pairing {
    /// A pairing that draws the poses of `agents` only.
    pub fn new(agents: AgentFilter) -> Self {
        Self { agents, ..Self::default() }
    }

    /// Takes a pose if its agent is drawn here; returns whether it was taken.
    pub fn push_pose(&mut self, pose: StampedPose) -> bool {
        if !self.agents.admits(pose.meta.agent_id) {
            self.filtered_poses += 1;
            return false;
        }
        self.admitted_poses += 1;
        let poses = self.poses.entry(pose.meta.tick).or_default();
        poses.push(pose);
        self.most_poses = self.most_poses.max(poses.len());
        true
    }

    pub fn push_dynamic(&mut self, tick: u64, gaussians: Gaussians) {
        self.dynamic.insert(tick, gaussians);
    }

    /// Entries waiting (poses ticks + dynamic sets).
    pub fn waiting(&self) -> usize {
        self.poses.len() + self.dynamic.len()
    }

    /// The tick to render now: a tick with all its poses and (with `streamed`) a dynamic set — the oldest such
    /// with [`Catchup::Every`], the newest with [`Catchup::Newest`]. Older ticks on either side are
    /// discarded (counted in `skipped_ticks`).
    pub fn pop_ready(&mut self, streamed: bool, catchup: Catchup) -> Option<ReadyTick> {
        let newest = *self.poses.keys().next_back()?;
        let complete = |t: &&u64| {
            let all_poses = **t < newest || self.poses[*t].len() >= self.most_poses;
            all_poses && (!streamed || self.dynamic.contains_key(t))
        };
        let tick = match catchup {
            Catchup::Every => *self.poses.keys().find(complete)?,
            Catchup::Newest => *self.poses.keys().rev().find(complete)?,
        };
        let stale = self.poses.range(..tick).count() as u64;
        self.skipped_ticks += stale;
        self.poses = self.poses.split_off(&tick);
        self.dynamic = self.dynamic.split_off(&tick);
        let poses = self.poses.remove(&tick)?;
        let dynamic = if streamed { self.dynamic.remove(&tick) } else { None };
        Some(ReadyTick { tick, poses, dynamic })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use worldflow_protocol::ChunkMeta;

    fn pose(tick: u64) -> StampedPose {
        agent_pose(0, tick)
    }

    fn agent_pose(agent_id: u32, tick: u64) -> StampedPose {
        StampedPose {
            meta: ChunkMeta { tick, agent_id, ..Default::default() },
            frame_id: "base".into(),
            world_from_frame: [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
        }
    }

    #[test]
    fn pairs_ticks_as_they_complete_and_skips_ticks_that_lost_a_part() {
        let mut p = Pairing::default();
        let mut rendered = Vec::new();
        // Arrival order: tick 1 lost its Gaussians, tick 2 its pose (dropped upstream).
        for (is_pose, t) in [(true, 0), (false, 0), (true, 1), (false, 2), (true, 3), (false, 3)] {
            if is_pose {
                p.push_pose(pose(t));
            } else {
                p.push_dynamic(t, Gaussians::new(0));
            }
            rendered.extend(std::iter::from_fn(|| p.pop_ready(true, Catchup::Every)).map(|r| r.tick));
        }
        assert_eq!(rendered, vec![0, 3]);
        assert_eq!(p.skipped_ticks, 1, "tick 1's pose was discarded");
        assert_eq!(p.waiting(), 0, "tick 2's Gaussians were discarded too");
    }

    #[test]
    fn a_renderer_that_fell_behind_renders_every_tick_or_jumps_to_the_newest() {
        let mut p = Pairing::default();
        for t in 10..12 {
            p.push_pose(pose(t));
            p.push_dynamic(t, Gaussians::new(0));
        }
        let every: Vec<u64> = std::iter::from_fn(|| p.pop_ready(true, Catchup::Every)).map(|r| r.tick).collect();
        assert_eq!((every, p.skipped_ticks), (vec![10, 11], 0));
        for t in 10..14 {
            p.push_pose(pose(t));
            p.push_dynamic(t, Gaussians::new(0));
        }
        assert_eq!(p.pop_ready(true, Catchup::Newest).unwrap().tick, 13);
        assert_eq!(p.skipped_ticks, 3);
        assert!(p.pop_ready(true, Catchup::Newest).is_none());
    }

    #[test]
    fn a_tick_waits_for_its_missing_part() {
        let mut p = Pairing::default();
        p.push_pose(pose(5));
        assert!(p.pop_ready(true, Catchup::Every).is_none());
        p.push_dynamic(5, Gaussians::new(0));
        let r = p.pop_ready(true, Catchup::Every).unwrap();
        assert_eq!((r.tick, r.poses.len(), r.dynamic.is_some()), (5, 1, true));
        // A fixed scene needs poses only.
        p.push_pose(pose(6));
        assert_eq!(p.pop_ready(false, Catchup::Every).unwrap().tick, 6);
    }

    #[test]
    fn a_renderer_for_one_agent_draws_its_poses_only_and_never_waits_for_the_others() {
        let mut p = Pairing::new("1".parse().unwrap());
        let mut rendered = Vec::new();
        // Each tick: agent0's pose, the dynamic set, agent1's pose (the Director's order may vary).
        for t in 0..4 {
            assert!(!p.push_pose(agent_pose(0, t)));
            p.push_dynamic(t, Gaussians::new(0));
            assert!(p.pop_ready(true, Catchup::Every).is_none(), "tick {t} waits for agent1's pose only");
            assert!(p.push_pose(agent_pose(1, t)));
            rendered.extend(std::iter::from_fn(|| p.pop_ready(true, Catchup::Every)).map(|r| {
                assert!(r.poses.iter().all(|q| q.meta.agent_id == 1));
                r.tick
            }));
        }
        assert_eq!(rendered, vec![0, 1, 2, 3]);
        assert_eq!((p.skipped_ticks, p.admitted_poses, p.filtered_poses, p.waiting()), (0, 4, 4, 0));

        // Ticks that carry only other agents' poses are not this renderer's ticks: nothing waits, nothing is
        // skipped, and their dynamic sets go once a later tick of its own renders.
        for t in 4..8 {
            p.push_pose(agent_pose(0, t));
            p.push_dynamic(t, Gaussians::new(0));
        }
        assert!(p.pop_ready(true, Catchup::Newest).is_none());
        p.push_pose(agent_pose(1, 8));
        p.push_dynamic(8, Gaussians::new(0));
        assert_eq!(p.pop_ready(true, Catchup::Newest).unwrap().tick, 8);
        assert_eq!((p.skipped_ticks, p.waiting()), (0, 0));

        // All agents (the default) take every pose.
        let mut all = Pairing::default();
        assert!(all.push_pose(agent_pose(0, 0)) && all.push_pose(agent_pose(7, 0)));
        assert_eq!(all.pop_ready(false, Catchup::Every).unwrap().poses.len(), 2);
    }

    #[test]
    fn a_tick_waits_for_every_agents_pose() {
        let mut p = Pairing::new(AgentFilter::default());
        // Tick 0 arrives whole: three agents.
        for a in 0..3 {
            p.push_pose(agent_pose(a, 0));
        }
        p.push_dynamic(0, Gaussians::new(0));
        assert_eq!(p.pop_ready(true, Catchup::Newest).unwrap().poses.len(), 3);
        // Tick 1's first pose and its dynamic set: not complete until the other two poses are in.
        p.push_dynamic(1, Gaussians::new(0));
        p.push_pose(agent_pose(0, 1));
        assert!(p.pop_ready(true, Catchup::Newest).is_none());
        p.push_pose(agent_pose(1, 1));
        p.push_pose(agent_pose(2, 1));
        assert_eq!(p.pop_ready(true, Catchup::Newest).unwrap().poses.len(), 3);
        // An agent gone: tick 2 holds two poses, complete once tick 3's first pose shows nothing more can come.
        p.push_dynamic(2, Gaussians::new(0));
        p.push_pose(agent_pose(0, 2));
        p.push_pose(agent_pose(1, 2));
        assert!(p.pop_ready(true, Catchup::Every).is_none());
        p.push_pose(agent_pose(0, 3));
        let ready = p.pop_ready(true, Catchup::Every).unwrap();
        assert_eq!((ready.tick, ready.poses.len(), p.skipped_ticks), (2, 2, 0));
    }
}
