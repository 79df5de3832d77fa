//! **zenoh-bridge** node: serves a run to Zenoh consumers that are not dora nodes (robots, dashboards,
//! Python scripts), and takes their actions back. The layout and payloads are in docs/ZENOH.md.
//!
//! ```text
//! worldflow/@v1/<world>/agent/<id>/frame/<camera>   out  raw pixels, JSON header as the attachment
//! worldflow/@v1/<world>/agent/<id>/pose             out  JSON StampedPose
//! worldflow/@v1/<world>/world                       out  JSON WorldDelta
//! worldflow/@v1/<world>/agent/<id>/action           in   JSON {"control"|"velocity"|"ackermann": {...}}
//! worldflow/@v1/<world>/agents/<id>                 liveliness token while the agent is present
//! ```
//!
//! Inputs (each optional): `frame` (renderer frames), `pose` (the director's `ego_pose`), `world` (the
//! director's `world`), `tick` (a timer: each tick sends the actions). Outputs `agent0` … `agent{AGENTS-1}`:
//! each controlled agent's action per tick, its latest command ([`control`]).
//!
//! Settings: `WORLD` (the `<world>` chunk, default `town`); `LISTEN` (comma-separated zenoh endpoints, default
//! `tcp/127.0.0.1:7447`: this host only; `tcp/0.0.0.0:7447` for other machines); `CONNECT` (endpoints to
//! connect to, default none); `MULTICAST_SCOUTING` (default false: multicast scouting and gossip off, peers
//! find the bridge through the endpoints); `AGENTS` (controlled agents, default 1); `AGENT_TIMEOUT_SECS`
//! (default 0.5: an agent without a pose for this long leaves, its token is undeclared); `COMMAND_TIMEOUT_SECS`
//! (default 1: an older command is sent `held`, a car brakes); `DT_SECS` (the director's tick, default 0.1);
//! `SHM` (default true: frames in zenoh shared-memory buffers, which a same-host peer with shared memory
//! enabled reads without a copy; other peers get the bytes over the network as usual); `OUT_DIR`
//! (`zenoh_bridge.json`: what was published, actions received and refused, joins and leaves).

pub mod control;
pub mod keys;
pub mod payload;
pub mod presence;
pub mod session;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dora_node_api::arrow_v59::array::Array;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use serde::Serialize;
use worldflow_node_kit::{Env, SettingError};
use worldflow_protocol::arrow_io::{action as action_io, frame as frame_io, pose as pose_io, world as world_io};
use worldflow_protocol::Encoding;
use zenoh::qos::Priority;

use control::{AgentAccount, Control};
use keys::KeySpace;
use payload::FrameAttachment;
use presence::{Membership, Presence};
use session::{Network, Sent, Zenoh};

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] = &[
    "WORLD",
    "LISTEN",
    "CONNECT",
    "MULTICAST_SCOUTING",
    "AGENTS",
    "AGENT_TIMEOUT_SECS",
    "COMMAND_TIMEOUT_SECS",
    "DT_SECS",
    "SHM",
    "OUT_DIR",
];

/// The bridge's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub world: String,
    pub network: Network,
    pub agents: u32,
    pub agent_timeout: Duration,
    pub command_timeout: Duration,
    pub dt_ns: u64,
}

fn endpoints(env: &Env, name: &str, default: &str) -> Result<Vec<String>, SettingError> {
    let text = env.get_or(name, default)?;
    let list: Vec<String> = text.split(',').map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect();
    for e in &list {
        e.parse::<zenoh::config::EndPoint>().map_err(|err| {
            SettingError::invalid(name, e.clone(), format!("zenoh endpoints like tcp/127.0.0.1:7447 ({err})"))
        })?;
    }
    Ok(list)
}

