//! `RECORD=true`: the run as a ROS 2 bag, `<OUT_DIR>/rosbag2/` (rosbag2 layout, MCAP storage, `ros2msg` schemas,
//! `cdr` messages; `worldflow-rosbag2`) — every message the bridge publishes, logged at its stamp (simulation
//! time), and every command it accepted, logged at the simulation time of the latest tick published when it
//! arrived (it takes effect at the next tick: the convention the sensors' `SOURCE=rosbag` replays). Open it in
//! Foxglove, `ros2 bag play`, or `rosbags`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use worldflow_ros2_msgs::builtin_interfaces::Time;
use worldflow_rosbag2::{QosProfile, Rosbag2Writer, TopicId};

use crate::dds::RawMessage;
use crate::{Outgoing, Reliability};

/// The recording of one run.
pub struct Recorder {
    writer: Option<Rosbag2Writer>,
    topics: BTreeMap<String, TopicId>,
    reliability: Reliability,
}

/// A `Time` in ns (stamps are simulation time, never negative).
fn time_ns(t: &Time) -> u64 {
    u64::try_from(t.sec).unwrap_or(0) * 1_000_000_000 + u64::from(t.nanosec)
}

impl Recorder {
    /// Starts the bag `<out_dir>/rosbag2`. The bag of an earlier run in the same folder is replaced, as the
    /// recorder's files are; a `rosbag2` folder holding anything else is an error.
    pub fn create(out_dir: &Path, reliability: Reliability) -> anyhow::Result<Self> {
        let dir = out_dir.join("rosbag2");
        if dir.is_dir() {
            let names: Vec<String> = std::fs::read_dir(&dir)
                .with_context(|| format!("RECORD: listing {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect();
            if names.iter().all(|n| n == "metadata.yaml" || n == "rosbag2_0.mcap") {
                std::fs::remove_dir_all(&dir).with_context(|| format!("RECORD: replacing {}", dir.display()))?;
            }
        }
        let writer =
            Rosbag2Writer::create(&dir).with_context(|| format!("RECORD: starting the bag {}", dir.display()))?;
        Ok(Self { writer: Some(writer), topics: BTreeMap::new(), reliability })
    }

    fn log(&mut self, topic: &str, m: &RawMessage, qos: QosProfile, log_time_ns: u64) -> anyhow::Result<()> {
        let Some(writer) = self.writer.as_mut() else { return Ok(()) };
        let id = match self.topics.get(topic) {
            Some(id) => *id,
            None => {
                let id = writer
                    .add_topic(topic, m.type_name, m.definition, &QosProfile::yaml(&[qos]))
                    .with_context(|| format!("RECORD: adding {topic}"))?;
                self.topics.insert(topic.to_owned(), id);
                id
            }
        };
        writer.write(id, log_time_ns, &m.cdr).with_context(|| format!("RECORD: writing {topic}"))
    }

    /// Records a message as the bridge publishes it (same QoS as its publisher).
    pub fn published(&mut self, msg: &Outgoing) -> anyhow::Result<()> {
        let qos = match (msg, self.reliability) {
            (Outgoing::TfStatic(_), _) => QosProfile::latched(1),
            (_, Reliability::Reliable) => QosProfile::reliable(crate::dds::DEPTH as u32),
            (_, Reliability::BestEffort) => QosProfile::best_effort(crate::dds::DEPTH as u32),
        };
        let topic = msg.topic();
        let (raw, stamp) = match msg {
            Outgoing::Clock(m) => (RawMessage::of(m), m.clock),
            Outgoing::Odometry { msg, .. } => (RawMessage::of(msg.as_ref()), msg.header.stamp),
            Outgoing::Tf(m) | Outgoing::TfStatic(m) => {
                (RawMessage::of(m), m.transforms.first().map(|t| t.header.stamp).unwrap_or_default())
            }
            Outgoing::Image { msg, .. } => (RawMessage::of(msg), msg.header.stamp),
            Outgoing::CameraInfo { msg, .. } => (RawMessage::of(msg.as_ref()), msg.header.stamp),
        };
        let raw = raw.with_context(|| format!("RECORD: serializing {topic}"))?;
        self.log(topic, &raw, qos, time_ns(&stamp))
    }

    /// Records a command the bridge accepted, at `sim_time_ns` (the latest tick published).
    pub fn command(&mut self, topic: &str, m: &RawMessage, sim_time_ns: u64) -> anyhow::Result<()> {
        self.log(topic, m, QosProfile::reliable(10), sim_time_ns)
    }

    /// Writes the summary, footer and `metadata.yaml`.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        match self.writer.take() {
            Some(w) => w.finish().context("RECORD: finishing the bag"),
            None => Ok(()),
        }
    }
}
