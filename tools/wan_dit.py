"""A small, pure-torch reference of the Wan2.1 video DiT (text-to-video backbone).

Written for prophy as the ground truth its C model (src/wan/dit.c) is tested against.
The math and the parameter names follow Wan2.1's `wan/modules/model.py`
(WanModel); everything else (batching without padding, float64 support, the
training/sampling helpers) is ours.

Conventions
  x        [B, in_dim, F, H, W]   video (already channel-concatenated with cond)
  t        [B]                    timestep in [0, 1000]
  context  [B, L, text_dim]       fixed length L, no padding / masking
  returns  [B, out_dim, F, H, W]

Works in float32 and float64 (whatever dtype the parameters have).
Only dependency: torch (tested with Debian's torch 1.13).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------
# pieces

def sinusoidal_embedding(freq_dim, t):
    """[B] -> [B, freq_dim]; cos first, then sin; freqs 10000^(-i/half).

    Computed in float64 (as Wan does) and returned in float64."""
    assert freq_dim % 2 == 0
    half = freq_dim // 2
    pos = t.to(torch.float64)
    i = torch.arange(half, dtype=torch.float64, device=t.device)
    freqs = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -i / half)
    arg = pos[:, None] * freqs[None, :]
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)


def rope_split(head_dim):
    """Real-dimension sizes of the (t, h, w) parts of a head: Wan's split."""
    assert head_dim % 2 == 0
    s = head_dim // 6
    return head_dim - 4 * s, 2 * s, 2 * s


def rope_angles(head_dim, f, h, w, theta=10000.0, device=None):
    """Rotation angles [f*h*w, head_dim/2] for a token grid in (f, h, w) order.

    Each axis part of size d_a (real dims) has d_a/2 complex pairs with
    frequencies theta^(-2j/d_a), j = 0..d_a/2-1 (each axis uses its own d_a),
    times the token's integer position along that axis."""
    parts = []
    grid = torch.meshgrid(torch.arange(f, dtype=torch.float64, device=device),
                          torch.arange(h, dtype=torch.float64, device=device),
                          torch.arange(w, dtype=torch.float64, device=device),
                          indexing='ij')
    for d_a, pos in zip(rope_split(head_dim), grid):
        j = torch.arange(0, d_a, 2, dtype=torch.float64, device=device)
        inv = 1.0 / torch.pow(torch.tensor(theta, dtype=torch.float64), j / d_a)
        parts.append(pos.reshape(-1, 1) * inv[None, :])
    return torch.cat(parts, dim=1)  # [N, head_dim/2], float64


def rope_apply(x, cos, sin):
    """x [B, N, heads, d]; adjacent pairs (2j, 2j+1) rotated as complex numbers."""
    B, N, H, D = x.shape
    xr = x.reshape(B, N, H, D // 2, 2)
    a, b = xr[..., 0], xr[..., 1]
    c = cos[None, :, None, :]
    s = sin[None, :, None, :]
    return torch.stack([a * c - b * s, a * s + b * c], dim=-1).reshape(B, N, H, D)


def attention(q, k, v):
    """q [B,Nq,H,d], k,v [B,Nk,H,d] -> [B,Nq,H*d]; softmax scale 1/sqrt(d)."""
    B, Nq, H, D = q.shape
    q = q.transpose(1, 2) * (1.0 / math.sqrt(D))   # scale q, not the N x N scores
    k = k.transpose(1, 2)
    v = v.transpose(1, 2)
    a = torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=-1)
    o = torch.matmul(a, v)  # [B,H,Nq,d]
    return o.transpose(1, 2).reshape(B, Nq, H * D)


