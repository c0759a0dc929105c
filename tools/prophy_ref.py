#!/usr/bin/python3
"""PyTorch reference of the assembled ProPhy model (src/prophy/model.h): the small
text encoder, the Wan2.1 backbone of tools/wan_dit.py, and the physical branch
(SEB, Physical Blocks with zero-initialisable injections, top-k REB), with the
four losses.  Writes tests/fixtures/prophy_ref.safetensors, which
tests/test_prophy_ref.c matches.

    /usr/bin/python3 tools/prophy_ref.py [OUT] [--f32]

Everything is computed in float64 (inputs and weights rounded to float32 first)
and stored as F32.  Parameter names are the C model's (= named_parameters()).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wan_dit  # noqa: E402
from make_dit_fixture import write_safetensors  # noqa: E402

PAD, UNK, EOS = 0, 1, 2
NCAT = 17


# --------------------------------------------------------------------------
# text encoder (src/text/text_encoder.h)

class TextBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = nn.Module()
        for n in 'qkvo':
            setattr(self.attn, n, nn.Linear(d, d))
        self.norm2 = nn.LayerNorm(d, eps=1e-5)
        self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate='tanh'), nn.Linear(4 * d, d))

    def forward(self, x, keymask):
        B, L, d = x.shape
        h, hd = self.heads, d // self.heads
        y = self.norm1(x)
        q = self.attn.q(y).view(B, L, h, hd).transpose(1, 2) / math.sqrt(hd)
        k = self.attn.k(y).view(B, L, h, hd).transpose(1, 2)
        v = self.attn.v(y).view(B, L, h, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2)
        s = s.masked_fill(~keymask[:, None, None, :], float('-inf'))
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, L, d)
        x = x + self.attn.o(o)
        return x + self.ffn(self.norm2(x))


class TextEncoder(nn.Module):
    """ids [B,L] -> [B,L,d]; keys after the last non-pad id are masked; pad rows zeroed."""

    def __init__(self, vocab, d, heads, layers, ctx, zero_pads=True):
        super().__init__()
        self.zero_pads = zero_pads
        self.token_embedding = nn.Embedding(vocab, d)
        self.position_embedding = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([TextBlock(d, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(d, eps=1e-5)

    def forward(self, ids):
        B, L = ids.shape
        pos = torch.arange(L)
        nonpad = ids != PAD
        last = torch.where(nonpad, pos[None, :], torch.full_like(ids, -1)).max(dim=1).values
        nvalid = torch.clamp(last + 1, min=1)
        keymask = pos[None, :] < nvalid[:, None]
        x = self.token_embedding(ids) + self.position_embedding(pos)[None]
        for blk in self.blocks:
            x = blk(x, keymask)
        out = self.norm(x)
        if self.zero_pads:
            out = out * nonpad[..., None].to(out.dtype)
        return out


# --------------------------------------------------------------------------
# the branch (src/branch/*.h)

class SEB(nn.Module):
    def __init__(self, E, C, text_dim, hidden, grid):
        super().__init__()
        self.grid = tuple(grid)
        self.basis = nn.Parameter(torch.zeros(E, math.prod(grid), C))
        self.router = nn.Sequential(nn.Linear(text_dim, hidden), nn.SiLU(), nn.Linear(hidden, E))

    def forward(self, x, pooled, grid):
        rho = torch.softmax(self.router(pooled), dim=-1)             # [B,E]
        maps = self.basis
        if tuple(grid) != self.grid:                                   # trilinear, align_corners=False
            E, _, C = maps.shape
            m5 = maps.view(E, *self.grid, C).permute(0, 4, 1, 2, 3)
            m5 = F.interpolate(m5, size=tuple(grid), mode='trilinear', align_corners=False)
            maps = m5.permute(0, 2, 3, 4, 1).reshape(E, -1, C)
        return x + torch.einsum('be,enc->bnc', rho, maps), rho


class REB(nn.Module):
    def __init__(self, E, C, top_k):
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(C, E)
        self.experts = nn.ModuleList([nn.Linear(C, C) for _ in range(E)])

    def forward(self, x):
        """x [T,C] -> out [T,C], rho [T,E], sel [T,k] (descending; ties -> lower index)."""
        rho = torch.softmax(self.router(x), dim=-1)
        sel = torch.sort(rho.detach(), dim=-1, descending=True, stable=True).indices[:, :self.top_k]
        g = torch.gather(rho, 1, sel)                                 # [T,k]
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):                     # grouped by expert, as the C code
            tok, slot = torch.nonzero(sel == e, as_tuple=True)
            if tok.numel():
                out = out.index_add(0, tok, g[tok, slot, None] * expert(x[tok]))
        return out, rho, sel


def cos_matrix(a, eps=1e-8):
    n = torch.clamp(a.norm(dim=1), min=eps)
    return (a @ a.t()) / (n[:, None] * n[None, :])


def coarse_loss(qhat, q):
    B = q.shape[0]
    iu = torch.triu_indices(B, B, offset=1)
    d = cos_matrix(qhat)[iu[0], iu[1]] - cos_matrix(q)[iu[0], iu[1]]
    return d.abs().sum()


def fine_align_loss(pr, Q, labels):
    """pr, Q [B,N,17]; mean over the masked entries."""
    mask = (labels[:, None, :] > 0.5) & (Q > 0)
    if int(mask.sum()) == 0:
        return pr.sum() * 0
    return ((pr - Q) ** 2)[mask].sum() / mask.sum()


def balance_loss(rho, sel, E):
    T, k = sel.shape
    f = torch.bincount(sel.reshape(-1), minlength=E).to(rho.dtype) / (T * k)
    return E * (f * rho.mean(dim=0)).sum()


class Branch(nn.Module):
    def __init__(self, c):
        super().__init__()
        dim, ffn, heads, eps = c['dim'], c['ffn_dim'], c['heads'], c['eps']
        b = c['branch']
        self.mode, self.M = b['mode'], b['M']
        self.has_seb = self.mode in ('seb', 'full')
        self.has_reb = self.mode in ('reb', 'full')
        if self.has_seb:
            self.seb = SEB(b['E_s'], dim, c['text_dim'], b['seb_hidden'], b['grid'])
        self.pb = nn.ModuleList([wan_dit.Block(dim, ffn, heads, eps) for _ in range(self.M)])
        self.inject = nn.ModuleList([nn.Linear(dim, dim) for _ in range(self.M)])
        if self.has_reb:
            self.reb = REB(b['E_r'], dim, b['top_k'])
            self.reb_inject = nn.Linear(dim, dim)
        self.align = nn.Module()
        if self.has_seb:
            self.align.coarse = nn.Linear(b['E_s'], NCAT)
        if self.has_reb:
            h = b['fine_hidden']
            self.align.fine = nn.Sequential(nn.Linear(b['E_r'], h), nn.GELU(approximate='tanh'),
                                            nn.Linear(h, NCAT))


# --------------------------------------------------------------------------
# the assembled model

class ProPhy(wan_dit.WanDiT):
    """WanDiT (the backbone, under Wan's names) + text_encoder.* + branch.*."""

    def __init__(self, c):
        super().__init__(**c)
        t = c['text_encoder']
        self.text_encoder = TextEncoder(t['vocab'], c['text_dim'], t['heads'], t['layers'],
                                        c['text_len'], bool(t['zero_pads']))
        self.branch = Branch(c) if c['branch']['mode'] != 'none' else None
        b = c['branch']
        self.w = (b['w_coarse'], b['w_fine_align'], b['w_balance'])

    def forward_all(self, x, t, ids):
        """Returns out [B,out,F,H,W] and a dict of what the losses need."""
        B, C, Fr, H, W = x.shape
        pt, ph, pw = self.patch
        dtype = self.patch_embedding.weight.dtype
        f, h, w = Fr // pt, H // ph, W // pw
        ctx_raw = self.text_encoder(ids)
        nonpad = (ids != PAD).to(dtype)
        n = nonpad.sum(dim=1, keepdim=True)
        pooled = (ctx_raw * nonpad[..., None]).sum(dim=1) / torch.clamp(n, min=1)
        s = self.patch_embedding(x.to(dtype)).flatten(2).transpose(1, 2)   # [B,N,dim]
        e = self.time_embedding(wan_dit.sinusoidal_embedding(self.freq_dim, t).to(dtype))
        e0 = self.time_projection(e).unflatten(1, (6, self.dim))
        ctx = self.text_embedding(ctx_raw)
        cos, sin = self._rope(f, h, w, dtype, x.device)
        aux = {}
        br = self.branch
        z = None
        if br is not None:
            if br.has_seb:
                z, aux['rho_s'] = br.seb(s, pooled, (f, h, w))
            else:
                z = s
        for j, blk in enumerate(self.blocks):
            s = blk(s, e0, cos, sin, ctx)
            if br is not None and j < br.M:
                z = br.pb[j](z, e0, cos, sin, ctx)
                s = s + br.inject[j](z)
                if j == br.M - 1 and br.has_reb:
                    r, rho_r, sel = br.reb(z.reshape(-1, self.dim))
                    s = s + br.reb_inject(r).view_as(s)
                    aux['rho_r'], aux['sel'] = rho_r, sel
        out = self.unpatchify(self.head(s, e), f, h, w)
        return out, aux

    def losses(self, x, t, ids, target, labels, Qr):
        out, aux = self.forward_all(x, t, ids)
        L = {'diff': torch.mean((out - target) ** 2)}
        zero = out.sum() * 0
        L['coarse'] = L['fine_align'] = L['balance'] = zero
        br = self.branch
        if br is not None and br.has_seb:
            L['coarse'] = coarse_loss(br.align.coarse(aux['rho_s']), labels)
        if br is not None and br.has_reb:
            B, N = Qr.shape[0], Qr.shape[1]
            pr = br.align.fine(aux['rho_r']).view(B, N, NCAT)
            L['fine_align'] = fine_align_loss(pr, Qr, labels)
            L['balance'] = balance_loss(aux['rho_r'], aux['sel'], aux['rho_r'].shape[1])
        wc, wf, wb = self.w
        L['total'] = L['diff'] + wc * L['coarse'] + wf * L['fine_align'] + wb * L['balance']
        return out, L, aux


# --------------------------------------------------------------------------
# fixture

VOCAB = ['<pad>', '<unk>', '<eos>'] + sorted(['a', 'ball', 'blue', 'bounces', 'falls', 'red', 'rolls', 'the'])
CONFIG = dict(format='prophy-model-1', world='test', dim=32, ffn_dim=48, heads=2, layers=2,
              patch=[1, 2, 2], in_dim=7, out_dim=3, text_dim=16, text_len=6, freq_dim=32,
              eps=1e-6, rope_theta=10000.0, frames=2, height=4, width=4, fps=10.0, cond=1,
              text_encoder=dict(vocab=len(VOCAB), heads=2, layers=1, zero_pads=1),
              branch=dict(mode='full', M=2, E_s=4, seb_hidden=8, grid=[2, 2, 2], E_r=4, top_k=2,
                          reb_renorm=0, fine_hidden=8, coarse_squared=0, fine_sum=0,
                          w_coarse=0.1, w_fine_align=0.02, w_balance=0.01))
BATCH = 3
SEED = 20251126


def init_params(model, gen):
    """Every parameter random (injections included), O(1) activations."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('modulation'):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            elif ('norm' in name) and name.endswith('.weight'):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith('.bias'):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith('embedding.weight') and name.startswith('text_encoder'):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif name == 'branch.seb.basis':
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = math.prod(p.shape[1:])
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))


def encode(words, L):
    ids = [VOCAB.index(w) if w in VOCAB else UNK for w in words.split()][:L - 1] + [EOS]
    return ids + [PAD] * (L - len(ids))


def main():
    args = sys.argv[1:]
    dt = torch.float32 if '--f32' in args else torch.float64
    args = [a for a in args if a != '--f32']
    out_path = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                                                 'tests', 'fixtures', 'prophy_ref.safetensors')
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    torch.set_default_dtype(torch.float64)
    c = CONFIG
    model = ProPhy(c).to(torch.float64)
    init_params(model, gen)
    rnd = lambda t: t.to(torch.float32).to(dt)  # noqa: E731
    model = model.to(dt)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(rnd(p))
    names = [n for n, _ in model.named_parameters()]

    B, Fr, H, W = BATCH, c['frames'], c['height'], c['width']
    N = Fr * (H // 2) * (W // 2)
    L = c['text_len']
    x = rnd(torch.randn(B, c['in_dim'], Fr, H, W, generator=gen))
    target = rnd(torch.randn(B, c['out_dim'], Fr, H, W, generator=gen))
    t = rnd(torch.tensor([250.0, 720.0, 40.0]))
    ids = torch.tensor([encode('a red ball falls', L), encode('the blue purple ball rolls', L),
                        encode('', L)], dtype=torch.long)
    labels = torch.zeros(B, NCAT)
    labels[0, [0, 1]] = 1
    labels[1, [1, 3, 7]] = 1
    labels[2, [0, 12]] = 1
    labels = rnd(labels)
    Qr = rnd(0.5 * torch.randn(B, N, NCAT, generator=gen))

    model.zero_grad(set_to_none=True)
    pred, Ls, aux = model.losses(x, t, ids, target, labels, Qr)
    Ls['total'].backward()
    grads = {n: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
             for n, p in model.named_parameters()}

    # the C side (float32) must pick the same experts: no near-ties
    rho = aux['rho_r'].detach()
    srt = torch.sort(rho, dim=-1, descending=True).values
    k = c['branch']['top_k']
    gap = float((srt[:, k - 1] - srt[:, k]).min())
    assert gap > 1e-4, f'top-k near-tie ({gap})'
    zero = [n for n, g in grads.items() if float(g.abs().max()) == 0]

    tensors = [(n, p.detach()) for n, p in model.named_parameters()]
    tensors += [('input.x', x), ('input.t', t), ('input.ids', ids.to(torch.float64)),
                ('input.target', target), ('input.labels', labels), ('input.Qr', Qr),
                ('output.pred', pred.detach()), ('output.rho_s', aux['rho_s'].detach()),
                ('output.rho_r', aux['rho_r'].detach()), ('output.sel', aux['sel'].to(torch.float64))]
    for key in ('total', 'diff', 'coarse', 'fine_align', 'balance'):
        tensors.append(('loss.' + key, Ls[key].detach().reshape(1)))
    tensors += [('grad.' + n, grads[n]) for n in names]
    meta = {'config': json.dumps(c), 'vocab': '\n'.join(VOCAB), 'batch': str(B),
            'generator': 'tools/prophy_ref.py (torch %s, %s cast to F32)'
                         % (torch.__version__, str(dt).replace('torch.', ''))}
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    size = write_safetensors(out_path, tensors, meta)
    print(f'wrote {out_path}: {len(tensors)} tensors, {size} bytes; {len(names)} parameters')
    print('losses: ' + ', '.join(f'{k} {float(v):.6f}' for k, v in Ls.items()))
    print(f'min top-k gap {gap:.3e}; zero-gradient tensors: {zero}')


if __name__ == '__main__':
    main()
