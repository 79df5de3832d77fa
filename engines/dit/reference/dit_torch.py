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


# ---------------------------------------------------------------------------------------------------------
# The same architecture written for speed, the way a PyTorch engineer would run it in float32 on CPU:
# `F.linear`, `F.layer_norm` / `F.rms_norm`, `scaled_dot_product_attention` (with the block-causal mask as a
# boolean `attn_mask`), RoPE as a complex multiply with the rotations computed once per forward, the
# per-frame modulation computed once per layer and broadcast over the frame's tokens (no per-token [N, 6, D]
# copy), the PRoPE transforms applied per frame with `matmul`, and the text keys/values computed once per
# prompt (`text_kv`), as the Rust engine does. Same outputs as `forward` (to float32 rounding).


def _linear(W, name, x):
    return F.linear(x, W[name + ".weight"], W[name + ".bias"])


def text_kv(W, cfg, context):
    """Per prompt: each layer's cross-attention keys and values, [H, text_len, d] each."""
    D, nh = cfg["dim"], cfg["num_heads"]
    hd, eps = D // nh, cfg["eps"]
    ctx = context.new_zeros(cfg["text_len"], cfg["text_dim"])
    ctx[: context.shape[0]] = context
    ctx = _linear(W, "text_embedding.2", F.gelu(_linear(W, "text_embedding.0", ctx), approximate="tanh"))
    kv = []
    for i in range(cfg["num_layers"]):
        b = f"blocks.{i}.cross_attn"
        k = F.rms_norm(_linear(W, b + ".k", ctx), (D,), W[b + ".norm_k.weight"], eps)
        v = _linear(W, b + ".v", ctx)
        kv.append((k.view(-1, nh, hd).transpose(0, 1), v.view(-1, nh, hd).transpose(0, 1)))
    return kv


