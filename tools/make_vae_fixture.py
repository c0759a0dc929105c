#!/usr/bin/env python3
"""make_vae_fixture.py - writes tests/fixtures/vae_ref.safetensors, the reference
that tests/test_vae_ref.c matches: diffusers' AutoencoderKLWan (the Wan2.1 VAE)
with a tiny random config, its weights under Wan's original keys, a video, and

  - the chunked encode (frame 0, then 4 at a time, with the feature cache):
    mu, logvar and the normalised z = (mu - mean) / std;
  - the chunked decode of that z (one latent frame at a time), clamped;
  - a training loss on the same video (z = mu + exp(logvar/2) eps, decoded
    without the clamp; L1 + MSE + edge + KL) and, by autograd through the
    chunked passes, its gradient w.r.t. every parameter and the video.

Usage:  python3 tools/make_vae_fixture.py [OUT]      (default tests/fixtures/vae_ref.safetensors)
        python3 tools/make_vae_fixture.py --f32 OUT  (same in float32: the error floor; not committed)
Needs torch and diffusers (the python3 of pyenv here, not /usr/bin/python3).
Deterministic (fixed seed). Computed in float64 after rounding every input and
weight to float32, so the C code reads exactly the values the reference used."""
import json
import re
import struct
import sys

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLWan

CFG = dict(base_dim=5, z_dim=4, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
           temperal_downsample=[False, True, True])
T, H, W = 9, 24, 32
LOSS = dict(w_l1=1.0, w_mse=0.5, w_edge=0.3, w_kl=0.1)


def wan_key(k, nres):
    """diffusers' AutoencoderKLWan key -> Wan's original wan/modules/vae.py key"""
    def res(r):
        for a, b in (("norm1.", "residual.0."), ("conv1.", "residual.2."), ("norm2.", "residual.3."),
                     ("conv2.", "residual.6."), ("conv_shortcut.", "shortcut.")):
            if r.startswith(a):
                return b + r[len(a):]
        return r
    for a, b in (("quant_conv.", "conv1."), ("post_quant_conv.", "conv2.")):
        if k.startswith(a):
            return b + k[len(a):]
    part, rest = k.split(".", 1)
    if rest.startswith("conv_in."):
        return f"{part}.conv1.{rest[8:]}"
    if rest.startswith("norm_out."):
        return f"{part}.head.0.{rest[9:]}"
    if rest.startswith("conv_out."):
        return f"{part}.head.2.{rest[9:]}"
    m = re.match(r"mid_block\.resnets\.(\d+)\.(.*)", rest)
    if m:
        return f"{part}.middle.{2 * int(m[1])}.{res(m[2])}"
    m = re.match(r"mid_block\.attentions\.0\.(.*)", rest)
    if m:
        return f"{part}.middle.1.{m[1]}"
    m = re.match(r"down_blocks\.(\d+)\.(.*)", rest)
    if m:
        return f"encoder.downsamples.{m[1]}.{res(m[2])}"
    m = re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest)
    if m:
        return f"decoder.upsamples.{int(m[1]) * (nres + 2) + int(m[2])}.{res(m[3])}"
    m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", rest)
    if m:
        return f"decoder.upsamples.{int(m[1]) * (nres + 2) + nres + 1}.{m[2]}"
    raise KeyError(k)


