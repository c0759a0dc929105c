#!/usr/bin/env bash
# claims.sh [OUTDIR] [N] - the README's claim table: `prophy eval --heldout N
# --split both` (N held-out prompts/seeds per scene and split, prompts of the
# training set excluded) on every trained model of tools/train_shipped.sh found in
# OUTDIR (baseline, prophy = full, the variants prophy_bb, prophy_wc01, prophy_wc0,
# prophy_ln, baseline_fg10, prophy_fg10, baseline_fg10_long, prophy_long and
# baseline_long of tools/train_latent.sh, seb, reb), then one combined Markdown table:
# rows = model x split x group (single-phenomenon scenes, composites).
# PAR=1 evaluates the models side by side, one thread each. DATA (the training
# set whose prompts are excluded; default OUTDIR/physics-data) and SPLIT (id, ood
# or both; default both) serve other runs, and EVAL_FLAGS passes sampler flags,
# e.g. for tools/train_latent.sh's models:
#   DATA=out/lat_b SPLIT=id EVAL_FLAGS="--cfg-scale 3" tools/claims.sh out 24
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-out}
N=${2:-8}
DATA=${DATA:-$D/physics-data} SPLIT=${SPLIT:-both}
P=./prophy
models=()
for m in baseline prophy prophy_bb prophy_wc01 prophy_wc0 prophy_ln baseline_fg10 prophy_fg10 baseline_fg10_long prophy_long baseline_long seb reb; do [ -f "$D/$m.safetensors" ] && models+=("$m"); done
[ ${#models[@]} -gt 0 ] || { echo "claims.sh: no trained models in $D (run tools/train_shipped.sh)" >&2; exit 1; }
evaluate() { # (a table newer than its model is kept: rerunning only finishes what is missing)
    [ "$D/claims_$1.md" -nt "$D/$1.safetensors" ] && return 0
    $P eval -m "$D/$1.safetensors" --heldout "$N" --split "$SPLIT" --exclude-data "$DATA" \
        --jsonl "$D/claims_$1.jsonl" --table "$D/claims_$1.md" ${EVAL_FLAGS:-} "${@:2}" >/dev/null
}
if [ "${PAR:-0}" = 1 ]; then
    pids=()
    for m in "${models[@]}"; do evaluate "$m" -t 1 2>"$D/claims_$m.log" & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p"; done
else
    for m in "${models[@]}"; do evaluate "$m"; done
fi
echo "| model | split / group | n | PC % [95 %] | SA % [95 %] | joint % [95 %] | vel. error (n) | IoU gen. / sim. video (all tokens) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for g in "id / single" "id / composite" "ood / single" "ood / composite"; do
    for m in "${models[@]}"; do
        case $m in
        baseline) name="baseline (none)" ;; prophy) name="ProPhy (full)" ;;
        prophy_bb) name="ProPhy (full, backbone trained)" ;; prophy_wc01) name="ProPhy (full, coarse weight 0.01)" ;;
        prophy_wc0) name="ProPhy (full, no coarse loss)" ;; prophy_ln) name="ProPhy (full, noisy maps)" ;;
        baseline_fg10) name="baseline, fg-weighted loss" ;; prophy_fg10) name="ProPhy (full, fg-weighted loss)" ;; baseline_fg10_long) name="baseline, fg-weighted, 4x the steps" ;;
        prophy_long) name="ProPhy (full) on the 4x backbone" ;; baseline_long) name="baseline on the 4x backbone" ;;
        *) name=$m ;;
        esac
        grep -F "| $g |" "$D/claims_$m.md" | head -1 | sed "s/^| /| $name | /" || true
    done
done