def forward_sdpa(W, cfg, x, t, kv, actions=None, c2w=None, intr=None, rope_time=None, groups=None):
    """As `forward` (float32), with the text K/V from `text_kv`. x [C,F,H,W], t [F] → [C,F,H,W]."""
    dt = x.dtype
    C, Fr, Hh, Ww = x.shape
    _, ph, pw = cfg["patch_size"]
    D, nh = cfg["dim"], cfg["num_heads"]
    hd, eps = D // nh, cfg["eps"]
    gh, gw = Hh // ph, Ww // pw
    tpf = gh * gw
    N = Fr * tpf
    sdpa = F.scaled_dot_product_attention
    h = F.conv3d(x[None], W["patch_embedding.weight"], W["patch_embedding.bias"], stride=(1, ph, pw))[0]
    h = h.flatten(1).T.contiguous()  # [N, D]
    e = _linear(W, "time_embedding.2", F.silu(_linear(W, "time_embedding.0", sinusoid(cfg["freq_dim"], t).to(dt))))
    if actions is not None:
        e = e + _linear(W, "action_embedding.2",
                        F.silu(_linear(W, "action_embedding.0", sinusoid(cfg["freq_dim"], actions).to(dt))))
    e0 = _linear(W, "time_projection.1", F.silu(e)).view(Fr, 1, 6, D)
    frame_of = torch.arange(N) // tpf
    rt = torch.arange(Fr) if rope_time is None else torch.as_tensor(rope_time)
    pos = torch.stack([rt[frame_of], (torch.arange(N) % tpf) // gw, torch.arange(N) % gw], dim=1)
    ang = rope_angles(hd, pos)
    rot = torch.polar(torch.ones_like(ang), ang).to(torch.complex64)[:, None]  # [N, 1, d/2]
    mask = None
    if groups is not None:
        ends = torch.cumsum(torch.as_tensor(groups), 0)
        end_tok = ends[torch.bucketize(frame_of, ends, right=True)] * tpf
        mask = torch.arange(N)[None] < end_tok[:, None]  # [N, N], True = visible
    cam = cfg.get("camera_attention", False)
    if cam:
        if c2w is None:
            P = torch.eye(4, dtype=torch.float64).repeat(Fr, 1, 1)
            Pi = P.clone()
        else:
            P, Pi = prope_mats(c2w, intr)
        P, Pi = P.to(dt)[:, None, None], Pi.to(dt)[:, None, None]  # [F, 1, 1, 4, 4]
        PT, PiT = P.transpose(-1, -2), Pi.transpose(-1, -2)

    def per_frame(z, M):  # z [N, H, d] → each token's 4-blocks times M of its frame (z_b @ M)
        return (z.reshape(Fr, tpf, nh, hd // 4, 4) @ M).view(N, nh, hd)

    def heads(z):  # [N, H, d] → [H, N, d]
        return z.transpose(0, 1)

    def rope(z):
        return torch.view_as_real(torch.view_as_complex(z.reshape(N, nh, hd // 2, 2)) * rot).view(N, nh, hd)

    for i in range(cfg["num_layers"]):
        b = f"blocks.{i}"
        m = W[b + ".modulation"][0] + e0  # [F, 1, 6, D], once per layer
        hv = h.view(Fr, tpf, D)
        y = (F.layer_norm(hv, (D,), eps=eps) * (1 + m[:, :, 1]) + m[:, :, 0]).view(N, D)
        q = F.rms_norm(_linear(W, b + ".self_attn.q", y), (D,), W[b + ".self_attn.norm_q.weight"], eps).view(N, nh, hd)
        k = F.rms_norm(_linear(W, b + ".self_attn.k", y), (D,), W[b + ".self_attn.norm_k.weight"], eps).view(N, nh, hd)
        v = _linear(W, b + ".self_attn.v", y).view(N, nh, hd)
        o = sdpa(heads(rope(q)), heads(rope(k)), heads(v), attn_mask=mask)
        sa = _linear(W, b + ".self_attn.o", o.transpose(0, 1).reshape(N, D))
        if cam:
            oc = sdpa(heads(per_frame(q, P)), heads(per_frame(k, PiT)), heads(per_frame(v, PiT)), attn_mask=mask)
            sa = sa + _linear(W, b + ".self_attn.prope_o", per_frame(oc.transpose(0, 1), PT).reshape(N, D))
        h = h + (sa.view(Fr, tpf, D) * m[:, :, 2]).view(N, D)
        y = F.layer_norm(h, (D,), W[b + ".norm3.weight"], W[b + ".norm3.bias"], eps)
        q = F.rms_norm(_linear(W, b + ".cross_attn.q", y), (D,), W[b + ".cross_attn.norm_q.weight"], eps)
        ck, cv = kv[i]
        o = sdpa(q.view(N, nh, hd).transpose(0, 1), ck, cv)
        h = h + _linear(W, b + ".cross_attn.o", o.transpose(0, 1).reshape(N, D))
        hv = h.view(Fr, tpf, D)
        y = (F.layer_norm(hv, (D,), eps=eps) * (1 + m[:, :, 4]) + m[:, :, 3]).view(N, D)
        f = _linear(W, b + ".ffn.2", F.gelu(_linear(W, b + ".ffn.0", y), approximate="tanh"))
        h = h + (f.view(Fr, tpf, D) * m[:, :, 5]).view(N, D)
    hm = (W["head.modulation"][0] + e[:, None])[:, None]  # [F, 1, 2, D]
    y = F.layer_norm(h.view(Fr, tpf, D), (D,), eps=eps) * (1 + hm[:, :, 1]) + hm[:, :, 0]
    out = _linear(W, "head.head", y.view(N, D))  # [N, ph*pw*C]
    Co = cfg["out_dim"]
    return out.reshape(Fr, gh, gw, ph, pw, Co).permute(5, 0, 1, 3, 2, 4).reshape(Co, Fr, Hh, Ww)
