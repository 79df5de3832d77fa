//! **sensors** node: the action sources of a run, emitted on a fixed simulated clock.
//!
//! Sources (`SOURCE`): `script` (a pose string in `SCRIPT`, e.g. `w-8, right-30, d-4`), `trajectory` (a file of
//! camera-to-world poses in `TRAJECTORY`), `drive` (a vehicle-control script in `SCRIPT`), `keyboard`
//! (interactive, from the terminal), `replay` (the `actions.jsonl` of an earlier recording in `RECORDING`) and
//! `rosbag` (the `/agentN/cmd_vel` and `/agentN/ackermann_cmd` commands of a rosbag2 bag recorded by the ROS 2
//! bridge, in `RECORDING`, one tick per `/clock` message, `N` = `AGENT_ID`: [`rosbag`]) and `formation`
//! (a drone swarm flies `FORMATION` over the `SCENARIO`'s town, one output `agentN` per drone, closed loop on
//! the director's `ego_pose`: [`formation`]).
//!
//! Each `tick` input (a dora timer: it only paces the run) advances the simulated clock by `DT_SECS`; the
//! action of tick k is a pure function of the source and k, so identical inputs give identical outputs.
//! The stream ends after the source (unless `LOOP=true`) or `MAX_TICKS`.

pub mod formation;
pub mod keyboard;
pub mod rosbag;
pub mod trajectory;

use std::path::{Path, PathBuf};

use anyhow::Context;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use worldflow_node_kit::{Env, ErrorChain as _};
use worldflow_protocol::arrow_io::{action as action_io, pose as pose_io};
use worldflow_protocol::{Action, ChunkMeta, Keys, VehicleControl};

/// Where actions come from.
pub enum Source {
    Keys(Vec<Keys>),
    Poses(Vec<trajectory::Rows>),
    Controls(Vec<VehicleControl>),
    Replay(Vec<Action>),
    Keyboard(keyboard::Keyboard),
    Formation(formation::FormationSource),
}

/// Node settings, read from the node's `env:`.
pub struct Settings {
    pub dt_ns: u64,
    pub agent_id: u32,
    pub max_ticks: Option<u64>,
    pub looping: bool,
}

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] = &[
    "SOURCE",
    "SCRIPT",
    "TRAJECTORY",
    "RECORDING",
    "FORMATION",
    "SCENARIO",
    "DT_SECS",
    "AGENT_ID",
    "MAX_TICKS",
    "LOOP",
    "OUT_DIR",
];

impl Settings {
    /// The settings of the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Env::from_process(SETTINGS))
    }

    /// The settings of `env`.
    pub fn from_settings(env: &Env) -> anyhow::Result<Self> {
        let dt_secs: f64 = env.parse_valid("DT_SECS", 0.1, "a positive number of seconds below 3600", |dt: &f64| {
            dt.is_finite() && *dt > 0.0 && *dt < 3600.0
        })?;
        Ok(Self {
            dt_ns: (dt_secs * 1e9).round() as u64,
            agent_id: env.parse_or("AGENT_ID", 0, "a non-negative integer")?,
            max_ticks: env.parse("MAX_TICKS", "a non-negative integer")?,
            looping: env.parse_or("LOOP", false, "true or false")?,
        })
    }
}