impl Settings {
    pub fn from_settings(env: &Env) -> Result<Self, SettingError> {
        let world = env.get_or("WORLD", "town")?;
        KeySpace::new(&world).map_err(|_| SettingError::invalid("WORLD", world.clone(), keys::CHUNK))?;
        let listen = endpoints(env, "LISTEN", "tcp/127.0.0.1:7447")?;
        let connect = endpoints(env, "CONNECT", "")?;
        let scouting = env.parse_or("MULTICAST_SCOUTING", false, "true or false")?;
        let shm = env.parse_or("SHM", true, "true or false")?;
        let agents =
            env.parse_valid("AGENTS", 1u32, "a number of agents in 1..=1024", |n: &u32| (1..=1024).contains(n))?;
        let secs = |name: &str, default: f64| {
            env.parse_valid(name, default, "seconds in (0, 3600]", |s: &f64| *s > 0.0 && *s <= 3600.0)
        };
        let agent_timeout = secs("AGENT_TIMEOUT_SECS", 0.5)?;
        let command_timeout = secs("COMMAND_TIMEOUT_SECS", 1.0)?;
        let dt = secs("DT_SECS", 0.1)?;
        Ok(Self {
            world,
            network: Network { listen, connect, scouting, shm },
            agents,
            agent_timeout: Duration::from_secs_f64(agent_timeout),
            command_timeout: Duration::from_secs_f64(command_timeout),
            dt_ns: (dt * 1e9).round() as u64,
        })
    }
}

/// How often the bridge looks for actions and silent agents while it waits for inputs.
const POLL: Duration = Duration::from_millis(5);

/// The bridge's account of a run (`<OUT_DIR>/zenoh_bridge.json`, merged into report.json as `zenoh_bridge`).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// `worldflow/@v1/<world>`.
    pub prefix: String,
    pub listen: Vec<String>,
    pub frames: u64,
    /// Frames sent in shared-memory buffers (the rest as plain bytes).
    pub frames_shm: u64,
    pub frame_bytes: u64,
    pub poses: u64,
    pub worlds: u64,
    /// Ticks whose actions were sent.
    pub ticks: u64,
    pub actions_received: u64,
    pub actions_rejected: u64,
    /// Per controlled agent, `agentN`.
    pub agents: std::collections::BTreeMap<String, AgentAccount>,
    /// Action keys refused for their agent (not a number, or not controlled), each once.
    pub unknown_action_keys: Vec<String>,
    /// Every join and leave, in order.
    pub membership: Vec<Membership>,
}

/// The node: publish every input on its key, keep the agents' tokens, send actions on each tick.
pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let env = Env::from_process(SETTINGS);
    let s = Settings::from_settings(&env)?;
    let out_dir = env.out_dir()?;
    let keys = KeySpace::new(&s.world)?;
    let mut z = Zenoh::open(&s.network, keys.clone())?;
    tracing::info!("zenoh bridge: {} on {:?}, actions at {}", keys.prefix(), s.network.listen, keys.actions());
    let mut bridge = Bridge {
        control: Control::new(s.agents, s.dt_ns, s.command_timeout),
        presence: Presence::new(s.agent_timeout),
        report: Report { prefix: keys.prefix().to_owned(), listen: s.network.listen.clone(), ..Default::default() },
        unknown_keys: BTreeSet::new(),
        bad_cameras: BTreeSet::new(),
        warned_encoding: false,
    };
    let outputs: Vec<String> = (0..s.agents).map(|a| format!("agent{a}")).collect();
    loop {
        while let Some((key, bytes)) = z.try_action() {
            bridge.on_action(&keys, &key, &bytes, Instant::now());
        }
        for m in bridge.presence.poll(Instant::now()) {
            tracing::info!("{m}; token {} undeclared", keys.token(agent_of(m)));
            z.undeclare_token(agent_of(m))?;
        }
        let Some(event) = events.recv_timeout(POLL) else { break };
        match event {
            Event::Input { id, metadata, data } => {
                let _span = tracing::info_span!("zenoh_publish").entered();
                let array = data.as_array();
                match id.as_str() {
                    "tick" => {
                        for (a, output) in bridge.control.on_tick(Instant::now()).iter().zip(&outputs) {
                            node.send_output(
                                output.clone().into(),
                                MetadataParameters::default(),
                                action_io::encode(a),
                            )
                            .with_context(|| format!("sending output `{output}` of tick {}", a.meta.tick))?;
                        }
                    }
                    "frame" => {
                        let h = frame_io::decode(&metadata.parameters, array.len()).context("input `frame`")?;
                        bridge.on_frame(&mut z, &h, array.as_ref())?;
                    }
                    "pose" => {
                        let p = pose_io::decode(array.as_ref()).context("input `pose`")?;
                        Bridge::join(&mut z, bridge.presence.on_pose(p.meta.agent_id, p.meta.tick, Instant::now()))?;
                        z.put_json(&keys.pose(p.meta.agent_id), payload::pose_json(&p), Priority::DataHigh, true)?;
                        bridge.report.poses += 1;
                    }
                    "world" => {
                        let w = world_io::decode(array.as_ref()).context("input `world`")?;
                        z.put_json(&keys.world(), payload::world_json(&w), Priority::Data, false)?;
                        bridge.report.worlds += 1;
                    }
                    other => anyhow::bail!("input `{other}`: expected frame, pose, world or tick"),
                }
            }
            Event::Stop(_) => break,
            // `recv_timeout`'s "timed out": time to look for actions again.
            Event::Error(_) => {}
            _ => {}
        }
    }
    bridge.finish(&out_dir)?;
    z.close()
}

