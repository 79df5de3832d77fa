//! The Zenoh side: the session (peer, explicit endpoints, no multicast scouting unless asked), one publisher
//! per key, a liveliness token per present agent, the action subscriber and the shared-memory provider.
//!
//! QoS: every publication is reliable with congestion control **drop** (a slow consumer loses samples, it never
//! stalls the simulation); frames and the world are `data` priority, poses `data_high` and express (not
//! batched). Actions arrive through a ring of [`ACTION_RING`] samples: when the bridge is behind, the oldest
//! are dropped (only the latest command of an agent matters).

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Context as _};
use zenoh::bytes::{Encoding, ZBytes};
use zenoh::handlers::{RingChannel, RingChannelHandler};
use zenoh::liveliness::LivelinessToken;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::qos::{CongestionControl, Priority};
use zenoh::sample::Sample;
use zenoh::shm::{GarbageCollect, PosixShmProviderBackend, ShmProvider, ShmProviderBuilder};
use zenoh::{Session, Wait};

use crate::keys::KeySpace;

/// Action samples buffered before the oldest are dropped.
pub const ACTION_RING: usize = 64;
/// The smallest shared-memory pool, bytes; the pool is at least [`SHM_POOL_FRAMES`] of the first frame.
pub const SHM_POOL_MIN_BYTES: usize = 32 << 20;
pub const SHM_POOL_FRAMES: usize = 8;

/// How the session connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Endpoints to listen on, e.g. `tcp/127.0.0.1:7447`.
    pub listen: Vec<String>,
    /// Endpoints to connect to.
    pub connect: Vec<String>,
    /// Multicast scouting and gossip (off: peers find the bridge only through the endpoints).
    pub scouting: bool,
    /// Shared-memory transport and frames in shared-memory buffers.
    pub shm: bool,
}

/// The configuration entries (`key`, JSON5 value) the session is opened with, over zenoh's defaults.
pub fn config_entries(n: &Network) -> Vec<(&'static str, String)> {
    let list = |v: &[String]| serde_json::to_string(v).expect("strings");
    vec![
        ("mode", "\"peer\"".to_owned()),
        ("listen/endpoints", list(&n.listen)),
        ("connect/endpoints", list(&n.connect)),
        ("scouting/multicast/enabled", n.scouting.to_string()),
        ("scouting/gossip/enabled", n.scouting.to_string()),
        ("transport/shared_memory/enabled", n.shm.to_string()),
    ]
}

/// Where frames are written.
enum Shm {
    Off,
    /// Created at the first frame (its size sets the pool's).
    Pending,
    Ready(ShmProvider<PosixShmProviderBackend>),
    /// The provider could not be created (said once); frames go as plain bytes.
    Failed,
}

/// How a frame went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Shm,
    Bytes,
}

/// The open session and what the bridge declared on it.
pub struct Zenoh {
    session: Session,
    keys: KeySpace,
    publishers: HashMap<String, Publisher<'static>>,
    tokens: BTreeMap<u32, LivelinessToken>,
    actions: Subscriber<RingChannelHandler<Sample>>,
    shm: Shm,
}

impl Zenoh {
    /// Opens the session and subscribes to the actions of every agent.
    pub fn open(n: &Network, keys: KeySpace) -> anyhow::Result<Self> {
        let mut config = zenoh::Config::default();
        for (key, value) in config_entries(n) {
            config.insert_json5(key, &value).map_err(|e| anyhow!("zenoh configuration {key}={value}: {e}"))?;
        }
        let session = zenoh::open(config)
            .wait()
            .map_err(|e| anyhow!("opening the zenoh session (LISTEN={:?}, CONNECT={:?}): {e}", n.listen, n.connect))?;
        let actions = session
            .declare_subscriber(keys.actions())
            .with(RingChannel::new(ACTION_RING))
            .wait()
            .map_err(|e| anyhow!("subscribing to {}: {e}", keys.actions()))?;
        let shm = if n.shm { Shm::Pending } else { Shm::Off };
        Ok(Self { session, keys, publishers: HashMap::new(), tokens: BTreeMap::new(), actions, shm })
    }

    pub fn keys(&self) -> &KeySpace {
        &self.keys
    }

