#!/usr/bin/env bash
# Speed of a fleet across a real network link (docs/BENCHMARKS.md, "Fleet"). Not part of CI; needs root.
#
#   scripts/bench_fleet.sh                       # every mode: latency, agents, bytes (about 10 minutes)
#   MODES=latency ROUNDS=1 SECS=10 scripts/bench_fleet.sh
#   COUNTS=1,2,4 MODES=agents scripts/bench_fleet.sh
#
# Each mode runs a coordinator and daemons in network namespaces joined by veth links (the fake machines of
# kernels/testkit/src/netns.rs: addresses 10.213.0.x on the veths only, no default route, each process with its own
# /dev/shm and IPC namespace, so nothing is shared between machines but the link; everything is removed at the
# end). The driver is tests/examples/fleet_bench.rs; the probe node that stamps arrivals is
# tests/examples/fleet_probe.rs. Modes:
#   latency  one-way latency p50/p99 of a world delta (director/world) and a 640×360 RGB8 frame (renderer/frame)
#            to three probes seeing the same messages: same daemon, a second daemon on the same host (loopback),
#            the other namespace (veth)
#   agents   1, 2, 4, 8, 16 agents (keys on `robots`, Director + Actor + a 160×90 camera per agent on `server`):
#            server CPU per tick, ticks/s, frames/s, veth bytes per tick; counts interleaved round by round
#   bytes    bytes per tick on each machine's link for graphs/fleet/two-machines.yml, server.yml, robots.yml
#            (three machines: a star, each machine's veth into a bridge)
# Writes $OUT/results.jsonl (one line per measurement) and $OUT/<mode>/… (graphs, probe files, logs), prints tables.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-20}
AGENT_ROUNDS=${AGENT_ROUNDS:-2}
AGENT_SECS=${AGENT_SECS:-10}
COUNTS=${COUNTS:-1,2,4,8,16}
MODES=${MODES:-latency agents bytes}
OUT=${OUT:-out/bench_fleet}

[ "$(id -u)" = 0 ] || { echo "bench_fleet: network namespaces need root" >&2; exit 2; }
command -v ip >/dev/null || { echo "bench_fleet: iproute2's ip is missing" >&2; exit 2; }
cargo build --release --workspace --bins
cargo build --release -p worldflow-tests --example fleet_bench --example fleet_probe
BENCH=target/release/examples/fleet_bench
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
{ echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"; } | tee "$OUT/machine.txt"

for mode in $MODES; do
    case $mode in
    latency) "$BENCH" latency --rounds "$ROUNDS" --secs "$SECS" --out "$OUT/latency" | tee -a "$RESULTS" ;;
    agents) "$BENCH" agents --rounds "$AGENT_ROUNDS" --secs "$AGENT_SECS" --counts "$COUNTS" --out "$OUT/agents" | tee -a "$RESULTS" ;;
    bytes)
        "$BENCH" bytes --graph graphs/fleet/two-machines.yml --machines sim,render --rounds "$ROUNDS" --secs "$SECS" \
            --out "$OUT/bytes" | tee -a "$RESULTS"
        for g in server robots; do
            if [ -f "graphs/fleet/$g.yml" ]; then
                "$BENCH" bytes --graph "graphs/fleet/$g.yml" --machines server,robot0,robot1 --rounds "$ROUNDS" \
                    --secs "$SECS" --out "$OUT/bytes" | tee -a "$RESULTS"
            fi
        done
        ;;
    *) echo "unknown mode $mode (latency, agents, bytes)" >&2; exit 2 ;;
    esac
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def med(v, f="{:.2f}"):
    v = [x for x in v if x is not None]
    if not v: return "—"
    m = statistics.median(v)
    return f.format(m) if len(v) == 1 or min(v) == max(v) else f"{f.format(m)} ({f.format(min(v))}–{f.format(max(v))})"
lat = [r for r in rs if r["mode"] == "latency"]
if lat:
    print("\n| message | path | samples | p50 ms | p99 ms | p50 ÷ same daemon |\n|---|---|---|---|---|---|")
    names = {"probe_same": "same daemon (reference)", "probe_near": "2nd daemon, same host (loopback)", "probe_veth": "other namespace (veth)"}
    for inp in ["world", "frame"]:
        ref = [r for r in lat if r["input"] == inp and r["probe"] == "probe_same"]
        for p in ["probe_same", "probe_near", "probe_veth"]:
            x = [r for r in lat if r["input"] == inp and r["probe"] == p]
            ratio = [a["p50_ms"] / b["p50_ms"] for a, b in zip(x, ref) if b["p50_ms"]]
            what = "world delta" if inp == "world" else "640×360 RGB8 frame"
            print(f"| {what} | {names[p]} | {sum(r['n'] for r in x)} | {med([r['p50_ms'] for r in x])} | {med([r['p99_ms'] for r in x])} | {med(ratio)} |")
ag = [r for r in rs if r["mode"] == "agents"]
if ag:
    print("\n| agents | ticks/s | frames/s on robots | server CPU ms per tick | server CPU (cores) | robots CPU (cores) | veth KB per tick | CPU per tick ÷ 1 agent |\n|---|---|---|---|---|---|---|---|")
    one = {r["round"]: r["server_cpu_ms_per_tick"] for r in ag if r["agents"] == 1}
    for n in sorted({r["agents"] for r in ag}):
        x = [r for r in ag if r["agents"] == n]
        ratio = [r["server_cpu_ms_per_tick"] / one[r["round"]] for r in x if one.get(r["round"])]
        print(f"| {n} | {med([r['ticks_per_s'] for r in x], '{:.1f}')} | {med([r['frames_per_s'] for r in x], '{:.1f}')} | {med([r['server_cpu_ms_per_tick'] for r in x], '{:.1f}')} | {med([r['server_cpu_share'] for r in x])} | {med([r['robots_cpu_share'] for r in x])} | {med([r['link_bytes_per_tick'] / 1e3 for r in x], '{:.1f}')} | {med(ratio)} |")
by = [r for r in rs if r["mode"] == "bytes"]
if by:
    print("\n| graph | machine link | KB per tick | KB per tick less idle | idle B/s | ticks/s | ticks measured |\n|---|---|---|---|---|---|---|")
    for g in dict.fromkeys(r["graph"] for r in by):
        x = [r for r in by if r["graph"] == g]
        for m in x[0]["links"]:
            print(f"| {g} | {m} | {med([r['links'][m]['bytes_per_tick'] / 1e3 for r in x], '{:.1f}')} | {med([r['links'][m]['bytes_per_tick_less_idle'] / 1e3 for r in x], '{:.1f}')} | {med([r['links'][m]['idle_bytes_per_s'] for r in x], '{:.0f}')} | {med([r['ticks_per_s'] for r in x], '{:.1f}')} | {med([r['ticks'] for r in x], '{:.0f}')} |")
PY
