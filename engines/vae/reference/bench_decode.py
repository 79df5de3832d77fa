"""PyTorch CPU timing of the Wan2.1 VAE decoder (dim 96, the real topology) on random weights, for
`examples/bench_decode.rs`, which decodes the same latents with the same weights in Rust.

    python3 engines/vae/reference/bench_decode.py /tmp/vae_bench --threads 2
    RAYON_NUM_THREADS=2 cargo run --release -p worldflow-vae --example bench_decode -- /tmp/vae_bench

Writes <dir>/{config.json, weights.safetensors, case.safetensors (z, video)} and prints the median
wall time of a whole-clip f32 decode (`make_goldens.decode`: F.conv3d over all frames at once).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_goldens  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("dir", nargs="?", default="/tmp/vae_bench")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--latents", type=int, default=3)
p.add_argument("--height", type=int, default=8)
p.add_argument("--width", type=int, default=12)
p.add_argument("--rounds", type=int, default=3)
a = p.parse_args()
torch.set_num_threads(a.threads)
os.makedirs(a.dir, exist_ok=True)

g = torch.Generator().manual_seed(5)
cfg = dict(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
           temperal_downsample=[False, True, True], clamp_output=False,
           latents_mean=[round(float(v), 4) for v in torch.randn(16, generator=g)],
           latents_std=[round(float(v), 4) for v in 0.5 + torch.rand(16, generator=g) * 2.5])
shapes, _ = make_goldens.layer_plan(cfg)
W = {}
for k, s in sorted(shapes.items()):
    if k.endswith(".gamma"):
        W[k] = 1.0 + 0.1 * torch.randn(s, generator=g)
    else:
        fan_in = math.prod(s[1:]) if len(s) > 1 else 1
        W[k] = torch.randn(s, generator=g) / math.sqrt(fan_in)  # unit-variance activations
z = torch.randn([16, a.latents, a.height, a.width], generator=g)

with torch.no_grad():
    video = make_goldens.decode(cfg, W, z)  # warm-up, and the output to compare with
    times = []
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        make_goldens.decode(cfg, W, z)
        times.append((time.perf_counter() - t0) * 1e3)
times.sort()
save_file({k: v.contiguous() for k, v in W.items()}, os.path.join(a.dir, "weights.safetensors"))
save_file({"z": z.contiguous(), "video": video.contiguous()}, os.path.join(a.dir, "case.safetensors"))
with open(os.path.join(a.dir, "config.json"), "w") as f:
    json.dump(cfg, f)
frames = video.shape[1]
print(f"pytorch {torch.__version__} VAE decode dim 96, {a.latents} latents {a.height}×{a.width} → {frames} frames "
      f"{video.shape[2]}×{video.shape[3]} ({a.threads} threads, whole clip): median {times[len(times) // 2]:.1f} ms, "
      f"min {times[0]:.1f} ms ({times[len(times) // 2] / frames:.1f} ms/frame)")
