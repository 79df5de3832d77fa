"""Writes the golden cases of worldflow-dit into ../tests/goldens (run from anywhere):

    python3 engines/dit/reference/make_goldens.py

Model: our own PyTorch implementation (dit_torch.py), computed in float64 and stored as float32.
Config: the tiny Wan config plus an 81-way action embedding and the PRoPE camera branch; all
weights random (std 0.1, norm scales 1 + 0.1·N(0,1)), including the branches that training would
zero-initialise, so that every path is exercised.
Cases:
  case_a: per-frame timesteps, no actions, no cameras (PRoPE = identity), full attention.
  case_b: actions, cameras, RoPE time offset 5.., block-causal groups [2, 2], short prompt.
  case_c: the `worldflow model check` input format with controls: x, t, context, actions [F],
          c2w [F, 4, 4], intrinsics [F, 4] (full attention, RoPE times 0..F), and the expected out.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dit_torch  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens")

CFG = {
    "patch_size": [1, 2, 2], "text_len": 16, "in_dim": 16, "dim": 64, "ffn_dim": 128, "freq_dim": 32,
    "text_dim": 32, "out_dim": 16, "num_heads": 4, "num_layers": 2, "qk_norm": True,
    "cross_attn_norm": True, "eps": 1e-6, "action_classes": 81, "camera_attention": True,
}


def shapes(c):
    d = c["dim"]
    s = {"patch_embedding.weight": [d, c["in_dim"], 1, 2, 2], "patch_embedding.bias": [d]}

    def lin(n, o, i):
        s[n + ".weight"] = [o, i]
        s[n + ".bias"] = [o]
    lin("text_embedding.0", d, c["text_dim"]); lin("text_embedding.2", d, d)
    lin("time_embedding.0", d, c["freq_dim"]); lin("time_embedding.2", d, d)
    lin("time_projection.1", 6 * d, d)
    for i in range(c["num_layers"]):
        b = f"blocks.{i}"
        s[b + ".modulation"] = [1, 6, d]
        for a in ["self_attn", "cross_attn"]:
            for p in "qkvo":
                lin(f"{b}.{a}.{p}", d, d)
            s[f"{b}.{a}.norm_q.weight"] = [d]
            s[f"{b}.{a}.norm_k.weight"] = [d]
        lin(f"{b}.self_attn.prope_o", d, d)
        s[b + ".norm3.weight"] = [d]; s[b + ".norm3.bias"] = [d]
        lin(b + ".ffn.0", c["ffn_dim"], d); lin(b + ".ffn.2", d, c["ffn_dim"])
    s["head.modulation"] = [1, 2, d]
    lin("head.head", 4 * c["out_dim"], d)
    lin("action_embedding.0", d, c["freq_dim"]); lin("action_embedding.2", d, d)
    return s


def camera(i):
    a = 0.15 * i
    c2w = torch.tensor([[torch.cos(torch.tensor(a)), 0, torch.sin(torch.tensor(a)), 0.3 * i],
                        [0, 1, 0, -0.1 * i], [-torch.sin(torch.tensor(a)), 0, torch.cos(torch.tensor(a)), 0.2],
                        [0, 0, 0, 1]], dtype=torch.float64)
    return c2w, torch.tensor([50.0 + i, 48.0, 32.0, 24.0], dtype=torch.float64)


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    W = {}
    for n, s in shapes(CFG).items():
        if "norm_q" in n or "norm_k" in n or n.endswith("norm3.weight"):
            W[n] = 1 + 0.1 * torch.randn(s, generator=g, dtype=torch.float64)
        else:
            W[n] = 0.1 * torch.randn(s, generator=g, dtype=torch.float64)
    W32 = {k: v.float().contiguous() for k, v in W.items()}
    save_file(W32, os.path.join(OUT, "dit_tiny_ctrl.weights.safetensors"))
    W = {k: v.double() for k, v in W32.items()}  # the stored (rounded) weights
    with open(os.path.join(OUT, "dit_tiny_ctrl.config.json"), "w") as f:
        json.dump(CFG, f, indent=2)

    # case A
    Fr, H, Wd = 3, 8, 8
    x = torch.randn(16, Fr, H, Wd, generator=g, dtype=torch.float64).float().double()
    t = torch.tensor([999.0, 500.0, 13.0], dtype=torch.float64)
    ctx = torch.randn(16, 32, generator=g, dtype=torch.float64).float().double()
    out = dit_torch.forward(W, CFG, x, t, ctx)
    save_file({"x": x.float(), "t": t.float(), "context": ctx.float(), "out": out.float()},
              os.path.join(OUT, "dit_tiny_ctrl.case_a.safetensors"))

    # case B
    Fr, H, Wd = 4, 6, 8
    x = torch.randn(16, Fr, H, Wd, generator=g, dtype=torch.float64).float().double()
    t = torch.tensor([0.0, 0.0, 750.0, 750.0], dtype=torch.float64)
    ctx = torch.randn(7, 32, generator=g, dtype=torch.float64).float().double()
    actions = torch.tensor([0.0, 80.0, 13.0, 41.0], dtype=torch.float64)
    cams = [camera(i) for i in range(Fr)]
    c2w = torch.stack([c[0] for c in cams]).float().double()
    intr = torch.stack([c[1] for c in cams]).float().double()
    rope_time = [5, 6, 7, 8]
    groups = [2, 2]
    out = dit_torch.forward(W, CFG, x, t, ctx, actions=actions, c2w=c2w, intr=intr, rope_time=rope_time, groups=groups)
    save_file({"x": x.float(), "t": t.float(), "context": ctx.float(), "actions": actions.float(),
               "c2w": c2w.float(), "intrinsics": intr.float(),
               "rope_time": torch.tensor(rope_time, dtype=torch.float32),
               "groups": torch.tensor(groups, dtype=torch.float32), "out": out.float()},
              os.path.join(OUT, "dit_tiny_ctrl.case_b.safetensors"))
    # case C (drawn after case B, so cases A and B are unchanged)
    Fr, H, Wd = 2, 4, 6
    x = torch.randn(16, Fr, H, Wd, generator=g, dtype=torch.float64).float().double()
    t = torch.tensor([640.0, 80.0], dtype=torch.float64)
    ctx = torch.randn(5, 32, generator=g, dtype=torch.float64).float().double()
    actions = torch.tensor([72.0, 9.0], dtype=torch.float64)
    cams = [camera(i) for i in (3, 5)]
    c2w = torch.stack([c[0] for c in cams]).float().double()
    intr = torch.stack([c[1] for c in cams]).float().double()
    out = dit_torch.forward(W, CFG, x, t, ctx, actions=actions, c2w=c2w, intr=intr)
    save_file({"x": x.float(), "t": t.float(), "context": ctx.float(), "actions": actions.float(),
               "c2w": c2w.float(), "intrinsics": intr.float(), "out": out.float()},
              os.path.join(OUT, "dit_tiny_ctrl.case_c.safetensors"))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
