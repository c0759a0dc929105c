#!/usr/bin/env bash
# train_vae.sh [OUTDIR] - trains the physics world's video VAE (docs/VAE.md,
# docs/LATENT.md): Wan2.1's architecture at 1/6 of its width (pp_vae_config_small),
# from scratch on simulated 33-frame 128x128 videos of every scene, in two phases
# (L1 + MSE + 0.5 edge + 1e-6 KL, AdamW):
#   1. single frames (random 32x32 crops, 16 per step, lr 1e-3): an image VAE whose
#      older time taps are zero, i.e. a per-frame video VAE ($D/vae_image.safetensors);
#   2. from it, 9-frame 64x64 crops (2 per step, lr 5e-4) teach the time taps and the
#      resamplers' time convolutions: S2A steps at a constant lr, then to step S2 on a
#      cosine down to lr/10 with an average of the weights ($D/vae.safetensors).
# The shipped VAE's schedule (models/README.md); it took about 50 minutes of one core
# for phase 1 and the first 1,400 video steps, then 37 minutes of both cores. Phase 1 leaves the trivial "white everywhere" answer
# only sometimes (1 run in 3 by step 500, docs/VAE.md): if $D/vae_image.csv's mse
# column is still about 0.2 after 500 steps, delete $D and rerun with SEED=2, 3, ...
# Each phase checkpoints every 100 steps; rerunning after a kill resumes exactly.
# models/README.md gives the exact commands behind the shipped models/vae.safetensors.
#   tools/train_vae.sh out && cp out/vae.safetensors models/
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-out}
S1=${STEPS1:-1400} S2A=${STEPS2A:-1400} S2=${STEPS2:-5000} T=${THREADS:-2} SEED=${SEED:-1}
mkdir -p "$D"
if [ ! -f "$D/vae_image.safetensors" ]; then
    from=()
    [ -f "$D/vae_image.safetensors.ckpt" ] && from=(--resume "$D/vae_image.safetensors.ckpt")
    ./prophy vae train -o "$D/vae_image.safetensors" --crop 1,32,32 --batch 16 --steps "$S1" --lr 1e-3 \
        --warmup 50 --ckpt-every 100 --stats 8 --log "$D/vae_image.csv" -s "$SEED" -t "$T" -q "${from[@]}"
fi
vid=(-o "$D/vae.safetensors" --crop 9,64,64 --batch 2 --lr 5e-4 --warmup 100 --ckpt-every 100 --log "$D/vae.csv"
     -s $((SEED + 2)) -t "$T" -q)
if [ ! -f "$D/vae_constant.safetensors.ckpt" ]; then # 2a: constant lr (a rerun resumes it)
    start=(--init "$D/vae_image.safetensors" --per-frame)
    [ -f "$D/vae.safetensors.ckpt" ] && start=(--resume "$D/vae.safetensors.ckpt")
    ./prophy vae train "${vid[@]}" --steps "$S2A" --stats 8 "${start[@]}"
    cp "$D/vae.safetensors.ckpt" "$D/vae_constant.safetensors.ckpt"
fi
# 2b: the cosine and the weight average, from the newest checkpoint
./prophy vae train "${vid[@]}" --steps "$S2" --lr-decay "$S2" --ema 0.998 --stats 32 \
    --resume "$D/vae.safetensors.ckpt"
