//! The child processes of `fleet local` (the coordinator and the daemons): each in its own process group, so a
//! Ctrl-C in the terminal reaches only the launcher, which stops the graph in order; each told to stop
//! (SIGINT) when the launcher dies (`PR_SET_PDEATHSIG`); stopped with SIGINT, then their group killed, within
//! bounded waits. Node processes a dead daemon left behind are reaped too ([`reap_orphans`]: the launcher is
//! their child subreaper).

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// One child: what it is (for messages) and the process.
struct Named {
    name: String,
    child: Child,
    /// Set once it was seen ended (and its status reported).
    ended: bool,
}

/// The children of `fleet local`, stopped (in reverse start order) when dropped.
#[derive(Default)]
pub struct Children {
    list: Vec<Named>,
}

impl Children {
    /// Starts `cmd` as `name` in a new process group, to be sent SIGINT if this process dies.
    pub fn spawn(&mut self, name: &str, mut cmd: Command) -> anyhow::Result<&mut Child> {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
        // SAFETY: the closure runs in the forked child before exec; it only makes the `prctl` system call
        // (async-signal-safe) and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("starting the {name} ({:?})", cmd.get_program()))?;
        self.list.push(Named { name: name.to_owned(), child, ended: false });
        let last = self.list.len() - 1;
        Ok(&mut self.list[last].child)
    }

    /// The first child that ended since the last call, as a message naming it and its exit status.
    pub fn ended(&mut self) -> Option<String> {
        for n in self.list.iter_mut().filter(|n| !n.ended) {
            if let Ok(Some(status)) = n.child.try_wait() {
                n.ended = true;
                return Some(format!("the {} exited ({status})", n.name));
            }
        }
        None
    }

    /// Stops every child: SIGINT (dora's daemons and coordinator then stop their nodes and exit), up to
    /// `grace`, then SIGKILL to the child's whole process group; waits for each (bounded).
    pub fn stop_all(&mut self, grace: Duration) {
        for n in self.list.iter_mut().rev() {
            if n.child.try_wait().ok().flatten().is_some() {
                continue;
            }
            let pid = Pid::from_raw(n.child.id() as i32);
            let _ = kill(pid, Signal::SIGINT);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline && n.child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            if n.child.try_wait().ok().flatten().is_none() {
                eprintln!("fleet: the {} did not stop within {grace:?}: killing it", n.name);
            }
            // The group may hold processes the child started even when the child itself is gone.
            let _ = killpg(pid, Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline && n.child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop_all(Duration::from_secs(10));
    }
}

/// Reads the first line a child writes to stdout, within `timeout`; later lines are passed on to stderr.
pub fn first_line(stdout: ChildStdout, what: &str, timeout: Duration) -> anyhow::Result<String> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<String>>(1);
    let label = what.to_owned();
    std::thread::Builder::new().name(format!("fleet-{what}-stdout")).spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        match lines.next() {
            Some(line) => {
                let _ = tx.send(line);
            }
            None => {
                let _ = tx.send(Err(std::io::Error::other("it closed its output")));
                return;
            }
        }
        for line in lines.map_while(Result::ok) {
            eprintln!("[{label}] {line}");
        }
    })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(line)) => Ok(line),
        Ok(Err(e)) => bail!("the {what} did not report its address: {e}"),
        Err(_) => bail!("the {what} did not report its address within {timeout:?}"),
    }
}

/// The parent pid in the text of `/proc/<pid>/stat` (`pid (comm) state ppid …`; `comm` may hold spaces and
/// parentheses).
pub fn ppid_from_stat(stat: &str) -> Option<i32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Kills (with their process groups) and reaps the processes re-parented to this one — node processes whose
/// daemon died without stopping them — other than `known` children. Returns how many there were.
pub fn reap_orphans(known: &[u32]) -> usize {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let mut orphans = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if known.contains(&(pid as u32)) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        if ppid_from_stat(&stat) == Some(me) {
            orphans.push(Pid::from_raw(pid));
        }
    }
    for &pid in &orphans {
        // Nodes lead their own process group: kill the group, and the process in case it does not lead one.
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = kill(pid, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(20)),
                _ => break,
            }
        }
    }
    orphans.len()
}

impl Children {
    /// The process ids of the children (for [`reap_orphans`]).
    pub fn pids(&self) -> Vec<u32> {
        self.list.iter().map(|n| n.child.id()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    fn parent_pids_are_read_past_odd_command_names() {
        assert_eq!(ppid_from_stat("1234 (worldflow-actor) S 77 1234 1 0"), Some(77));
        assert_eq!(ppid_from_stat("9 (a b) (c)) R 5 9 9"), Some(5));
        assert_eq!(ppid_from_stat("garbage"), None);
    }

    #[test]
    fn children_are_stopped_and_their_end_is_reported() {
        let mut c = Children::default();
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        c.spawn("test sleeper", sleep).unwrap();
        let mut quick = Command::new("true");
        quick.stdout(Stdio::null());
        c.spawn("quick one", quick).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = None;
        while seen.is_none() && Instant::now() < deadline {
            seen = c.ended();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(seen.as_deref(), Some("the quick one exited (exit status: 0)"));
        let started = Instant::now();
        c.stop_all(Duration::from_secs(5));
        assert!(started.elapsed() < Duration::from_secs(5), "sleep stops on SIGINT");
        assert!(c.list.iter_mut().all(|n| n.child.try_wait().unwrap().is_some()));
    }
}