def decode_raw(vae, x):
    """diffusers' _decode (one latent frame at a time, feature cache) without the clamp"""
    vae.clear_cache()
    x = vae.post_quant_conv(x)
    outs = []
    for i in range(x.shape[2]):
        vae._conv_idx = [0]
        outs.append(vae.decoder(x[:, :, i:i + 1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx,
                                first_chunk=i == 0))
    vae.clear_cache()
    return torch.cat(outs, 2)


def loss_terms(rec, x, mu, lv):
    d = rec - x
    l1 = d.abs().mean()
    mse = (d * d).mean()
    edge = (d[..., :, 1:] - d[..., :, :-1]).abs().mean() + (d[..., 1:, :] - d[..., :-1, :]).abs().mean()
    kl = (0.5 * (mu * mu + lv.exp() - 1.0 - lv)).mean()
    loss = LOSS["w_l1"] * l1 + LOSS["w_mse"] * mse + LOSS["w_edge"] * edge + LOSS["w_kl"] * kl
    return loss, l1, mse, edge, kl


def write_safetensors(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    args = sys.argv[1:]
    f32 = "--f32" in args
    args = [a for a in args if a != "--f32"]
    out = args[0] if args else "tests/fixtures/vae_ref.safetensors"
    dt = torch.float32 if f32 else torch.float64
    torch.manual_seed(20250601)
    z = CFG["z_dim"]
    mean = (0.5 * torch.randn(z)).float()
    std = (0.5 + torch.rand(z)).float()
    vae = AutoencoderKLWan(**CFG, latents_mean=mean.tolist(), latents_std=std.tolist())
    nres = CFG["num_res_blocks"]
    # every tensor random (gammas around 1, the zero-initialised proj too), rounded to float32
    with torch.no_grad():
        for k, p in vae.named_parameters():
            if k.endswith("gamma"):
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            elif k.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                fan = p[0].numel()
                p.copy_(torch.randn_like(p) * (1.0 / fan) ** 0.5)
        vae.decoder.conv_out.weight.mul_(0.6)  # most decoded pixels inside the clamp's [-1, 1]
        vae.decoder.conv_out.bias.mul_(0.6)
    vae = vae.to(dt)
    video = (0.6 * torch.randn(1, 3, T, H, W)).clamp(-1, 1).float()
    x = video.to(dt).requires_grad_(True)

    with torch.no_grad():
        enc = vae._encode(x)
        mu, lv = enc.chunk(2, dim=1)
        zn = ((mu - mean.to(dt).view(1, -1, 1, 1, 1)) / std.to(dt).view(1, -1, 1, 1, 1)).float()
        zin = zn.to(dt) * std.to(dt).view(1, -1, 1, 1, 1) + mean.to(dt).view(1, -1, 1, 1, 1)
        dec = vae._decode(zin).sample

    eps = torch.randn(mu.shape)  # float32 whatever the compute dtype
    enc = vae._encode(x)
    mu_g, lv_g = enc.chunk(2, dim=1)
    lvc = lv_g.clamp(-30.0, 20.0)
    zs = mu_g + (0.5 * lvc).exp() * eps.to(dt)
    rec = decode_raw(vae, zs)
    loss, l1, mse, edge, kl = loss_terms(rec, x, mu_g, lvc)
    loss.backward()

    tensors, names = {}, {}
    for k, p in vae.named_parameters():
        wk = wan_key(k, nres)
        names[wk] = k
        tensors[wk] = p.detach()
    tensors["input.video"] = video[0]
    tensors["enc.mu"] = mu[0]
    tensors["enc.logvar"] = lv[0]
    tensors["enc.z"] = zn[0]
    tensors["dec.out"] = dec[0]
    tensors["train.eps"] = eps[0]
    tensors["train.losses"] = torch.stack([loss, l1, mse, edge, kl]).detach()
    for k, p in vae.named_parameters():
        tensors["grad." + wan_key(k, nres)] = p.grad
    tensors["grad.input.video"] = x.grad[0]
    clamped = (dec.abs() >= 1).double().mean().item()
    cfg = dict(CFG, frames=T, height=H, width=W, latents_mean=mean.tolist(), latents_std=std.tolist(), **LOSS)
    meta = {"config": json.dumps(cfg), "diffusers_names": json.dumps(names),
            "generator": f"tools/make_vae_fixture.py, torch {torch.__version__}, "
                         f"{'float32' if f32 else 'float64'}; {100 * clamped:.1f}% of dec.out clamped"}
    write_safetensors(out, tensors, meta)
    print(f"wrote {out}: {sum(t.numel() for t in tensors.values())} floats, loss {loss.item():.6f}, "
          f"{100 * clamped:.1f}% of decoded pixels clamped")


if __name__ == "__main__":
    main()
