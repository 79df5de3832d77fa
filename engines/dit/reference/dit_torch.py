"""Independent PyTorch implementation of the worldflow-dit architecture (Wan2.1-family DiT with
per-frame timesteps, block-causal masks, RoPE time offsets, action embedding and PRoPE camera
attention). Written from the architecture description, not from the upstream code. float64-capable
(pass dtype) so goldens can be produced at higher precision than the Rust f32 engine."""
import math
import torch
import torch.nn.functional as F


def sinusoid(dim, pos):
    half = dim // 2
    pos = torch.as_tensor(pos, dtype=torch.float64).reshape(-1)
    w = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64) / half)
    a = pos[:, None] * w[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


def lin(W, name, x):
    return x @ W[name + ".weight"].T + W[name + ".bias"]


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def ln(x, eps):
    return F.layer_norm(x, (x.shape[-1],), eps=eps)


def rope_angles(head_dim, pos):
    """pos: [N, 3] (t, h, w) → angles [N, head_dim/2]."""
    c = head_dim // 2
    parts = [c - 2 * (c // 3), c // 3, c // 3]
    cols = []
    for axis, n in enumerate(parts):
        inv = 1.0 / torch.pow(10000.0, torch.arange(0, 2 * n, 2, dtype=torch.float64) / (2 * n))
        cols.append(pos[:, axis:axis + 1].double() * inv[None])
    return torch.cat(cols, dim=1)


def rope(x, ang):
    """x: [N, H, d]; pairs (2j, 2j+1) rotated by ang [N, d/2]."""
    xr = x.reshape(*x.shape[:-1], -1, 2)
    a, b = xr[..., 0], xr[..., 1]
    cos, sin = torch.cos(ang)[:, None].to(x.dtype), torch.sin(ang)[:, None].to(x.dtype)
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).reshape(x.shape)


def prope_mats(c2w, intr):
    """c2w [F,4,4], intr [F,4] (fx, fy, cx, cy) → P, P^-1 [F,4,4] (float64)."""
    Fn = c2w.shape[0]
    K = torch.zeros(Fn, 4, 4, dtype=torch.float64)
    K[:, 0, 0] = intr[:, 0] / (2 * intr[:, 2])
    K[:, 1, 1] = intr[:, 1] / (2 * intr[:, 3])
    K[:, 0, 2] = 0.5
    K[:, 1, 2] = 0.5
    K[:, 2, 2] = 1
    K[:, 3, 3] = 1
    P = K @ torch.linalg.inv(c2w.double())
    return P, torch.linalg.inv(P)


def blockmul(M, x, transpose=False):
    """x [N, H, d] per 4-block times M [N,4,4] (or M^T)."""
    N, H, d = x.shape
    xb = x.reshape(N, H, d // 4, 4)
    Mt = M.transpose(1, 2) if transpose else M
    return torch.einsum("nij,nhbj->nhbi", Mt.to(x.dtype), xb).reshape(N, H, d)


def attend(q, k, v, mask):
    """q [N,H,d], k/v [M,H,d], mask [N,M] bool (True = visible) or None."""
    s = torch.einsum("nhd,mhd->hnm", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask[None], float("-inf"))
    return torch.einsum("hnm,mhd->nhd", torch.softmax(s, dim=-1), v)


def forward(W, cfg, x, t, context, actions=None, c2w=None, intr=None, rope_time=None, groups=None):
    """x [C,F,H,W], t [F], context [L, text_dim] → [C,F,H,W]."""
    dt = x.dtype
    C, Fr, Hh, Ww = x.shape
    _, ph, pw = cfg["patch_size"]
    D, nh = cfg["dim"], cfg["num_heads"]
    hd = D // nh
    eps = cfg["eps"]
    gh, gw = Hh // ph, Ww // pw
    tpf = gh * gw
    N = Fr * tpf
    # patch embedding as a strided conv
    pe = F.conv3d(x[None], W["patch_embedding.weight"], W["patch_embedding.bias"], stride=(1, ph, pw))[0]
    h = pe.flatten(1).T  # [N, D]
    # per-frame embeddings
    e = lin(W, "time_embedding.2", F.silu(lin(W, "time_embedding.0", sinusoid(cfg["freq_dim"], t).to(dt))))
    if actions is not None:
        e = e + lin(W, "action_embedding.2", F.silu(lin(W, "action_embedding.0", sinusoid(cfg["freq_dim"], actions).to(dt))))
    e0 = lin(W, "time_projection.1", F.silu(e)).reshape(Fr, 6, D)
    frame_of = torch.arange(N) // tpf
    # text
    ctx = torch.zeros(cfg["text_len"], cfg["text_dim"], dtype=dt)
    ctx[: context.shape[0]] = context
    ctx = lin(W, "text_embedding.2", F.gelu(lin(W, "text_embedding.0", ctx), approximate="tanh"))
    # rope + mask
    rt = torch.arange(Fr) if rope_time is None else torch.as_tensor(rope_time)
    pos = torch.stack([rt[frame_of], (torch.arange(N) % tpf) // gw, torch.arange(N) % gw], dim=1)
    ang = rope_angles(hd, pos)
    mask = None
    if groups is not None:
        ends = torch.cumsum(torch.as_tensor(groups), 0)
        grp = torch.bucketize(frame_of, ends, right=True)
        end_tok = ends[grp] * tpf
        mask = torch.arange(N)[None] < end_tok[:, None]
    cam = cfg.get("camera_attention", False)
    if cam:
        if c2w is None:
            P = torch.eye(4, dtype=torch.float64).repeat(Fr, 1, 1)
            Pi = P.clone()
        else:
            P, Pi = prope_mats(c2w, intr)
        Pt, Pit = P[frame_of], Pi[frame_of]
    for i in range(cfg["num_layers"]):
        b = f"blocks.{i}"
        m = (W[b + ".modulation"][0][None] + e0)[frame_of]  # [N, 6, D]
        y = ln(h, eps) * (1 + m[:, 1]) + m[:, 0]
        q = rms(lin(W, b + ".self_attn.q", y), W[b + ".self_attn.norm_q.weight"], eps).reshape(N, nh, hd)
        k = rms(lin(W, b + ".self_attn.k", y), W[b + ".self_attn.norm_k.weight"], eps).reshape(N, nh, hd)
        v = lin(W, b + ".self_attn.v", y).reshape(N, nh, hd)
        o = attend(rope(q, ang), rope(k, ang), v, mask).reshape(N, D)
        sa = lin(W, b + ".self_attn.o", o)
        if cam:
            oc = attend(blockmul(Pt, q, True), blockmul(Pit, k), blockmul(Pit, v), mask)
            sa = sa + lin(W, b + ".self_attn.prope_o", blockmul(Pt, oc).reshape(N, D))
        h = h + sa * m[:, 2]
        y = F.layer_norm(h, (D,), W[b + ".norm3.weight"], W[b + ".norm3.bias"], eps)
        q = rms(lin(W, b + ".cross_attn.q", y), W[b + ".cross_attn.norm_q.weight"], eps).reshape(N, nh, hd)
        k = rms(lin(W, b + ".cross_attn.k", ctx), W[b + ".cross_attn.norm_k.weight"], eps).reshape(-1, nh, hd)
        v = lin(W, b + ".cross_attn.v", ctx).reshape(-1, nh, hd)
        h = h + lin(W, b + ".cross_attn.o", attend(q, k, v, None).reshape(N, D))
        y = ln(h, eps) * (1 + m[:, 4]) + m[:, 3]
        h = h + lin(W, b + ".ffn.2", F.gelu(lin(W, b + ".ffn.0", y), approximate="tanh")) * m[:, 5]
    hm = W["head.modulation"][0][None] + e[frame_of][:, None]  # [N, 2, D]
    out = lin(W, "head.head", ln(h, eps) * (1 + hm[:, 1]) + hm[:, 0])  # [N, ph*pw*C]
    Co = cfg["out_dim"]
    out = out.reshape(Fr, gh, gw, ph, pw, Co).permute(5, 0, 1, 3, 2, 4).reshape(Co, Fr, Hh, Ww)
    return out


def block_forward(W, cfg, h, e0, ang, ctx_kv, i=0):
    """One block on tokens h [N, D] with full attention (benchmark helper). Float32, uses SDPA."""
    D, nh = cfg["dim"], cfg["num_heads"]
    hd = D // nh
    eps = cfg["eps"]
    N = h.shape[0]
    b = f"blocks.{i}"
    m = W[b + ".modulation"][0] + e0  # [6, D]
    y = ln(h, eps) * (1 + m[1]) + m[0]
    q = rms(lin(W, b + ".self_attn.q", y), W[b + ".self_attn.norm_q.weight"], eps).reshape(N, nh, hd)
    k = rms(lin(W, b + ".self_attn.k", y), W[b + ".self_attn.norm_k.weight"], eps).reshape(N, nh, hd)
    v = lin(W, b + ".self_attn.v", y).reshape(N, nh, hd)
    q, k = rope(q, ang), rope(k, ang)
    o = F.scaled_dot_product_attention(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)).transpose(0, 1)
    h = h + lin(W, b + ".self_attn.o", o.reshape(N, D)) * m[2]
    y = F.layer_norm(h, (D,), W[b + ".norm3.weight"], W[b + ".norm3.bias"], eps)
    q = rms(lin(W, b + ".cross_attn.q", y), W[b + ".cross_attn.norm_q.weight"], eps).reshape(N, nh, hd)
    ck, cv = ctx_kv
    o = F.scaled_dot_product_attention(q.transpose(0, 1), ck, cv).transpose(0, 1)
    h = h + lin(W, b + ".cross_attn.o", o.reshape(N, D))
    y = ln(h, eps) * (1 + m[4]) + m[3]
    return h + lin(W, b + ".ffn.2", F.gelu(lin(W, b + ".ffn.0", y), approximate="tanh")) * m[5]
