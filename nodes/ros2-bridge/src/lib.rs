//! **ros2-bridge** node: publishes a run to ROS 2 over DDS (publish only, free-running).
//!
//! Inputs (any names; typed by their Arrow data like the recorder's): rendered frames (`UInt8` payload with a
//! frame header) and the director's ego poses (one-row structs with `frame_id`). Topics, per agent `agentN`
//! and camera `CAM` (what and in which order: [`translate`]):
//!
//! ```text
//! /clock                              rosgraph_msgs/Clock         simulation time, before the tick's data
//! /agentN/camera/CAM/image_raw        sensor_msgs/Image           rgb8, frame agentN/CAM_optical
//! /agentN/camera/CAM/camera_info      sensor_msgs/CameraInfo      same stamp, plumb_bob, K/R/P
//! /agentN/odom                        nav_msgs/Odometry           map → agentN/base_link, body twist
//! /tf                                 tf2_msgs/TFMessage          map → agentN/base_link
//! /tf_static                          tf2_msgs/TFMessage          agentN/base_link → agentN/CAM_optical
//! ```
//!
//! Settings: `RELIABILITY` (`reliable`, default, or `best_effort`); `ROS_DOMAIN_ID` (0..=232, default 0);
//! `ROS_AUTOMATIC_DISCOVERY_RANGE` (`SUBNET`, default, or `LOCALHOST`: multicast and the advertised
//! locators on 127.0.0.1 only); `WAIT_FOR_SUBSCRIBERS` (seconds, default 0: when a topic is first
//! published, wait up to this long for a subscriber to be discovered, so a peer started beforehand gets
//! every sample; after one wait times out the bridge stops waiting). `/tf_static` is TransientLocal.

//! **ros2-bridge** node: publishes a run to ROS 2 over DDS and, for controlled agents, takes their commands
//! back as actions (closed loop).
//!
//! Inputs (any names; typed by their Arrow data like the recorder's): rendered frames (`UInt8` payload with a
//! frame header) and the director's ego poses (one-row structs with `frame_id`); with `CONTROL=free`, a
//! `tick` timer. Outputs (with `CONTROL` set): `agent0`, `agent1`, … — each controlled agent's actions.
//! Topics, per agent `agentN` and camera `CAM` (what and in which order: [`translate`]):
//!
//! ```text
//! /clock                              rosgraph_msgs/Clock         simulation time, before the tick's data
//! /agentN/camera/CAM/image_raw        sensor_msgs/Image           rgb8, frame agentN/CAM_optical
//! /agentN/camera/CAM/camera_info      sensor_msgs/CameraInfo      same stamp, plumb_bob, K/R/P
//! /agentN/odom                        nav_msgs/Odometry           map → agentN/base_link, body twist
//! /tf                                 tf2_msgs/TFMessage          map → agentN/base_link
//! /tf_static                          tf2_msgs/TFMessage          agentN/base_link → agentN/CAM_optical
//! /agentN/cmd_vel              (in)   geometry_msgs/Twist         velocity set-point, every ego kind
//! /agentN/ackermann_cmd        (in)   ackermann_msgs/AckermannDriveStamped   speed + wheel angle, cars
//! ```
//!
//! Settings: `RELIABILITY` (`reliable`, default, or `best_effort`); `ROS_DOMAIN_ID` (0..=232, default 0);
//! `ROS_AUTOMATIC_DISCOVERY_RANGE` (`SUBNET`, default, or `LOCALHOST`: multicast and the advertised
//! locators on 127.0.0.1 only); `WAIT_FOR_SUBSCRIBERS` (seconds, default 0: when a topic is first
//! published, wait up to this long for a subscriber to be discovered, so a peer started beforehand gets
//! every sample; after one wait times out the bridge stops waiting; in lock-step the bridge also waits this
//! long for the controllers' command writers before tick 0). `/tf_static` is TransientLocal.
//! Closed loop ([`control`]): `CONTROL` (`none`, default: publish only; `free`; `lockstep`), `AGENTS`
//! (controlled agents, default 1), `CAMERAS` (the camera names each agent's rig renders, comma-separated,
//! default `front`: lock-step waits for all of them), `DT_SECS` (simulated seconds per tick, as the
//! director's; default 0.1), `TIMEOUT_SECS` (default 1), `MAX_TICKS` (unset: until stopped).
//! `RECORD` (`true`/`false`, default false): the run as a ROS 2 bag (rosbag2 layout, MCAP) in
//! `<OUT_DIR>/rosbag2`, with the commands received ([`record`]).

