#!/usr/bin/env bash
# train_vae.sh [OUTDIR] - makes the physics world's video VAE (docs/VAE.md,
# docs/LATENT.md): Wan2.1's architecture at 1/6 of its width (pp_vae_config_small),
# trained from scratch on simulated 33-frame 128x128 videos of every scene, in two
# phases (L1 + MSE + 0.5 edge + 1e-6 KL, AdamW):
#   1. single frames (random 64x64 crops, 16 per step): an image VAE whose older
#      time taps are zero, i.e. a per-frame video VAE ($D/vae_image.safetensors);
#   2. from it, 9-frame 32x32 crops (4 per step) teach the time taps and the
#      resamplers' time convolutions ($D/vae.safetensors).
# Each phase checkpoints every 250 steps; rerunning after a kill resumes exactly.
#   tools/train_vae.sh out && cp out/vae.safetensors models/
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-out}
S1=${STEPS1:-800} S2=${STEPS2:-2400} T=${THREADS:-2}
mkdir -p "$D"
resume() { [ -f "$1.ckpt" ] && echo "--resume $1.ckpt" || true; }
if [ ! -f "$D/vae_image.safetensors" ]; then
    ./prophy vae train -o "$D/vae_image.safetensors" --crop 1,64,64 --batch 16 --steps "$S1" --lr 1e-3 \
        --warmup 100 --ckpt-every 250 --stats 4 --log "$D/vae_image.csv" -s 1 -t "$T" -q \
        $(resume "$D/vae_image.safetensors")
fi
start=(--init "$D/vae_image.safetensors")
[ -f "$D/vae.safetensors.ckpt" ] && start=(--resume "$D/vae.safetensors.ckpt")
./prophy vae train -o "$D/vae.safetensors" --crop 9,32,32 --batch 4 --steps "$S2" --lr 5e-4 \
    --warmup 100 --ckpt-every 250 --log "$D/vae.csv" -s 2 -t "$T" -q "${start[@]}"