class RMSNorm(nn.Module):
    """Wan's RMSNorm: x * rsqrt(mean(x^2) + eps) * weight (over the full dim)."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


class LayerNorm(nn.LayerNorm):
    def __init__(self, dim, eps=1e-6, affine=False):
        super().__init__(dim, eps=eps, elementwise_affine=affine)


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, eps=1e-6):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)

    def forward(self, x, cos, sin):
        B, N, _ = x.shape
        h, d = self.heads, self.head_dim
        q = self.norm_q(self.q(x)).view(B, N, h, d)
        k = self.norm_k(self.k(x)).view(B, N, h, d)
        v = self.v(x).view(B, N, h, d)
        y = attention(rope_apply(q, cos, sin), rope_apply(k, cos, sin), v)
        return self.o(y)


class CrossAttention(SelfAttention):
    def forward(self, x, ctx):
        B, N, _ = x.shape
        L = ctx.shape[1]
        h, d = self.heads, self.head_dim
        q = self.norm_q(self.q(x)).view(B, N, h, d)
        k = self.norm_k(self.k(ctx)).view(B, L, h, d)
        v = self.v(ctx).view(B, L, h, d)
        return self.o(attention(q, k, v))


class Block(nn.Module):
    def __init__(self, dim, ffn_dim, heads, eps=1e-6):
        super().__init__()
        self.norm1 = LayerNorm(dim, eps)
        self.self_attn = SelfAttention(dim, heads, eps)
        self.norm3 = LayerNorm(dim, eps, affine=True)
        self.cross_attn = CrossAttention(dim, heads, eps)
        self.norm2 = LayerNorm(dim, eps)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(approximate='tanh'),
                                 nn.Linear(ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim ** 0.5)

    def forward(self, x, e0, cos, sin, ctx):
        # e0 [B, 6, dim]
        m = (self.modulation + e0).chunk(6, dim=1)  # each [B, 1, dim]
        y = self.self_attn(self.norm1(x) * (1 + m[1]) + m[0], cos, sin)
        x = x + y * m[2]
        x = x + self.cross_attn(self.norm3(x), ctx)
        y = self.ffn(self.norm2(x) * (1 + m[4]) + m[3])
        x = x + y * m[5]
        return x


class Head(nn.Module):
    def __init__(self, dim, out_dim, patch, eps=1e-6):
        super().__init__()
        self.norm = LayerNorm(dim, eps)
        self.head = nn.Linear(dim, math.prod(patch) * out_dim)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim ** 0.5)

    def forward(self, x, e):
        # e [B, dim] (the time embedding, not the 6-way projection)
        m = (self.modulation + e.unsqueeze(1)).chunk(2, dim=1)
        return self.head(self.norm(x) * (1 + m[1]) + m[0])


# --------------------------------------------------------------------------
# the model

class WanDiT(nn.Module):
    def __init__(self, dim=64, ffn_dim=96, heads=2, layers=2, patch=(2, 2, 2),
                 in_dim=7, out_dim=3, text_dim=24, text_len=5, freq_dim=32,
                 eps=1e-6, **_ignored):
        super().__init__()
        assert dim % heads == 0 and (dim // heads) % 2 == 0
        self.dim, self.ffn_dim, self.heads, self.layers = dim, ffn_dim, heads, layers
        self.patch = tuple(int(p) for p in patch)
        self.in_dim, self.out_dim = in_dim, out_dim
        self.text_dim, self.text_len, self.freq_dim = text_dim, text_len, freq_dim
        self.eps = eps

        self.patch_embedding = nn.Conv3d(in_dim, dim, kernel_size=self.patch,
                                         stride=self.patch)
        self.text_embedding = nn.Sequential(nn.Linear(text_dim, dim),
                                            nn.GELU(approximate='tanh'),
                                            nn.Linear(dim, dim))
        self.time_embedding = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(),
                                            nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.blocks = nn.ModuleList([Block(dim, ffn_dim, heads, eps)
                                     for _ in range(layers)])
        self.head = Head(dim, out_dim, self.patch, eps)
        self._rope_cache = {}

    def config(self):
        return dict(dim=self.dim, ffn_dim=self.ffn_dim, heads=self.heads,
                    layers=self.layers, patch=list(self.patch), in_dim=self.in_dim,
                    out_dim=self.out_dim, text_dim=self.text_dim,
                    text_len=self.text_len, freq_dim=self.freq_dim, eps=self.eps)

    def _rope(self, f, h, w, dtype, device):
        key = (f, h, w, dtype, device)
        if key not in self._rope_cache:
            ang = rope_angles(self.dim // self.heads, f, h, w, device=device)
            self._rope_cache[key] = (torch.cos(ang).to(dtype), torch.sin(ang).to(dtype))
        return self._rope_cache[key]

    def forward(self, x, t, context):
        B, C, Fr, H, W = x.shape
        pt, ph, pw = self.patch
        assert C == self.in_dim and Fr % pt == 0 and H % ph == 0 and W % pw == 0
        dtype = self.patch_embedding.weight.dtype
        f, h, w = Fr // pt, H // ph, W // pw

        # patch embedding; tokens in (f, h, w) order
        x = self.patch_embedding(x.to(dtype))          # [B, dim, f, h, w]
        x = x.flatten(2).transpose(1, 2)               # [B, N, dim]

        # time
        e = self.time_embedding(sinusoidal_embedding(self.freq_dim, t).to(dtype))
        e0 = self.time_projection(e).unflatten(1, (6, self.dim))

        # text
        ctx = self.text_embedding(context.to(dtype))

        cos, sin = self._rope(f, h, w, dtype, x.device)
        for blk in self.blocks:
            x = blk(x, e0, cos, sin, ctx)

        x = self.head(x, e)                            # [B, N, pt*ph*pw*out]
        return self.unpatchify(x, f, h, w)

    def unpatchify(self, x, f, h, w):
        """Wan's einsum 'fhwpqrc->cfphqwr': features ordered (pt, ph, pw, c)."""
        B = x.shape[0]
        pt, ph, pw = self.patch
        c = self.out_dim
        x = x.reshape(B, f, h, w, pt, ph, pw, c)
        x = torch.einsum('bfhwpqrc->bcfphqwr', x)
        return x.reshape(B, c, f * pt, h * ph, w * pw)


