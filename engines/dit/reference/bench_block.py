"""PyTorch CPU timing of the official Wan2.1 `WanAttentionBlock` on the weights and inputs that
`examples/bench_block.rs` writes (the same block: hidden 384, 6 heads, FFN 1536, qk RMSNorm, 3D RoPE,
cross-attention with norm3 to 512 text tokens, 1024 tokens = 4 frames × 16×16), plus an output
comparison with the Rust block.

    scripts/setup-bench.sh                       # the venv .cache/bench (torch, safetensors, einops)
    RAYON_NUM_THREADS=2 cargo run --release -p worldflow-dit --example bench_block -- /tmp/dit_bench
    .cache/bench/bin/python engines/dit/reference/bench_block.py /tmp/dit_bench --wan-repo /work/wan21

The block is the upstream class, imported from the checkout at run time (`wan_upstream.py`: attention
routed to upstream's own `scaled_dot_product_attention` fallback in float32), built with
`WanAttentionBlock("t2v_cross_attn", 384, 1536, 6, qk_norm=True, cross_attn_norm=True, eps=1e-6)` and
loaded with the `blocks.0.*` tensors. Its inputs are what `WanModel.forward` hands a block: `e0` from the
time embedding, `freqs` from upstream's `rope_params`, `grid_sizes` (4, 16, 16), the embedded text.

The Rust engine computes the text's cross-attention keys and values once per prompt, the upstream block
on every call (2 × 512 × 384 × 384 multiply-adds, ≈ 5 % of the block). By default the block's
`cross_attn.k` / `cross_attn.v` layers are wrapped to return their output for the prompt computed once
(the rest of the block runs unchanged); `--recompute-text-kv` times the block exactly as upstream runs it.
`--port` also times the project's port (`dit_torch.block_forward`) in the same run.
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
import wan_upstream  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("dir", nargs="?", default="/tmp/dit_bench")
p.add_argument("--wan-repo", default=None, help="checkout of the official Wan2.1 repository (or WAN_REPO)")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--rounds", type=int, default=20)
p.add_argument("--recompute-text-kv", action="store_true")
p.add_argument("--port", action="store_true", help="also time the project's port (dit_torch.block_forward)")
a = p.parse_args()
torch.set_num_threads(a.threads)
wan = wan_upstream.load(a.wan_repo, "model")

W = load_file(os.path.join(a.dir, "weights.safetensors"))
io = load_file(os.path.join(a.dir, "io.safetensors"))
D, nh, ffn, hd = 384, 6, 1536, 64
frames, gh, gw = 4, 16, 16
N = frames * gh * gw


class Once(torch.nn.Module):
    """Wraps a layer: computes its output for one input tensor once and returns it on every call."""

    def __init__(self, layer, x):
        super().__init__()
        with torch.no_grad():
            self.y = layer(x)
        self.x = x

    def forward(self, x):
        assert x is self.x, "only for the prompt it was built for"
        return self.y


with torch.no_grad():
    block = wan.WanAttentionBlock("t2v_cross_attn", D, ffn, nh, qk_norm=True, cross_attn_norm=True, eps=1e-6)
    sd = {k[len("blocks.0."):]: v for k, v in W.items() if k.startswith("blocks.0.")}
    block.load_state_dict(sd, strict=True)
    block.eval()
    # What WanModel.forward computes before the blocks (float32 time embedding, as upstream).
    e = dit_torch.lin(W, "time_embedding.2", F.silu(dit_torch.lin(W, "time_embedding.0",
                                                                  wan.sinusoidal_embedding_1d(256, io["t"]).float())))
    e0 = dit_torch.lin(W, "time_projection.1", F.silu(e)).reshape(1, 6, D)
    d = D // nh
    freqs = torch.cat([wan.rope_params(1024, d - 4 * (d // 6)), wan.rope_params(1024, 2 * (d // 6)),
                       wan.rope_params(1024, 2 * (d // 6))], dim=1)
    grid_sizes = torch.tensor([[frames, gh, gw]], dtype=torch.long)
    seq_lens = torch.tensor([N], dtype=torch.long)
    ctx = dit_torch.lin(W, "text_embedding.2",
                        F.gelu(dit_torch.lin(W, "text_embedding.0", io["context"]), approximate="tanh"))[None]
    if not a.recompute_text_kv:
        block.cross_attn.k = Once(block.cross_attn.k, ctx)
        block.cross_attn.v = Once(block.cross_attn.v, ctx)
    x = io["x"][None]

    def official():
        return block(x, e0, seq_lens, grid_sizes, freqs, ctx, None)[0]

    # The project's port, for --port: same weights, text K/V once.
    idx = torch.arange(N)
    ang = dit_torch.rope_angles(hd, torch.stack([idx // (gh * gw), (idx % (gh * gw)) // gw, idx % gw], dim=1))
    ck = dit_torch.rms(dit_torch.lin(W, "blocks.0.cross_attn.k", ctx[0]), W["blocks.0.cross_attn.norm_k.weight"], 1e-6)
    cv = dit_torch.lin(W, "blocks.0.cross_attn.v", ctx[0])
    ctx_kv = (ck.reshape(-1, nh, hd).transpose(0, 1).contiguous(), cv.reshape(-1, nh, hd).transpose(0, 1).contiguous())
    cfg = dict(dim=D, num_heads=nh, eps=1e-6, freq_dim=256)

    def port():
        return dit_torch.block_forward(W, cfg, io["x"], e0[0], ang, ctx_kv)

    ref = io["out"]
    runs = [("official WanAttentionBlock" + (" (text K/V per call)" if a.recompute_text_kv else ""), official)]
    if a.port:
        runs.append(("project port", port))
    stats = {}
    for name, f in runs:
        out = f()
        stats[name] = dict(err=((out - ref).abs().max() / ref.abs().max()).item(), wall=[], cpu=0.0)
    # Interleaved, 5 warm-up rounds, then `rounds` timed rounds of each.
    for i in range(a.rounds + 5):
        for name, f in runs:
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            if i >= 5:
                stats[name]["wall"].append((time.perf_counter() - t0) * 1e3)
                stats[name]["cpu"] += (time.process_time() - c0) * 1e3 / a.rounds
for name, s in stats.items():
    w = sorted(s["wall"])
    print(f"pytorch {torch.__version__} {name} (dim 384, 6 heads, 1024 tokens, text 512, {a.threads} threads, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}): median {w[len(w) // 2]:.2f} ms, min {w[0]:.2f} ms, "
          f"CPU time {s['cpu']:.2f} ms/block; max |torch − rust| / max |rust| {s['err']:.2e}")
