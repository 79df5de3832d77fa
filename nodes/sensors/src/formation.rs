//! `SOURCE=formation`: a drone swarm flies a formation (`FORMATION`, syntax in `worldflow_world::formation`)
//! headless. Every ego of the scenario (`SCENARIO`, the director's) must be a drone; agent k gets its slot's
//! velocity set-point on output `agent{k}` each tick (take-off first).
//!
//! **Closed loop on the director's poses.** The node takes the director's `ego_pose` (input `ego_pose`) and
//! computes each command from the agent's latest pose (before its first pose: its spawn), so a lost or late
//! message only delays a correction instead of leaving a drone off its slot. Usually the pose of tick k − 1 is
//! in when the timer's tick k comes (the director steps in well under a millisecond); the source never runs
//! more than [`MAX_LEAD_TICKS`] ahead of the poses it has (a timer tick that finds it that far ahead sends
//! nothing; after [`POSE_WAIT_TICKS`] such timer ticks it goes on anyway, counting the tick as late), which
//! bounds the loop's delay when the world falls behind the timer. The commands therefore depend on when the
//! poses arrive: the run is not bit-for-bit repeatable (the slots it converges to are). A graph that does not
//! wire `ego_pose: director/ego_pose` gets an error naming the input after [`MAX_WAIT_TICKS`] timer ticks
//! without any pose.

use glam::{Mat4, Vec2};
use worldflow_protocol::{mat4_from_rows, Action, ChunkMeta, StampedPose};
use worldflow_world::{slot_command, DroneEgo, DroneParams, Ego, EgoKind, Formation, Scenario};

/// Timer ticks a formation waits for the first pose before it gives up with an error.
pub const MAX_WAIT_TICKS: u32 = 100;
/// How far the source may run ahead of the poses it has, ticks (a delay of 0.5 s keeps the slot loop stable).
pub const MAX_LEAD_TICKS: u64 = 5;
/// Timer ticks a formation waits when it is [`MAX_LEAD_TICKS`] ahead before it goes on anyway.
pub const POSE_WAIT_TICKS: u32 = 10;

/// The formation of a drone swarm.
pub struct FormationSource {
    formation: Formation,
    /// Each drone as last seen (position, yaw, phase).
    drones: Vec<DroneEgo>,
    /// Each drone keeps its spawn heading, radians.
    yaw_targets_rad: Vec<f32>,
    /// Per drone: the tick of its latest pose.
    seen_tick: Vec<Option<u64>>,
    /// Timer ticks waited in a row for the poses of the previous tick.
    waited: u32,
    /// Ticks sent more than [`MAX_LEAD_TICKS`] ahead of some agent's latest pose (poses lost or late).
    pub late_ticks: u64,
    /// The centroid of the spawns (world xy, metres): the centre of phases that name none.
    centre_m: Vec2,
    dt_secs: f32,
}

impl FormationSource {
    /// The swarm of `scenario` flying `formation` with ticks of `dt_secs`.
    pub fn new(scenario: &Scenario, formation: Formation, dt_secs: f32) -> anyhow::Result<Self> {
        if scenario.egos.is_empty() {
            anyhow::bail!("setting SCENARIO: SOURCE=formation needs drone egos, the scenario has none");
        }
        let mut drones = Vec::with_capacity(scenario.egos.len());
        for (i, spawn) in scenario.egos.iter().enumerate() {
            if spawn.kind != EgoKind::Drone {
                anyhow::bail!(
                    "setting SCENARIO: egos[{i}] ({}) is a {:?} ego; SOURCE=formation flies drones only (kind: drone)",
                    spawn.name,
                    spawn.kind
                );
            }
            let Ok(Ego::Drone(d)) = Ego::from_spawn(spawn) else {
                anyhow::bail!("setting SCENARIO: egos[{i}] ({}): not a valid drone spawn", spawn.name);
            };
            drones.push(d);
        }
        let n = scenario.egos.len() as f32;
        let centre_m = scenario.egos.iter().map(|e| Vec2::new(e.x_m, e.y_m)).sum::<Vec2>() / n;
        let yaw_targets_rad = scenario.egos.iter().map(|e| e.yaw_deg.to_radians()).collect();
        let seen_tick = vec![None; drones.len()];
        Ok(Self { formation, drones, yaw_targets_rad, seen_tick, waited: 0, late_ticks: 0, centre_m, dt_secs })
    }

    /// The number of agents (outputs `agent0..agent{n-1}`).
    pub fn agents(&self) -> usize {
        self.drones.len()
    }

    /// Takes a `base_link` pose of the director; poses of other frames or unknown agents are errors.
    pub fn observe(&mut self, pose: &StampedPose) -> anyhow::Result<()> {
        let k = pose.meta.agent_id as usize;
        if pose.frame_id != "base_link" || k >= self.drones.len() {
            anyhow::bail!(
                "input `ego_pose`: expected the director's base_link poses of agent0..agent{}, found {} of agent{k}",
                self.drones.len() - 1,
                pose.frame_id
            );
        }
        let m: Mat4 = mat4_from_rows(&pose.world_from_frame);
        let position = m.w_axis.truncate();
        let yaw = m.x_axis.y.atan2(m.x_axis.x);
        if !(position.is_finite() && yaw.is_finite()) {
            anyhow::bail!("input `ego_pose`: agent{k}'s pose of tick {} is not finite", pose.meta.tick);
        }
        self.drones[k] = DroneEgo::observed(DroneParams::default(), position, yaw);
        self.seen_tick[k] = Some(pose.meta.tick);
        Ok(())
    }

