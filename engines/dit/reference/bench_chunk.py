"""PyTorch CPU timing of the chunk step of `examples/bench_chunk.rs` (small config, 8 memory + 4 chunk
latents, block-causal groups, actions + PRoPE cameras) on the same weights and inputs, in float32, plus
a comparison with the Rust output stored in io.safetensors.

    RAYON_NUM_THREADS=2 cargo run --release -p worldflow-dit --example bench_chunk -- /tmp/dit_chunk
    python3 engines/dit/reference/bench_chunk.py /tmp/dit_chunk --threads 2

The reference forward (`dit_torch.forward`) recomputes the text keys/values on every call, which the
Rust engine does once per prompt; at 64 text tokens that is about 2 % of the step's multiply-adds.
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


def step():
    return dit_torch.forward(W, cfg, io["x"], io["t"].double(), io["context"], **kw)


with torch.no_grad():
    out = step()
    times = []
    for r in range(a.rounds + 3):
        t0 = time.perf_counter()
        step()
        if r >= 3:
            times.append((time.perf_counter() - t0) * 1e3)
times.sort()
ref = io["out"]
rel = ((out.float() - ref).abs().max() / ref.abs().max()).item()
print(f"PyTorch {torch.__version__} chunk step ({a.threads} threads): median {times[len(times) // 2]:.2f} ms, "
      f"min {times[0]:.2f} ms over {a.rounds} rounds; max |torch − rust| / max |rust| = {rel:.2e}")
