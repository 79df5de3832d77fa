//! Fuzzing in the build: every parser of user input (tests/fuzz/targets.rs) gets a bounded number of mutated
//! inputs (`FUZZ_INPUTS`, default 20,000 per target) from its seed corpus; none may panic, none may take more than
//! 2 s. The long mode (10⁶ inputs per target, figures for docs/RELIABILITY.md):
//! `cargo run --release -p worldflow-tests --example fuzz -- 1000000`.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::time::Duration;

#[test]
fn no_parser_panics_or_hangs_on_mutated_input() {
    let inputs: u64 = std::env::var("FUZZ_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let mut failures = Vec::new();
    for target in targets::all() {
        let report =
            worldflow_testkit::fuzz::run(&target.corpus, inputs, 0x5EED, Duration::from_secs(2), &|b| (target.run)(b));
        eprintln!(
            "fuzz {:<15} {:>8} inputs, {:>6} accepted, {} panics, slowest {:?}, peak RSS {} MiB",
            target.name,
            report.inputs,
            report.accepted,
            report.panic_count,
            report.slowest,
            report.peak_rss_kib / 1024
        );
        for (input, message) in &report.panics {
            failures.push(format!("{}: panic {message}\n  input: {:?}", target.name, String::from_utf8_lossy(input)));
        }
        for (len, took) in &report.slow {
            failures.push(format!("{}: an input of {len} bytes took {took:?}", target.name));
        }
        assert!(report.accepted > 0, "{}: not even the corpus is accepted: the target tests nothing", target.name);
    }
    eprintln!(
        "fuzz: dora's IPC decoder panicked on {} arrow-* inputs (caught; a dependency's, see tests/fuzz/arrow_targets.rs)",
        targets::arrow_targets::dependency_panics()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
