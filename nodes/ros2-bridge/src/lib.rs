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

pub mod dds;
pub mod translate;

use std::time::Duration;

use anyhow::Context as _;
use dora_node_api::arrow_v59::array::Array;
use dora_node_api::arrow_v59::datatypes::DataType;
use dora_node_api::{DoraNode, Event, EventStream};
use worldflow_node_kit::{Env, SettingError};
use worldflow_protocol::arrow_io::{frame as frame_io, pose as pose_io};

pub use translate::{Outgoing, Translator};

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] =
    &["RELIABILITY", "ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "WAIT_FOR_SUBSCRIBERS", "OUT_DIR"];

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
        Ok(Self { reliability, domain_id, localhost_only, wait_for_subscribers: Duration::from_secs_f64(wait) })
    }
}

/// The node: translate every input, publish what it gives; a bad input is an error naming it.
pub fn run(_node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let env = Env::from_process(SETTINGS);
    let settings = Settings::from_settings(&env)?;
    let _ = env.out_dir()?;
    let mut publisher = dds::Publishers::open(&settings).context("opening DDS for ROS 2")?;
    let mut translator = Translator::new();
    let mut skipped_encodings = false;
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, metadata, data } => {
                let _span = tracing::info_span!("ros2_publish").entered();
                let array = data.as_array();
                let out = match array.data_type() {
                    DataType::Struct(fields) if fields.iter().any(|f| f.name() == "frame_id") => {
                        let p = pose_io::decode(array.as_ref()).with_context(|| format!("input `{id}`"))?;
                        translator.on_pose(&p).with_context(|| format!("input `{id}`"))?
                    }
                    DataType::UInt8 => {
                        let h = frame_io::decode(&metadata.parameters, array.len())
                            .with_context(|| format!("input `{id}`"))?;
                        let rgb = frame_io::payload_bytes(array.as_ref())?;
                        translator.on_frame(&h, rgb).with_context(|| format!("input `{id}`"))?
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
                    publisher.publish(msg)?;
                }
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    publisher.linger();
    Ok(())
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
                wait_for_subscribers: Duration::ZERO
            }
        );
        let env = Env::from_pairs(
            SETTINGS,
            &[
                ("RELIABILITY", "best_effort"),
                ("ROS_DOMAIN_ID", " 42 "),
                ("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
                ("WAIT_FOR_SUBSCRIBERS", "2.5"),
                ("OUT_DIR", "/tmp/x"),
            ],
        );
        let v = Settings::from_settings(&env).unwrap();
        env.out_dir().unwrap();
        assert_eq!(
            (v.reliability, v.domain_id, v.localhost_only, v.wait_for_subscribers),
            (Reliability::BestEffort, 42, true, Duration::from_millis(2500))
        );
        assert_eq!(env.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
        for (name, value, expected) in [
            ("RELIABILITY", "fast", "RELIABILITY=`fast`: expected reliable or best_effort"),
            ("ROS_DOMAIN_ID", "233", "ROS_DOMAIN_ID=`233`: expected a DDS domain id in 0..=232"),
            ("ROS_AUTOMATIC_DISCOVERY_RANGE", "OFF", "expected SUBNET, SYSTEM_DEFAULT or LOCALHOST"),
            ("WAIT_FOR_SUBSCRIBERS", "-1", "WAIT_FOR_SUBSCRIBERS=`-1`: expected seconds in 0..=600"),
        ] {
            let e = s(&[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(expected), "{name}={value}: {e}");
        }
    }
}
