//! `fleet daemon` as two processes, so that no node outlives its daemon.
//!
//! A coordinator-started node does not end when its daemon dies (dora keeps nodes alive across a daemon
//! restart; a killed daemon leaves them running with parent 1). So `fleet daemon` runs dora's daemon in a child
//! process (`fleet daemon --in-process …`) and stays its parent as the *child subreaper* of the node processes:
//!
//! * the daemon process dies (even SIGKILL) → its nodes are re-parented to this supervisor, which kills their
//!   process groups, reaps them, and exits with an error naming the machine;
//! * the supervisor is killed → the kernel sends the daemon SIGINT (`PR_SET_PDEATHSIG`), and the daemon stops
//!   its nodes and exits;
//! * Ctrl-C / SIGTERM to the supervisor → forwarded as SIGINT to the daemon, which runs in its own process
//!   group (a terminal Ctrl-C reaches it once): the first stops its nodes, a second makes it exit at once and
//!   the supervisor kills what is left.

use std::time::Duration;

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};

use super::children::reap_orphans;
use super::serve::DaemonOptions;
use super::session::runtime;

/// The arguments of the in-process daemon child for `options`.
pub fn child_args(options: &DaemonOptions) -> Vec<String> {
    let mut args = vec![
        "fleet".to_owned(),
        "daemon".to_owned(),
        "--in-process".to_owned(),
        "--coordinator".to_owned(),
        options.coordinator.to_string(),
        "--machine-id".to_owned(),
        options.machine_id.clone(),
        "--join-timeout".to_owned(),
        format!("{}ms", options.join_timeout.as_millis().max(1)),
    ];
    if let Some(listen) = &options.zenoh_listen {
        args.extend(["--zenoh-listen".to_owned(), listen.to_string()]);
    }
    for c in &options.zenoh_connect {
        args.extend(["--zenoh-connect".to_owned(), c.clone()]);
    }
    args
}

/// Runs `fleet daemon` for `options` as described in the module documentation.
pub fn daemon(options: &DaemonOptions) -> anyhow::Result<()> {
    options.check()?;
    let machine = &options.machine_id;
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!(
            "worldflow fleet daemon: machine `{machine}`: warning: cannot become the subreaper of the node \
             processes ({e}): nodes may outlive a killed daemon"
        );
    }
    let exe = std::env::current_exe().context("locating the worldflow binary to start the daemon")?;
    let rt = runtime()?;
    let status = rt.block_on(async {
        let mut sigint = signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?;
        let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(child_args(options)).process_group(0);
        // SAFETY: the closure runs in the forked child before exec; it only makes the `prctl` system call
        // (async-signal-safe) and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let mut child = cmd.spawn().with_context(|| format!("starting the daemon process of machine `{machine}`"))?;
        let pid = child.id().map(|p| Pid::from_raw(p as i32));
        let forward = || {
            if let Some(pid) = pid {
                let _ = kill(pid, Signal::SIGINT);
            }
        };
        loop {
            tokio::select! {
                status = child.wait() => {
                    return status.with_context(|| format!("waiting for the daemon process of machine `{machine}`"));
                }
                _ = sigint.recv() => forward(),
                _ = sigterm.recv() => forward(),
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    let status = status?;
    let orphans = reap_orphans(&[]);
    if orphans > 0 {
        eprintln!(
            "worldflow fleet daemon: machine `{machine}`: stopped {orphans} node process(es) the daemon left behind"
        );
    }
    if !status.success() {
        bail!("the daemon of machine `{machine}` ended ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_gets_every_option_back() {
        let options = DaemonOptions {
            coordinator: "10.0.0.1:6013".parse().unwrap(),
            machine_id: "sim".into(),
            zenoh_listen: Some(super::super::serve::parse_zenoh_listen("10.0.0.2:7447").unwrap()),
            zenoh_connect: vec!["tcp/10.0.0.3:7447".into()],
            join_timeout: Duration::from_millis(1500),
        };
        assert_eq!(
            child_args(&options).join(" "),
            "fleet daemon --in-process --coordinator 10.0.0.1:6013 --machine-id sim --join-timeout 1500ms \
             --zenoh-listen 10.0.0.2:7447 --zenoh-connect tcp/10.0.0.3:7447"
        );
    }
}