    /// The next action sample received, if any: (key, payload bytes).
    pub fn try_action(&self) -> Option<(String, Vec<u8>)> {
        match self.actions.try_recv() {
            Ok(Some(s)) => Some((s.key_expr().as_str().to_owned(), s.payload().to_bytes().into_owned())),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("zenoh action subscriber: {e}");
                None
            }
        }
    }

    fn publisher(&mut self, key: &str, priority: Priority, express: bool) -> anyhow::Result<&Publisher<'static>> {
        if !self.publishers.contains_key(key) {
            let p = self
                .session
                .declare_publisher(key.to_owned())
                .congestion_control(CongestionControl::Drop)
                .priority(priority)
                .express(express)
                .wait()
                .map_err(|e| anyhow!("declaring the zenoh publisher {key}: {e}"))?;
            self.publishers.insert(key.to_owned(), p);
        }
        Ok(&self.publishers[key])
    }

    /// Publishes a JSON document on `key`.
    pub fn put_json(&mut self, key: &str, json: String, priority: Priority, express: bool) -> anyhow::Result<()> {
        self.publisher(key, priority, express)?
            .put(json)
            .encoding(Encoding::APPLICATION_JSON)
            .wait()
            .map_err(|e| anyhow!("publishing on {key}: {e}"))
    }

    /// Publishes a frame's pixels on `key` with its JSON header as the attachment; in a shared-memory buffer
    /// when `SHM` is on and the pool has room, else as plain bytes.
    pub fn put_frame(&mut self, key: &str, pixels: &[u8], header: String) -> anyhow::Result<Sent> {
        let (payload, sent) = match self.shm_buffer(pixels) {
            Some(buf) => (buf, Sent::Shm),
            None => (ZBytes::from(pixels), Sent::Bytes),
        };
        self.publisher(key, Priority::Data, false)?
            .put(payload)
            .encoding(Encoding::APPLICATION_OCTET_STREAM)
            .attachment(header)
            .wait()
            .map_err(|e| anyhow!("publishing on {key}: {e}"))?;
        Ok(sent)
    }

    /// `pixels` copied into a shared-memory buffer, or `None` (SHM off, no provider, pool full).
    fn shm_buffer(&mut self, pixels: &[u8]) -> Option<ZBytes> {
        if matches!(self.shm, Shm::Pending) {
            let size = SHM_POOL_MIN_BYTES.max(SHM_POOL_FRAMES * pixels.len());
            self.shm = match ShmProviderBuilder::default_backend(size).wait() {
                Ok(p) => {
                    tracing::info!("zenoh shared memory: a {} MiB POSIX pool for frames", size >> 20);
                    Shm::Ready(p)
                }
                Err(e) => {
                    tracing::warn!(
                        "SHM=true but no zenoh shared-memory pool of {size} bytes ({e}); frames go as plain bytes"
                    );
                    Shm::Failed
                }
            };
        }
        let Shm::Ready(provider) = &self.shm else { return None };
        // Non-blocking: reclaim buffers consumers released, else send this frame as plain bytes.
        let mut buf = provider.alloc(pixels.len()).with_policy::<GarbageCollect>().wait().ok()?;
        let dst: &mut [u8] = buf.as_mut();
        if dst.len() != pixels.len() {
            return None;
        }
        dst.copy_from_slice(pixels);
        Some(buf.into())
    }

    /// Declares `agent`'s liveliness token.
    pub fn declare_token(&mut self, agent: u32) -> anyhow::Result<()> {
        let key = self.keys.token(agent);
        let token = self
            .session
            .liveliness()
            .declare_token(key.clone())
            .wait()
            .map_err(|e| anyhow!("declaring the liveliness token {key}: {e}"))?;
        self.tokens.insert(agent, token);
        Ok(())
    }

    /// Undeclares `agent`'s liveliness token (consumers see a DELETE).
    pub fn undeclare_token(&mut self, agent: u32) -> anyhow::Result<()> {
        if let Some(token) = self.tokens.remove(&agent) {
            token.undeclare().wait().map_err(|e| anyhow!("undeclaring {}: {e}", self.keys.token(agent)))?;
        }
        Ok(())
    }

    /// Undeclares every token and closes the session.
    pub fn close(mut self) -> anyhow::Result<()> {
        let agents: Vec<u32> = self.tokens.keys().copied().collect();
        for agent in agents {
            self.undeclare_token(agent)?;
        }
        self.session.close().wait().map_err(|e| anyhow!("{e}")).context("closing the zenoh session")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_a_peer_on_explicit_endpoints_without_scouting() {
        let n = Network { listen: vec!["tcp/127.0.0.1:7447".into()], connect: vec![], scouting: false, shm: true };
        let entries = config_entries(&n);
        let get = |k: &str| entries.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("mode"), Some("\"peer\""));
        assert_eq!(get("listen/endpoints"), Some(r#"["tcp/127.0.0.1:7447"]"#));
        assert_eq!(get("connect/endpoints"), Some("[]"));
        assert_eq!(get("scouting/multicast/enabled"), Some("false"));
        assert_eq!(get("scouting/gossip/enabled"), Some("false"));
        assert_eq!(get("transport/shared_memory/enabled"), Some("true"));
        let mut c = zenoh::Config::default();
        for (k, v) in &entries {
            c.insert_json5(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
        }
    }
}
