#!/usr/bin/env python3
"""Reference picks of HY-WorldPlay's memory selection, from the OFFICIAL code, for worldflow's `worldplay` policy.

Runs `select_mem_frames_wan` (wan/models/utils.py) and, through it, `calculate_fov_overlap_similarity`
(hyvideo/utils/retrieval_context.py) of github.com/Tencent-Hunyuan/HY-WorldPlay at commit
da2d0c26eb0edb647f56e164ffd966490eb75282. Both files are imported at run time from the upstream snapshot named on the
command line; nothing of them is copied here. The script drives them the way
wan/inference/pipeline_wan_w_mem_relative_rope.py does (chunks of 4 latents; chunk 0 has no memory; while
`current < context_window_length` (16) the memory is the whole history; from then on
`select_mem_frames_wan(viewmats, current, memory_frames=16, temporal_context_size=12, pred_latent_size=4,
points_local=...)`), on a few camera trajectories, and writes the picks as a JSON fixture that
engines/memory/tests/worldplay_reference.rs replays through the Rust policy.

The official heuristic is Monte-Carlo: `points_local` is `generate_points_in_sphere(50000, 8.0)` (torch.rand). Each
trajectory is run with several point sets:
* `splitmix`: the 50,000 points that worldflow's `FovSample::new(&FovConfig::default())` draws (SplitMix64, seed
  0x05EEDF0F, the same formula, cast to float32), so the Rust distances can be compared point set for point set;
* `torch_seed_K`: the official `generate_points_in_sphere(50000, 8.0)` after `torch.manual_seed(K)`.
A chunk is `stable` when every point set gives the same picks.

Deviations from the shipped call path, none of which touches the selection:
* `wan/models/utils.py` imports `distributed.parallel_state` for unrelated sequence-parallel helpers; a stub module
  stands in (its functions raise if called; `select_mem_frames_wan` does not call them). `hyvideo` and
  `hyvideo.utils` are registered as bare packages so that only retrieval_context.py is executed (hyvideo/__init__.py
  imports the whole model stack).
* CPU float32, as the pipeline's `viewmats` (its `.to(device)` of the points is the only device use).
* The per-candidate distances in the fixture are recomputed from the official similarities, recorded by wrapping
  `calculate_fov_overlap_similarity` (the call order is the loop order of `select_mem_frames_wan`); the picks are
  the official function's own return value.

Usage (needs torch, numpy, scipy, einops):
    python scripts/worldplay_memory_reference.py UPSTREAM [--out engines/memory/tests/fixtures/worldplay_memory.json]
UPSTREAM is a work tree of HY-WorldPlay at the commit above, or its git directory (then the two files are read
from that commit with `git show`).
"""

import argparse
import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

COMMIT = "da2d0c26eb0edb647f56e164ffd966490eb75282"
FILES = {  # path -> git blob id at COMMIT
    "wan/models/utils.py": "080d2e6fd7d01888a576e3de232245aa45380911",
    "hyvideo/utils/retrieval_context.py": "112102794b8ec6a645db7610648570d3d15aa8f6",
}
# Pipeline constants (pipeline_wan_w_mem_relative_rope.py, wan/generate.py defaults, wan/inference/helper.py).
CHUNK = 4
CONTEXT_WINDOW_LENGTH = 16
MEMORY_FRAMES = 16
TEMPORAL_CONTEXT_SIZE = 12
N_POINTS = 50_000
RADIUS = 8.0
SPLITMIX_SEED = 0x05EEDF0F
TORCH_SEEDS = [0, 1, 2, 3, 4]
MASK64 = (1 << 64) - 1


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def upstream_files(upstream: str) -> dict:
    """The two upstream files' bytes, checked against their blob ids at COMMIT."""
    out = {}
    for path, blob in FILES.items():
        wt = os.path.join(upstream, path)
        if os.path.isfile(wt):
            data = open(wt, "rb").read()
        else:
            data = subprocess.run(
                ["git", "--git-dir", upstream, "show", f"{COMMIT}:{path}"], check=True, capture_output=True
            ).stdout
        got = blob_id(data)
        if got != blob:
            sys.exit(f"{path}: blob {got}, expected {blob} (the file at {COMMIT}); wrong upstream snapshot?")
        out[path] = data
    return out