pub mod control;
pub mod dds;
pub mod record;
pub mod translate;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use dora_node_api::arrow_v59::array::Array;
use dora_node_api::arrow_v59::datatypes::DataType;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use worldflow_node_kit::{Env, SettingError};
use worldflow_protocol::arrow_io::{action as action_io, frame as frame_io, pose as pose_io};

pub use control::{Control, ControlSettings, Mode};
pub use translate::{Outgoing, Translator};

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] = &[
    "RELIABILITY",
    "ROS_DOMAIN_ID",
    "ROS_AUTOMATIC_DISCOVERY_RANGE",
    "WAIT_FOR_SUBSCRIBERS",
    "CONTROL",
    "AGENTS",
    "CAMERAS",
    "DT_SECS",
    "TIMEOUT_SECS",
    "MAX_TICKS",
    "RECORD",
    "OUT_DIR",
];

/// Publisher reliability (`RELIABILITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    Reliable,
    BestEffort,
}

/// The bridge's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub reliability: Reliability,
    pub domain_id: u16,
    /// `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`.
    pub localhost_only: bool,
    pub wait_for_subscribers: Duration,
    pub control: ControlSettings,
    /// `RECORD=true`: write the run as a ROS 2 bag in `<OUT_DIR>/rosbag2` ([`record`]).
    pub record: bool,
}

impl Settings {
    pub fn from_settings(env: &Env) -> Result<Self, SettingError> {
        let reliability = env.choice(
            "RELIABILITY",
            Reliability::Reliable,
            &[("reliable", Reliability::Reliable), ("best_effort", Reliability::BestEffort)],
        )?;
        // ROS 2 allows 0..=101 and 215..=232 on Linux; RTPS port arithmetic allows up to 232.
        let domain_id: u16 = env.parse_or("ROS_DOMAIN_ID", 0, "a DDS domain id in 0..=232")?;
        if domain_id > 232 {
            return Err(SettingError::invalid("ROS_DOMAIN_ID", domain_id.to_string(), "a DDS domain id in 0..=232"));
        }
        let localhost_only = env.choice(
            "ROS_AUTOMATIC_DISCOVERY_RANGE",
            false,
            &[("SUBNET", false), ("SYSTEM_DEFAULT", false), ("LOCALHOST", true)],
        )?;
        let wait: f64 = env.parse_or("WAIT_FOR_SUBSCRIBERS", 0.0, "seconds in 0..=600")?;
        if !(0.0..=600.0).contains(&wait) {
            return Err(SettingError::invalid("WAIT_FOR_SUBSCRIBERS", wait.to_string(), "seconds in 0..=600"));
        }
        Ok(Self {
            reliability,
            domain_id,
            localhost_only,
            wait_for_subscribers: Duration::from_secs_f64(wait),
            control: control_settings(env)?,
            record: env.parse_or("RECORD", false, "true or false")?,
        })
    }
}

fn control_settings(env: &Env) -> Result<ControlSettings, SettingError> {
    let mode = env.choice(
        "CONTROL",
        Mode::PublishOnly,
        &[("none", Mode::PublishOnly), ("free", Mode::FreeRunning), ("lockstep", Mode::LockStep)],
    )?;
    let agents = env.parse_valid("AGENTS", 1u32, "a number of agents in 1..=1024", |n: &u32| (1..=1024).contains(n))?;
    let cameras_text = env.get_or("CAMERAS", "front")?;
    let cameras: Vec<String> = cameras_text.split(',').map(|c| c.trim().to_owned()).collect();
    if cameras.iter().any(String::is_empty) {
        return Err(SettingError::invalid(
            "CAMERAS",
            cameras_text,
            "camera names separated by commas, e.g. front,left,rear,right",
        ));
    }
    let dt_secs: f64 =
        env.parse_valid("DT_SECS", 0.1, "a positive number of seconds below 3600", |d: &f64| *d > 0.0 && *d < 3600.0)?;
    let timeout: f64 =
        env.parse_valid("TIMEOUT_SECS", 1.0, "seconds in (0, 3600]", |d: &f64| *d > 0.0 && *d <= 3600.0)?;
    Ok(ControlSettings {
        mode,
        agents,
        cameras,
        dt_ns: (dt_secs * 1e9).round() as u64,
        timeout: Duration::from_secs_f64(timeout),
        max_ticks: env.parse("MAX_TICKS", "a non-negative integer")?,
    })
}

/// How often the bridge looks for commands while it waits for inputs.
const COMMAND_POLL: Duration = Duration::from_millis(1);
/// How often it looks for command writers of agents it does not control.
const UNKNOWN_SCAN: Duration = Duration::from_secs(1);