fn agent_of(m: Membership) -> u32 {
    match m {
        Membership::Joined { agent, .. } | Membership::Left { agent, .. } => agent,
    }
}

/// The bridge's state between events.
struct Bridge {
    control: Control,
    presence: Presence,
    report: Report,
    unknown_keys: BTreeSet<String>,
    bad_cameras: BTreeSet<String>,
    warned_encoding: bool,
}

impl Bridge {
    fn join(z: &mut Zenoh, m: Option<Membership>) -> anyhow::Result<()> {
        if let Some(m) = m {
            tracing::info!("{m}; token {} declared", z.keys().token(agent_of(m)));
            z.declare_token(agent_of(m))?;
        }
        Ok(())
    }

    fn on_frame(
        &mut self,
        z: &mut Zenoh,
        h: &worldflow_protocol::FrameHeader,
        array: &dyn Array,
    ) -> anyhow::Result<()> {
        if h.encoding != Encoding::Rgb8 {
            if !self.warned_encoding {
                tracing::warn!("input `frame`: {} frames are not published (only rgb8)", h.encoding.name());
                self.warned_encoding = true;
            }
            return Ok(());
        }
        let key = match z.keys().frame(h.meta.agent_id, &h.camera) {
            Ok(key) => key,
            Err(e) => {
                if self.bad_cameras.insert(h.camera.clone()) {
                    tracing::warn!("input `frame`: {e}; its frames are not published");
                }
                return Ok(());
            }
        };
        let m = self.presence.on_frame(h.meta.agent_id, h.meta.tick, Instant::now());
        Self::join(z, m)?;
        let pixels = frame_io::payload_bytes(array).context("input `frame`")?;
        let sent = z.put_frame(&key, pixels, FrameAttachment::of(h).to_json())?;
        self.report.frames += 1;
        self.report.frames_shm += u64::from(sent == Sent::Shm);
        self.report.frame_bytes += pixels.len() as u64;
        Ok(())
    }

    /// An action sample: parsed, validated and stored, or refused with a warning naming the key and field.
    fn on_action(&mut self, keys: &KeySpace, key: &str, bytes: &[u8], now: Instant) {
        self.report.actions_received += 1;
        let agent = match keys.agent_of_action(key) {
            Ok(a) if self.control.controls(a) => a,
            Ok(a) => {
                let n = self.control.accounts().len();
                return self.refuse_key(key, &format!("agent {a} is not controlled (AGENTS={n}: ids 0..={})", n - 1));
            }
            Err(e) => return self.refuse_key(key, &e.to_string()),
        };
        match payload::parse_action(bytes) {
            Ok(cmd) => self.control.on_command(agent, cmd, now),
            Err(e) => {
                self.report.actions_rejected += 1;
                self.control.on_rejected(agent);
                tracing::warn!("{key}: action of agent{agent} refused ({e}); its last valid command stays");
            }
        }
    }

    fn refuse_key(&mut self, key: &str, why: &str) {
        self.report.actions_rejected += 1;
        if self.unknown_keys.insert(key.to_owned()) {
            tracing::warn!("{key}: action refused ({why}); further actions on this key are refused silently");
        }
    }

