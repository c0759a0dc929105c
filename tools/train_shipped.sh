#!/usr/bin/env bash
# train_shipped.sh [OUTDIR] - makes models/prophy.safetensors from the built-in
# physics world, as the paper trains ProPhy (docs/BRANCH.md, "Training"), and the
# equal-compute baseline the README's claim table compares it with:
#   1. a dataset of 20,000 labelled videos (16 frames of 32x32, split id, seed 0);
#   2. stage 1: backbone + text encoder from scratch, 5,000 steps of batch 16
#      (2,750 with logit-normal s, then 2,250 with s shifted to high noise);
#   3. stage 2: the full branch attached, backbone frozen, 1,000 steps of batch 16
#      -> OUTDIR/prophy.safetensors (the shipped model);
#   4. the baseline: the backbone alone continues from stage 1 for the same 1,000
#      steps -> OUTDIR/baseline.safetensors.
# Every stage checkpoints every 250 steps; rerunning the script after a kill
# resumes each unfinished stage exactly (finished ones are skipped).
# On 2 cores: about 1 h (stage 1) + 20 min + 12 min. Extra arguments after OUTDIR
# (seb, reb, full+bb = the full branch with the backbone not frozen) also train
# those ablations for the same steps. PAR=1 runs the
# stage-2 trainings side by side with one thread each (the results are the same
# bytes: every kernel is independent of the thread count).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-out}
shift || true
P=./prophy
# sizes (the defaults are the shipped model's; smaller ones only for a smoke test)
COUNT=${COUNT:-20000} S1A=${S1A:-2750} S1=${S1:-5000} S2=${S2:-1000} BATCH=${BATCH:-16}
mkdir -p "$D"
[ -f "$D/physics-data/manifest.json" ] || $P dataset --out "$D/physics-data" --count "$COUNT" -q ${DATA_FLAGS:-}
COMMON="--data $D/physics-data --batch $BATCH --lr 1e-3 --ema 0.998 -s 1 --ckpt-every 250 ${MODEL_FLAGS:-}"

# run NAME STEPS WARMUP "FLAGS" [FROM...]: train to NAME.safetensors with FLAGS;
# a fresh run starts FROM (e.g. --init S1 --branch full, or --resume CKPT), a
# killed one resumes its own checkpoint (which knows the stage, branch, frozen set)
run() {
    local name=$1 steps=$2 warmup=$3 flags=$4 out="$D/$1.safetensors" ck="$D/$1.safetensors.ckpt"
    shift 4
    local from=("$@")
    [ -f "$ck.done" ] && { echo "$name: done"; return; }
    [ -f "$ck" ] && from=(--resume "$ck")
    # shellcheck disable=SC2086
    $P train $COMMON $flags --steps "$steps" --warmup "$warmup" "${from[@]}" --ckpt "$ck" -o "$out" --log "$D/$name.csv"
    touch "$ck.done"
}

# Stage 1 in two phases: Wan's logit-normal s first, then s uniform shifted towards
# high noise (shift 3, as the sampler), where only the prompt tells scenes apart:
# with logit-normal s alone (1.4 % of samples above s = 0.9) the text encoder was
# hardly used after 2,600 steps (README, "What we learned").
run stage1a "$S1A" 200 ""
[ -f "$D/stage1.csv" ] || cp "$D/stage1a.csv" "$D/stage1.csv"
run stage1 "$S1" 200 "--s-dist uniform --s-shift 3" --resume "$D/stage1a.safetensors.ckpt"
S2FLAGS="--s-dist uniform --s-shift 3"
S1M="$D/stage1.safetensors"

# an ablation: seb | reb | full+bb (the full branch with the backbone trained too)
ablation() {
    case "$1" in
    full+bb) run prophy_bb "$S2" 100 "$S2FLAGS" --init "$S1M" --branch full --train-backbone ;;
    *) run "$1" "$S2" 100 "$S2FLAGS" --init "$S1M" --branch "$1" ;;
    esac
}

if [ "${PAR:-0}" = 1 ]; then # stage 2 runs side by side, one thread each (same bytes)
    COMMON="$COMMON -t 1 -q"
    pids=()
    run prophy "$S2" 100 "$S2FLAGS" --init "$S1M" --branch full & pids+=($!)
    run baseline "$S2" 100 "$S2FLAGS" --init "$S1M" --branch none & pids+=($!)
    for b in "$@"; do ablation "$b" & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p"; done
else
    run prophy "$S2" 100 "$S2FLAGS" --init "$S1M" --branch full
    run baseline "$S2" 100 "$S2FLAGS" --init "$S1M" --branch none
    for b in "$@"; do ablation "$b"; done
fi
echo "shipped model: $D/prophy.safetensors (cp it to models/)"
