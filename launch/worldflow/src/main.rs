//! `worldflow`: run, validate and print dataflow graphs; render scenes. Thin CLI over the `worldflow` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use worldflow::{mermaid, run, validate};

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
    },
    /// Check a graph without running it; every error names file:line:column.
    Validate { graphs: Vec<PathBuf> },
    /// Print a graph as a mermaid flowchart.
    Graph { graph: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { graph, stop_after, out, verbose } => {
            run::run_graph(&graph, &run::RunOptions { stop_after, out_dir: Some(out), print_logs: verbose })
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
            Err(errors) => Err(anyhow::anyhow!(errors.join("\n"))),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