    /// Whether tick `tick` may be sent now: it is at most [`MAX_LEAD_TICKS`] ahead of every agent's latest
    /// pose (of the spawn, for the first ticks), or it has waited [`POSE_WAIT_TICKS`] timer ticks (a late
    /// tick). An error when no pose at all has come after [`MAX_WAIT_TICKS`] timer ticks.
    pub fn ready(&mut self, tick: u64) -> anyhow::Result<bool> {
        let lead_ok = |seen: &Option<u64>| seen.map_or(0, |t| t + 1) + MAX_LEAD_TICKS >= tick;
        if self.seen_tick.iter().all(lead_ok) {
            self.waited = 0;
            return Ok(true);
        }
        self.waited += 1;
        if self.seen_tick.iter().all(Option::is_none) {
            if self.waited > MAX_WAIT_TICKS {
                anyhow::bail!(
                    "SOURCE=formation: no pose after {MAX_WAIT_TICKS} timer ticks: wire the input `ego_pose: director/ego_pose` (the formation is closed loop)"
                );
            }
            return Ok(false);
        }
        if self.waited > POSE_WAIT_TICKS {
            self.waited = 0;
            self.late_ticks += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// Every agent's action of tick `meta.tick` (agent k's `meta.agent_id` is k).
    pub fn actions(&self, meta: ChunkMeta) -> Vec<Action> {
        let n = self.drones.len();
        let t_secs = meta.tick as f32 * self.dt_secs;
        (0..n)
            .map(|k| {
                let slot = self.formation.slot(k, n, t_secs, self.centre_m);
                let cmd = slot_command(&self.drones[k], slot, self.yaw_targets_rad[k]);
                Action { meta: ChunkMeta { agent_id: k as u32, ..meta }, velocity: Some(cmd), ..Default::default() }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use worldflow_protocol::mat4_to_rows;

    fn scenario(kinds: &str) -> Scenario {
        Scenario::from_yaml_str(&format!("vehicles: 0\npedestrians: 0\negos: {kinds}"), "s.yaml").unwrap()
    }

    #[test]
    fn every_agent_gets_its_slot_command_from_its_latest_pose_and_cars_are_refused() {
        let s = scenario("[{name: a, kind: drone, x_m: 81.5, y_m: 60}, {name: b, kind: drone, x_m: 81.5, y_m: 64}]");
        let f = Formation::parse("line spacing=4 altitude=10 heading=90").unwrap();
        let mut src = FormationSource::new(&s, f, 0.1).unwrap();
        assert_eq!(src.agents(), 2);
        let meta = ChunkMeta { agent_id: 0, tick: 0, sim_time_ns: 0 };
        let a = src.actions(meta);
        assert_eq!(a.iter().map(|a| a.meta.agent_id).collect::<Vec<_>>(), vec![0, 1]);
        let v = a[0].velocity.unwrap();
        assert!(v.up_mps > 0.0 && v.forward_mps == 0.0 && v.left_mps == 0.0, "take-off first: {v:?}");
        // Agent 1 seen at 12 m, 2 m east of its slot (yaw 0): down and back west (backwards).
        let pose = StampedPose {
            meta: ChunkMeta { agent_id: 1, tick: 5, sim_time_ns: 0 },
            frame_id: "base_link".into(),
            world_from_frame: mat4_to_rows(&Mat4::from_translation(glam::Vec3::new(83.5, 64.0, 12.0))),
        };
        // Up to MAX_LEAD_TICKS ahead of the poses it has (none yet: of the spawns), then it waits.
        assert!(src.ready(MAX_LEAD_TICKS).unwrap() && !src.ready(MAX_LEAD_TICKS + 1).unwrap());
        src.observe(&pose).unwrap();
        assert!(!src.ready(MAX_LEAD_TICKS + 1).unwrap(), "agent0 has no pose yet");
        src.observe(&StampedPose { meta: ChunkMeta { agent_id: 0, ..pose.meta }, ..pose.clone() }).unwrap();
        assert!(src.ready(6 + MAX_LEAD_TICKS).unwrap() && !src.ready(7 + MAX_LEAD_TICKS).unwrap());
        // Lost poses: after POSE_WAIT_TICKS timer ticks it goes on with the latest ones, counted as late.
        for _ in 1..POSE_WAIT_TICKS {
            assert!(!src.ready(7 + MAX_LEAD_TICKS).unwrap());
        }
        assert!(src.ready(7 + MAX_LEAD_TICKS).unwrap());
        assert_eq!(src.late_ticks, 1);
        // No pose at all: the input is not wired.
        let f = Formation::parse("ring radius=5").unwrap();
        let mut unwired = FormationSource::new(&s, f, 0.1).unwrap();
        let far = MAX_LEAD_TICKS + 1;
        for _ in 0..MAX_WAIT_TICKS {
            assert!(!unwired.ready(far).unwrap());
        }
        let e = unwired.ready(far).unwrap_err().to_string();
        assert!(e.contains("wire the input `ego_pose: director/ego_pose`"), "{e}");
        src.observe(&pose).unwrap();
        let v = src.actions(meta)[1].velocity.unwrap();
        assert!(v.up_mps < 0.0 && v.forward_mps < 0.0 && v.left_mps.abs() < 1e-4, "{v:?}");
        let bad = StampedPose { meta: ChunkMeta { agent_id: 7, ..pose.meta }, ..pose };
        assert!(src.observe(&bad).unwrap_err().to_string().contains("agent0..agent1"));
        let s = scenario(
            "[{name: a, kind: drone, x_m: 81.5, y_m: 60}, {name: c, kind: car, x_m: 44.25, y_m: 20, yaw_deg: 90}]",
        );
        let e = FormationSource::new(&s, Formation::parse("ring radius=5").unwrap(), 0.1).err().unwrap();
        assert!(e.to_string().contains("egos[1] (c) is a Car ego; SOURCE=formation flies drones only"), "{e}");
    }
}