/// The node: translate every input and publish it; with `CONTROL` set, take commands and send actions.
pub fn run(mut node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let env = Env::from_process(SETTINGS);
    let settings = Settings::from_settings(&env)?;
    let out_dir = env.out_dir()?;
    let mut dds = dds::Dds::open(&settings).context("opening DDS for ROS 2")?;
    let mut translator = Translator::new();
    let mut control = Control::new(settings.control.clone());
    let mut recorder = match settings.record {
        true => Some(record::Recorder::create(&out_dir, settings.reliability)?),
        false => None,
    };
    let mode = settings.control.mode;
    if mode != Mode::PublishOnly {
        dds.subscribe_commands(settings.control.agents)?;
        // Wait for the controllers (not for a subscriber per topic: a controller need not read them all).
        let missing = dds.wait_for_controllers(settings.control.agents);
        if !missing.is_empty() && !settings.wait_for_subscribers.is_zero() {
            let names: Vec<String> = missing.iter().map(|a| format!("agent{a}")).collect();
            tracing::warn!("no controller for {} yet (cmd_vel / ackermann_cmd); starting anyway", names.join(", "));
        }
        dds.prepare(settings.control.agents, &settings.control.cameras)?;
    }
    let mut sender = ActionSender { outputs: (0..settings.control.agents).map(|a| format!("agent{a}")).collect() };
    let mut skipped_encodings = false;
    let mut last_scan = Instant::now();
    if let Some((actions, _)) = control.poll_lockstep(Instant::now()) {
        sender.send(&mut node, &actions)?;
    }
    loop {
        // Commands first: they may complete the tick in flight.
        if mode != Mode::PublishOnly {
            let now = Instant::now();
            for r in dds.take_commands() {
                match r.command.and_then(|c| control::checked(c).map_err(|e| e.to_string())) {
                    Ok(c) => {
                        control.on_command(r.agent, c, now);
                        if let (Some(rec), Some(m)) = (recorder.as_mut(), &r.message) {
                            rec.command(&r.topic, m, translator.last_clock_ns().unwrap_or(0))?;
                        }
                    }
                    Err(e) => tracing::warn!("{}", control.on_rejected(r.agent, &r.topic, &e)),
                }
            }
            if now.duration_since(last_scan) >= UNKNOWN_SCAN {
                last_scan = now;
                for topic in dds.discovered_command_topics() {
                    let controlled =
                        control::agent_of_command_topic(&topic).is_some_and(|a| a < settings.control.agents);
                    if !controlled {
                        if let Some(w) = control.on_unknown_topic(&topic) {
                            tracing::warn!("{w}");
                        }
                    }
                }
            }
            if let Some((actions, warnings)) = control.poll_lockstep(now) {
                for w in warnings {
                    tracing::warn!("{w}");
                }
                sender.send(&mut node, &actions)?;
            }
            if control.done() {
                // Every action sent and the last tick published: leaving closes the action outputs, and the
                // graph drains behind them.
                break;
            }
        }
        let event = if mode == Mode::PublishOnly { events.recv() } else { events.recv_timeout(COMMAND_POLL) };
        let Some(event) = event else { break };
        match event {
            Event::Input { id, .. } if id.as_str() == "tick" => {
                if let Some(actions) = control.on_timer(Instant::now()) {
                    sender.send(&mut node, &actions)?;
                }
            }
            Event::Input { id, metadata, data } => {
                let _span = tracing::info_span!("ros2_publish").entered();
                let array = data.as_array();
                let out = match array.data_type() {
                    DataType::Struct(fields) if fields.iter().any(|f| f.name() == "frame_id") => {
                        let p = pose_io::decode(array.as_ref()).with_context(|| format!("input `{id}`"))?;
                        let out = translator.on_pose(&p).with_context(|| format!("input `{id}`"))?;
                        control.on_pose_published(p.meta.agent_id, p.meta.tick);
                        out
                    }
                    DataType::UInt8 => {
                        let h = frame_io::decode(&metadata.parameters, array.len())
                            .with_context(|| format!("input `{id}`"))?;
                        let rgb = frame_io::payload_bytes(array.as_ref())?;
                        let out = translator.on_frame(&h, rgb).with_context(|| format!("input `{id}`"))?;
                        control.on_frame_published(h.meta.agent_id, &h.camera, h.meta.tick);
                        out
                    }
                    DataType::Float32 => {
                        if !skipped_encodings {
                            tracing::warn!("input `{id}`: rgb32f frames are not published (only rgb8)");
                            skipped_encodings = true;
                        }
                        continue;
                    }
                    other => anyhow::bail!("input `{id}`: {other} is neither a frame nor a pose"),
                };
                for msg in out {
                    if let Some(rec) = recorder.as_mut() {
                        rec.published(&msg)?;
                    }
                    dds.publish(msg)?;
                }
            }
            Event::Stop(_) => break,
            // `recv_timeout`'s "timed out": time to look for commands again.
            Event::Error(_) if mode != Mode::PublishOnly => {}
            Event::Error(e) => tracing::warn!("dora: {e}"),
            _ => {}
        }
    }
    if let Some(rec) = recorder.as_mut() {
        rec.finish()?;
    }
    dds.linger();
    if mode != Mode::PublishOnly {
        write_report(&out_dir, &control.report())?;
    }
    Ok(())
}

