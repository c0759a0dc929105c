#!/usr/bin/env bash
# train_vae.sh [OUTDIR] - makes models/vae.safetensors, the physics world's video
# VAE (docs/VAE.md, docs/LATENT.md): Wan2.1's architecture at 1/6 of its width
# (pp_vae_config_small), trained from scratch on random 9-frame 64x64 crops of
# simulated 33-frame 128x128 videos of every scene (L1 + MSE + 0.5 edge + 1e-6 KL,
# AdamW), its latent normalisation set from 32 whole videos at the end.
# Checkpoints every 500 steps; rerunning after a kill resumes exactly.
#   tools/train_vae.sh out && cp out/vae.safetensors models/
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-out}
STEPS=${STEPS:-6000} LR=${LR:-1e-3}
mkdir -p "$D"
from=()
[ -f "$D/vae.safetensors.ckpt" ] && from=(--resume "$D/vae.safetensors.ckpt")
./prophy vae train -o "$D/vae.safetensors" --steps "$STEPS" --lr "$LR" --warmup 200 --ema 0.999 \
    --ckpt-every 500 --log "$D/vae.csv" -s 1 ${VAE_FLAGS:-} "${from[@]}"
