//! `worldflow fleet`: one graph across several machines, on dora's coordinator and daemons embedded in this
//! binary (no separately installed dora CLI).
//!
//! * `fleet coordinator` ([`serve::coordinator`]) — the control plane, in the foreground;
//! * `fleet daemon` ([`supervise::daemon`], running [`serve::daemon`] in a child process) — one per machine,
//!   named by `--machine-id`;
//! * `fleet start` ([`session::run`]) — starts a graph whose nodes carry `deploy: {machine: ID}`, streams the
//!   nodes' logs, prints per-machine status; Ctrl-C or `--stop-after` stops it everywhere;
//! * `fleet list` / `fleet stop` ([`admin`]);
//! * `fleet local` ([`local::run`]) — the one-machine rehearsal: a coordinator and one daemon per machine id of
//!   the graph, as child processes of this binary on loopback, then `fleet start` against them.
//!
//! The launcher speaks the coordinator's WebSocket control protocol itself ([`client`]). Every wait is bounded:
//! an unreachable coordinator, a machine no daemon serves and a daemon that never joins are errors naming the
//! address or the machine.

pub mod addr;
pub mod admin;
pub mod children;
pub mod client;
pub mod local;
pub mod plan;
pub mod prepare;
pub mod serve;
pub mod session;
pub mod supervise;
