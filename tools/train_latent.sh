#!/usr/bin/env bash
# train_latent.sh [OUTDIR] - trains the latent physics backbone of docs/LATENT.md
# (stage 1: text encoder + Wan2.1-architecture DiT on the shipped VAE's latents of
# 33-frame 128x128 videos, no branch), the schedule of the run docs/LATENT.md reports:
#   1. a latent dataset of the first N1 videos ($D/lat_a) and one of the first N2
#      ($D/lat_b; sample i is the same video in both, docs/DATASET.md);
#   2. S1 steps at a constant lr on lat_a ($D/s1a.safetensors.ckpt);
#   3. from there, on lat_b, a cosine to lr/10 ending at step S2 ($D/s1.safetensors).
# The weights are averaged (EMA 0.998) throughout. On 2 cores: the datasets about 30
# minutes, phase 2 35 minutes, phase 3 about 70. Each phase checkpoints every 200
# steps; rerunning after a kill resumes it exactly.
# (N1, N2, S1, S2, WARMUP and THREADS override the sizes, e.g. for a quick check.)
#   tools/train_latent.sh out && prophy generate -m out/s1.safetensors -p "..." -o ball.gif
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-out}
N1=${N1:-700} N2=${N2:-2800} S1=${S1:-2157} S2=${S2:-6500} WARMUP=${WARMUP:-100} T=${THREADS:-2}
VAE=${VAE:-models/vae.safetensors}
mkdir -p "$D"
for set in "a $N1" "b $N2"; do
    read -r name count <<<"$set"
    [ -f "$D/lat_$name/latents.json" ] ||
        ./prophy dataset --out "$D/lat_$name" --count "$count" -W 128 -H 128 --video-frames 33 --vae "$VAE" -t "$T" -q
done
model=(--batch 16 -s 1 --dim 128 --layers 6 --heads 4 --ffn 512 --text-dim 64 --lr 1e-3 --warmup "$WARMUP"
       --ema 0.998 -t "$T" -q)
if [ ! -f "$D/s1a.safetensors.ckpt" ]; then
    from=()
    [ -f "$D/s1.safetensors.ckpt" ] && from=(--resume "$D/s1.safetensors.ckpt")
    ./prophy train --data "$D/lat_a" --steps "$S1" "${model[@]}" --log "$D/s1.csv" \
        -o "$D/s1.safetensors" "${from[@]}"
    cp "$D/s1.safetensors.ckpt" "$D/s1a.safetensors.ckpt"
fi
./prophy train --data "$D/lat_b" --steps "$S2" --lr-decay "$S2" "${model[@]}" \
    --log "$D/s1.csv" -o "$D/s1.safetensors" --resume "$D/s1.safetensors.ckpt"
