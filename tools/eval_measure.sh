#!/usr/bin/env bash
# eval_measure.sh - reproduce the evaluator figures of docs/EVAL.md:
#   1. the ground-truth velocity floor of the PhyWorld scenes (both parsers, ID
#      and OOD, COUNT videos each), with --cond-frames COND: at 32x32x16 and
#      128x128x32, or only at SIZE x SIZE x FRAMES when SIZE is set;
#   2. the checks and the catch rate of every corruption on COUNT videos per scene
#      (ID and OOD), at 32x32x16 or SIZE x SIZE x FRAMES (with --cond-frames COND
#      when COND is set: the ground truth then also gets the `tracked` check).
# Seeds SEED .. SEED + COUNT - 1 (SEED = 0 by default; docs/EVAL.md's held-out
# tables use 900000).
# Usage: [SIZE=128 FRAMES=33] [SEED=900000] [COND=3] tools/eval_measure.sh [COUNT]
# Plain-text tables; 200 videos: ~8 minutes at 32 px, ~1 hour at 128x128x33 (2 cores).
set -u
cd "$(dirname "$0")/.." || exit 1
P=${PROPHY:-./prophy}
N=${1:-200}
SEED=${SEED:-0}
case "$N$SEED${SIZE:-0}${FRAMES:-0}${COND:-0}" in *[!0-9]*) echo "eval_measure.sh: COUNT, SEED, SIZE, FRAMES and COND are numbers" >&2; exit 2;; esac
if [ -n "${SIZE:-}" ]; then
    F=${FRAMES:-16}
    sizes="$SIZE:$F"
    size_args="-W $SIZE -H $SIZE --video-frames $F"
    label="${SIZE}x${SIZE}x${F}"
else
    sizes="32:16 128:32"
    size_args=""
    label="32x32x16"
fi
floor_cond=${COND:-1}
check_args=""
[ -n "${COND:-}" ] && [ "$COND" -gt 0 ] && check_args="--cond-frames $COND"
echo "== velocity floor (prophy eval --selftest --cond-frames $floor_cond, seeds $SEED..)"
for scene in uniform_motion parabola collision; do
    for split in id ood; do
        for parser in soft threshold; do
            for wf in $sizes; do
                w=${wf%:*} f=${wf#*:}
                out=$($P eval --selftest --scene $scene --split $split --count "$N" --seed "$SEED" \
                    --cond-frames "$floor_cond" --parser $parser -W "$w" -H "$w" --video-frames "$f") || exit 1
                printf '%-15s %-4s %-9s %sx%sx%s: %s\n' $scene $split $parser "$w" "$w" "$f" "$(echo "$out" | grep -o 'vel_err.*')"
            done
        done
    done
done
echo "== checks and catch rates (prophy eval --selftest --corrupt all, $label, seeds $SEED..)"
for split in id ood; do
    echo "-- split $split"
    # shellcheck disable=SC2086
    $P eval --selftest --scene all --split $split --count "$N" --seed "$SEED" $size_args $check_args --corrupt all || exit 1
done
