//! The long fuzzing mode: `cargo run --release -p worldflow-tests --example fuzz -- [INPUTS] [TARGET]` (default
//! 1,000,000 inputs per target, every target). Prints one line per target: inputs, accepted, panics (with the
//! first inputs), slow inputs, peak memory; exits non-zero if anything panicked or hung.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let inputs: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let only = args.next();
    let mut bad = false;
    for target in targets::all().into_iter().filter(|t| only.as_deref().is_none_or(|o| o == t.name)) {
        let start = Instant::now();
        let r =
            worldflow_testkit::fuzz::run(&target.corpus, inputs, 0x5EED, Duration::from_secs(2), &|b| (target.run)(b));
        println!(
            "{:<15} {:>9} inputs in {:>7.1} s, {:>8} accepted, {} panics, {} slow (slowest {:?}), peak RSS {} MiB",
            target.name,
            r.inputs,
            start.elapsed().as_secs_f64(),
            r.accepted,
            r.panic_count,
            r.slow.len(),
            r.slowest,
            r.peak_rss_kib / 1024
        );
        for (input, message) in &r.panics {
            println!("  panic: {message}\n  input: {:?}", String::from_utf8_lossy(input));
        }
        bad |= r.panic_count > 0 || !r.slow.is_empty();
    }
    println!(
        "dora's IPC decoder panicked on {} arrow-* inputs (caught: a dependency's, see tests/fuzz/arrow_targets.rs)",
        targets::arrow_targets::dependency_panics()
    );
    if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