impl Source {
    /// The source of the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Env::from_process(SETTINGS))
    }

    /// The source of `env` (`SOURCE` and the setting it needs).
    pub fn from_settings(env: &Env) -> anyhow::Result<Self> {
        const SOURCES: &[(&str, &str)] = &[
            ("script", "script"),
            ("drive", "drive"),
            ("trajectory", "trajectory"),
            ("replay", "replay"),
            ("rosbag", "rosbag"),
            ("keyboard", "keyboard"),
            ("formation", "formation"),
        ];
        Ok(match env.choice("SOURCE", "script", SOURCES)? {
            "script" => {
                let text = env.get_or("SCRIPT", "w-8, right-30, d-4")?;
                Source::Keys(worldflow_protocol::parse_pose_string(&text).context("setting SCRIPT")?)
            }
            "drive" => {
                let text = env.require(
                    "SCRIPT",
                    "SOURCE=drive needs a drive script, e.g. `throttle=0.6 x40; steer=0.3 throttle=0.3 x20`",
                )?;
                Source::Controls(worldflow_protocol::parse_drive_script(&text).context("setting SCRIPT")?)
            }
            "trajectory" => {
                let path = env.require("TRAJECTORY", "SOURCE=trajectory needs a file of 4×4 poses")?;
                Source::Poses(trajectory::read_trajectory(&PathBuf::from(path)).context("setting TRAJECTORY")?)
            }
            "replay" => {
                let path = env.require("RECORDING", "SOURCE=replay needs an actions.jsonl written by the recorder")?;
                Source::Replay(read_recording(&PathBuf::from(path))?)
            }
            "rosbag" => {
                let path = env.require(
                    "RECORDING",
                    "SOURCE=rosbag needs a rosbag2 bag (its directory or .mcap file) recorded by the ROS 2 bridge",
                )?;
                let agent_id = Settings::from_settings(env)?.agent_id;
                let actions = rosbag::read_rosbag_actions(Path::new(&path), agent_id).context("setting RECORDING")?;
                Source::Replay(actions)
            }
            "formation" => {
                let scenario = env.get("SCENARIO")?;
                let text = env.require(
                    "FORMATION",
                    "SOURCE=formation needs a formation, e.g. `line spacing=4 altitude=25; ring radius=20 altitude=25 after=10s`",
                )?;
                let formation = worldflow_world::Formation::parse(&text).context("setting FORMATION")?;
                let scenario = worldflow_world::Scenario::from_setting(scenario.as_deref())
                    .map_err(anyhow::Error::from)
                    .context("setting SCENARIO")?;
                let dt_secs = Settings::from_settings(env)?.dt_ns as f32 * 1e-9;
                Source::Formation(formation::FormationSource::new(&scenario, formation, dt_secs)?)
            }
            _ => Source::Keyboard(keyboard::Keyboard::open()?),
        })
    }

    fn len(&self) -> Option<u64> {
        match self {
            Source::Keys(v) => Some(v.len() as u64),
            Source::Poses(v) => Some(v.len() as u64),
            Source::Controls(v) => Some(v.len() as u64),
            Source::Replay(v) => Some(v.len() as u64),
            Source::Keyboard(_) | Source::Formation(_) => None,
        }
    }

    /// The outputs of tick `tick` (`action`, or `agent0..agentN` for a formation; none while a formation waits
    /// for the world's poses of the previous tick), or `None` when the stream has ended.
    pub fn outputs(&mut self, tick: u64, settings: &Settings) -> anyhow::Result<Option<Vec<(String, Action)>>> {
        if let Source::Formation(f) = self {
            if settings.max_ticks.is_some_and(|m| tick >= m) {
                return Ok(None);
            }
            if !f.ready(tick)? {
                return Ok(Some(Vec::new()));
            }
            let meta = ChunkMeta { agent_id: 0, tick, sim_time_ns: tick * settings.dt_ns };
            let actions = f.actions(meta);
            return Ok(Some(actions.into_iter().map(|a| (format!("agent{}", a.meta.agent_id), a)).collect()));
        }
        Ok(self.action(tick, settings).map(|a| vec![("action".to_owned(), a)]))
    }

    /// The action of tick `tick`, or `None` when the stream has ended.
    pub fn action(&mut self, tick: u64, settings: &Settings) -> Option<Action> {
        let meta = ChunkMeta { agent_id: settings.agent_id, tick, sim_time_ns: tick * settings.dt_ns };
        if settings.max_ticks.is_some_and(|m| tick >= m) {
            return None;
        }
        let index = match self.len() {
            Some(len) if settings.looping => Some(tick % len),
            Some(len) if tick < len => Some(tick),
            Some(_) => return None,
            None => None,
        };
        let i = index.unwrap_or(0) as usize;
        Some(match self {
            Source::Keys(v) => Action { meta, keys: v[i], ..Default::default() },
            Source::Poses(v) => Action { meta, world_from_camera: Some(v[i]), ..Default::default() },
            Source::Controls(v) => Action { meta, control: Some(v[i]), ..Default::default() },
            Source::Replay(v) => Action { meta, ..v[i].clone() },
            Source::Keyboard(k) => Action { meta, keys: k.drain()?, ..Default::default() },
            // One action per agent: see `outputs`.
            Source::Formation(_) => return None,
        })
    }
}

/// Reads an `actions.jsonl` recording; errors name `file:line`.
pub fn read_recording(path: &Path) -> anyhow::Result<Vec<Action>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("{shown}: cannot read"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let a: Action =
            serde_json::from_str(line).with_context(|| format!("{shown}:{}: not an action record", i + 1))?;
        if let Some(c) = &a.control {
            c.validate().with_chain_context(|| format!("{shown}:{}: not a valid vehicle control", i + 1))?;
        }
        out.push(a);
    }
    if out.is_empty() {
        anyhow::bail!("{shown}: no actions");
    }
    Ok(out)
}

