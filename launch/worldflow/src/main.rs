//! `worldflow`: run, validate and print dataflow graphs; render scenes. Thin CLI over the `worldflow` library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use worldflow::fleet::{self, addr::parse_addr, serve, session::FleetOptions};
use worldflow::{mermaid, run, validate};
use worldflow_node_kit::ErrorChain as _;

#[cfg(feature = "neural")]
mod cmd_model;
mod cmd_render;

#[derive(Parser)]
#[command(name = "worldflow", version, about = "Serve interactive world models as dataflow graphs on dora-rs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a graph on the embedded dora runtime.
    Run {
        graph: PathBuf,
        /// Stop after this long (e.g. 10s, 500ms, 2m); default: until the nodes finish or Ctrl-C.
        #[arg(long, value_parser = run::parse_duration)]
        stop_after: Option<Duration>,
        /// Output directory for recorders (exported to nodes as WORLDFLOW_OUT_DIR).
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Print every log line of every node.
        #[arg(long)]
        verbose: bool,
        /// Override a node setting: `--set sensors.SOURCE=keyboard`, or re-pace a timer input:
        /// `--set sensors.tick=dora/timer/millis/40` (repeatable).
        #[arg(long = "set", value_name = "NODE.SETTING=VALUE")]
        settings: Vec<String>,
    },
    /// Check a graph without running it; every error names file:line:column.
    Validate {
        #[arg(required = true)]
        graphs: Vec<PathBuf>,
        /// The machine ids of the fleet (comma-separated): a `deploy: {machine: …}` naming another is an error.
        #[arg(long, value_delimiter = ',', value_name = "ID,ID…")]
        machines: Option<Vec<String>>,
    },
    /// Run one graph across machines: dora's coordinator and daemons, embedded in this binary.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Print a graph as a mermaid flowchart.
    Graph { graph: PathBuf },
    /// Render a 3DGS scene from a camera.json.
    Render(cmd_render::RenderArgs),
    /// Model utilities (builds with the `neural` feature, the default).
    #[cfg(feature = "neural")]
    #[command(subcommand)]
    Model(ModelCommand),
    /// Evaluations.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// How a fleet run is watched and where it writes (shared by `fleet start` and `fleet local`).
#[derive(clap::Args)]
struct FleetRunArgs {
    /// Stop the graph on every machine after this long (e.g. 10s, 500ms, 2m); default: until it ends or Ctrl-C.
    #[arg(long, value_parser = run::parse_duration)]
    stop_after: Option<Duration>,
    /// Output directory for recorders (exported to the nodes as WORLDFLOW_OUT_DIR, the same absolute path on
    /// every machine).
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Print every log line of every node (warnings and errors are always printed).
    #[arg(long)]
    verbose: bool,
}

impl FleetRunArgs {
    fn options(self, join_timeout: Duration, name: Option<String>) -> FleetOptions {
        FleetOptions {
            stop_after: self.stop_after,
            out_dir: Some(self.out),
            print_logs: self.verbose,
            join_timeout,
            name,
        }
    }
}

#[derive(Subcommand)]
enum FleetCommand {
    /// The control plane, in the foreground (Ctrl-C stops it and what it runs).
    Coordinator {
        /// Address and port to listen on (port 0: any free port, printed on stdout). The default serves this
        /// host only; other machines need an address of a private interface (there is no authentication).
        #[arg(long, default_value = "127.0.0.1:6013", value_parser = parse_addr, value_name = "ADDR:PORT")]
        listen: SocketAddr,
    },
    /// One machine of the fleet: runs the nodes placed on `--machine-id`, in the foreground.
    Daemon {
        /// The coordinator's address.
        #[arg(long, value_parser = parse_addr, value_name = "ADDR:PORT")]
        coordinator: SocketAddr,
        /// This machine's id: the `deploy: {machine: ID}` of the nodes it runs.
        #[arg(long, value_name = "ID")]
        machine_id: String,
        /// Where this daemon's Zenoh session listens for the other daemons (ADDR, ADDR:PORT or tcp/ADDR:PORT;
        /// default: the address it reaches the coordinator from, on a free port).
        #[arg(long, value_parser = serve::parse_zenoh_listen, value_name = "ENDPOINT")]
        zenoh_listen: Option<dora_core::topics::ZenohListen>,
        /// Another daemon's Zenoh endpoint to dial (tcp/ADDR:PORT; repeatable).
        #[arg(long, value_parser = serve::parse_zenoh_connect, value_name = "ENDPOINT")]
        zenoh_connect: Vec<String>,
        /// How long to wait for the coordinator to answer before giving up.
        #[arg(long, value_parser = run::parse_duration, default_value = "60s")]
        join_timeout: Duration,
        /// Run dora's daemon in this process, without the supervisor that stops the nodes of a killed daemon.
        #[arg(long, hide = true)]
        in_process: bool,
    },
    /// Start a graph whose nodes carry `deploy: {machine: ID}`, attach to it, stop it everywhere on Ctrl-C.
    Start {
        graph: PathBuf,
        /// The coordinator's address.
        #[arg(long, value_parser = parse_addr, value_name = "ADDR:PORT")]
        coordinator: SocketAddr,
        #[command(flatten)]
        run: FleetRunArgs,
        /// How long to wait for a daemon on every machine of the graph.
        #[arg(long, value_parser = run::parse_duration, default_value = "10s")]
        join_timeout: Duration,
        /// The graph's name at the coordinator (for `fleet list` and `fleet stop NAME`).
        #[arg(long)]
        name: Option<String>,
    },
    /// The machines connected to a coordinator and the graphs it knows.
    List {
        #[arg(long, value_parser = parse_addr, value_name = "ADDR:PORT")]
        coordinator: SocketAddr,
    },
    /// Stop a running graph on every machine (by uuid or name; none: the only running one).
    Stop {
        graph: Option<String>,
        #[arg(long, value_parser = parse_addr, value_name = "ADDR:PORT")]
        coordinator: SocketAddr,
        /// Kill the nodes without a grace period.
        #[arg(long)]
        force: bool,
    },
    /// Rehearse a fleet graph on this machine: a coordinator and one daemon per machine id, on loopback.
    Local {
        graph: PathBuf,
        #[command(flatten)]
        run: FleetRunArgs,
        /// How long to wait for every daemon to join.
        #[arg(long, value_parser = run::parse_duration, default_value = "30s")]
        join_timeout: Duration,
    },
}

