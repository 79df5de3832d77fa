"""PyTorch CPU timing of the chunk step of `examples/bench_chunk.rs` (small config, 8 memory + 4 chunk
latents, block-causal groups, actions + PRoPE cameras) on the same weights and inputs, in float32, plus
a comparison with the Rust output stored in io.safetensors.

    scripts/setup-bench.sh                       # the venv .cache/bench (torch, safetensors)
    RAYON_NUM_THREADS=2 cargo run --release -p worldflow-dit --example bench_chunk -- /tmp/dit_chunk
    .cache/bench/bin/python engines/dit/reference/bench_chunk.py /tmp/dit_chunk --threads 2

Upstream Wan2.1 has no per-frame timesteps, actions, PRoPE or block-causal groups, so this baseline is the
project's port written for speed (`dit_torch.forward_sdpa`: F.linear, scaled_dot_product_attention with the
group mask, RoPE rotations and per-frame modulation computed once, text K/V once per prompt as the Rust
engine does). `--reference` also times the float64-capable golden reference (`dit_torch.forward`: einsum
attention, `x @ W.T + b`, per-token modulation, text K/V per call; the earlier baseline) in the same run.
"""
import argparse
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dit_torch  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("dir", nargs="?", default="/tmp/dit_chunk")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--rounds", type=int, default=20)
p.add_argument("--reference", action="store_true", help="also time dit_torch.forward (the earlier baseline)")
a = p.parse_args()
torch.set_num_threads(a.threads)
with open(os.path.join(a.dir, "config.json")) as f:
    cfg = json.load(f)
W = load_file(os.path.join(a.dir, "weights.safetensors"))
io = load_file(os.path.join(a.dir, "io.safetensors"))
kw = dict(
    actions=io["actions"].double(),
    c2w=io["c2w"].double(),
    intr=io["intrinsics"].double(),
    rope_time=io["rope_time"].long(),
    groups=io["groups"].long().tolist(),
)

with torch.no_grad():
    kv = dit_torch.text_kv(W, cfg, io["context"])  # once per prompt

    def tuned():
        return dit_torch.forward_sdpa(W, cfg, io["x"], io["t"].double(), kv, **kw)

    def reference():
        return dit_torch.forward(W, cfg, io["x"], io["t"].double(), io["context"], **kw)

    runs = [("tuned port (forward_sdpa)", tuned)] + ([("reference port (forward)", reference)] if a.reference else [])
    ref = io["out"]
    stats = {}
    for name, f in runs:
        out = f()
        stats[name] = dict(err=((out.float() - ref).abs().max() / ref.abs().max()).item(), wall=[])
    for r in range(a.rounds + 3):  # interleaved, 3 warm-up rounds
        for name, f in runs:
            t0 = time.perf_counter()
            f()
            if r >= 3:
                stats[name]["wall"].append((time.perf_counter() - t0) * 1e3)
for name, s in stats.items():
    w = sorted(s["wall"])
    print(f"pytorch {torch.__version__} chunk step, {name} ({a.threads} threads): median {w[len(w) // 2]:.2f} ms, "
          f"min {w[0]:.2f} ms over {a.rounds} rounds; max |torch − rust| / max |rust| = {s['err']:.2e}")
