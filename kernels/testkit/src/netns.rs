//! Fake machines on one host for fleet tests and benchmarks: Linux network namespaces joined by veth links,
//! each process started in one with its own `/dev/shm` and IPC namespace, so neither dora's nor Zenoh's shared
//! memory can pass between the "machines" and every byte between them crosses a link whose counters can be read.
//!
//! * [`Lab::pair`]: two namespaces joined by one veth pair, `10.213.0.1/30` and `10.213.0.2/30` (the same
//!   private addresses in every lab: they exist only inside the lab's namespaces, so labs running side by side
//!   do not collide);
//! * [`Lab::star`]: `n` namespaces, each with a veth into a bridge in a further "switch" namespace,
//!   `10.213.0.1/24` … `10.213.0.n/24`: each machine's link is its own veth, so per-machine bytes can be read;
//! * [`Lab::command`]: a `Command` running inside a machine, in a private mount and IPC namespace with a fresh
//!   tmpfs on `/dev/shm` (`ip netns exec NS unshare --mount --ipc --propagation private sh -c 'mount … && exec'`);
//! * [`Lab::set_link`]: take a machine's link down / up (both ends); [`Lab::link_bytes`]: its byte counters;
//! * [`Lab::fleet`]: a `worldflow fleet coordinator` on machine 0 and `worldflow fleet daemon`s on the machines
//!   named, Zenoh on the lab's addresses only (explicit listen/connect endpoints, no multicast).
//!
//! Namespaces have loopback and the lab's link only: no default route, so nothing a test starts can reach any
//! other address. Names are `wf<pid>x<k><letter>` (the pid of the test process); dropping the [`Lab`] kills every
//! process still in its namespaces and deletes them (also while a panic unwinds); namespaces left by a process
//! that was killed are deleted by the next lab created on the host.
//!
//! Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's `ip`, `unshare` and `mount`. [`Lab::available`]
//! says whether they are there: without `CI` a missing one is a skip with a printed reason, with `CI` a failure.

use std::io::{self, BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One fake machine: its namespace, the name of its link inside it, and its address on that link.
#[derive(Debug, Clone)]
pub struct Machine {
    pub ns: String,
    pub interface: String,
    pub addr: Ipv4Addr,
}

/// Byte counters of one side of a link, as the kernel counts them (Ethernet frames, headers included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkBytes {
    pub tx: u64,
    pub rx: u64,
}

impl LinkBytes {
    /// Bytes both ways since `earlier`.
    pub fn since(&self, earlier: &LinkBytes) -> u64 {
        (self.tx - earlier.tx) + (self.rx - earlier.rx)
    }
}

/// Namespaces with links between them, removed on drop.
#[derive(Debug)]
pub struct Lab {
    machines: Vec<Machine>,
    /// Every namespace of the lab (the machines' and the switch's), in creation order.
    namespaces: Vec<String>,
}

/// The interface name of a machine's link inside its namespace.
const LINK: &str = "wf0";
/// The veth ends inside the switch namespace are `sw0`, `sw1`, …; the bridge is `br0`.
const BRIDGE: &str = "br0";
/// Size of each machine's private `/dev/shm` (dora's shared-memory pools live there).
const SHM_SIZE: &str = "512m";

static LABS: AtomicUsize = AtomicUsize::new(0);

/// Runs `ip ARGS`, an error naming the command and its stderr unless it succeeds.
fn ip(args: &[&str]) -> io::Result<Output> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().map_err(|e| {
        io::Error::new(e.kind(), format!("cannot run `ip {}`: {e} (iproute2 missing?)", args.join(" ")))
    })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

