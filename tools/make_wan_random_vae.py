#!/usr/bin/env python3
"""Write diffusers' AutoencoderKLWan with Wan2.1's config (126.9 M parameters) and
PyTorch's random initialisation as a safetensors file under diffusers' names (which
prophy's VAE loader maps to Wan's), for timing the whole pipeline at real size with
random weights. Never commit its output.

    python3 tools/make_wan_random_vae.py OUT.safetensors

Needs the pip python3 (torch 2.x, diffusers 0.42). No metadata: prophy reads a VAE
file without "vae_config" as Wan2.1's config."""
import sys

import torch
from diffusers import AutoencoderKLWan
from safetensors.torch import save_file

if len(sys.argv) < 2:
    sys.exit(__doc__)
torch.manual_seed(20260312)
vae = AutoencoderKLWan()  # Wan2.1: base_dim 96, z_dim 16, dim_mult [1,2,4,4], 2 res blocks, [False,True,True]
sd = {k: v.contiguous() for k, v in vae.state_dict().items()}
save_file(sd, sys.argv[1])
print(f"wrote {sys.argv[1]}: {sum(v.numel() for v in sd.values()) / 1e6:.1f} M parameters")