def import_official(files: dict):
    """Imports retrieval_context.py and wan/models/utils.py from a temporary copy of the upstream bytes."""
    tmp = tempfile.mkdtemp(prefix="hywp-")
    for path, data in files.items():
        os.makedirs(os.path.join(tmp, os.path.dirname(path)), exist_ok=True)
        open(os.path.join(tmp, path), "wb").write(data)

    def unreachable(*_a, **_k):
        raise RuntimeError("distributed stub reached: select_mem_frames_wan should not call it")

    dist = types.ModuleType("distributed")
    dist.__path__ = []
    ps = types.ModuleType("distributed.parallel_state")
    ps.get_sp_parallel_rank = ps.get_sp_world_size = unreachable
    sys.modules.update({"distributed": dist, "distributed.parallel_state": ps})
    for name, sub in [("hyvideo", "hyvideo"), ("hyvideo.utils", "hyvideo/utils")]:
        pkg = types.ModuleType(name)
        pkg.__path__ = [os.path.join(tmp, sub)]
        sys.modules[name] = pkg
    import hyvideo.utils.retrieval_context as rc  # noqa: E402  (the official file)

    spec = importlib.util.spec_from_file_location("hywp_wan_models_utils", os.path.join(tmp, "wan/models/utils.py"))
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    return rc, utils


def splitmix_points() -> torch.Tensor:
    """worldflow's FovSample points (kernels/base SplitMix64 + engines/memory/src/fov.rs formula), float32."""
    state = SPLITMIX_SEED

    def next_f64():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        return (z >> 11) * (1.0 / (1 << 53))

    pts = np.empty((N_POINTS, 3), dtype=np.float32)
    for i in range(N_POINTS):
        r = RADIUS * math.cbrt(next_f64())
        z = 1.0 - 2.0 * next_f64()
        phi = math.tau * next_f64()
        s = math.sqrt(max(1.0 - z * z, 0.0))
        pts[i] = (r * s * math.cos(phi), r * s * math.sin(phi), r * z)
    return torch.from_numpy(pts)


# --- trajectories: world_from_camera, OpenCV camera axes (x right, y down, z forward); yaw about the y axis ---


def c2w(pos, yaw_deg, pitch_deg=0.0):
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    m = np.eye(4)
    m[:3, :3] = ry @ rx
    m[:3, 3] = pos
    return m.astype(np.float32)


def trajectories():
    t = {}
    # Walking straight ahead, 0.2 per latent (the candidates 3.2, 4, 4.8, ... behind all overlap the view).
    t["straight_walk"] = [c2w((0, 0, 0.2 * i), 0.0) for i in range(40)]
    # Turning in place, 10° per latent (480° in all: the last chunks look where the first ones did).
    t["turn_in_place"] = [c2w((0, 0, 0), 10.0 * i) for i in range(48)]
    # A loop: a circle of radius 6 in 40 latents, heading along the tangent, nodding ±8°; then 16 more
    # latents over the start of the loop again (a revisit).
    loop = []
    for i in range(56):
        a = 2 * math.pi * i / 40
        loop.append(c2w((6 * math.sin(a), 0, 6 - 6 * math.cos(a)), math.degrees(a), 8 * math.sin(3 * a)))
    t["loop_revisit"] = loop
    # A dash, 5 per latent: no earlier camera is within range, every distance is 1 (the tie rule decides).
    t["dash"] = [c2w((0, 0, 5.0 * i), 0.0) for i in range(32)]
    return t


