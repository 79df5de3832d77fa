//! Offered QoS profiles, as rosbag2 (Jazzy, metadata version 9) records them: a YAML sequence of profiles with
//! the policies as lower-case names (`keep_last`, `reliable`, `transient_local`, ...). The same text is the
//! `offered_qos_profiles` entry of each MCAP Channel's metadata; `metadata.yaml` holds it as a YAML sequence.
//! `ros2 bag play` offers these policies again when it republishes a topic.

use crate::Rosbag2Error;

/// Which samples a publisher keeps for late or slow readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosHistory {
    /// The last `depth` samples.
    KeepLast,
    /// Every sample (up to resource limits).
    KeepAll,
}

/// Whether lost samples are resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosReliability {
    /// Resent until acknowledged.
    Reliable,
    /// Sent once.
    BestEffort,
}

/// Whether late-joining readers get earlier samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosDurability {
    /// No: only samples published after they join.
    Volatile,
    /// Yes: the last `depth` samples (latched topics such as `/tf_static`).
    TransientLocal,
}

/// One publisher's offered QoS. Deadline, lifespan and liveliness lease are left infinite and liveliness
/// automatic (the DDS defaults a ROS 2 publisher reports when nothing else is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QosProfile {
    /// Which samples are kept.
    pub history: QosHistory,
    /// Samples kept with [`QosHistory::KeepLast`].
    pub depth: u32,
    /// Whether lost samples are resent.
    pub reliability: QosReliability,
    /// Whether late joiners get earlier samples.
    pub durability: QosDurability,
}

impl QosProfile {
    /// `keep_last(depth)`, reliable, volatile: the `rclcpp` default for topics.
    pub fn reliable(depth: u32) -> Self {
        Self {
            history: QosHistory::KeepLast,
            depth,
            reliability: QosReliability::Reliable,
            durability: QosDurability::Volatile,
        }
    }

    /// `keep_last(depth)`, reliable, transient local: latched topics such as `/tf_static`.
    pub fn latched(depth: u32) -> Self {
        Self { durability: QosDurability::TransientLocal, ..Self::reliable(depth) }
    }

    /// `keep_last(depth)`, best effort, volatile: sensor streams (`rclcpp::SensorDataQoS`).
    pub fn best_effort(depth: u32) -> Self {
        Self { reliability: QosReliability::BestEffort, ..Self::reliable(depth) }
    }

    /// The YAML text rosbag2 writes for these profiles (the `offered_qos_profiles` channel metadata), e.g.
    /// `- history: keep_last\n  depth: 10\n  reliability: reliable\n ...`; empty for no profile.
    pub fn yaml(profiles: &[QosProfile]) -> String {
        const INFINITE: &str = "    sec: 9223372036\n    nsec: 854775807\n";
        let mut out = String::new();
        for p in profiles {
            let history = match p.history {
                QosHistory::KeepLast => "keep_last",
                QosHistory::KeepAll => "keep_all",
            };
            let reliability = match p.reliability {
                QosReliability::Reliable => "reliable",
                QosReliability::BestEffort => "best_effort",
            };
            let durability = match p.durability {
                QosDurability::Volatile => "volatile",
                QosDurability::TransientLocal => "transient_local",
            };
            out.push_str(&format!(
                "- history: {history}\n  depth: {}\n  reliability: {reliability}\n  durability: {durability}\n  \
                 deadline:\n{INFINITE}  lifespan:\n{INFINITE}  liveliness: automatic\n  \
                 liveliness_lease_duration:\n{INFINITE}  avoid_ros_namespace_conventions: false\n",
                p.depth
            ));
        }
        out
    }
}

/// Reads an offered-QoS YAML text as the YAML sequence `metadata.yaml` holds (empty text: no profile).
pub(crate) fn parse_offered_qos(topic: &str, yaml: &str) -> Result<serde_yaml::Value, Rosbag2Error> {
    let bad = |what: String| Rosbag2Error::Topic { topic: topic.to_owned(), what };
    if yaml.trim().is_empty() {
        return Ok(serde_yaml::Value::Sequence(Vec::new()));
    }
    let value: serde_yaml::Value = serde_yaml::from_str(yaml)
        .map_err(|e| bad(format!("offered QoS is not YAML ({e}); expected a sequence of QoS profiles")))?;
    let serde_yaml::Value::Sequence(profiles) = &value else {
        return Err(bad("offered QoS YAML is not a sequence; expected `- history: keep_last ...` items".to_owned()));
    };
    for (i, profile) in profiles.iter().enumerate() {
        for key in ["history", "reliability", "durability"] {
            if profile.get(key).is_none() {
                return Err(bad(format!("offered QoS profile {i} has no `{key}`")));
            }
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_names_the_policies_and_parses_back() {
        let text = QosProfile::yaml(&[QosProfile::latched(1), QosProfile::best_effort(5)]);
        assert!(text.starts_with("- history: keep_last\n  depth: 1\n  reliability: reliable\n"), "{text}");
        assert!(text.contains("durability: transient_local"), "{text}");
        assert!(text.contains("reliability: best_effort"), "{text}");
        let value = parse_offered_qos("/tf_static", &text).unwrap();
        let profiles = value.as_sequence().unwrap();
        assert_eq!(profiles.len(), 2);
        assert_eq!(profiles[1]["depth"].as_u64(), Some(5));
        assert_eq!(profiles[0]["deadline"]["nsec"].as_u64(), Some(854_775_807));
        assert_eq!(QosProfile::yaml(&[]), "");
        assert!(parse_offered_qos("/x", " ").unwrap().as_sequence().unwrap().is_empty());
    }

    #[test]
    fn bad_qos_names_the_topic() {
        let e = parse_offered_qos("/odom", "history: keep_last").unwrap_err();
        assert_eq!(
            e.to_string(),
            "topic /odom: offered QoS YAML is not a sequence; expected `- history: keep_last ...` items"
        );
        let e = parse_offered_qos("/odom", "- depth: 3").unwrap_err();
        assert!(e.to_string().contains("profile 0 has no `history`"), "{e}");
        let e = parse_offered_qos("/odom", "- [").unwrap_err();
        assert!(e.to_string().contains("offered QoS is not YAML"), "{e}");
    }
}
