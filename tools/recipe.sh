#!/usr/bin/env bash
# recipe.sh DATA VAE [OUTDIR] - the latent model's recipe, by measurement:
# short stage-1 runs at equal compute (the same STEPS x BATCH) on a latent
# dataset, one change from the base recipe per row, each judged by a quick
# held-out benchmark (QUICK prompts per scene, split id, CFG 3: PC, SA, joint and
# the velocity error from 3 given frames) and, with VAL=DIR (a latent dataset made
# with another --seed), the flow-matching loss on it at fixed noise levels
# (prophy eval --loss: the same noise for every run, so recipes that draw the
# noise levels differently compare); the sampler's settings (CFG scale, steps)
# on the base run as soon as it is trained (listed last). Writes OUTDIR/recipe.md
# (a row per run), keeps every run's model, log and benchmark; rerunning skips
# what is done. Rows run in sequence (2 cores: one at a time).
#   tools/recipe.sh out/latents models/vae.safetensors out/recipe
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 VAE=$2 D=${3:-out/recipe}
STEPS=${STEPS:-400} BATCH=${BATCH:-16} QUICK=${QUICK:-2} VAL=${VAL:-}
LEVELS=0.05,0.2,0.5,0.9
P=./prophy
BASE=${BASE:-"--dim 128 --layers 6 --heads 4 --ffn 512 --text-dim 64 --lr 1e-3 --warmup 100 --ema 0.998 --ema-warmup 1"}
mkdir -p "$D"
# name : flags added to the base recipe
ROWS=(
    "base:"
    "ema_no_warmup:--ema-warmup 0"
    "s_mix:--s-dist mix --s-shift 3"
    "s_uniform3:--s-dist uniform --s-shift 3"
    "frame_emb:--frame-emb 9"
    "cosine:--lr-decay $STEPS"
    "wide:--dim 192 --heads 6 --ffn 768 --layers 4"
    "deep:--dim 96 --heads 4 --ffn 384 --layers 10"
    "ema_slow:--ema 0.9995"
)
[ -n "${ONLY:-}" ] && ROWS=($(printf '%s\n' "${ROWS[@]}" | grep -E "^(${ONLY}):"))

bench() { # model out.md [sampler flags]: the quick benchmark
    [ -s "$2" ] && return 0
    $P eval -m "$1" --vae "$VAE" --heldout "$QUICK" --split id --exclude-data "$DATA" --cfg-scale 3 --table "$2" \
        "${@:3}" >/dev/null
}
train_row() { # name flags
    local m="$D/$1.safetensors"
    [ -f "$m" ] && return 0
    local from=()
    [ -f "$m.ckpt" ] && from=(--resume "$m.ckpt")
    # shellcheck disable=SC2086
    $P train --data "$DATA" --batch "$BATCH" --steps "$STEPS" -s 1 --ckpt-every 100 -q $BASE $2 \
        --log "$D/$1.csv" "${from[@]}" -o "$m"
}
val() { # model out.md: the held-out loss at LEVELS, " a | b | c | d | mean |"
    [ -n "$VAL" ] || { echo " | | | | |"; return 0; }
    [ -s "$2" ] || $P eval -m "$1" --loss "$VAL" --count 112 --levels "$LEVELS" >"$2"
    tail -n 1 "$2" | cut -d'|' -f3-
}
row() { # name flags md: one line of the table from a benchmark table's "id / all" row
    local all
    all=$(grep -F "| id / all |" "$3" | head -1 | cut -d'|' -f3-7)
    local diff
    diff=$(tail -n 50 "$D/$1.csv" 2>/dev/null | awk -F, '{s += $3; n++} END {if (n) printf "%.4f", s / n}')
    echo "| $1 | ${2:-(base)} |$all|$(val "$D/$1.safetensors" "$D/$1.val.md") ${diff:-n/a} |"
}
{
    echo "| run | change from the base recipe | n | PC % [95 %] | SA % [95 %] | joint % [95 %] | vel. error (n) | val. loss s 0.05 | s 0.2 | s 0.5 | s 0.9 | mean | train loss, last 50 steps |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$D/recipe.md.tmp"
sampler_rows() { # the sampler's settings on the base run, as soon as it exists
    for s in "cfg1:--cfg-scale 1" "cfg5:--cfg-scale 5" "steps10:--steps 10" "steps40:--steps 40"; do
        local name=${s%%:*} flags=${s#*:} all
        bench "$D/base.safetensors" "$D/base.$name.bench.md" $flags
        all=$(grep -F "| id / all |" "$D/base.$name.bench.md" | head -1 | cut -d'|' -f3-7)
        echo "| base, sampled | $flags |$all| | | | | | |"
    done >"$D/sampler.md.tmp"
}
for r in "${ROWS[@]}"; do
    name=${r%%:*} flags=${r#*:}
    train_row "$name" "$flags"
    bench "$D/$name.safetensors" "$D/$name.bench.md"
    row "$name" "$flags" "$D/$name.bench.md" >>"$D/recipe.md.tmp"
    [ "$name" = base ] && sampler_rows
done
if [ -f "$D/sampler.md.tmp" ]; then cat "$D/sampler.md.tmp" >>"$D/recipe.md.tmp" && rm "$D/sampler.md.tmp"; fi
mv "$D/recipe.md.tmp" "$D/recipe.md"
cat "$D/recipe.md"
