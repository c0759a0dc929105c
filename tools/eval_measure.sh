#!/usr/bin/env bash
# eval_measure.sh - reproduce the evaluator figures of docs/EVAL.md:
#   1. the ground-truth velocity floor of the PhyWorld scenes (both parsers,
#      32x32x16 and 128x128x32, ID and OOD, 200 videos each);
#   2. the unconditioned checks and the catch rate of every corruption on 200
#      videos per scene (ID and OOD).
# Usage: tools/eval_measure.sh [COUNT]   (prints plain-text tables; ~2 minutes)
set -u
cd "$(dirname "$0")/.." || exit 1
P=${PROPHY:-./prophy}
N=${1:-200}
echo "== velocity floor (prophy eval --selftest --cond-frames 1)"
for scene in uniform_motion parabola collision; do
    for split in id ood; do
        for parser in soft threshold; do
            a=$($P eval --selftest --scene $scene --split $split --count "$N" --cond-frames 1 --parser $parser)
            b=$($P eval --selftest --scene $scene --split $split --count "$N" --cond-frames 1 --parser $parser \
                -W 128 -H 128 --video-frames 32)
            printf '%-15s %-4s %-9s 32px: %s\n%-15s %-4s %-9s 128px: %s\n' $scene $split $parser \
                "$(echo "$a" | grep -o 'vel_err.*')" $scene $split $parser "$(echo "$b" | grep -o 'vel_err.*')"
        done
    done
done
echo "== checks and catch rates (prophy eval --selftest --corrupt all)"
for split in id ood; do
    echo "-- split $split"
    $P eval --selftest --scene all --split $split --count "$N" --corrupt all
done