fn fleet_command(command: FleetCommand) -> anyhow::Result<()> {
    match command {
        FleetCommand::Coordinator { listen } => serve::coordinator(listen),
        FleetCommand::Daemon { coordinator, machine_id, zenoh_listen, zenoh_connect, join_timeout, in_process } => {
            let options = serve::DaemonOptions { coordinator, machine_id, zenoh_listen, zenoh_connect, join_timeout };
            if in_process {
                serve::daemon(&options)
            } else {
                fleet::supervise::daemon(&options)
            }
        }
        FleetCommand::Start { graph, coordinator, run, join_timeout, name } => {
            fleet::session::run(&graph, coordinator, &run.options(join_timeout, name))
        }
        FleetCommand::List { coordinator } => fleet::admin::list(coordinator),
        FleetCommand::Stop { graph, coordinator, force } => fleet::admin::stop(coordinator, graph.as_deref(), force),
        FleetCommand::Local { graph, run, join_timeout } => fleet::local::run(&graph, &run.options(join_timeout, None)),
    }
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The main job's stages in one process: Director, Actor, rendering 1 and 4 rig cameras.
    World {
        #[arg(long, default_value_t = 60)]
        ticks: usize,
        #[arg(long, default_value_t = 640)]
        width: u32,
        #[arg(long, default_value_t = 360)]
        height: u32,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Drive out and back along the same path; PSNR/SSIM of return frames vs outbound frames at the same poses.
    Revisit {
        /// Scenario file (default: the built-in town).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Length of the outward drive, metres.
        #[arg(long, default_value_t = 30.0)]
        distance_m: f32,
        #[arg(long, default_value_t = 1.0)]
        step_m: f32,
        #[arg(long, default_value_t = 320)]
        width: u32,
        #[arg(long, default_value_t = 180)]
        height: u32,
        /// Also write the report here (JSON).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[cfg(feature = "neural")]
#[derive(Subcommand)]
enum ModelCommand {
    /// Run one DiT forward or one VAE decode on given tensors (compare with your PyTorch port).
    Check(cmd_model::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { graph, stop_after, out, verbose, settings } => run::run_graph(
            &graph,
            &run::RunOptions { stop_after, out_dir: Some(out), print_logs: verbose, settings, owns_process: true },
        ),
        Command::Validate { graphs, machines } => {
            let mut failed = false;
            let options = validate::ValidateOptions { machines };
            for g in &graphs {
                match validate::validate_file_with(g, &options) {
                    Ok(graph) => println!("{}: ok ({} nodes)", g.display(), graph.nodes.len()),
                    Err(errors) => {
                        failed = true;
                        for e in errors {
                            eprintln!("{e}");
                        }
                    }
                }
            }
            if failed {
                Err(anyhow::anyhow!("validation failed"))
            } else {
                Ok(())
            }
        }
        Command::Graph { graph } => match validate::validate_file(&graph) {
            Ok(g) => {
                print!("{}", mermaid::to_mermaid(&g));
                Ok(())
            }
            Err(errors) => Err(errors.into()),
        },
        Command::Fleet(command) => fleet_command(command),
        Command::Render(args) => cmd_render::run(&args),
        #[cfg(feature = "neural")]
        Command::Model(ModelCommand::Check(args)) => cmd_model::run(&args),
        Command::Bench(BenchCommand::World { ticks, width, height }) => (|| {
            let report = worldflow::bench::world(&worldflow_world::Scenario::default(), ticks.max(1), width, height)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        })(),
        Command::Eval(EvalCommand::Revisit { scenario, distance_m, step_m, width, height, out }) => (|| {
            let scenario = match scenario {
                Some(p) => worldflow_world::Scenario::from_file(&p).chain_context("--scenario")?,
                None => worldflow_world::Scenario::default(),
            };
            let report = worldflow::eval::revisit(&worldflow::eval::RevisitOptions {
                scenario,
                straight_m: distance_m,
                step_m,
                dt_secs: 0.1,
                width,
                height,
            })?;
            let json = serde_json::to_string_pretty(&report)?;
            println!("{json}");
            if let Some(out) = out {
                std::fs::write(&out, json)?;
            }
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<worldflow::run_stop::Interrupted>() => {
            eprintln!("{e}");
            ExitCode::from(worldflow::run_stop::INTERRUPTED_EXIT_STATUS)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
