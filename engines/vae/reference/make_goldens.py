#!/usr/bin/env python3
"""Independent float64 PyTorch reference of the Wan2.1 causal 3D VAE decoder -> golden cases.

Written from the architecture description (not the upstream code): functional, whole-clip, no caches.
Causality is expressed directly: every temporal conv pads 2 zero frames in front of the whole clip; an
upsample3d stage passes frame 0 through untouched and runs its time conv (causal, zero padded) over
frames 1.., each of which becomes two frames (output channels [0, C) then [C, 2C)).

Writes engines/vae/tests/goldens/<case>.{config.json,weights.safetensors,case.safetensors}:
  weights: upstream key names (conv2.*, decoder.*), F32 or F16 (case `wide` tests the F16 path);
  case:    z [C, T, h, w] (normalised latents, PyTorch layout), video_raw [3, T', H, W] (unclamped).
Run: python3 engines/vae/reference/make_goldens.py   (torch + safetensors, CPU, ~seconds)
"""
import json
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens")


def rms_norm(x, gamma):
    """x [C, T, H, W] normalised over C to unit RMS, times gamma[c]."""
    c = x.shape[0]
    n = torch.sqrt((x * x).sum(dim=0, keepdim=True)).clamp_min(1e-12)
    return x / n * math.sqrt(c) * gamma.reshape(c, 1, 1, 1)


def causal_conv(x, w, b):
    """x [Cin, T, H, W]; w [Cout, Cin, kt, k, k]; zero padding: kt-1 frames before, k//2 around."""
    kt, k = w.shape[2], w.shape[3]
    p = k // 2
    xp = F.pad(x.unsqueeze(0), (p, p, p, p, kt - 1, 0))
    return F.conv3d(xp, w, b).squeeze(0)


