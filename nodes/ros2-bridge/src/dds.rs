//! The thin DDS layer: one ros2-client node (RustDDS underneath), one publisher per topic, created when the
//! topic is first published (or up front, [`Publishers::prepare`]), and the command subscriptions of the
//! controlled agents ([`Publishers::subscribe_commands`], [`Publishers::take_commands`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ros2_client::dds::rustdds::DomainParticipantBuilder;
use ros2_client::dds::{Context, Node, Publisher, Subscription};
use ros2_client::qos::{Durability, History, WhenFull};
use ros2_client::{MessageTypeName, Name, NodeName, NodeOptions, QosProfile};
use worldflow_ros2_msgs::ackermann_msgs::AckermannDriveStamped;
use worldflow_ros2_msgs::convert;
use worldflow_ros2_msgs::geometry_msgs::Twist;
use worldflow_ros2_msgs::nav_msgs::Odometry;
use worldflow_ros2_msgs::rosgraph_msgs::Clock;
use worldflow_ros2_msgs::sensor_msgs::{CameraInfo, Image};
use worldflow_ros2_msgs::tf2_msgs::TFMessage;

use crate::control::Command;
use crate::{Outgoing, Reliability, Settings};

/// One received command: the agent, the topic, and the command or why it was rejected.
pub struct Received {
    pub agent: u32,
    pub topic: String,
    pub command: Result<Command, String>,
    /// The message as received, for the recording; `None` when undecodable.
    pub message: Option<RawMessage>,
}

/// A message as CDR bytes with its type: what a recording needs.
pub struct RawMessage {
    pub type_name: &'static str,
    pub definition: &'static str,
    pub cdr: Vec<u8>,
}

impl RawMessage {
    pub fn of<M: worldflow_ros2_msgs::Message>(m: &M) -> Result<Self, worldflow_ros2_msgs::Ros2MsgError> {
        Ok(Self { type_name: M::TYPE_NAME, definition: M::DEFINITION, cdr: worldflow_ros2_msgs::to_cdr(m)? })
    }
}

fn as_cdr<M: worldflow_ros2_msgs::Message>(m: &M) -> Option<RawMessage> {
    RawMessage::of(m).ok()
}

/// The command subscriptions of one controlled agent.
struct AgentCommands {
    agent: u32,
    cmd_vel: (String, Subscription<Twist>),
    ackermann: (String, Subscription<AckermannDriveStamped>),
}

/// How long the bridge keeps DDS up after its inputs close, so reliable readers can fetch the last samples
/// (ros2-client 0.12 does not expose the writer's `wait_for_acknowledgments`).
const LINGER: Duration = Duration::from_secs(1);
/// Samples kept per topic for reliable delivery and late retransmission.
pub const DEPTH: usize = 16;
/// After a subscriber is discovered, time for the new writer to match it before the first sample goes out.
const MATCH_GRACE: Duration = Duration::from_millis(300);

/// A ROS 2 type name `package/msg/Type` as ros2-client wants it.
fn type_name(full: &str) -> MessageTypeName {
    let mut parts = full.split('/');
    let (package, ty) = (parts.next().unwrap_or_default(), parts.next_back().unwrap_or_default());
    MessageTypeName::new(package, ty)
}

pub struct Dds {
    context: Context,
    node: Node,
    qos: QosProfile,
    wait: Duration,
    /// A wait for subscribers timed out: do not wait again.
    waited_out: bool,
    clock: Option<Publisher<Clock>>,
    tf: Option<Publisher<TFMessage>>,
    tf_static: Option<Publisher<TFMessage>>,
    odom: BTreeMap<String, Publisher<Odometry>>,
    images: BTreeMap<String, Publisher<Image>>,
    infos: BTreeMap<String, Publisher<CameraInfo>>,
    /// Topics whose publish failed at least once (warned once each), with the failure count.
    failures: BTreeMap<String, u64>,
    commands: Vec<AgentCommands>,
}

