//! A dora node for `scripts/bench_fleet.sh` (not a worldflow node): for every input it writes one JSON line to
//! `PROBE_OUT` — the input, its arrival (`recv_ns`, Unix ns), the one-way latency from the sender's HLC stamp
//! (`lat_us`: dora stamps each message when the sender calls send, after the payload is written) to the arrival,
//! and the payload's length in elements. Every fake machine of the benchmark shares the host clock, so the
//! difference is a one-way time. Flushed line by line (the benchmark reads the file while the graph runs).

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use dora_node_api::{DoraNode, Event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("PROBE_OUT").map_err(|_| "fleet_probe: PROBE_OUT (the output file) is not set")?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&path).map_err(|e| format!("fleet_probe: cannot create {path}: {e}"))?,
    );
    let (_node, mut events) = DoraNode::init_from_env()?;
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, metadata, data } => {
                let now = SystemTime::now();
                let sent = metadata.timestamp().get_time().to_system_time();
                let lat_us = match now.duration_since(sent) {
                    Ok(d) => d.as_secs_f64() * 1e6,
                    Err(e) => -e.duration().as_secs_f64() * 1e6,
                };
                let recv_ns = now.duration_since(UNIX_EPOCH)?.as_nanos();
                let len = data.as_array().len();
                writeln!(out, r#"{{"input":"{id}","recv_ns":{recv_ns},"lat_us":{lat_us:.1},"len":{len}}}"#)?;
                out.flush()?;
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    Ok(())
}
