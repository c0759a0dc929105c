#!/usr/bin/python3
"""Write tests/fixtures/dit_ref.safetensors: the PyTorch reference of the small
Wan2.1 DiT that prophy's C test (tests/) matches.

    /usr/bin/python3 tools/make_dit_fixture.py [OUT]

Everything is computed in float64 and stored as F32.  See tools/README.md for
the layout.  Needs only torch (Debian's python3-torch 1.13).
"""
import json
import math
import os
import struct
import sys

import numpy  # noqa: F401  (torch's .numpy() needs it; Debian's torch has it)
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wan_dit  # noqa: E402

CONFIG = dict(dim=64, ffn_dim=96, heads=2, layers=2, patch=[2, 2, 2], in_dim=7,
              out_dim=3, text_dim=24, text_len=5, freq_dim=32, eps=1e-6)
SHAPE = dict(frames=4, height=8, width=8, batch=2)
SEED = 20251125
ADAMW = dict(lr=2e-3, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.05)
SAMPLE = dict(steps=3, shift=3.0, cfg=5.0)
ADAM_STEPS = 5


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor); all written as little-endian F32."""
    header = {"__metadata__": metadata}
    blobs = []
    off = 0
    for name, t in tensors:
        a = t.detach().to(torch.float32).contiguous().cpu().numpy().astype('<f4')
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(',', ':')).encode('utf-8')
    hj += b' ' * ((8 - len(hj) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return 8 + len(hj) + off


def init_params(model, gen):
    """Every parameter random (no zero init anywhere), scaled to keep O(1)
    activations and non-trivial gradients."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('modulation'):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            elif 'norm' in name and name.endswith('.weight'):    # RMSNorm / norm3
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            elif name.endswith('.bias'):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            else:                                                # Linear / Conv3d weights
                fan_in = math.prod(p.shape[1:])
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) / math.sqrt(fan_in))


def param_groups(model):
    decay = [p for _, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for _, p in model.named_parameters() if p.ndim < 2]
    return [dict(params=decay, weight_decay=ADAMW['weight_decay']),
            dict(params=no_decay, weight_decay=0.0)]


def run_adamw(model, batch, max_norm):
    """5 AdamW steps on the same batch; returns (losses, grad_norms, clipped)."""
    opt = torch.optim.AdamW(param_groups(model), lr=ADAMW['lr'],
                            betas=tuple(ADAMW['betas']), eps=ADAMW['eps'])
    losses, norms = [], []
    for _ in range(ADAM_STEPS):
        opt.zero_grad(set_to_none=True)
        loss = wan_dit.flow_matching_loss(model, *batch)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=max_norm)
        losses.append(float(loss))
        norms.append(float(gn))
        opt.step()
    return losses, norms