    /// Writes `<out>/zenoh_bridge.json`.
    fn finish(mut self, out_dir: &std::path::Path) -> anyhow::Result<()> {
        let r = &mut self.report;
        r.ticks = self.control.ticks();
        r.agents = self.control.accounts().iter().enumerate().map(|(i, a)| (format!("agent{i}"), a.clone())).collect();
        r.unknown_action_keys = self.unknown_keys.iter().cloned().collect();
        r.membership = self.presence.history.clone();
        worldflow_node_kit::write_report_section(out_dir, "zenoh_bridge", &self.report)
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn the_settings_are_checked_and_every_declared_setting_is_read() {
        let s = |pairs: &[(&str, &str)]| Settings::from_settings(&Env::from_pairs(SETTINGS, pairs));
        let d = s(&[]).unwrap();
        assert_eq!(
            d,
            Settings {
                world: "town".into(),
                network: Network {
                    listen: vec!["tcp/127.0.0.1:7447".into()],
                    connect: vec![],
                    scouting: false,
                    shm: true
                },
                agents: 1,
                agent_timeout: Duration::from_millis(500),
                command_timeout: Duration::from_secs(1),
                dt_ns: 100_000_000,
            }
        );
        let env = Env::from_pairs(
            SETTINGS,
            &[
                ("WORLD", "city"),
                ("LISTEN", "tcp/127.0.0.1:7500, udp/127.0.0.1:7501"),
                ("CONNECT", "tcp/10.0.0.2:7447"),
                ("MULTICAST_SCOUTING", "true"),
                ("AGENTS", "2"),
                ("AGENT_TIMEOUT_SECS", "0.25"),
                ("COMMAND_TIMEOUT_SECS", "2"),
                ("DT_SECS", "0.05"),
                ("SHM", "false"),
                ("OUT_DIR", "/tmp/x"),
            ],
        );
        let v = Settings::from_settings(&env).unwrap();
        env.out_dir().unwrap();
        assert_eq!(v.world, "city");
        assert_eq!(v.network.listen, ["tcp/127.0.0.1:7500", "udp/127.0.0.1:7501"]);
        assert_eq!(v.network.connect, ["tcp/10.0.0.2:7447"]);
        assert!(v.network.scouting && !v.network.shm);
        assert_eq!(
            (v.agents, v.agent_timeout, v.command_timeout, v.dt_ns),
            (2, Duration::from_millis(250), Duration::from_secs(2), 50_000_000)
        );
        assert_eq!(env.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
        for (name, value, expected) in [
            ("WORLD", "a/b", "WORLD=`a/b`"),
            ("WORLD", "@v2", "a single Zenoh key chunk"),
            ("LISTEN", "127.0.0.1:7447", "LISTEN=`127.0.0.1:7447`: expected zenoh endpoints like tcp/127.0.0.1:7447"),
            ("CONNECT", "tcp", "CONNECT=`tcp`"),
            ("SHM", "yes", "SHM=`yes`: expected true or false"),
            ("AGENTS", "0", "AGENTS=`0`: expected a number of agents in 1..=1024"),
            ("AGENT_TIMEOUT_SECS", "0", "AGENT_TIMEOUT_SECS=`0`: expected seconds in (0, 3600]"),
            ("DT_SECS", "nan", "DT_SECS=`nan`"),
        ] {
            let e = s(&[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(expected), "{name}={value}: {e}");
        }
    }

    #[test]
    fn bad_actions_are_counted_and_never_stop_the_bridge() {
        let keys = KeySpace::new("town").unwrap();
        let mut b = Bridge {
            control: Control::new(1, 100_000_000, Duration::from_secs(1)),
            presence: Presence::new(Duration::from_millis(500)),
            report: Report::default(),
            unknown_keys: BTreeSet::new(),
            bad_cameras: BTreeSet::new(),
            warned_encoding: false,
        };
        let now = Instant::now();
        b.on_action(&keys, &keys.action(0), br#"{"ackermann":{"speed_mps":2,"steering_angle_rad":0}}"#, now);
        b.on_action(&keys, &keys.action(0), b"{not json", now);
        b.on_action(&keys, &keys.action(0), br#"{"control":{"throttle":NaN,"steer":0,"brake":0}}"#, now);
        b.on_action(&keys, &keys.action(7), br#"{"ackermann":{"speed_mps":2,"steering_angle_rad":0}}"#, now);
        b.on_action(&keys, &keys.action(7), b"{}", now);
        b.on_action(&keys, "worldflow/@v1/town/agent/x/action", b"{}", now);
        assert_eq!((b.report.actions_received, b.report.actions_rejected), (6, 5));
        assert_eq!(b.unknown_keys.len(), 2, "each unknown key reported once");
        let a = b.control.on_tick(now);
        assert!(a[0].ackermann.is_some(), "the valid command stays");
        assert_eq!((b.control.accounts()[0].commands, b.control.accounts()[0].rejected), (1, 2));
    }
}