fn has_tool(tool: &str, arg: &str) -> bool {
    Command::new(tool).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Why no lab can be made here (not root, a tool missing), or `None` when one can.
pub fn unavailable() -> Option<String> {
    if !is_root() {
        return Some("network namespaces need root (the effective uid is not 0)".into());
    }
    for (tool, arg) in [("ip", "-V"), ("unshare", "--version"), ("mount", "--version")] {
        if !has_tool(tool, arg) {
            return Some(format!("`{tool}` is not installed (iproute2 / util-linux)"));
        }
    }
    None
}

/// Deletes the namespaces named `wf<pid>x…` whose process `pid` is gone (a test killed before its drop ran).
fn remove_stale() {
    let Ok(out) = ip(&["netns", "list"]) else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("wf") else { continue };
        let Some((pid, _)) = rest.split_once('x') else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            kill_all_in(name);
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// SIGKILLs every process in namespace `ns` (bounded: a few passes).
fn kill_all_in(ns: &str) {
    for _ in 0..5 {
        let Ok(out) = ip(&["netns", "pids", ns]) else { return };
        let pids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();
        if pids.is_empty() {
            return;
        }
        let _ = Command::new("kill").arg("-KILL").args(&pids).stderr(Stdio::null()).status();
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Lab {
    /// Whether a lab can be made here. `Err(reason)` after printing `SKIP: …` when not and `CI` is unset;
    /// panics (naming the reason) when not and `CI` is set.
    #[track_caller]
    pub fn available(test: &str) -> Result<(), String> {
        let Some(why) = unavailable() else { return Ok(()) };
        if std::env::var_os("CI").is_some() {
            panic!("{test}: CI is set and {why}");
        }
        println!("SKIP: {test}: {why}; without CI set this test does not run");
        Err(why)
    }

    fn new_names(count: usize) -> Vec<String> {
        let lab = LABS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        (0..count).map(|i| format!("wf{pid}x{lab}{}", (b'a' + i as u8) as char)).collect()
    }

    fn add_namespace(&mut self, ns: &str) -> io::Result<()> {
        ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_owned());
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Two machines joined by one veth pair: `10.213.0.1/30` (machine 0) and `10.213.0.2/30` (machine 1).
    pub fn pair() -> io::Result<Lab> {
        remove_stale();
        let names = Self::new_names(2);
        let mut lab = Lab { machines: Vec::new(), namespaces: Vec::new() };
        for ns in &names {
            lab.add_namespace(ns)?;
        }
        let (a, b) = (&names[0], &names[1]);
        ip(&["-n", a, "link", "add", LINK, "type", "veth", "peer", "name", LINK, "netns", b])?;
        for (i, ns) in names.iter().enumerate() {
            let addr = Ipv4Addr::new(10, 213, 0, i as u8 + 1);
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", LINK])?;
            ip(&["-n", ns, "link", "set", LINK, "up"])?;
            lab.machines.push(Machine { ns: ns.clone(), interface: LINK.into(), addr });
        }
        Ok(lab)
    }

    /// `n` machines (1..=26) on one switch: machine i has `10.213.0.(i+1)/24` on its own veth into a bridge in a
    /// further namespace.
    pub fn star(n: usize) -> io::Result<Lab> {
        assert!((1..=26).contains(&n), "a star lab has 1..=26 machines, not {n}");
        remove_stale();
        let names = Self::new_names(n + 1);
        let mut lab = Lab { machines: Vec::new(), namespaces: Vec::new() };
        let switch = &names[n];
        lab.add_namespace(switch)?;
        ip(&["-n", switch, "link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["-n", switch, "link", "set", BRIDGE, "up"])?;
        for (i, ns) in names[..n].iter().enumerate() {
            lab.add_namespace(ns)?;
            let port = format!("sw{i}");
            ip(&["-n", switch, "link", "add", &port, "type", "veth", "peer", "name", LINK, "netns", ns])?;
            ip(&["-n", switch, "link", "set", &port, "master", BRIDGE])?;
            ip(&["-n", switch, "link", "set", &port, "up"])?;
            let addr = Ipv4Addr::new(10, 213, 0, i as u8 + 1);
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", LINK])?;
            ip(&["-n", ns, "link", "set", LINK, "up"])?;
            lab.machines.push(Machine { ns: ns.clone(), interface: LINK.into(), addr });
        }
        Ok(lab)
    }

    /// Machine `i` (panics, naming the lab, when there is none).
    pub fn machine(&self, i: usize) -> &Machine {
        self.machines.get(i).unwrap_or_else(|| panic!("the lab has {} machines, not {}", self.machines.len(), i + 1))
    }

    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// A command running `program` inside machine `i`: its network namespace, a private mount and IPC namespace,
    /// and a fresh tmpfs on `/dev/shm` (so no shared memory is common to two machines). Add arguments with
    /// `.arg`/`.args` as usual; the process the `Command` starts *is* `program` (each wrapper execs the next).
    pub fn command(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let m = self.machine(i);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &m.ns, "unshare", "--mount", "--ipc", "--propagation", "private", "sh", "-c"])
            .arg(format!("mount -t tmpfs -o size={SHM_SIZE},mode=1777 wf-shm /dev/shm && exec \"$@\""))
            .arg("wf-netns-sh")
            .arg(program);
        cmd
    }

    /// Takes machine `i`'s link down (`up == false`: both ends, so neither side can send) or brings it up again.
    pub fn set_link(&self, i: usize, up: bool) -> io::Result<()> {
        let m = self.machine(i);
        let state = if up { "up" } else { "down" };
        let (peer_ns, peer_if) = self.peer(i);
        ip(&["-n", &m.ns, "link", "set", &m.interface, state])?;
        ip(&["-n", &peer_ns, "link", "set", &peer_if, state])?;
        Ok(())
    }

    /// The other end of machine `i`'s veth: the other machine of a pair, or the switch's port of a star.
    fn peer(&self, i: usize) -> (String, String) {
        if self.namespaces.len() == self.machines.len() {
            (self.machines[1 - i].ns.clone(), LINK.into())
        } else {
            (self.namespaces[0].clone(), format!("sw{i}"))
        }
    }

    /// Machine `i`'s link counters (its own end of the veth: tx is what the machine sent).
    pub fn link_bytes(&self, i: usize) -> io::Result<LinkBytes> {
        let m = self.machine(i);
        let read = |what: &str| -> io::Result<u64> {
            let file = format!("/sys/class/net/{}/statistics/{what}", m.interface);
            let out = ip(&["netns", "exec", &m.ns, "cat", &file])?;
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .map_err(|e| io::Error::other(format!("{file} in namespace {}: not a byte count: {e}", m.ns)))
        };
        Ok(LinkBytes { tx: read("tx_bytes")?, rx: read("rx_bytes")? })
    }

    /// Checks that machines 0 and 1 share no `/dev/shm` with each other or with the host: a file made in one is
    /// seen in neither of the others. An error names the namespace that saw it.
    pub fn check_private_shm(&self) -> io::Result<()> {
        let name = format!("wf-shm-probe-{}", std::process::id());
        let run = |i: usize, script: &str| -> io::Result<String> {
            let out = self.command(i, "sh").args(["-c", script]).output()?;
            if !out.status.success() {
                return Err(io::Error::other(format!(
                    "namespace {}: `{script}` failed: {}",
                    self.machine(i).ns,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        // Each `command` mounts a fresh tmpfs: a file written by one process of a machine is seen only by that
        // process (and its children), which is what keeps dora's pools apart.
        let seen = run(0, &format!("touch /dev/shm/{name} && ls /dev/shm"))?;
        if !seen.contains(&name) {
            return Err(io::Error::other(format!("namespace {}: /dev/shm is not writable", self.machine(0).ns)));
        }
        if run(1, "ls /dev/shm")?.contains(&name) {
            return Err(io::Error::other(format!(
                "namespace {} sees {}'s /dev/shm",
                self.machine(1).ns,
                self.machine(0).ns
            )));
        }
        if Path::new("/dev/shm").join(&name).exists() {
            return Err(io::Error::other(format!("the host sees namespace {}'s /dev/shm", self.machine(0).ns)));
        }
        Ok(())
    }

    /// Names of every namespace of the lab (the machines', then a star's switch).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for ns in self.namespaces.iter().rev() {
            kill_all_in(ns);
            while let Err(e) = ip(&["netns", "del", ns]) {
                if Instant::now() > deadline {
                    eprintln!("netns lab: cannot delete namespace {ns}: {e}");
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A process started in a lab machine: SIGINT, then after a grace SIGKILL, when dropped.
#[derive(Debug)]
pub struct Process {
    pub name: String,
    child: Child,
}

impl Process {
    /// Starts `cmd` (stdin closed) as `name` (for messages).
    pub fn spawn(name: &str, mut cmd: Command) -> io::Result<Process> {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting the {name}: {e}")))?;
        Ok(Process { name: name.to_owned(), child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its exit status if it ended.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `limit` for it to end; `None` if it still runs.
    pub fn wait_for(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGINT, up to `grace` to end, then SIGKILL (bounded).
    pub fn stop(&mut self, grace: Duration) {
        if self.try_wait().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-INT", &self.pid().to_string()]).stderr(Stdio::null()).status();
        if self.wait_for(grace).is_none() {
            eprintln!("netns lab: the {} did not stop within {grace:?} of SIGINT: killing it", self.name);
            let _ = self.child.kill();
            let _ = self.wait_for(Duration::from_secs(5));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// A coordinator and daemons in a lab, stopped (daemons first) when dropped.
#[derive(Debug)]
pub struct Fleet {
    /// The coordinator's `ADDR:PORT` (machine 0's address).
    pub coordinator: SocketAddr,
    /// Each daemon: its machine id, lab machine index, Zenoh endpoint and process.
    pub daemons: Vec<(String, usize, String, Process)>,
    coordinator_process: Process,
}

impl Fleet {
    /// Stops the daemons (reverse start order) then the coordinator, each given `grace` after SIGINT.
    pub fn stop(&mut self, grace: Duration) {
        for (_, _, _, d) in self.daemons.iter_mut().rev() {
            d.stop(grace);
        }
        self.coordinator_process.stop(grace);
    }

    /// The first of the coordinator and the daemons that ended, as a message naming it.
    pub fn ended(&mut self) -> Option<String> {
        if let Some(s) = self.coordinator_process.try_wait() {
            return Some(format!("the coordinator exited ({s})"));
        }
        self.daemons
            .iter_mut()
            .find_map(|(id, _, _, p)| p.try_wait().map(|s| format!("the daemon of `{id}` exited ({s})")))
    }

    /// The pid of the daemon (its supervisor process) serving `machine_id`.
    pub fn daemon_pid(&self, machine_id: &str) -> Option<u32> {
        self.daemons.iter().find(|(id, ..)| id == machine_id).map(|(.., p)| p.pid())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// The line `worldflow fleet coordinator` prints once it listens (launch/worldflow/src/fleet/serve.rs).
const LISTENING: &str = "worldflow fleet coordinator: listening on";
/// The first daemon of a machine listens for Zenoh on this port of the machine's address, the next on +1, ….
pub const ZENOH_PORT: u16 = 7447;

impl Lab {
    /// Starts `worldflow fleet coordinator` on machine 0's address and one `worldflow fleet daemon` per
    /// `(machine index, machine id)`: Zenoh listening on `tcp/<machine addr>:7447` (7448, … for further daemons
    /// of the same machine) and dialling every daemon started before it; multicast is off in `fleet daemon`. The
    /// daemons' stderr goes to `logs/daemon-<id>.log`, the coordinator's to `logs/coordinator.log`. Returns once
    /// the coordinator listens (bounded: 15 s); the daemons join in the background (`fleet start` waits for them).
    pub fn fleet(&self, worldflow: &Path, daemons: &[(usize, &str)], logs: &Path) -> io::Result<Fleet> {
        std::fs::create_dir_all(logs)?;
        let log = |name: &str| -> io::Result<Stdio> { Ok(std::fs::File::create(logs.join(name))?.into()) };
        let a = self.machine(0);
        let mut cmd = self.command(0, worldflow);
        cmd.args(["fleet", "coordinator", "--listen", &format!("{}:0", a.addr)])
            .stdout(Stdio::piped())
            .stderr(log("coordinator.log")?);
        let mut coordinator_process = Process::spawn(&format!("coordinator (namespace {})", a.ns), cmd)?;
        let stdout = coordinator_process.child().stdout.take().expect("piped above");
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new().name("netns-coordinator".into()).spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        })?;
        let line = rx.recv_timeout(Duration::from_secs(15)).map_err(|_| {
            io::Error::other(format!("the coordinator in namespace {} did not report its address within 15 s", a.ns))
        })?;
        let coordinator: SocketAddr =
            line.trim().strip_prefix(LISTENING).and_then(|t| t.trim().parse().ok()).ok_or_else(|| {
                io::Error::other(format!("the coordinator in namespace {} said `{}`", a.ns, line.trim()))
            })?;
        let mut fleet = Fleet { coordinator, daemons: Vec::new(), coordinator_process };
        for &(machine, id) in daemons {
            let m = self.machine(machine);
            let same = fleet.daemons.iter().filter(|(_, i, ..)| *i == machine).count() as u16;
            let endpoint = format!("tcp/{}:{}", m.addr, ZENOH_PORT + same);
            let mut cmd = self.command(machine, worldflow);
            cmd.args(["fleet", "daemon", "--coordinator", &coordinator.to_string(), "--machine-id", id])
                .args(["--zenoh-listen", &endpoint, "--join-timeout", "20s"])
                .stdout(Stdio::null())
                .stderr(log(&format!("daemon-{id}.log"))?);
            for (.., e, _) in &fleet.daemons {
                cmd.args(["--zenoh-connect", e]);
            }
            let p = Process::spawn(&format!("daemon of `{id}` (namespace {})", m.ns), cmd)?;
            fleet.daemons.push((id.to_owned(), machine, endpoint, p));
        }
        Ok(fleet)
    }
}

/// Namespaces named like a lab of process `pid` that exist now (for tests checking their cleanup).
pub fn namespaces_of(pid: u32) -> Vec<String> {
    let prefix = format!("wf{pid}x");
    ip(&["netns", "list"])
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|n| n.starts_with(&prefix))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_links_two_machines_with_private_shm_and_goes_away() {
        if Lab::available("netns pair").is_err() {
            return;
        }
        let lab = Lab::pair().unwrap();
        let (a, b) = (lab.machine(0).clone(), lab.machine(1).clone());
        lab.check_private_shm().unwrap();
        let ping = |from: usize, to: Ipv4Addr| {
            lab.command(from, "ping")
                .args(["-c", "1", "-W", "1", &to.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success()
        };
        let has_ping = has_tool("ping", "-V");
        let before = lab.link_bytes(0).unwrap();
        if has_ping {
            assert!(ping(0, b.addr), "{} cannot reach {} over {}", a.ns, b.addr, a.interface);
            assert!(lab.link_bytes(0).unwrap().since(&before) > 0, "the ping crossed the veth");
            lab.set_link(1, false).unwrap();
            assert!(!ping(0, b.addr), "the link is down");
            lab.set_link(1, true).unwrap();
        }
        // No default route: another address is unreachable.
        let routes = lab.command(0, "ip").args(["route"]).output().unwrap();
        let routes = String::from_utf8_lossy(&routes.stdout);
        assert!(!routes.contains("default"), "{routes}");
        let names = lab.namespaces().to_vec();
        drop(lab);
        let left = namespaces_of(std::process::id());
        assert!(names.iter().all(|n| !left.contains(n)), "left behind: {left:?}");
    }

    #[test]
    fn a_star_gives_each_machine_its_own_link() {
        if Lab::available("netns star").is_err() {
            return;
        }
        let lab = Lab::star(3).unwrap();
        assert_eq!(lab.namespaces().len(), 4);
        for (i, m) in lab.machines().iter().enumerate() {
            assert_eq!(m.addr, Ipv4Addr::new(10, 213, 0, i as u8 + 1));
            lab.link_bytes(i).unwrap();
        }
        if has_tool("ping", "-V") {
            let ok = lab.command(1, "ping").args(["-c", "1", "-W", "2", "10.213.0.3"]).output().unwrap();
            assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
        }
    }
}