/// The node's event loop.
pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let env = Env::from_process(SETTINGS);
    let settings = Settings::from_settings(&env)?;
    let mut source = Source::from_settings(&env)?;
    let mut tick = 0u64;
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, .. } if id.as_str() == "tick" => {
                let _span = tracing::info_span!("sensor_tick", tick).entered();
                let Some(outputs) = source.outputs(tick, &settings)? else { break };
                if outputs.is_empty() {
                    continue;
                }
                for (output, action) in outputs {
                    node.send_output(output.clone().into(), MetadataParameters::default(), action_io::encode(&action))
                        .with_chain_context(|| format!("sending `{output}` of tick {tick}"))?;
                }
                tick += 1;
            }
            // The director's poses close the formation's loop (other sources take no poses).
            Event::Input { id, data, .. } if id.as_str() == "ego_pose" => {
                if let Source::Formation(f) = &mut source {
                    let pose = pose_io::decode(data.as_array().as_ref()).context("input `ego_pose`")?;
                    f.observe(&pose)?;
                }
            }
            // Only a manual stop (Ctrl-C, --stop-after) ends early; when all inputs close, drain what is queued.
            Event::Stop(dora_node_api::StopCause::Manual) => break,
            _ => {}
        }
    }
    eprintln!("sensors: emitted {tick} ticks");
    if let Source::Formation(f) = &source {
        if f.late_ticks > 0 {
            eprintln!("sensors: warning: {} formation tick(s) went on more than MAX_LEAD_TICKS ahead of a drone's latest pose (lost or late poses)", f.late_ticks);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max: Option<u64>, looping: bool) -> Settings {
        Settings { dt_ns: 100_000_000, agent_id: 3, max_ticks: max, looping }
    }

    #[test]
    fn clock_and_determinism() {
        let mut a = Source::Keys(worldflow_protocol::parse_pose_string("w-2, d-1").unwrap());
        let mut b = Source::Keys(worldflow_protocol::parse_pose_string("w-2, d-1").unwrap());
        let s = settings(None, false);
        for t in 0..3 {
            let x = a.action(t, &s).unwrap();
            assert_eq!(x, b.action(t, &s).unwrap());
            assert_eq!(x.meta, ChunkMeta { agent_id: 3, tick: t, sim_time_ns: t * 100_000_000 });
        }
        assert_eq!(a.action(2, &s).unwrap().keys, Keys::D);
        assert!(a.action(3, &s).is_none(), "source exhausted");
    }

    #[test]
    fn settings_defaults_errors_and_every_declared_setting_is_read() {
        let env = Env::from_pairs(SETTINGS, &[("SOURCE", " script "), ("OUT_DIR", "/tmp/x")]);
        let s = Settings::from_settings(&env).unwrap();
        assert_eq!((s.dt_ns, s.agent_id, s.max_ticks, s.looping), (100_000_000, 0, None, false));
        assert!(matches!(Source::from_settings(&env).unwrap(), Source::Keys(k) if k.len() == 42));
        assert_eq!(env.out_dir().unwrap(), PathBuf::from("/tmp/x"));
        let e = Settings::from_settings(&Env::from_pairs(SETTINGS, &[("DT_SECS", "0")])).err().unwrap();
        assert_eq!(e.to_string(), "setting DT_SECS=`0`: expected a positive number of seconds below 3600");
        let e = Source::from_settings(&Env::from_pairs(SETTINGS, &[("SOURCE", "drive")])).err().unwrap();
        assert!(e.to_string().contains("setting SCRIPT is unset: SOURCE=drive needs"), "{e}");
        let e = Source::from_settings(&Env::from_pairs(SETTINGS, &[("SOURCE", "tape")])).err().unwrap();
        assert!(
            e.to_string().contains("expected script, drive, trajectory, replay, rosbag, keyboard or formation"),
            "{e}"
        );
        // The settings the other sources read; SOURCE=keyboard needs a terminal, so it is not opened here.
        let mut read: std::collections::BTreeSet<&str> = env.names_read().into_iter().collect();
        for (source, name) in [
            ("drive", "SCRIPT"),
            ("trajectory", "TRAJECTORY"),
            ("replay", "RECORDING"),
            ("rosbag", "RECORDING"),
            ("formation", "FORMATION"),
        ] {
            let env = Env::from_pairs(SETTINGS, &[("SOURCE", source), (name, "/nonexistent")]);
            assert!(Source::from_settings(&env).is_err());
            read.extend(env.names_read());
        }
        let mut declared = SETTINGS.to_vec();
        declared.sort_unstable();
        assert_eq!(read.into_iter().collect::<Vec<_>>(), declared, "SETTINGS lists exactly what the node reads");
    }

    #[test]
    fn looping_and_max_ticks() {
        let mut a = Source::Keys(worldflow_protocol::parse_pose_string("w-1, s-1").unwrap());
        let s = settings(Some(5), true);
        assert_eq!(a.action(3, &s).unwrap().keys, Keys::S);
        assert!(a.action(5, &s).is_none());
    }
}