impl Dds {
    /// Opens the DDS participant (`ROS_DOMAIN_ID`, discovery range) and the ROS node `/worldflow/ros2_bridge`.
    pub fn open(s: &Settings) -> anyhow::Result<Self> {
        // Kernel buffers (SO_SNDBUF / SO_RCVBUF) of every RTPS socket, asked for explicitly rather than left to
        // RustDDS's default (8 MiB each in 0.15): room for one whole tick of the largest rig the bridge serves,
        // 4 cameras × 1280×720 RGB8 = 11.1 MB, so a tick's burst queues in the kernel instead of bouncing off a
        // full send buffer. The kernel caps each request at net.core.wmem_max / rmem_max (Linux default 208 KiB;
        // a host-wide sysctl, not settable inside a network namespace); RustDDS logs when it was capped. Whether
        // large images arrive is decided by the *subscriber's* receive buffer: RustDDS paces nothing by bytes
        // (its reliable window counts samples, 8192, and ros2-client exposes no ResourceLimits), so a burst
        // larger than the subscriber's buffer is dropped by its kernel, and RustDDS repairs a partly received
        // sample at 8 fragments of 256 B per 10 ms round (docs/BENCHMARKS.md, "ROS 2 bridge").
        const SOCKET_BUFFER: usize = 16 << 20;
        let mut builder = DomainParticipantBuilder::new(s.domain_id)
            .socket_send_buffer_size(SOCKET_BUFFER)
            .socket_receive_buffer_size(SOCKET_BUFFER);
        if s.localhost_only {
            builder = builder.with_only_networks([std::net::Ipv4Addr::LOCALHOST]);
        }
        let participant = builder.build().with_context(|| format!("DDS participant in domain {}", s.domain_id))?;
        let context = Context::from_domain_participant(participant).context("ROS 2 context")?;
        let node = context
            .new_node(
                NodeName::new("/worldflow", "ros2_bridge").context("node name")?,
                NodeOptions::new().enable_rosout(false).start_parameter_services(false),
            )
            .context("ROS 2 node")?;
        let qos = QosProfile::publisher_default()
            .durability(Durability::Volatile)
            .history(History::KeepLast { depth: DEPTH });
        let qos = match s.reliability {
            Reliability::Reliable => qos.reliability_reliable(WhenFull::Wait(Duration::from_secs(1))),
            Reliability::BestEffort => qos.reliability_best_effort(),
        };
        tracing::info!(domain = s.domain_id, localhost_only = s.localhost_only, ?s.reliability, "ROS 2 bridge up");
        Ok(Self {
            context,
            node,
            qos,
            wait: s.wait_for_subscribers,
            waited_out: false,
            clock: None,
            tf: None,
            tf_static: None,
            odom: BTreeMap::new(),
            images: BTreeMap::new(),
            infos: BTreeMap::new(),
            failures: BTreeMap::new(),
            commands: Vec::new(),
        })
    }

    /// Creates the publishers of every topic of `agents` agents with `cameras` up front, without waiting for
    /// subscribers (lock-step: the bridge waits for its controllers instead, then gives the new writers
    /// [`MATCH_GRACE`] to match their readers before tick 0).
    pub fn prepare(&mut self, agents: u32, cameras: &[String]) -> anyhow::Result<()> {
        self.waited_out = true;
        let qos = self.qos.clone();
        self.clock = Some(self.create("/clock", &qos)?);
        self.tf = Some(self.create("/tf", &qos)?);
        let static_qos = Self::static_qos(&qos);
        self.tf_static = Some(self.create("/tf_static", &static_qos)?);
        for agent in 0..agents {
            let odom = format!("/agent{agent}/odom");
            let p = self.create(&odom, &qos)?;
            self.odom.insert(odom, p);
            for camera in cameras {
                let image = format!("/agent{agent}/camera/{camera}/image_raw");
                let p = self.create(&image, &qos)?;
                self.images.insert(image, p);
                let info = format!("/agent{agent}/camera/{camera}/camera_info");
                let p = self.create(&info, &qos)?;
                self.infos.insert(info, p);
            }
        }
        std::thread::sleep(MATCH_GRACE);
        Ok(())
    }

    /// `/tf_static`'s QoS: as tf2's static broadcaster, the latest message (all static transforms) kept for
    /// late joiners.
    fn static_qos(qos: &QosProfile) -> QosProfile {
        qos.clone().durability(Durability::TransientLocal).history(History::KeepLast { depth: 1 })
    }