def run(upstream: str, out: str):
    torch.set_num_threads(1)  # 2 shared cores; the results do not depend on it (boolean counts)
    files = upstream_files(upstream)
    rc, utils = import_official(files)
    official_sim = utils.calculate_fov_overlap_similarity
    recorded = []

    def recording_sim(*args, **kwargs):
        s = official_sim(*args, **kwargs)
        recorded.append(s)
        return s

    utils.calculate_fov_overlap_similarity = recording_sim

    point_sets = {"splitmix": splitmix_points()}
    for seed in TORCH_SEEDS:
        torch.manual_seed(seed)
        point_sets[f"torch_seed_{seed}"] = rc.generate_points_in_sphere(N_POINTS, RADIUS)

    fixture = {
        "upstream": {"repository": "github.com/Tencent-Hunyuan/HY-WorldPlay", "commit": COMMIT, "files": FILES},
        "generator": "scripts/worldplay_memory_reference.py",
        "torch": torch.__version__,
        "config": {
            "chunk_latents": CHUNK,
            "context_window_length": CONTEXT_WINDOW_LENGTH,
            "memory_frames": MEMORY_FRAMES,
            "temporal_context_size": TEMPORAL_CONTEXT_SIZE,
            "n_points": N_POINTS,
            "radius": RADIUS,
        },
        "splitmix_points": {
            "seed": SPLITMIX_SEED,
            "first": point_sets["splitmix"][:4].tolist(),
            "sum": point_sets["splitmix"].double().sum(0).tolist(),
        },
        "trajectories": [],
    }
    for name, poses in trajectories().items():
        w2c = [np.linalg.inv(p.astype(np.float64)).astype(np.float32) for p in poses]
        chunks = []
        for chunk_i in range(len(poses) // CHUNK):
            current = chunk_i * CHUNK
            entry = {"chunk": chunk_i, "current": current}
            if chunk_i == 0:
                entry.update(selected=[], stable=True)
            elif current < CONTEXT_WINDOW_LENGTH:
                entry.update(selected=list(range(current)), stable=True)
            else:
                picks, dists = {}, {}
                for pname, pts in point_sets.items():
                    recorded.clear()
                    sel = utils.select_mem_frames_wan(
                        np.stack(w2c[: current + CHUNK]),
                        current,
                        memory_frames=MEMORY_FRAMES,
                        temporal_context_size=TEMPORAL_CONTEXT_SIZE,
                        pred_latent_size=CHUNK,
                        points_local=pts,
                        device="cpu",
                    )
                    picks[pname] = [int(i) for i in sel]
                    # Distances from the recorded official similarities, in the function's loop order.
                    starts = list(range(0, current - TEMPORAL_CONTEXT_SIZE, 4))
                    assert len(recorded) == len(starts) * CHUNK * 2, (len(recorded), len(starts))
                    it = iter(recorded)
                    d = []
                    for s in starts:
                        total = 0.0
                        for _ in range(CHUNK):
                            d1, d2 = 1.0 - next(it), 1.0 - next(it)
                            total += (d1 + d2) / 2.0
                        d.append([s, total / CHUNK])
                    dists[pname] = d
                stable = all(p == picks["splitmix"] for p in picks.values())
                ranked = sorted(dists["splitmix"], key=lambda x: x[1])
                margin = ranked[1][1] - ranked[0][1] if len(ranked) > 1 else None
                entry.update(
                    selected=picks["splitmix"],
                    stable=stable,
                    picks_by_point_set=picks,
                    distances=dists,
                    margin_splitmix=margin,
                )
                print(
                    f"{name:14s} chunk {chunk_i:2d} current {current:3d}: memory "
                    f"{[i for i in picks['splitmix'] if i < current - TEMPORAL_CONTEXT_SIZE]} "
                    f"best {ranked[0][1]:.4f} margin {margin if margin is None else round(margin, 4)} "
                    f"{'stable' if stable else 'UNSTABLE ' + str(picks)}"
                )
            chunks.append(entry)
        fixture["trajectories"].append(
            {
                "name": name,
                "world_from_camera": [[float(v) for v in p.reshape(-1)] for p in poses],
                "chunks": chunks,
            }
        )
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("upstream", help="HY-WorldPlay work tree or git directory (commit " + COMMIT[:8] + ")")
    ap.add_argument("--out", default="engines/memory/tests/fixtures/worldplay_memory.json")
    a = ap.parse_args()
    run(a.upstream, a.out)
