//! **sensors** node: the action sources of a run, emitted on a fixed simulated clock.
//!
//! Sources (`SOURCE`): `script` (a pose string in `SCRIPT`, e.g. `w-8, right-30, d-4`), `trajectory` (a file of
//! camera-to-world poses in `TRAJECTORY`), `drive` (a vehicle-control script in `SCRIPT`), `keyboard`
//! (interactive, from the terminal) and `replay` (the `actions.jsonl` of an earlier recording in `RECORDING`).
//!
//! Each `tick` input (a dora timer: it only paces the run) advances the simulated clock by `DT_SECS`; the
//! action of tick k is a pure function of the source and k, so identical inputs give identical outputs.
//! The stream ends after the source (unless `LOOP=true`) or `MAX_TICKS`.

pub mod keyboard;
pub mod script;
pub mod trajectory;

use std::path::PathBuf;

use anyhow::Context;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use worldflow_protocol::arrow_io::encode_action;
use worldflow_protocol::{Action, ChunkMeta, Keys, VehicleControl};

/// Where actions come from.
pub enum Source {
    Keys(Vec<Keys>),
    Poses(Vec<trajectory::Rows>),
    Controls(Vec<VehicleControl>),
    Replay(Vec<Action>),
    Keyboard(keyboard::Keyboard),
}

/// Node settings, read from the node's `env:`.
pub struct Settings {
    pub dt_ns: u64,
    pub agent_id: u32,
    pub max_ticks: Option<u64>,
    pub looping: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_parse<T: std::str::FromStr>(name: &str, expected: &str) -> anyhow::Result<Option<T>> {
    env(name)
        .map(|v| v.parse::<T>().map_err(|_| anyhow::anyhow!("setting {name}=`{v}`: expected {expected}")))
        .transpose()
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let dt_secs: f64 = env_parse("DT_SECS", "a positive number of seconds")?.unwrap_or(0.1);
        if !(dt_secs.is_finite() && dt_secs > 0.0 && dt_secs < 3600.0) {
            anyhow::bail!("setting DT_SECS=`{dt_secs}`: expected a positive number of seconds below 3600");
        }
        Ok(Self {
            dt_ns: (dt_secs * 1e9).round() as u64,
            agent_id: env_parse("AGENT_ID", "a non-negative integer")?.unwrap_or(0),
            max_ticks: env_parse("MAX_TICKS", "a non-negative integer")?,
            looping: env_parse("LOOP", "true or false")?.unwrap_or(false),
        })
    }
}

impl Source {
    pub fn from_env() -> anyhow::Result<Self> {
        let kind = env("SOURCE").unwrap_or_else(|| "script".into());
        Ok(match kind.as_str() {
            "script" => {
                let text = env("SCRIPT").unwrap_or_else(|| "w-8, right-30, d-4".into());
                Source::Keys(script::parse_pose_string(&text).map_err(|e| anyhow::anyhow!("setting SCRIPT: {e}"))?)
            }
            "drive" => {
                let text = env("SCRIPT")
                    .context("SOURCE=drive needs SCRIPT, e.g. `throttle=0.6 x40; steer=0.3 throttle=0.3 x20`")?;
                Source::Controls(script::parse_drive_script(&text).map_err(|e| anyhow::anyhow!("setting SCRIPT: {e}"))?)
            }
            "trajectory" => {
                let path = env("TRAJECTORY").context("SOURCE=trajectory needs TRAJECTORY (a file of 4×4 poses)")?;
                Source::Poses(trajectory::read_trajectory(&PathBuf::from(path)).map_err(|e| anyhow::anyhow!(e))?)
            }
            "replay" => {
                let path = env("RECORDING")
                    .context("SOURCE=replay needs RECORDING (an actions.jsonl written by the recorder)")?;
                Source::Replay(read_recording(&PathBuf::from(path))?)
            }
            "keyboard" => Source::Keyboard(keyboard::Keyboard::open().map_err(|e| anyhow::anyhow!(e))?),
            other => anyhow::bail!("setting SOURCE=`{other}`: expected script, drive, trajectory, replay or keyboard"),
        })
    }

    fn len(&self) -> Option<u64> {
        match self {
            Source::Keys(v) => Some(v.len() as u64),
            Source::Poses(v) => Some(v.len() as u64),
            Source::Controls(v) => Some(v.len() as u64),
            Source::Replay(v) => Some(v.len() as u64),
            Source::Keyboard(_) => None,
        }
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
        })
    }
}

/// Reads an `actions.jsonl` recording; errors name `file:line`.
pub fn read_recording(path: &std::path::Path) -> anyhow::Result<Vec<Action>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("{shown}: cannot read"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let a: Action =
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{shown}:{}: not an action record: {e}", i + 1))?;
        if let Some(c) = &a.control {
            c.validate().map_err(|e| anyhow::anyhow!("{shown}:{}: {e}", i + 1))?;
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
    let settings = Settings::from_env()?;
    let mut source = Source::from_env()?;
    let mut tick = 0u64;
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, .. } if id.as_str() == "tick" => {
                let _span = tracing::info_span!("sensor_tick", tick).entered();
                let Some(action) = source.action(tick, &settings) else { break };
                node.send_output("action".to_owned().into(), MetadataParameters::default(), encode_action(&action))
                    .map_err(|e| anyhow::anyhow!("sending action of tick {tick}: {e}"))?;
                tick += 1;
            }
            // Only a manual stop (Ctrl-C, --stop-after) ends early; when all inputs close, drain what is queued.
            Event::Stop(dora_node_api::StopCause::Manual) => break,
            _ => {}
        }
    }
    eprintln!("sensors: emitted {tick} ticks");
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
        let mut a = Source::Keys(script::parse_pose_string("w-2, d-1").unwrap());
        let mut b = Source::Keys(script::parse_pose_string("w-2, d-1").unwrap());
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
    fn looping_and_max_ticks() {
        let mut a = Source::Keys(script::parse_pose_string("w-1, s-1").unwrap());
        let s = settings(Some(5), true);
        assert_eq!(a.action(3, &s).unwrap().keys, Keys::S);
        assert!(a.action(5, &s).is_none());
    }
}