    /// Subscribes to `/agentN/cmd_vel` and `/agentN/ackermann_cmd` of agents `0..agents` (Reliable, as ROS 2
    /// publishers default to; a BestEffort controller does not match).
    pub fn subscribe_commands(&mut self, agents: u32) -> anyhow::Result<()> {
        let qos = QosProfile::default()
            .reliability_reliable(WhenFull::Wait(Duration::from_millis(100)))
            .durability(Durability::Volatile)
            .history(History::KeepLast { depth: DEPTH });
        for agent in 0..agents {
            let cmd_vel = format!("/agent{agent}/cmd_vel");
            let ackermann = format!("/agent{agent}/ackermann_cmd");
            let sub_vel = self.subscription::<Twist>(&cmd_vel, &qos)?;
            let sub_ack = self.subscription::<AckermannDriveStamped>(&ackermann, &qos)?;
            self.commands.push(AgentCommands { agent, cmd_vel: (cmd_vel, sub_vel), ackermann: (ackermann, sub_ack) });
        }
        Ok(())
    }

    fn subscription<M: worldflow_ros2_msgs::Message + 'static>(
        &mut self,
        topic: &str,
        qos: &QosProfile,
    ) -> anyhow::Result<Subscription<M>> {
        let name = Name::parse(topic).map_err(|e| anyhow::anyhow!("topic name {topic}: {e:?}"))?;
        let t = self
            .node
            .create_topic(&name, type_name(M::TYPE_NAME), qos)
            .map_err(|e| anyhow::anyhow!("creating topic {topic}: {e:?}"))?;
        self.node
            .create_subscription::<M>(&t, Some(qos.clone()))
            .map_err(|e| anyhow::anyhow!("creating subscription {topic}: {e:?}"))
    }

    /// Every command received since the last call, checked (in arrival order per topic).
    pub fn take_commands(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for a in &self.commands {
            let (topic, sub) = &a.cmd_vel;
            loop {
                let (command, message) = match sub.take() {
                    Ok(Some((twist, _))) => (
                        convert::velocity_command(&twist).map(Command::Velocity).map_err(|e| e.to_string()),
                        as_cdr(&twist),
                    ),
                    Ok(None) => break,
                    Err(e) => (Err(format!("undecodable sample: {e:?}")), None),
                };
                out.push(Received { agent: a.agent, topic: topic.clone(), command, message });
            }
            let (topic, sub) = &a.ackermann;
            loop {
                let (command, message) = match sub.take() {
                    Ok(Some((m, _))) => (
                        convert::ackermann_command(&m.drive).map(Command::Ackermann).map_err(|e| e.to_string()),
                        as_cdr(&m),
                    ),
                    Ok(None) => break,
                    Err(e) => (Err(format!("undecodable sample: {e:?}")), None),
                };
                out.push(Received { agent: a.agent, topic: topic.clone(), command, message });
            }
        }
        out
    }

    /// Command topics (`/agentN/cmd_vel`, `/agentN/ackermann_cmd`) with a discovered writer.
    pub fn discovered_command_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .context
            .domain_participant()
            .discovered_writers()
            .iter()
            .filter_map(|w| w.publication_topic_data.topic_name().strip_prefix("rt").map(str::to_owned))
            .filter(|t| crate::control::agent_of_command_topic(t).is_some())
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// Waits (bounded by `WAIT_FOR_SUBSCRIBERS`) until every agent `0..agents` has a discovered writer on one of
    /// its command topics: a controlled bridge waits for its controllers before tick 0. Returns the agents
    /// still without one.
    pub fn wait_for_controllers(&self, agents: u32) -> Vec<u32> {
        let deadline = Instant::now() + self.wait;
        loop {
            let found: Vec<u32> = self
                .discovered_command_topics()
                .iter()
                .filter_map(|t| crate::control::agent_of_command_topic(t))
                .collect();
            let missing: Vec<u32> = (0..agents).filter(|a| !found.contains(a)).collect();
            if missing.is_empty() || Instant::now() >= deadline {
                return missing;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn create<M: worldflow_ros2_msgs::Message>(
        &mut self,
        topic: &str,
        qos: &QosProfile,
    ) -> anyhow::Result<Publisher<M>> {
        let name = Name::parse(topic).map_err(|e| anyhow::anyhow!("topic name {topic}: {e:?}"))?;
        let t = self
            .node
            .create_topic(&name, type_name(M::TYPE_NAME), qos)
            .map_err(|e| anyhow::anyhow!("creating topic {topic}: {e:?}"))?;
        let p = self
            .node
            .create_publisher::<M>(&t, Some(qos.clone()))
            .map_err(|e| anyhow::anyhow!("creating publisher {topic}: {e:?}"))?;
        self.wait_for_subscriber(topic);
        Ok(p)
    }

    /// `WAIT_FOR_SUBSCRIBERS`: wait (bounded) until some participant has a reader on the topic.
    fn wait_for_subscriber(&mut self, topic: &str) {
        if self.wait.is_zero() || self.waited_out {
            return;
        }
        let dds_name = format!("rt{topic}");
        let deadline = Instant::now() + self.wait;
        let participant = self.context.domain_participant();
        loop {
            if participant.discovered_readers().iter().any(|r| r.subscription_topic_data.topic_name() == &dds_name) {
                std::thread::sleep(MATCH_GRACE);
                return;
            }
            if Instant::now() > deadline {
                tracing::warn!("{topic}: no subscriber within {:?}; not waiting for subscribers any more", self.wait);
                self.waited_out = true;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn failed(&mut self, topic: &str, e: impl std::fmt::Debug) {
        let n = self.failures.entry(topic.to_owned()).or_insert(0);
        *n += 1;
        if *n == 1 {
            tracing::warn!("{topic}: publish failed ({e:?}); further failures on this topic are only counted");
        }
    }

    /// Publishes one message, creating its topic's publisher the first time. A failed write (a reliable
    /// reader too slow for the send window) is a warning, not the end of the run.
    pub fn publish(&mut self, msg: Outgoing) -> anyhow::Result<()> {
        let topic = msg.topic().to_owned();
        let result = match msg {
            Outgoing::Clock(m) => {
                if self.clock.is_none() {
                    let qos = self.qos.clone();
                    self.clock = Some(self.create(&topic, &qos)?);
                }
                self.clock.as_ref().map(|p| p.publish(m).map_err(|e| format!("{e:?}")))
            }
            Outgoing::Tf(m) => {
                if self.tf.is_none() {
                    let qos = self.qos.clone();
                    self.tf = Some(self.create(&topic, &qos)?);
                }
                self.tf.as_ref().map(|p| p.publish(m).map_err(|e| format!("{e:?}")))
            }
            Outgoing::TfStatic(m) => {
                if self.tf_static.is_none() {
                    let qos = Self::static_qos(&self.qos);
                    self.tf_static = Some(self.create(&topic, &qos)?);
                }
                self.tf_static.as_ref().map(|p| p.publish(m).map_err(|e| format!("{e:?}")))
            }
            Outgoing::Odometry { msg, .. } => {
                if !self.odom.contains_key(&topic) {
                    let qos = self.qos.clone();
                    let p = self.create(&topic, &qos)?;
                    self.odom.insert(topic.clone(), p);
                }
                self.odom.get(&topic).map(|p| p.publish(*msg).map_err(|e| format!("{e:?}")))
            }
            Outgoing::Image { msg, .. } => {
                if !self.images.contains_key(&topic) {
                    let qos = self.qos.clone();
                    let p = self.create(&topic, &qos)?;
                    self.images.insert(topic.clone(), p);
                }
                self.images.get(&topic).map(|p| p.publish(msg).map_err(|e| format!("{e:?}")))
            }
            Outgoing::CameraInfo { msg, .. } => {
                if !self.infos.contains_key(&topic) {
                    let qos = self.qos.clone();
                    let p = self.create(&topic, &qos)?;
                    self.infos.insert(topic.clone(), p);
                }
                self.infos.get(&topic).map(|p| p.publish(*msg).map_err(|e| format!("{e:?}")))
            }
        };
        if let Some(Err(e)) = result {
            self.failed(&topic, e);
        }
        Ok(())
    }

    /// Keeps DDS up briefly so reliable readers get the last samples; reports failed writes.
    pub fn linger(&self) {
        std::thread::sleep(LINGER);
        for (topic, n) in &self.failures {
            tracing::warn!("{topic}: {n} samples could not be published");
        }
    }
}