# --------------------------------------------------------------------------
# FLOPs (the C bench uses the same formula)

def forward_flops(cfg, frames, height, width):
    """Forward FLOPs per sample (multiply-add = 2)."""
    pt, ph, pw = cfg['patch']
    dim, ffn = cfg['dim'], cfg['ffn_dim']
    N = (frames // pt) * (height // ph) * (width // pw)
    L = cfg['text_len']
    P = cfg['in_dim'] * pt * ph * pw
    Po = cfg['out_dim'] * pt * ph * pw
    fl = 2 * N * P * dim                                           # patch
    fl += 2 * L * (cfg['text_dim'] * dim + dim * dim)              # text
    fl += 2 * (cfg['freq_dim'] * dim + dim * dim + dim * 6 * dim)  # time
    per = (2 * N * 4 * dim * dim      # self q,k,v,o
           + 4 * N * N * dim          # self attention (QK^T and AV)
           + 2 * N * 2 * dim * dim    # cross q,o
           + 2 * L * 2 * dim * dim    # cross k,v
           + 4 * N * L * dim          # cross attention
           + 2 * N * 2 * dim * ffn)   # ffn
    fl += cfg['layers'] * per
    fl += 2 * N * dim * Po                                         # head
    return fl


def train_flops(cfg, frames, height, width):
    return 3 * forward_flops(cfg, frames, height, width)


# --------------------------------------------------------------------------
# flow matching and sampling

def flow_matching_loss(model, x0, noise, s, cond, context, return_pred=False):
    """x_t = (1-s) x0 + s eps; input cat([x_t, cond]); t = 1000 s; target eps - x0;
    loss = mean squared error over all elements."""
    sb = s.view(-1, 1, 1, 1, 1).to(x0.dtype)
    xt = (1 - sb) * x0 + sb * noise
    inp = torch.cat([xt, cond], dim=1) if cond is not None and cond.shape[1] > 0 else xt
    pred = model(inp, 1000.0 * s, context)
    loss = torch.mean((pred - (noise - x0)) ** 2)
    return (loss, pred) if return_pred else loss


def shifted_sigmas(steps, shift):
    sig = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    return shift * sig / (1 + (shift - 1) * sig)


@torch.no_grad()
def sample(model, noise, cond, context, steps, shift=3.0, cfg=1.0):
    """Euler flow-matching sampler with Wan's shift and CFG (uncond = zero context)."""
    sig = shifted_sigmas(steps, shift)
    x = noise.clone()
    B = x.shape[0]
    zero_ctx = torch.zeros_like(context)
    for i in range(steps):
        inp = torch.cat([x, cond], dim=1) if cond is not None and cond.shape[1] > 0 else x
        t = torch.full((B,), 1000.0 * float(sig[i]), dtype=torch.float64)
        v = model(inp, t, context)
        if cfg != 1.0:
            vu = model(inp, t, zero_ctx)
            v = vu + cfg * (v - vu)
        x = x + float(sig[i + 1] - sig[i]) * v
    return x