def frame_conv2d(x, w, b):
    """Per-frame Conv2d, x [C, T, H, W]; w [Cout, Cin, k, k]."""
    y = F.conv2d(x.permute(1, 0, 2, 3), w, b, padding=w.shape[-1] // 2)
    return y.permute(1, 0, 2, 3)


def residual_block(W, pre, x):
    h = causal_conv(x, W[pre + ".shortcut.weight"], W[pre + ".shortcut.bias"]) if pre + ".shortcut.weight" in W else x
    y = F.silu(rms_norm(x, W[pre + ".residual.0.gamma"]))
    y = causal_conv(y, W[pre + ".residual.2.weight"], W[pre + ".residual.2.bias"])
    y = F.silu(rms_norm(y, W[pre + ".residual.3.gamma"]))
    y = causal_conv(y, W[pre + ".residual.6.weight"], W[pre + ".residual.6.bias"])
    return y + h


def attention_block(W, pre, x):
    c, t, hh, ww = x.shape
    y = rms_norm(x, W[pre + ".norm.gamma"])
    qkv = frame_conv2d(y, W[pre + ".to_qkv.weight"], W[pre + ".to_qkv.bias"])  # [3C, T, H, W]
    out = torch.empty_like(x)
    for f in range(t):
        m = qkv[:, f].reshape(3 * c, hh * ww)
        q, k, v = m[:c].T, m[c:2 * c].T, m[2 * c:].T  # [HW, C]
        a = torch.softmax(q @ k.T / math.sqrt(c), dim=-1) @ v
        out[:, f] = a.T.reshape(c, hh, ww)
    return frame_conv2d(out, W[pre + ".proj.weight"], W[pre + ".proj.bias"]) + x


def resample(W, pre, x, time):
    c = x.shape[0]
    if time and x.shape[1] > 1:
        y = causal_conv(x[:, 1:], W[pre + ".time_conv.weight"], W[pre + ".time_conv.bias"])  # [2C, T-1, H, W]
        t1 = y.shape[1]
        pair = torch.stack([y[:c], y[c:]], dim=2).reshape(c, 2 * t1, *y.shape[2:])
        x = torch.cat([x[:, :1], pair], dim=1)
    x = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    return frame_conv2d(x, W[pre + ".resample.1.weight"], W[pre + ".resample.1.bias"])


def decode(cfg, W, z):
    """z [z_dim, T, h, w] normalised latents -> video [3, 1 + up_t (T-1), 8h, 8w] (unclamped)."""
    mean = torch.tensor(cfg["latents_mean"], dtype=z.dtype).reshape(-1, 1, 1, 1)
    std = torch.tensor(cfg["latents_std"], dtype=z.dtype).reshape(-1, 1, 1, 1)
    x = z * std + mean
    x = causal_conv(x, W["conv2.weight"], W["conv2.bias"])
    x = causal_conv(x, W["decoder.conv1.weight"], W["decoder.conv1.bias"])
    x = residual_block(W, "decoder.middle.0", x)
    x = attention_block(W, "decoder.middle.1", x)
    x = residual_block(W, "decoder.middle.2", x)
    for kind, pre, arg in layer_plan(cfg)[1]:
        if kind == "res":
            x = residual_block(W, pre, x)
        elif kind == "attn":
            x = attention_block(W, pre, x)
        else:
            x = resample(W, pre, x, arg)
    x = F.silu(rms_norm(x, W["decoder.head.0.gamma"]))
    return causal_conv(x, W["decoder.head.2.weight"], W["decoder.head.2.bias"])


def layer_plan(cfg):
    """Returns ({name: shape}, [(kind, prefix, time?)]) for the decoder upsampling path."""
    d, z, mult, nres = cfg["dim"], cfg["z_dim"], cfg["dim_mult"], cfg["num_res_blocks"]
    dims = [d * mult[-1]] + [d * m for m in reversed(mult)]
    shapes = {"conv2.weight": [z, z, 1, 1, 1], "conv2.bias": [z],
              "decoder.conv1.weight": [dims[0], z, 3, 3, 3], "decoder.conv1.bias": [dims[0]]}

    def res(pre, i, o):
        shapes.update({pre + ".residual.0.gamma": [i, 1, 1, 1], pre + ".residual.2.weight": [o, i, 3, 3, 3],
                       pre + ".residual.2.bias": [o], pre + ".residual.3.gamma": [o, 1, 1, 1],
                       pre + ".residual.6.weight": [o, o, 3, 3, 3], pre + ".residual.6.bias": [o]})
        if i != o:
            shapes.update({pre + ".shortcut.weight": [o, i, 1, 1, 1], pre + ".shortcut.bias": [o]})

    def attn(pre, c):
        shapes.update({pre + ".norm.gamma": [c, 1, 1], pre + ".to_qkv.weight": [3 * c, c, 1, 1],
                       pre + ".to_qkv.bias": [3 * c], pre + ".proj.weight": [c, c, 1, 1], pre + ".proj.bias": [c]})

    res("decoder.middle.0", dims[0], dims[0])
    attn("decoder.middle.1", dims[0])
    res("decoder.middle.2", dims[0], dims[0])
    plan, idx, scale = [], 0, 1.0 / 2 ** (len(mult) - 2)
    time_up = list(reversed(cfg["temperal_downsample"]))
    for i in range(len(mult)):
        cin = dims[i] // 2 if i > 0 else dims[i]
        cout = dims[i + 1]
        for _ in range(nres + 1):
            pre = f"decoder.upsamples.{idx}"
            res(pre, cin, cout)
            plan.append(("res", pre, None))
            idx += 1
            if any(abs(s - scale) < 1e-6 for s in cfg.get("attn_scales", [])):
                pre = f"decoder.upsamples.{idx}"
                attn(pre, cout)
                plan.append(("attn", pre, None))
                idx += 1
            cin = cout
        if i != len(mult) - 1:
            pre = f"decoder.upsamples.{idx}"
            shapes.update({pre + ".resample.1.weight": [cout // 2, cout, 3, 3], pre + ".resample.1.bias": [cout // 2]})
            if time_up[i]:
                shapes.update({pre + ".time_conv.weight": [2 * cout, cout, 3, 1, 1], pre + ".time_conv.bias": [2 * cout]})
            plan.append(("up", pre, time_up[i]))
            idx += 1
            scale *= 2.0
    last = dims[-1]
    shapes.update({"decoder.head.0.gamma": [last, 1, 1, 1], "decoder.head.2.weight": [3, last, 3, 3, 3],
                   "decoder.head.2.bias": [3]})
    return shapes, plan


def make_case(name, cfg, latent_shape, seed, half=False, std=0.1):
    g = torch.Generator().manual_seed(seed)
    shapes, _ = layer_plan(cfg)
    W32 = {}
    for k, s in sorted(shapes.items()):
        if k.endswith(".gamma"):
            t = 1.0 + 0.1 * torch.randn(s, generator=g)
        else:
            t = std * torch.randn(s, generator=g)
        W32[k] = t.half() if half else t.float()
    W = {k: v.double() for k, v in W32.items()}
    z = torch.randn(latent_shape, generator=g).float()
    with torch.no_grad():
        video = decode(cfg, W, z.double()).float()
    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.contiguous() for k, v in W32.items()}, os.path.join(OUT, f"{name}.weights.safetensors"))
    save_file({"z": z.contiguous(), "video_raw": video.contiguous()}, os.path.join(OUT, f"{name}.case.safetensors"))
    with open(os.path.join(OUT, f"{name}.config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    print(f"{name}: z {list(z.shape)} -> video {list(video.shape)}, |video| max {video.abs().max():.3f}")


def main():
    base = dict(z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1, attn_scales=[],
                temperal_downsample=[False, True, True], clamp_output=False)
    g = torch.Generator().manual_seed(0)
    mean16 = [round(float(v), 4) for v in torch.randn(16, generator=g)]
    std16 = [round(float(v), 4) for v in 0.5 + torch.rand(16, generator=g) * 2.5]
    # Wan2.1 topology at dim 4: three latents (1 + 4 + 4 frames), non-square latent grid.
    make_case("wan_dim4", dict(base, dim=4, latents_mean=mean16, latents_std=std16), [16, 3, 3, 5], seed=1)
    # Other topology: time upsampled only in the last resample, attention at scale 1, 2 res blocks,
    # z_dim 4, F16 weights.
    mean4, std4 = mean16[:4], std16[:4]
    make_case("wide", dict(dim=4, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=2, attn_scales=[1.0],
                           temperal_downsample=[True, False], latents_mean=mean4, latents_std=std4,
                           clamp_output=False), [4, 4, 3, 3], seed=2, half=True)


if __name__ == "__main__":
    main()
