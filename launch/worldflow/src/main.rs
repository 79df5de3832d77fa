//! `worldflow`: run, validate and print dataflow graphs; render scenes. Thin CLI over the `worldflow` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use worldflow::{mermaid, run, validate};
use worldflow_node_kit::ErrorChain as _;

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
        stop_after: Option<std::time::Duration>,
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
    Validate { graphs: Vec<PathBuf> },
    /// Print a graph as a mermaid flowchart.
    Graph { graph: PathBuf },
    /// Render a 3DGS scene from a camera.json.
    Render(cmd_render::RenderArgs),
    /// Model utilities.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Evaluations.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
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

#[derive(Subcommand)]
enum ModelCommand {
    /// Run one DiT forward or one VAE decode on given tensors (compare with your PyTorch port).
    Check(cmd_model::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { graph, stop_after, out, verbose, settings } => {
            run::run_graph(&graph, &run::RunOptions { stop_after, out_dir: Some(out), print_logs: verbose, settings })
        }
        Command::Validate { graphs } => {
            let mut failed = false;
            for g in &graphs {
                match validate::validate_file(g) {
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
        Command::Render(args) => cmd_render::run(&args),
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
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
