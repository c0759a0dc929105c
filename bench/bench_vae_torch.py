#!/usr/bin/env python3
"""The PyTorch peer of bench/bench_vae.c: diffusers' AutoencoderKLWan (the Wan2.1
VAE, its own chunked encode and decode) with the same config and random weights,
float32 on CPU, no grad, torch.set_num_threads(THREADS). Prints the median time of
the runs and the process's peak RSS (the interpreter and torch included; the RSS
right after building the model is printed too).

    python3 bench/bench_vae_torch.py --config small --frames 33 --size 128 --runs 5 --threads 2
Needs torch 2 and diffusers (the pyenv python3 here)."""
import argparse
import resource
import statistics
import time

import torch
from diffusers import AutoencoderKLWan


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="small", choices=["small", "wan21"])
    ap.add_argument("--dim", type=int, default=0)
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--what", default="both", choices=["enc", "dec", "both"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dim = a.dim or (96 if a.config == "wan21" else 16)
    kw = dict(base_dim=dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
              temperal_downsample=[False, True, True])
    if a.config == "small":  # our small config keeps mean 0, std 1 (the values do not change the speed)
        kw.update(latents_mean=[0.0] * 16, latents_std=[1.0] * 16)
    vae = AutoencoderKLWan(**kw).eval()
    x = torch.rand(1, 3, a.frames, a.size, a.size) * 2 - 1
    t = 1 + (a.frames - 1) // 4
    z = torch.randn(1, 16, t, a.size // 8, a.size // 8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, config {a.config} dim {dim}, "
          f"{a.frames} frames {a.size}x{a.size}, RSS after building the model {rss_mb():.0f} MB")
    with torch.no_grad():
        if a.what != "dec":
            ts = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                vae.encode(x).latent_dist.mode()
                ts.append(time.perf_counter() - t0)
            print(f"encode: {statistics.median(ts):.3f} s (median of {a.runs}, min {min(ts):.3f}), "
                  f"peak RSS {rss_mb():.0f} MB")
        if a.what != "enc":
            ts = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                vae.decode(z).sample
                ts.append(time.perf_counter() - t0)
            print(f"decode: {statistics.median(ts):.3f} s (median of {a.runs}, min {min(ts):.3f}), "
                  f"peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
