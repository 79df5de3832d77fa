"""PyTorch CPU timing of the same DiT block as `examples/bench_block.rs`, on the same weights and
inputs (written by the Rust example), plus an output comparison.

    RAYON_NUM_THREADS=2 cargo run --release -p worldflow-dit --example bench_block -- /tmp/dit_bench
    python3 engines/dit/reference/bench_block.py /tmp/dit_bench --threads 2
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dit_torch  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("dir", nargs="?", default="/tmp/dit_bench")
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
W = load_file(os.path.join(a.dir, "weights.safetensors"))
io = load_file(os.path.join(a.dir, "io.safetensors"))
cfg = dict(dim=384, num_heads=6, eps=1e-6, freq_dim=256)
D, nh, hd = 384, 6, 64
frames, gh, gw = 4, 16, 16
N = frames * gh * gw

with torch.no_grad():
    e = dit_torch.lin(W, "time_embedding.2", F.silu(dit_torch.lin(W, "time_embedding.0", dit_torch.sinusoid(256, io["t"].double()).float())))
    e0 = dit_torch.lin(W, "time_projection.1", F.silu(e)).reshape(6, D)
    idx = torch.arange(N)
    pos = torch.stack([idx // (gh * gw), (idx % (gh * gw)) // gw, idx % gw], dim=1)
    ang = dit_torch.rope_angles(hd, pos)
    ctx = dit_torch.lin(W, "text_embedding.2", F.gelu(dit_torch.lin(W, "text_embedding.0", io["context"]), approximate="tanh"))
    ck = dit_torch.rms(dit_torch.lin(W, "blocks.0.cross_attn.k", ctx), W["blocks.0.cross_attn.norm_k.weight"], 1e-6)
    cv = dit_torch.lin(W, "blocks.0.cross_attn.v", ctx)
    ctx_kv = (ck.reshape(-1, nh, hd).transpose(0, 1).contiguous(), cv.reshape(-1, nh, hd).transpose(0, 1).contiguous())
    x = io["x"]
    out = dit_torch.block_forward(W, cfg, x, e0, ang, ctx_kv)
    err = ((out - io["out"]).abs().max() / io["out"].abs().max()).item()
    times = []
    for i in range(25):
        if i == 5:
            c0 = time.process_time()
        t0 = time.perf_counter()
        dit_torch.block_forward(W, cfg, x, e0, ang, ctx_kv)
        times.append((time.perf_counter() - t0) * 1e3)
    cpu_ms = (time.process_time() - c0) * 1e3 / 20
    times = sorted(times[5:])
print(f"pytorch {torch.__version__} block ({a.threads} threads, cpu capability {torch.backends.cpu.get_cpu_capability()}): "
      f"median {times[len(times) // 2]:.2f} ms, min {times[0]:.2f} ms, CPU time {cpu_ms:.2f} ms/block; max rel diff vs Rust output {err:.2e}")
