"""PyTorch CPU timing of the official Wan2.1 VAE decode (`wan.modules.vae.WanVAE_.decode`: latent by
latent through its causal feature caches, as upstream runs it) at the Wan2.1 topology (dim 96, z_dim 16)
on random weights, for `examples/bench_decode.rs`, which decodes the same latents with the same weights.

    scripts/setup-bench.sh                       # the venv .cache/bench (torch, safetensors, einops)
    .cache/bench/bin/python engines/vae/reference/bench_decode.py /tmp/vae_bench --wan-repo /work/wan21
    RAYON_NUM_THREADS=2 cargo run --release -p worldflow-vae --example bench_decode -- /tmp/vae_bench
    # 480×832 output (60×104 latents), one decode each:
    .cache/bench/bin/python engines/vae/reference/bench_decode.py /tmp/vae_480 --wan-repo /work/wan21 \
        --height 60 --width 104 --latents 2 --rounds 1 --warmup 0
    BENCH_ROUNDS=1 RAYON_NUM_THREADS=2 cargo run --release -p worldflow-vae --example bench_decode -- /tmp/vae_480

The official module is imported from a checkout given at run time (`--wan-repo` or `WAN_REPO`; nothing
of it is kept here), built as upstream's `_video_vae` builds it, loaded with the decoder weights
(`conv2.*`, `decoder.*`; the encoder is dropped, decode never touches it) and called as
`decode(z, scale)` with scale = [mean, 1/std]. Writes <dir>/{config.json, weights.safetensors,
case.safetensors (z, video)}; prints the whole decode, the first latent (1 frame) and the later latents
(4 frames each, timed around upstream's per-latent `decoder` call), the resident memory after loading and
the peak during the decodes (VmHWM, reset after loading). `--functional` also times the project's
whole-clip reference (`make_goldens.decode`, every conv one `F.conv3d` over all frames; the earlier
baseline).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.append(os.path.join(here, "..", "..", "dit", "reference"))  # wan_upstream
import make_goldens  # noqa: E402
import wan_upstream  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("dir", nargs="?", default="/tmp/vae_bench")
p.add_argument("--wan-repo", default=None, help="checkout of the official Wan2.1 repository (or WAN_REPO)")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--latents", type=int, default=3)
p.add_argument("--height", type=int, default=8)
p.add_argument("--width", type=int, default=12)
p.add_argument("--rounds", type=int, default=3)
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--functional", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
os.makedirs(a.dir, exist_ok=True)
vae = wan_upstream.load(a.wan_repo, "vae")


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


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
save_file({k: v.contiguous() for k, v in W.items()}, os.path.join(a.dir, "weights.safetensors"))
with open(os.path.join(a.dir, "config.json"), "w") as f:
    json.dump(cfg, f)

with torch.no_grad():
    model = vae.WanVAE_(dim=cfg["dim"], z_dim=cfg["z_dim"], dim_mult=cfg["dim_mult"],
                        num_res_blocks=cfg["num_res_blocks"], attn_scales=cfg["attn_scales"],
                        temperal_downsample=cfg["temperal_downsample"], dropout=0.0)
    model.encoder, model.conv1 = torch.nn.Module(), torch.nn.Module()  # decode uses neither
    res = model.load_state_dict(W, strict=False)
    assert not res.unexpected_keys and not res.missing_keys, res
    model.eval()
    functional_w = W if a.functional else None
    del W
    scale = [torch.tensor(cfg["latents_mean"]), 1.0 / torch.tensor(cfg["latents_std"])]
    per_call = []
    inner = model.decoder.forward

    def timed(*args, **kw):
        t0 = time.perf_counter()
        y = inner(*args, **kw)
        per_call.append((time.perf_counter() - t0) * 1e3)
        return y

    model.decoder.forward = timed
    rss_loaded = status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS
        f.write("5")
    video = None
    total, first, later = [], [], []
    for r in range(a.warmup + a.rounds):
        per_call.clear()
        t0 = time.perf_counter()
        out = model.decode(z[None], scale)[0]
        if r >= a.warmup:
            total.append((time.perf_counter() - t0) * 1e3)
            first.append(per_call[0])
            later.extend(per_call[1:])
        if video is None:
            video = out
        del out
    peak = status_kb("VmHWM")
    if a.functional:
        ftimes = []
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            fvid = make_goldens.decode(cfg, functional_w, z)
            ftimes.append((time.perf_counter() - t0) * 1e3)
        fdiff = ((fvid - video).abs().max() / video.abs().max()).item()
save_file({"z": z.contiguous(), "video": video.contiguous()}, os.path.join(a.dir, "case.safetensors"))


def mm(v):
    v = sorted(v)
    return f"median {v[len(v) // 2]:.1f} ms, min {v[0]:.1f} ms" if v else "-"


frames = video.shape[1]
print(f"pytorch {torch.__version__} official WanVAE_.decode dim 96, {a.latents} latents {a.height}×{a.width} → {frames} frames "
      f"{video.shape[2]}×{video.shape[3]} ({a.threads} threads, latent by latent, {a.rounds} rounds): whole {mm(total)}; "
      f"first latent (1 frame) {mm(first)}; later latents (4 frames) {mm(later)}; "
      f"RSS after weights {rss_loaded / 1024:.0f} MB, peak during decode {peak / 1024:.0f} MB")
if a.functional:
    print(f"  project whole-clip reference (make_goldens.decode): {mm(ftimes)}; "
          f"max |functional − official| / max |official| = {fdiff:.2e}")
