//! `fleet coordinator` and `fleet daemon`: dora's coordinator and daemon run in this process, in the
//! foreground, until Ctrl-C (both stop what they run first) or an error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use dora_core::topics::ZenohListen;
use dora_daemon::{Daemon, ZenohOptions};
use worldflow_node_kit::ErrorChain as _;

use super::client::Client;
use super::session::runtime;

/// The line `fleet coordinator` prints on stdout once it listens (`fleet local` reads the port from it).
pub const LISTENING: &str = "worldflow fleet coordinator: listening on";

/// Runs the coordinator on `listen` (port 0: any free port; the line [`LISTENING`] names the one taken).
#[cfg(feature = "coordinator")]
pub fn coordinator(listen: SocketAddr) -> anyhow::Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        // Graph state is kept in memory: a restarted coordinator starts empty.
        let store = std::sync::Arc::new(dora_coordinator::InMemoryStore::new());
        let (port, serve) = dora_coordinator::start(listen, futures_util::stream::pending(), store, ())
            .await
            .with_chain_context(|| format!("starting the coordinator on {listen}"))?;
        println!("{LISTENING} {}", SocketAddr::new(listen.ip(), port));
        let _ = std::io::Write::flush(&mut std::io::stdout());
        serve.await.chain_context("the coordinator")
    })
}

/// Why a build without the `coordinator` feature (the robot profile, docs/DEPLOY.md) cannot start one.
pub const NO_COORDINATOR: &str = "this worldflow was built without the `coordinator` feature (the robot profile): run \
     the coordinator, or rehearse with `fleet local`, on a server or laptop build (docs/DEPLOY.md)";

/// A build without the `coordinator` feature has no coordinator to run.
#[cfg(not(feature = "coordinator"))]
pub fn coordinator(listen: SocketAddr) -> anyhow::Result<()> {
    bail!("cannot run a coordinator on {listen}: {NO_COORDINATOR}")
}

/// Options of one daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub coordinator: SocketAddr,
    pub machine_id: String,
    /// The address (and port) this daemon's Zenoh session listens on for the other daemons; by default the
    /// address it reaches the coordinator from, on a free port.
    pub zenoh_listen: Option<ZenohListen>,
    /// Zenoh endpoints of other daemons to dial (`tcp/ADDR:PORT`).
    pub zenoh_connect: Vec<String>,
    /// How long to wait for the coordinator to be reachable before giving up.
    pub join_timeout: Duration,
}

impl DaemonOptions {
    /// Rejects options no daemon can run with: a machine id that is empty or has spaces, a wildcard Zenoh
    /// listen address.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.machine_id.trim().is_empty() || self.machine_id.contains(char::is_whitespace) {
            bail!(
                "--machine-id `{}`: expected a machine id without spaces (the `deploy: {{machine: ID}}` of the \
                 graph's nodes)",
                self.machine_id
            );
        }
        if let Some(listen) = self.zenoh_listen.as_ref().filter(|l| l.addr.is_unspecified()) {
            bail!(
                "--zenoh-listen {listen}: expected the address the other daemons reach this machine at, not a wildcard"
            );
        }
        Ok(())
    }
}

/// Parses a `--zenoh-listen` value: `ADDR`, `ADDR:PORT` or `tcp/ADDR:PORT`.
pub fn parse_zenoh_listen(text: &str) -> Result<ZenohListen, String> {
    let t = text.trim();
    let bare = t.strip_prefix("tcp/").unwrap_or(t);
    if bare.contains('/') {
        return Err(format!("`{text}`: expected ADDR, ADDR:PORT or tcp/ADDR:PORT (the daemons speak Zenoh over TCP)"));
    }
    bare.parse::<ZenohListen>().map_err(|e| format!("`{text}`: expected ADDR, ADDR:PORT or tcp/ADDR:PORT ({e})"))
}

/// Parses a `--zenoh-connect` value into a Zenoh endpoint: `ADDR:PORT` or `tcp/ADDR:PORT`.
pub fn parse_zenoh_connect(text: &str) -> Result<String, String> {
    let t = text.trim();
    let bare = t.strip_prefix("tcp/").unwrap_or(t);
    match bare.parse::<SocketAddr>() {
        Ok(a) => Ok(format!("tcp/{a}")),
        Err(_) => Err(format!("`{text}`: expected tcp/ADDR:PORT, e.g. tcp/192.168.1.20:7447")),
    }
}

/// Waits until the coordinator at `addr` answers (dora's daemon alone retries for many minutes).
async fn wait_for_coordinator(addr: SocketAddr, machine: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut said = false;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match Client::connect(addr, left.min(Duration::from_secs(2))).await {
            Ok(_) => return Ok(()),
            Err(e) if left.is_zero() => {
                bail!("machine `{machine}`: no coordinator answered at {addr} within {timeout:?}: {e:#}")
            }
            Err(_) => {
                if !said {
                    eprintln!("worldflow fleet daemon: machine `{machine}`: waiting for the coordinator at {addr}");
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(300).min(left)).await;
            }
        }
    }
}

/// Runs one daemon serving `machine_id`. Zenoh multicast scouting is off: daemons find each other through the
/// endpoints the coordinator hands out and the ones named here.
pub fn daemon(options: &DaemonOptions) -> anyhow::Result<()> {
    options.check()?;
    let rt = runtime()?;
    let o = options.clone();
    eprintln!("worldflow fleet daemon: machine `{}` joining the coordinator at {}", o.machine_id, o.coordinator);
    let result = rt.block_on(async move {
        wait_for_coordinator(o.coordinator, &o.machine_id, o.join_timeout).await?;
        Daemon::run_with_zenoh_listen(
            o.coordinator,
            Some(o.machine_id.clone()),
            BTreeMap::new(),
            // The local listener serves dynamic nodes only: any free port.
            0,
            ZenohOptions {
                inter_daemon_peer: None,
                listen: o.zenoh_listen,
                connect: o.zenoh_connect,
                disable_multicast: true,
            },
        )
        .await
        .with_chain_context(|| format!("daemon of machine `{}` (coordinator {})", o.machine_id, o.coordinator))
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zenoh_endpoints_parse_with_or_without_the_tcp_prefix() {
        let l = parse_zenoh_listen("tcp/127.0.0.1:7447").unwrap();
        assert_eq!((l.addr.to_string(), l.port), ("127.0.0.1".to_owned(), Some(7447)));
        assert_eq!(parse_zenoh_listen("10.0.0.3").unwrap().port, None);
        assert!(parse_zenoh_listen("udp/1.2.3.4:5").unwrap_err().contains("expected ADDR"));
        assert_eq!(parse_zenoh_connect("127.0.0.1:9").unwrap(), "tcp/127.0.0.1:9");
        assert_eq!(parse_zenoh_connect("tcp/[::1]:9").unwrap(), "tcp/[::1]:9");
        assert!(parse_zenoh_connect("tcp/host").unwrap_err().contains("expected tcp/ADDR:PORT"));
    }
}