def main():
    args = sys.argv[1:]
    # --f32: compute in float32 instead (only to measure the float32 error floor
    # against the committed float64 fixture; never commit such a file)
    dt = torch.float32 if '--f32' in args else torch.float64
    args = [a for a in args if a != '--f32']
    out = args[0] if args else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures',
        'dit_ref.safetensors')
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    torch.set_default_dtype(torch.float64)

    model = wan_dit.WanDiT(**CONFIG).to(torch.float64)
    init_params(model, gen)
    names = [n for n, _ in model.named_parameters()]

    B, Fr, H, W = SHAPE['batch'], SHAPE['frames'], SHAPE['height'], SHAPE['width']
    co, ci = CONFIG['out_dim'], CONFIG['in_dim'] - CONFIG['out_dim']
    x0 = torch.randn(B, co, Fr, H, W, generator=gen, dtype=torch.float64)
    noise = torch.randn(B, co, Fr, H, W, generator=gen, dtype=torch.float64)
    s = torch.tensor([0.3, 0.8], dtype=torch.float64)
    cond = torch.randn(B, ci, Fr, H, W, generator=gen, dtype=torch.float64)
    context = torch.randn(B, CONFIG['text_len'], CONFIG['text_dim'], generator=gen, dtype=torch.float64)
    snoise = torch.randn(B, co, Fr, H, W, generator=gen, dtype=torch.float64)
    # Round the inputs to float32 so that the C side (which reads F32) sees
    # exactly the values the float64 reference used.
    rnd = lambda t: t.to(torch.float32).to(dt)  # noqa: E731
    x0, noise, s, cond, context, snoise = map(rnd, (x0, noise, s, cond, context, snoise))
    model = model.to(dt)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(rnd(p))
    init_state = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = (x0, noise, s, cond, context)

    # forward + gradients
    model.zero_grad(set_to_none=True)
    loss, pred = wan_dit.flow_matching_loss(model, *batch, return_pred=True)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    gnorm0 = math.sqrt(sum(float((g ** 2).sum()) for g in grads.values()))

    # activation/gradient sanity
    small = [n for n, g in grads.items() if float(g.abs().max()) < 1e-6]
    assert not small, f'trivial gradients: {small}'

    # choose max_norm so that clipping triggers on some steps but not all
    def trial(M):
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(init_state[n])
        return run_adamw(model, batch, M)

    _, free_norms = trial(float('inf'))
    cand = sorted(free_norms)
    max_norm = None
    for M in [round(0.5 * (cand[i] + cand[i + 1]), 3) for i in range(len(cand) - 1)][::-1]:
        _, nn_ = trial(M)
        clipped = [g > M for g in nn_]
        if any(clipped) and not all(clipped):
            max_norm = M
            break
    if max_norm is None:                      # fall back: clip every step
        max_norm = round(0.5 * cand[0], 3)
    losses, norms = trial(max_norm)
    clipped = [g > max_norm for g in norms]
    final = {n: p.detach().clone() for n, p in model.named_parameters()}

    # sampler (from the initial parameters)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(init_state[n])
    sout = wan_dit.sample(model, snoise, cond, context, SAMPLE['steps'],
                          shift=SAMPLE['shift'], cfg=SAMPLE['cfg'])

    tensors = [(n, init_state[n]) for n in names]
    tensors += [('input.x0', x0), ('input.noise', noise), ('input.s', s),
                ('input.cond', cond), ('input.context', context),
                ('output.pred', pred), ('output.loss', loss.detach().reshape(1))]
    tensors += [('grad.' + n, grads[n]) for n in names]
    tensors += [('adamw.losses', torch.tensor(losses)),
                ('adamw.grad_norms', torch.tensor(norms))]
    tensors += [('final.' + n, final[n]) for n in names]
    tensors += [('sample.noise', snoise), ('sample.out', sout)]

    cfg = dict(CONFIG, **SHAPE)
    adamw_cfg = dict(ADAMW, max_norm=max_norm, steps=ADAM_STEPS,
                     decay_params='ndim>=2')
    meta = {'config': json.dumps(cfg), 'adamw.config': json.dumps(adamw_cfg),
            'sample.config': json.dumps(SAMPLE),
            'generator': 'tools/make_dit_fixture.py (torch %s, %s cast to F32)'
                         % (torch.__version__, str(dt).replace('torch.', ''))}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    size = write_safetensors(out, tensors, meta)

    nparam = sum(p.numel() for p in model.parameters())
    print(f'wrote {out}: {len(tensors)} tensors, {size} bytes')
    print(f'config: {json.dumps(cfg)}')
    print(f'params: {len(names)} tensors, {nparam} values')
    print(f'pred: rms {float(pred.pow(2).mean().sqrt()):.4f}  loss {float(loss):.6f}  '
          f'|grad| {gnorm0:.4f}')
    gmin = min(grads.items(), key=lambda kv: float(kv[1].abs().max()))
    print(f'smallest max|grad|: {gmin[0]} {float(gmin[1].abs().max()):.3e}')
    print(f'adamw: max_norm {max_norm}; losses {["%.6f" % v for v in losses]}')
    print(f'       grad_norms {["%.4f" % v for v in norms]}; clipped {clipped}')
    print(f'sample: {SAMPLE}; out rms {float(sout.pow(2).mean().sqrt()):.4f}')


if __name__ == '__main__':
    main()
