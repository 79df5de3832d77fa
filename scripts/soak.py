#!/usr/bin/env python3
"""Soak benchmark: run a graph for a long time and sample every node's resident memory.

    python3 scripts/soak.py graphs/drive.yml --minutes 30 [--every 10] [--out out/soak-drive] [--set k=v ...]
    python3 scripts/soak.py graphs/fleet/robots.yml --fleet --minutes 1 --every 1   # a fleet graph, one machine

Runs `worldflow run GRAPH` with the sensors' script looping (`--set sensors.LOOP=true`, unless the graph has no
`sensors` node) and `--stop-after` the duration, samples VmRSS of every process of the run (the launcher and the
nodes, found by their WORLDFLOW_OUT_DIR) every `--every` seconds into OUT/soak_rss.csv, and prints per process:
first and last RSS, peak, and the least-squares slope over the second half of the run (MiB per hour; the first
half is warm-up: caches and pools fill). A flat memory profile has a slope near 0. Exits non-zero if the run
failed. Needs the release build (`cargo build --release --workspace --bins`; `--binary` names another launcher).

`--fleet` runs a fleet graph with `worldflow fleet local` (a coordinator and a daemon per machine id, on loopback)
instead; it has no `--set`, so the sensors loop through a copy of the graph beside it (`.NAME.soak.yml`, removed
afterwards) whose `drive` sensors carry `LOOP: true`. Processes are named by their binary (two robots' renderers: two
`worldflow-splat-renderer` lines).
"""

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_processes(launcher_pid: int, out: Path) -> dict:
    """pid -> name of the launcher and every process whose environment names the run's output folder."""
    want = f"WORLDFLOW_OUT_DIR={out}".encode()
    found = {launcher_pid: "worldflow"}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            if want in environ.split(b"\0"):
                found[int(entry)] = Path(os.readlink(f"/proc/{entry}/exe")).name.removesuffix(" (deleted)")
        except OSError:
            continue
    return found


def rss_kib(pid: int):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def slope_per_hour(samples):
    """Least-squares slope of (seconds, KiB) in MiB per hour."""
    if len(samples) < 3:
        return float("nan")
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    den = sum((t - mt) ** 2 for t, _ in samples)
    if den == 0:
        return float("nan")
    return sum((t - mt) * (v - mv) for t, v in samples) / den * 3600 / 1024


def looping_copy(graph: Path) -> Path:
    """A copy of `graph` beside it (relative paths still resolve) whose `SOURCE: drive` sensors loop."""
    lines = []
    for line in graph.read_text().splitlines():
        lines.append(line)
        stripped = line.lstrip()
        if stripped.startswith("SOURCE: drive"):
            lines.append(line[: len(line) - len(stripped)] + 'LOOP: "true"')
    copy = graph.with_name(f".{graph.stem}.soak.yml")
    copy.write_text("\n".join(lines) + "\n")
    return copy


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("graph")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--out", default=None)
    ap.add_argument("--set", action="append", default=[], dest="settings")
    ap.add_argument("--fleet", action="store_true", help="a fleet graph, through `worldflow fleet local`")
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "worldflow"), help="the launcher")
    args = ap.parse_args()
    out = Path(args.out or f"out/soak-{Path(args.graph).stem}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    stop_after = f"{args.minutes * 60:.0f}s"
    looped = None
    if args.fleet:
        looped = looping_copy(Path(args.graph))
        cmd = [args.binary, "fleet", "local", str(looped), "--stop-after", stop_after, "--out", str(out)]
    else:
        settings = list(args.settings)
        if "id: sensors" in Path(args.graph).read_text():
            settings.append("sensors.LOOP=true")
        cmd = [args.binary, "run", args.graph, "--stop-after", stop_after, "--out", str(out)]
        for s in settings:
            cmd += ["--set", s]
    log = open(out.parent / f"{out.name}.log", "w")
    run = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    start = time.monotonic()
    samples = {}  # (pid, name) -> [(t, kib)]
    with open(out / "soak_rss.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "pid", "process", "rss_kib"])
        while run.poll() is None:
            t = time.monotonic() - start
            for pid, name in run_processes(run.pid, out).items():
                kib = rss_kib(pid)
                if kib is not None:
                    samples.setdefault((pid, name), []).append((t, kib))
                    w.writerow([f"{t:.1f}", pid, name, kib])
            f.flush()
            time.sleep(args.every)
    took = time.monotonic() - start
    if looped is not None:
        looped.unlink(missing_ok=True)
    print(f"{args.graph}: {took / 60:.1f} min, exit {run.returncode}, {sum(map(len, samples.values()))} samples "
          f"every {args.every:g} s -> {out / 'soak_rss.csv'}")
    print(f"  {'process':<28} {'first MiB':>9} {'last MiB':>9} {'peak MiB':>9} {'slope MiB/h (2nd half)':>23}")
    for (pid, name), s in sorted(samples.items(), key=lambda kv: kv[0][1]):
        second_half = [x for x in s if x[0] >= took / 2]
        print(f"  {name + ' ' + str(pid):<28} {s[0][1] / 1024:>9.1f} {s[-1][1] / 1024:>9.1f} "
              f"{max(v for _, v in s) / 1024:>9.1f} {slope_per_hour(second_half):>23.2f}")
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
