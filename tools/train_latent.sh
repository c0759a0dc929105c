#!/usr/bin/env bash
# train_latent.sh [OUTDIR] - trains the latent physics backbone of docs/LATENT.md
# (stage 1: text encoder + Wan2.1-architecture DiT on the shipped VAE's latents of
# 33-frame 128x128 videos, no branch), the schedule of the run docs/LATENT.md reports:
#   1. a latent dataset of the first N1 videos ($D/lat_a) and one of the first N2
#      ($D/lat_b; sample i is the same video in both, docs/DATASET.md);
#   2. S1 steps at a constant lr on lat_a ($D/s1a.safetensors.ckpt);
#   3. from there, on lat_b, a cosine to lr/10 ending at step S2 ($D/s1.safetensors);
#   4. stage 2 on lat_b, S3 steps each on a cosine, from s1: the full branch attached,
#      backbone frozen ($D/prophy.safetensors), and the equal-compute baseline, the
#      backbone alone continuing for the same steps ($D/baseline.safetensors).
# The weights are averaged (EMA 0.998) throughout. On 2 cores: the datasets about 30
# minutes, phase 2 35 minutes, phase 3 about 70, stage 2 about 20 + 16. Each phase
# checkpoints every 200 steps; rerunning after a kill resumes it exactly, and a
# finished phase leaves MODEL.done and is skipped.
# Extra arguments after OUTDIR also train these ablations for the same S3 steps:
#   seb, reb              one stage of the branch ($D/seb, $D/reb);
#   full+bb               the full branch with the backbone trained too ($D/prophy_bb);
#   full+wc01             the full branch with the coarse loss at 0.01, not 0.1 ($D/prophy_wc01);
#   full+wc0              the full branch with no coarse loss at all ($D/prophy_wc0);
#   full+noise            the full branch on degraded maps, VLM-like: --label-noise
#                         blur=8,noise=0.1,shift=16 ($D/prophy_ln; docs/BRANCH.md);
#   fg10                  the equal-compute baseline with the diffusion loss weighted toward
#                         the phenomena, --fg-weight 10 ($D/baseline_fg10);
#   full+fg10             the full branch with that weighted loss ($D/prophy_fg10), against fg10;
#   fg10+long             fg10 for S3L steps (4000), not S3: more backbone training with the
#                         weighted loss ($D/baseline_fg10_long).
#   long+claim            the claim again on that longer-trained backbone (runs fg10+long first):
#                         from $D/baseline_fg10_long, S3 more steps each, both --fg-weight 10, of the
#                         full branch, backbone frozen ($D/prophy_long), and of the backbone alone
#                         ($D/baseline_long).
# (N1, N2, S1, S2, S3, S3L, WARMUP and THREADS override the sizes, e.g. for a quick check.)
#   tools/train_latent.sh out && prophy generate -m out/prophy.safetensors -p "..." -o ball.gif
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-out}
shift || true
N1=${N1:-700} N2=${N2:-2800} S1=${S1:-2157} S2=${S2:-6500} S3=${S3:-1000} S3L=${S3L:-4000} WARMUP=${WARMUP:-100} T=${THREADS:-2}
VAE=${VAE:-models/vae.safetensors}
for a in "$@"; do
    case "$a" in
    seb | reb | full+bb | full+wc01 | full+wc0 | full+noise | fg10 | full+fg10 | fg10+long | long+claim) ;;
    *) echo "train_latent.sh: unknown ablation '$a' (the list is at the top of tools/train_latent.sh)" >&2; exit 1 ;;
    esac
done
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
if [ ! -f "$D/s1.safetensors.done" ]; then
    ./prophy train --data "$D/lat_b" --steps "$S2" --lr-decay "$S2" "${model[@]}" \
        --log "$D/s1.csv" -o "$D/s1.safetensors" --resume "$D/s1.safetensors.ckpt"
    touch "$D/s1.safetensors.done"
fi

# stage2 NAME FLAGS...: S3 steps from s1 (a killed run resumes its own checkpoint,
# which knows the branch and the frozen set)
stage2() {
    local name=$1 out="$D/$1.safetensors"
    shift
    [ -f "$out.done" ] && return 0
    local from=("$@")
    [ -f "$out.ckpt" ] && from=(--resume "$out.ckpt")
    ./prophy train --data "$D/lat_b" --steps "$S3" --lr-decay "$S3" --batch 16 -s 1 --lr 1e-3 \
        --warmup "$WARMUP" --ema 0.998 -t "$T" -q --log "$D/$name.csv" -o "$out" "${from[@]}"
    touch "$out.done"
}
stage2 prophy --init "$D/s1.safetensors" --branch full
stage2 baseline --init "$D/s1.safetensors" --branch none
for a in "$@"; do
    case "$a" in
    seb | reb) stage2 "$a" --init "$D/s1.safetensors" --branch "$a" ;;
    full+bb) stage2 prophy_bb --init "$D/s1.safetensors" --branch full --train-backbone ;;
    full+wc01) stage2 prophy_wc01 --init "$D/s1.safetensors" --branch full --w-coarse 0.01 ;;
    full+wc0) stage2 prophy_wc0 --init "$D/s1.safetensors" --branch full --w-coarse 0 ;;
    full+noise) stage2 prophy_ln --init "$D/s1.safetensors" --branch full --label-noise blur=8,noise=0.1,shift=16 ;;
    fg10) stage2 baseline_fg10 --init "$D/s1.safetensors" --branch none --fg-weight 10 ;;
    full+fg10) stage2 prophy_fg10 --init "$D/s1.safetensors" --branch full --fg-weight 10 ;;
    fg10+long | long+claim) # ;;& goes on to the patterns below: long+claim continues from this one
        S3=$S3L stage2 baseline_fg10_long --init "$D/s1.safetensors" --branch none --fg-weight 10 ;;&
    long+claim)
        stage2 prophy_long --init "$D/baseline_fg10_long.safetensors" --branch full --fg-weight 10
        stage2 baseline_long --init "$D/baseline_fg10_long.safetensors" --branch none --fg-weight 10 ;;
    esac
done
