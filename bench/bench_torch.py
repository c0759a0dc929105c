#!/usr/bin/python3
"""The PyTorch peer of `prophy bench`: the same Wan2.1 DiT (tools/wan_dit.py) in
float32 on CPU, timed as a flow-matching train step (forward + loss + backward + AdamW)
and as a forward pass under no_grad.  Prints one JSON line.

With --branch none|seb|reb|full it times the whole ProPhy model of
tools/prophy_ref.py instead (text encoder + backbone + physical branch, all four
losses), the peer of `prophy bench --branch MODE` (same sizes: text encoder 2
layers / 2 heads, M = min(2, layers), E_s = E_r = 8, top-2, fine MLP 64 wide).

    /usr/bin/python3 bench/bench_torch.py --dim 128 --layers 4 --heads 4 --ffn 512 \
        --frames 16 --size 32 --patch 2,4,4 --batch 16 --threads 2
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
import wan_dit  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dim', type=int, default=128)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--ffn', type=int, default=512)
    ap.add_argument('--frames', type=int, default=16)
    ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--patch', default='2,4,4')
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--in-dim', type=int, default=3)
    ap.add_argument('--out-dim', type=int, default=3)
    ap.add_argument('--text-len', type=int, default=16)
    ap.add_argument('--text-dim', type=int, default=64)
    ap.add_argument('--freq-dim', type=int, default=256)
    ap.add_argument('--iters', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--branch', choices=['none', 'seb', 'reb', 'full'], default=None)
    a = ap.parse_args()
    if a.branch is not None:
        return bench_branch(a)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    patch = [int(v) for v in a.patch.split(',')]
    assert len(patch) == 3
    model = wan_dit.WanDiT(dim=a.dim, ffn_dim=a.ffn, heads=a.heads, layers=a.layers,
                           patch=patch, in_dim=a.in_dim, out_dim=a.out_dim,
                           text_dim=a.text_dim, text_len=a.text_len,
                           freq_dim=a.freq_dim).float()
    cfg = model.config()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    other = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.01),
                             dict(params=other, weight_decay=0.0)], lr=1e-4)

    B, Fr, S = a.batch, a.frames, a.size
    co, ci = a.out_dim, a.in_dim - a.out_dim
    x0 = torch.randn(B, co, Fr, S, S)
    noise = torch.randn(B, co, Fr, S, S)
    cond = torch.randn(B, ci, Fr, S, S)
    ctx = torch.randn(B, a.text_len, a.text_dim)

    def train_step():
        s = torch.rand(B) * 0.98 + 0.01
        opt.zero_grad(set_to_none=True)
        loss = wan_dit.flow_matching_loss(model, x0, noise, s, cond, ctx)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return float(loss)

    def forward():
        with torch.no_grad():
            t = torch.rand(B) * 1000
            inp = torch.cat([noise, cond], dim=1) if ci > 0 else noise
            return model(inp, t, ctx)

    def timed(fn, n):
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return ts

    load0 = os.getloadavg()[0]
    timed(train_step, a.warmup)
    tt = timed(train_step, a.iters)
    timed(forward, a.warmup)
    tf = timed(forward, a.iters)
    mt, mf = statistics.median(tt), statistics.median(tf)

    flops_fwd = wan_dit.forward_flops(cfg, Fr, S, S)
    out = {
        'impl': 'pytorch', 'torch': torch.__version__, 'threads': a.threads,
        'dim': a.dim, 'layers': a.layers, 'heads': a.heads, 'ffn': a.ffn,
        'frames': Fr, 'size': S, 'patch': patch, 'batch': B,
        'in_dim': a.in_dim, 'out_dim': a.out_dim, 'text_len': a.text_len,
        'text_dim': a.text_dim, 'freq_dim': a.freq_dim,
        'tokens': (Fr // patch[0]) * (S // patch[1]) * (S // patch[2]),
        'params': sum(p.numel() for p in model.parameters()),
        'iters': a.iters,
        'train_step_s': round(mt, 5),
        'forward_s': round(mf, 5),
        'train_samples_per_s': round(B / mt, 4),
        'forward_samples_per_s': round(B / mf, 4),
        'gflops_train': round(3 * flops_fwd * B / mt / 1e9, 3),
        'gflops_forward': round(flops_fwd * B / mf / 1e9, 3),
        'flops_fwd_per_sample': flops_fwd,
        'train_times_s': [round(v, 4) for v in tt],
        'forward_times_s': [round(v, 4) for v in tf],
        'loadavg_1m': [round(load0, 2), round(os.getloadavg()[0], 2)],  # before, after
        'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(out))


# --------------------------------------------------------------------------
# the whole ProPhy model (--branch)

BRANCH_WORDS = 'a red ball is thrown to the right and falls bounces rolls'


def branch_config(a, patch):
    import prophy_ref
    vocab = ['<pad>', '<unk>', '<eos>'] + sorted(set(BRANCH_WORDS.split()))
    grid = [a.frames // patch[0], a.size // patch[1], a.size // patch[2]]
    c = dict(dim=a.dim, ffn_dim=a.ffn, heads=a.heads, layers=a.layers, patch=patch,
             in_dim=a.in_dim, out_dim=a.out_dim, text_dim=a.text_dim, text_len=a.text_len,
             freq_dim=a.freq_dim, eps=1e-6,
             text_encoder=dict(vocab=len(vocab), heads=1 if a.text_dim % 2 else 2, layers=2,
                               zero_pads=1),
             branch=dict(mode=a.branch, M=min(2, a.layers), E_s=8, seb_hidden=a.dim, grid=grid,
                         E_r=8, top_k=2, reb_renorm=0, fine_hidden=64, coarse_squared=0,
                         fine_sum=0, w_coarse=0.1, w_fine_align=0.02, w_balance=0.01))
    ids = [vocab.index(w) for w in 'a red ball is thrown to the right and falls'.split()]
    ids = (ids[:a.text_len - 1] + [prophy_ref.EOS] + [prophy_ref.PAD] * a.text_len)[:a.text_len]
    return c, ids, prophy_ref


def branch_flops(c, frames, size):
    """Forward FLOPs per sample: backbone + M blocks + injections + REB (as the C bench)."""
    f = wan_dit.forward_flops(c, frames, size, size)
    per_block = (f - wan_dit.forward_flops(dict(c, layers=0), frames, size, size)) / c['layers']
    b = c['branch']
    pt, ph, pw = c['patch']
    N = (frames // pt) * (size // ph) * (size // pw)
    M = 0 if b['mode'] == 'none' else b['M']
    reb = b['mode'] in ('reb', 'full')
    f += M * per_block + 2 * N * c['dim'] ** 2 * (M + reb)
    if reb:
        f += 2 * N * c['dim'] * b['E_r'] + 2 * N * b['top_k'] * c['dim'] ** 2
    return f


def bench_branch(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    patch = [int(v) for v in a.patch.split(',')]
    c, ids1, prophy_ref = branch_config(a, patch)
    model = prophy_ref.ProPhy(c).float()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    other = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.01),
                             dict(params=other, weight_decay=0.0)], lr=1e-3)
    B, Fr, S = a.batch, a.frames, a.size
    pt, ph, pw = patch
    N = (Fr // pt) * (S // ph) * (S // pw)
    x = torch.randn(B, a.in_dim, Fr, S, S)
    target = torch.randn(B, a.out_dim, Fr, S, S)
    ids = torch.tensor([ids1] * B, dtype=torch.long)
    labels = torch.zeros(B, prophy_ref.NCAT)
    labels[torch.arange(B), torch.arange(B) % prophy_ref.NCAT] = 1
    Qr = 0.5 * torch.randn(B, N, prophy_ref.NCAT)

    def train_step():
        t = torch.rand(B) * 1000
        opt.zero_grad(set_to_none=True)
        _, L, _ = model.losses(x, t, ids, target, labels, Qr)
        L['total'].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return float(L['total'])

    def forward():
        with torch.no_grad():
            return model.forward_all(x, torch.rand(B) * 1000, ids)[0]

    def timed(fn, n):
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return ts

    timed(train_step, a.warmup)
    tt = timed(train_step, a.iters)
    timed(forward, a.warmup)
    tf = timed(forward, a.iters)
    mt, mf = statistics.median(tt), statistics.median(tf)
    fl = branch_flops(c, Fr, S)
    out = {
        'impl': 'pytorch', 'branch': a.branch, 'torch': torch.__version__, 'threads': a.threads,
        'dim': a.dim, 'layers': a.layers, 'M': 0 if a.branch == 'none' else c['branch']['M'],
        'heads': a.heads, 'ffn': a.ffn, 'frames': Fr, 'size': S, 'patch': patch, 'batch': B,
        'params': sum(p.numel() for p in model.parameters()), 'iters': a.iters,
        'train_step_s': round(mt, 5), 'forward_s': round(mf, 5),
        'train_samples_per_s': round(B / mt, 4), 'forward_samples_per_s': round(B / mf, 4),
        'gflops_train': round(3 * fl * B / mt / 1e9, 3),
        'gflops_forward': round(fl * B / mf / 1e9, 3),
        'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(out))


if __name__ == '__main__':
    main()