/// Sends each controlled agent's action on its output `agentN`.
struct ActionSender {
    outputs: Vec<String>,
}

impl ActionSender {
    fn send(&mut self, node: &mut DoraNode, actions: &[worldflow_protocol::Action]) -> anyhow::Result<()> {
        for (a, output) in actions.iter().zip(&self.outputs) {
            node.send_output(output.clone().into(), MetadataParameters::default(), action_io::encode(a))
                .with_context(|| format!("sending output `{output}` of tick {}", a.meta.tick))?;
        }
        Ok(())
    }
}

/// Writes the control loop's account to `<out>/ros2_bridge.json` (`worldflow run` adds it to report.json).
fn write_report(out_dir: &std::path::Path, report: &control::ControlReport) -> anyhow::Result<()> {
    for (agent, r) in &report.agents {
        if r.timeouts > 0 {
            tracing::warn!("{agent}: {} lock-step timeouts, {} held ticks", r.timeouts, r.held_ticks);
        }
    }
    worldflow_node_kit::write_report_section(out_dir, "ros2_bridge", report)
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
                reliability: Reliability::Reliable,
                domain_id: 0,
                localhost_only: false,
                wait_for_subscribers: Duration::ZERO,
                control: ControlSettings {
                    mode: Mode::PublishOnly,
                    agents: 1,
                    cameras: vec!["front".to_owned()],
                    dt_ns: 100_000_000,
                    timeout: Duration::from_secs(1),
                    max_ticks: None,
                },
                record: false,
            }
        );
        let env = Env::from_pairs(
            SETTINGS,
            &[
                ("RELIABILITY", "best_effort"),
                ("ROS_DOMAIN_ID", " 42 "),
                ("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
                ("WAIT_FOR_SUBSCRIBERS", "2.5"),
                ("CONTROL", "lockstep"),
                ("AGENTS", "2"),
                ("CAMERAS", "front, left,rear,right"),
                ("DT_SECS", "0.05"),
                ("TIMEOUT_SECS", "0.25"),
                ("MAX_TICKS", "100"),
                ("RECORD", "true"),
                ("OUT_DIR", "/tmp/x"),
            ],
        );
        let v = Settings::from_settings(&env).unwrap();
        env.out_dir().unwrap();
        assert_eq!(
            (v.reliability, v.domain_id, v.localhost_only, v.wait_for_subscribers),
            (Reliability::BestEffort, 42, true, Duration::from_millis(2500))
        );
        let c = &v.control;
        assert_eq!(
            (c.mode, c.agents, c.dt_ns, c.timeout, c.max_ticks),
            (Mode::LockStep, 2, 50_000_000, Duration::from_millis(250), Some(100))
        );
        assert_eq!(c.cameras, ["front", "left", "rear", "right"]);
        assert!(v.record);
        assert_eq!(env.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
        for (name, value, expected) in [
            ("RELIABILITY", "fast", "RELIABILITY=`fast`: expected reliable or best_effort"),
            ("ROS_DOMAIN_ID", "233", "ROS_DOMAIN_ID=`233`: expected a DDS domain id in 0..=232"),
            ("ROS_AUTOMATIC_DISCOVERY_RANGE", "OFF", "expected SUBNET, SYSTEM_DEFAULT or LOCALHOST"),
            ("WAIT_FOR_SUBSCRIBERS", "-1", "WAIT_FOR_SUBSCRIBERS=`-1`: expected seconds in 0..=600"),
            ("CONTROL", "auto", "CONTROL=`auto`: expected none, free or lockstep"),
            ("AGENTS", "0", "AGENTS=`0`: expected a number of agents in 1..=1024"),
            ("CAMERAS", "front,,left", "expected camera names separated by commas"),
            ("TIMEOUT_SECS", "0", "TIMEOUT_SECS=`0`: expected seconds in (0, 3600]"),
        ] {
            let e = s(&[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(expected), "{name}={value}: {e}");
        }
    }
}
