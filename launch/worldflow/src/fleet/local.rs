//! `fleet local`: the one-machine rehearsal of a fleet graph. Starts a coordinator and one daemon per machine
//! id of the graph as child processes of this binary (`worldflow fleet coordinator|daemon`), on loopback, with
//! explicit Zenoh endpoints (`tcp/127.0.0.1:PORT`, each daemon dialling the ones started before it; no
//! multicast), then runs the graph on them as `fleet start` does and stops every child at the end.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use super::addr::free_loopback_ports;
use super::children::{first_line, reap_orphans, Children};
use super::prepare::prepare;
use super::serve::LISTENING;
use super::session::{run_prepared, FleetOptions};

/// How long the coordinator child may take to report its port.
const COORDINATOR_START: Duration = Duration::from_secs(15);
/// How long each child gets to stop on SIGINT before its process group is killed.
const CHILD_GRACE: Duration = Duration::from_secs(10);

/// The coordinator's address in its [`LISTENING`] line.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.strip_prefix(LISTENING)?.trim().parse().ok()
}

/// Runs `graph` on a loopback fleet of child processes. `options.join_timeout` bounds the wait for the daemons
/// to register.
pub fn run(graph: &Path, options: &FleetOptions) -> anyhow::Result<()> {
    if !cfg!(feature = "coordinator") {
        anyhow::bail!("fleet local starts a coordinator: {}", super::serve::NO_COORDINATOR);
    }
    let prepared = prepare(graph, options.out_dir.as_deref())?;
    // Node processes of a daemon that dies are re-parented here instead of to init, so they can be reaped.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("fleet local: warning: cannot become the subreaper of the node processes ({e}): a daemon that dies may leave nodes running");
    }
    let exe = std::env::current_exe().context("locating the worldflow binary to start the coordinator and daemons")?;
    let mut children = Children::default();

    let mut cmd = Command::new(&exe);
    cmd.args(["fleet", "coordinator", "--listen", "127.0.0.1:0"]).stdin(Stdio::null()).stdout(Stdio::piped());
    let child = children.spawn("coordinator", cmd)?;
    let stdout = child.stdout.take().context("the coordinator's output was not captured")?;
    let line = first_line(stdout, "coordinator", COORDINATOR_START)?;
    let coordinator = match parse_listening(&line) {
        Some(a) => a,
        None => bail!("the coordinator reported `{line}` (expected `{LISTENING} ADDR:PORT`)"),
    };

    let mut endpoints: Vec<String> = Vec::new();
    let machines = prepared.placement.machine_ids();
    let ports =
        free_loopback_ports(machines.len()).context("finding free loopback ports for the daemons' Zenoh listeners")?;
    for (machine, port) in machines.iter().zip(ports) {
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut cmd = Command::new(&exe);
        cmd.args(["fleet", "daemon", "--coordinator", &coordinator.to_string(), "--machine-id", machine])
            .args(["--zenoh-listen", &format!("tcp/{listen}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        for e in &endpoints {
            cmd.args(["--zenoh-connect", e]);
        }
        children.spawn(&format!("daemon of machine `{machine}`"), cmd)?;
        endpoints.push(format!("tcp/{listen}"));
    }
    eprintln!(
        "fleet local: coordinator {coordinator}; daemons {} (Zenoh {})",
        prepared.placement.machine_ids().join(", "),
        endpoints.join(", ")
    );

    let mut watch = || children.ended();
    let result = run_prepared(&prepared, coordinator, options, Some(&mut watch));
    children.stop_all(CHILD_GRACE);
    let orphans = reap_orphans(&children.pids());
    if orphans > 0 {
        eprintln!("fleet local: killed {orphans} node process(es) a daemon left behind");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinator_line_gives_its_address() {
        assert_eq!(parse_listening(&format!("{LISTENING} 127.0.0.1:40001")), Some("127.0.0.1:40001".parse().unwrap()));
        assert_eq!(parse_listening("something else"), None);
        assert_eq!(parse_listening(&format!("{LISTENING} nowhere")), None);
    }
}
