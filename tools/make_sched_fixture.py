#!/usr/bin/env python3
"""Write tests/fixtures/sched_ref.safetensors: diffusers' flow-matching schedulers
(UniPCMultistepScheduler as Wan2.1's diffusers pipeline configures it, and
FlowMatchEulerDiscreteScheduler) run on a toy model that the C test
(tests/test_sched_ref.c) evaluates the same way.

    python3 tools/make_sched_fixture.py [OUT]

Needs diffusers (0.42) and torch 2.x (pip), not Debian's torch 1.13.  See
docs/SAMPLERS.md for what is matched and the measured errors.

Toy model, elementwise on the sample x (N_FLOATS floats) at timestep t:
    v = tanh(A * x) * (t / 1000) + B * x
evaluated in float64.  The start noise is stored as F32 and used as those exact
values.

Per configuration <name>:
  <name>.timesteps [steps]       scheduler.timesteps (UniPC: integers; Euler: float32)
  <name>.sigmas    [steps + 1]   scheduler.sigmas (float32, the last one 0)
  <name>.final     [N_FLOATS]    the sample after the last step, reference run
  <name>.samples   [steps+1, N]  every sample (the noise first), when steps <= 10
  <name>.final_f32 [N_FLOATS]    UniPC only: the same with diffusers in float32 as shipped
Reference run: UniPC with the sample and the scheduler's sigma table in float64
(scheduler.sigmas cast to float64 after set_timesteps: the same float32 sigma
values, float64 arithmetic); Euler as shipped (diffusers' Euler step upcasts to
float32 whatever the input), with the toy model in float64 rounded to float32.
diffusers' UniPC with bh1 produces NaN at the last step (alpha_t * B(h) * 0 with
B(h) = -inf when sigma = 0); there the file holds the limit, the last x0
prediction (scheduler.model_outputs[-1]), and the metadata says so.

Metadata: "configs" (JSON list of {name, kind, sigmas, steps, shift, order, bh,
bh1_nan}), "model" ({"a", "b", "n"}), "generator" (versions).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import diffusers
from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

A, B = 1.5, -0.35
N_FLOATS = 64
SEED = 20260214

# (kind, sigmas, steps, shift, order, bh)
CONFIGS = []
# Wan2.1-T2V-1.3B's defaults, then variations of each knob
CONFIGS += [("unipc", "unipc", 50, 5.0, 2, "bh2")]
CONFIGS += [("unipc", "unipc", s, 5.0, 2, "bh2") for s in (1, 2, 3, 5, 10)]
CONFIGS += [("unipc", "unipc", 50, sh, 2, "bh2") for sh in (1.0, 3.0, 8.0)]
CONFIGS += [("unipc", "unipc", 10, sh, 2, "bh2") for sh in (1.0, 3.0, 8.0)]
CONFIGS += [("unipc", "unipc", s, 5.0, 1, "bh2") for s in (1, 3, 10, 50)]
CONFIGS += [("unipc", "unipc", s, 5.0, 3, "bh2") for s in (2, 3, 5, 10, 50)]
CONFIGS += [("unipc", "unipc", s, 3.0, o, "bh1") for o in (1, 2, 3) for s in (3, 10, 50)]
CONFIGS += [("unipc", "unipc", 5, 8.0, 3, "bh1"), ("unipc", "unipc", 1, 1.0, 2, "bh1")]
# Wan's own schedule (wan/utils/fm_solvers_unipc.py), given to diffusers as custom sigmas
CONFIGS += [("unipc", "wan", 50, 5.0, 2, "bh2"), ("unipc", "wan", 10, 3.0, 3, "bh1"),
            ("unipc", "wan", 1, 5.0, 2, "bh2"), ("unipc", "wan", 5, 1.0, 2, "bh2")]
# diffusers' flow-matching Euler
CONFIGS += [("euler", "fm-euler", s, sh, 1, "-") for s, sh in
            ((1, 5.0), (2, 3.0), (3, 1.0), (5, 5.0), (10, 8.0), (50, 5.0), (50, 1.0), (50, 3.0))]


def model(x, t):
    return torch.tanh(A * x) * (t / 1000.0) + B * x


def wan_sigmas(steps):
    """Wan's FlowUniPCMultistepScheduler: linspace(sigma_max, sigma_min, steps + 1)[:-1]
    over its float32 training table 1 - linspace(1, 1/1000, 1000)[::-1] (shift 1 there)."""
    smax = float(np.float32(1.0 - np.linspace(1, 1 / 1000, 1000)[::-1][0]))
    return np.linspace(smax, 0.0, steps + 1)[:-1].copy()


def unipc(name, sig_kind, steps, shift, order, bh, x0, f64):
    s = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift,
                                solver_order=order, solver_type=bh, predict_x0=True, lower_order_final=True,
                                final_sigmas_type="zero", disable_corrector=[], timestep_spacing="linspace",
                                num_train_timesteps=1000)
    if sig_kind == "wan":
        s.set_timesteps(sigmas=wan_sigmas(steps))
    else:
        s.set_timesteps(steps)
    timesteps, sigmas = s.timesteps.clone(), s.sigmas.clone()
    if f64:
        s.sigmas = s.sigmas.to(torch.float64)
    s.set_begin_index(0)
    dt = torch.float64 if f64 else torch.float32
    x = x0.to(dt).reshape(1, 1, -1)  # diffusers wants [batch, channels, ...]
    out = [x.clone()]
    nan_end = False
    for i, t in enumerate(s.timesteps):
        v = model(x, t.to(dt))
        x = s.step(v, t, x).prev_sample
        if i == steps - 1 and not torch.isfinite(x).all():
            assert bh == "bh1", name
            nan_end = True
            x = s.model_outputs[-1].clone()
        out.append(x.clone())
    return timesteps, sigmas, torch.cat(out).reshape(steps + 1, -1), nan_end


def euler(steps, shift, x0):
    s = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    s.set_timesteps(steps)
    s.set_begin_index(0)
    x = x0.to(torch.float32).clone()
    out = [x.clone()]
    for t in s.timesteps:
        v = model(x.to(torch.float64), t.to(torch.float64)).to(torch.float32)
        x = s.step(v, t, x).prev_sample
        out.append(x.clone())
    return s.timesteps.clone(), s.sigmas.clone(), torch.stack(out)


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor); all written as little-endian F32."""
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, t in tensors:
        b = t.detach().to(torch.float32).contiguous().cpu().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return 8 + len(hj) + off


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "sched_ref.safetensors")
    g = torch.Generator().manual_seed(SEED)
    noise = torch.randn(N_FLOATS, generator=g, dtype=torch.float32)
    tensors = [("noise", noise)]
    configs = []
    for kind, sig, steps, shift, order, bh in CONFIGS:
        name = f"{kind}_{sig}_n{steps}_s{shift:g}" + (f"_o{order}_{bh}" if kind == "unipc" else "")
        nan_end = False
        if kind == "unipc":
            ts, sg, xs, nan_end = unipc(name, sig, steps, shift, order, bh, noise, True)
            ts32, sg32, xs32, _ = unipc(name, sig, steps, shift, order, bh, noise, False)
            assert torch.equal(ts, ts32) and torch.equal(sg, sg32)
            rel = (xs32[-1].double() - xs[-1]).norm() / xs[-1].norm()
            print(f"{name:40s} t0={int(ts[0])} final |x|={xs[-1].norm():.4f} "
                  f"diffusers fp32 vs fp64 rel={rel:.2e}")
        else:
            ts, sg, xs = euler(steps, shift, noise)
            print(f"{name:40s} t0={float(ts[0]):.4f} final |x|={xs[-1].norm():.4f}")
        tensors += [(name + ".timesteps", ts.to(torch.float32)), (name + ".sigmas", sg),
                    (name + ".final", xs[-1])]
        if steps <= 10:
            tensors.append((name + ".samples", xs))
        if kind == "unipc":
            tensors.append((name + ".final_f32", xs32[-1]))
        configs.append(dict(name=name, kind=kind, sigmas=sig, steps=steps, shift=shift, order=order, bh=bh,
                            bh1_nan=nan_end))
    meta = {
        "configs": json.dumps(configs, separators=(",", ":")),
        "model": json.dumps(dict(a=A, b=B, n=N_FLOATS)),
        "generator": f"tools/make_sched_fixture.py, diffusers {diffusers.__version__}, torch {torch.__version__}",
    }
    size = write_safetensors(out, tensors, meta)
    print(f"wrote {out}: {len(configs)} configurations, {size} bytes")


if __name__ == "__main__":
    main()
