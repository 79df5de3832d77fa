#!/usr/bin/env python3
"""Swarm scale benchmark: ticks/s, per-node time and memory against the number of drones.

    python3 scripts/bench_swarm.py [--agents 1,4,16,64] [--seconds 40] [--out out/bench-swarm]

For each N, writes a scenario of N landed drones in a column on the town's middle north-south road (the town of
engines/world/scenarios/swarm.yaml: buildings of at most 20 m) and a graph like graphs/swarm.yml with N agents
(one forward 160x120 camera each, lock-step at 10 Hz, SOURCE=formation: a line at 25 m, 2 m apart), validates
it, runs it for `--seconds`, and reports:
  * ticks/s: frames of agent0 recorded per second over the second half of the run (the swarm ticks in
    lock-step, so every agent has the same count), and the same for all frames / N;
  * per-node time: mean and p99 of each node's spans (out/timings/<node>.json);
  * resident memory: every process of the run sampled each second, mean over the second half, summed, and
    the memory per agent as the least-squares slope of the total against N.
Needs the release build (`cargo build --release --workspace --bins`). The graph paces itself at 10 Hz: 10
ticks/s is the most any N can reach.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import ROOT, rss_kib, run_processes  # noqa: E402

ROAD_X_M = 81.5  # centre line of the middle north-south road (x 78..85 m)


def scenario(n: int) -> str:
    """N landed drones in one column on the road, in slot order (no paths cross on the way into the line)."""
    spacing = min(4.0, 150.0 / max(1, n - 1))
    lines = ["seed: 7", "vehicles: 0", "pedestrians: 0", "town:", "  min_building_height_m: 6.0",
             "  max_building_height_m: 20.0", "egos:"]
    for i in range(n):
        y = 81.5 + (i - (n - 1) / 2) * spacing
        lines.append(f"  - {{name: drone{i}, kind: drone, x_m: {ROAD_X_M}, y_m: {y:.2f}, z_m: 0.0, yaw_deg: 0.0}}")
    return "\n".join(lines) + "\n"


def graph(n: int, scenario_file: str) -> str:
    agents = [f"agent{i}" for i in range(n)]
    director_inputs = "".join(f"      {a}: sensors/{a}\n" for a in agents)
    return f"""nodes:
  - id: sensors
    path: worldflow-sensors
    inputs:
      tick: dora/timer/millis/100
      ego_pose: {{source: director/ego_pose, queue_size: {max(64, 4 * n)}}}
    outputs: [{", ".join(agents)}]
    env:
      SOURCE: formation
      SCENARIO: {scenario_file}
      FORMATION: "line spacing=2 altitude=25 heading=90"
      DT_SECS: 0.1
  - id: director
    path: worldflow-director
    inputs:
{director_inputs}    outputs: [world, ego_pose]
    env:
      SCENARIO: {scenario_file}
      DT_SECS: 0.1
  - id: actor
    path: worldflow-actor
    inputs:
      world: {{source: director/world, queue_size: 64}}
    outputs: [gaussians]
    env:
      SCENARIO: {scenario_file}
  - id: renderer
    path: worldflow-splat-renderer
    inputs:
      pose: {{source: director/ego_pose, queue_size: {max(64, 4 * n)}, queue_policy: drop_oldest}}
      gaussians: {{source: actor/gaussians, queue_size: 8, queue_policy: drop_oldest}}
    outputs: [frame]
    env:
      SCENE: stream
      CATCHUP: newest
      RIG: scenario
      SCENARIO: {scenario_file}
      WIDTH: 160
      HEIGHT: 120
  - id: recorder
    path: worldflow-recorder
    inputs:
      frames: {{source: renderer/frame, queue_size: {max(64, 4 * n)}, queue_policy: backpressure}}
      poses: director/ego_pose
"""


def slope(xs, ys):
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def run_one(n: int, seconds: float, base: Path) -> dict:
    work = base / f"n{n}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "swarm.yaml").write_text(scenario(n))
    (work / "swarm.yml").write_text(graph(n, "swarm.yaml"))
    binary = ROOT / "target" / "release" / "worldflow"
    subprocess.run([str(binary), "validate", str(work / "swarm.yml")], check=True, stdout=subprocess.DEVNULL)
    out = (work / "out").resolve()
    cmd = [str(binary), "run", str(work / "swarm.yml"), "--stop-after", f"{seconds:.0f}s", "--out", str(out)]
    log = open(work / "run.log", "w")
    start = time.monotonic()
    run = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    rss = {}  # name -> [(t, kib)]
    while run.poll() is None:
        t = time.monotonic() - start
        for pid, name in run_processes(run.pid, out).items():
            kib = rss_kib(pid)
            if kib is not None:
                rss.setdefault(f"{name}", []).append((t, kib))
        time.sleep(1.0)
    took = time.monotonic() - start
    if run.returncode != 0:
        raise SystemExit(f"N={n}: the run failed (exit {run.returncode}); see {work / 'run.log'}")
    frames = out / "frames"
    stamps = sorted(p.stat().st_mtime for p in (frames / "agent0_front").glob("*.png"))
    all_frames = sum(1 for _ in frames.glob("agent*_front/*.png"))
    half = stamps[len(stamps) // 2:] if len(stamps) >= 4 else stamps
    ticks_per_s = (len(half) - 1) / (half[-1] - half[0]) if len(half) >= 2 and half[-1] > half[0] else float("nan")
    timings = {}
    for f in sorted((out / "timings").glob("*.json")):
        data = json.loads(f.read_text())
        spans = data.get("spans", data) if isinstance(data, dict) else {}
        timings[f.stem] = spans
    mem = {name: sum(v for t, v in s if t >= took / 2) / max(1, sum(1 for t, _ in s if t >= took / 2)) / 1024
           for name, s in rss.items()}
    return {"n": n, "ticks_per_s": ticks_per_s, "frames_agent0": len(stamps), "frames_all": all_frames,
            "seconds": took, "timings": timings, "rss_mib": mem}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", default="1,4,16,64")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--out", default="out/bench-swarm")
    args = ap.parse_args()
    base = (ROOT / args.out).resolve()
    results = [run_one(int(n), args.seconds, base) for n in args.agents.split(",")]
    (base / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\n| drones | ticks/s | frames agent0 / all | " + " | ".join(
        f"{node} mean / p99 ms" for node in ["director", "actor", "renderer", "recorder"]) + " | RSS total MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = []
        for node in ["director", "actor", "renderer", "recorder"]:
            spans = r["timings"].get(node, {})
            # The node's heaviest span (its per-message work).
            best = max(spans.values(), key=lambda s: s.get("mean_ms", 0) * s.get("count", 0), default=None) \
                if isinstance(spans, dict) else None
            cells.append(f"{best['mean_ms']:.1f} / {best['p99_ms']:.1f}" if best else "—")
        print(f"| {r['n']} | {r['ticks_per_s']:.2f} | {r['frames_agent0']} / {r['frames_all']} | "
              + " | ".join(cells) + f" | {sum(r['rss_mib'].values()):.0f} |")
    print("\nresident memory per process (MiB, mean over the second half):")
    for r in results:
        print(f"  N={r['n']}: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["rss_mib"].items())))
    if len(results) >= 2:
        ns = [r["n"] for r in results]
        print(f"\nmemory per agent (slope of the total against N): "
              f"{slope(ns, [sum(r['rss_mib'].values()) for r in results]):.2f} MiB")
        for proc in sorted(results[-1]["rss_mib"]):
            print(f"  {proc}: {slope(ns, [r['rss_mib'].get(proc, float('nan')) for r in results]):.2f} MiB per agent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
