#!/usr/bin/env bash
# Action-to-frame latency of the neural graph (graphs/worldplay.yml), with and without the memory prefill ahead
# of each chunk (docs/BENCHMARKS.md, "worldplay.yml latency"). Not part of CI.
#
#   scripts/bench_worldplay.sh                # 3 interleaved rounds, 64 ticks (16 chunks) each
#   ROUNDS=5 TICKS=16 scripts/bench_worldplay.sh
#
# "ahead" is graphs/worldplay.yml as committed (the memory-retriever's `context_hint` edge: the dit-engine
# prefills chunk k's memory while it waits for chunk k's last action); "in-chunk" is the same graph without that
# edge (the prefill runs after the last action, in the chunk's critical path). Both run the same sensors script,
# stretched to TICKS ticks. Needs the release binaries (`cargo build --release --workspace --bins`). Writes
# $OUT/<variant>-<round>/ (each a normal run's output) and prints p50/p99 latency, the dit's chunk time and how
# many prefills ran ahead.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
TICKS=${TICKS:-64}
OUT=${OUT:-out/bench_worldplay}
BIN=${BIN:-target/release/worldflow}
[ -x "$BIN" ] || { echo "bench_worldplay: $BIN missing: run cargo build --release --workspace --bins" >&2; exit 1; }
if [ $((TICKS % 16)) -ne 0 ] || [ "$TICKS" -lt 16 ]; then
    echo "bench_worldplay: TICKS=$TICKS must be a positive multiple of 16 (4 script segments of whole chunks)" >&2
    exit 1
fi

graphs=$(mktemp -d)
trap 'rm -rf "$graphs"' EXIT
seg=$((TICKS / 4))
script="w-$seg, right-$seg, w+left-$seg, d-$seg"
grep -q 'SCRIPT: "w-4, right-4, w+left-4, d-4"' graphs/worldplay.yml \
    || { echo "bench_worldplay: graphs/worldplay.yml's sensors SCRIPT changed; update this script" >&2; exit 1; }
sed -e "s/SCRIPT: \"w-4, right-4, w+left-4, d-4\"/SCRIPT: \"$script\"/" graphs/worldplay.yml >"$graphs/ahead.yml"
sed -e 's/outputs: \[context, context_hint\]/outputs: [context]/' -e '/context_hint/d' "$graphs/ahead.yml" \
    >"$graphs/in-chunk.yml"
grep -q context_hint "$graphs/ahead.yml" || { echo "bench_worldplay: no context_hint edge in worldplay.yml" >&2; exit 1; }

mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for variant in ahead in-chunk; do
        dir="$OUT/$variant-$round"
        "$BIN" run "$graphs/$variant.yml" --out "$dir" --verbose >"$dir.log" 2>&1 \
            || { echo "bench_worldplay: $variant round $round failed, see $dir.log" >&2; exit 1; }
        python3 - "$dir" "$variant" "$round" <<'EOF'
import json, re, sys
out, variant, rnd = sys.argv[1:]
r = json.load(open(f"{out}/report.json"))
log = open(f"{out}.log").read()
m = re.search(r"mean (\d+) ms per chunk; memory prefilled ahead from a hint and used (\d+)", log)
chunk_ms, ahead = (m.group(1), m.group(2)) if m else ("?", "?")
print(f"{variant:9s} round {rnd}: {r['frames']} frames, latency p50 {r['latency_ms_p50']:.0f} ms, "
      f"p99 {r['latency_ms_p99']:.0f} ms; dit mean {chunk_ms} ms per chunk, {ahead} prefill(s) ahead")
EOF
    done
done
