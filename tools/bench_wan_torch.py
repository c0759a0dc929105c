#!/usr/bin/env python3
"""The PyTorch peer of bench/bench_wan.c: diffusers' WanTransformer3DModel with the
weights of a Wan-key DiT file (tools/make_wan_random_1p3b.py, or ComfyUI's
wan2.1_t2v_1.3B_bf16.safetensors), one conditional forward of batch 1.

    python3 tools/bench_wan_torch.py DIT.safetensors FRAMES HEIGHT WIDTH [REPS [THREADS [DTYPE]]]

DTYPE: bf16 (the file's, default) or fp32. The inputs are shaped as bench_wan.c's
(latent [16, 1+(F-1)/4, H/8, W/8] of N(0,1), t = 500, 20 context rows then zeros
to 512). Prints each forward's time and the peak resident memory (ru_maxrss).
Needs the pip python3 (torch 2.x, diffusers 0.42)."""
import resource
import sys
import time

import torch
from diffusers import WanTransformer3DModel
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from safetensors.torch import load_file


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    path, F, H, W = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[sys.argv[7] if len(sys.argv) > 7 else "bf16"]
    torch.set_num_threads(threads)
    t0 = time.time()
    sd = convert_wan_transformer_to_diffusers(load_file(path))
    dim = sd["patch_embedding.weight"].shape[0]
    layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    cfg = dict(patch_size=(1, 2, 2), num_attention_heads=dim // 128, attention_head_dim=128, in_channels=16,
               out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=sd["blocks.0.ffn.net.0.proj.weight"].shape[0],
               num_layers=layers, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6)
    with torch.device("meta"):
        model = WanTransformer3DModel(**cfg)
    model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True, assign=True)
    model.rope = type(model.rope)(128, (1, 2, 2), 1024)  # its buffers were on the meta device
    model = model.eval()
    del sd
    print(f"{path}: diffusers WanTransformer3DModel dim {dim}, {layers} layers, {dtype}, {threads} threads, "
          f"torch {torch.__version__}; load {time.time() - t0:.2f} s", flush=True)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, (F - 1) // 4 + 1, H // 8, W // 8, generator=g).to(dtype)
    ctx = torch.zeros(1, 512, 4096, dtype=dtype)
    ctx[0, :20] = torch.randn(20, 4096, generator=g).to(dtype)
    t = torch.tensor([500.0])
    with torch.no_grad():
        for i in range(reps):
            s = time.time()
            out = model(x, t, ctx, return_dict=False)[0]
            print(f"forward {i}: {time.time() - s:.2f} s, output rms {out.float().pow(2).mean().sqrt():.4f}", flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
