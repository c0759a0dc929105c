#!/bin/sh
# blas_kernels.sh - what OpenBLAS's kernel choice costs: `prophy bench` shape A
# (training the backbone, 2 threads) with OpenBLAS's own choice, with kernels
# forced by OPENBLAS_CORETYPE, and with a fallback to Prescott played by the test
# shim (tests/blas_shim.c, built by `make test`) so that the command's own choice
# shows. Prints a markdown table of medians over ROUNDS runs (default 3), run in
# alternation.
#   bench/blas_kernels.sh            # after make && make test
set -u
cd "$(dirname "$0")/.." || exit 1
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
PROPHY=${PROPHY:-./prophy}
SHIM=${SHIM:-build/tests/blas_shim.so}
A="--dim 128 --layers 4 --heads 4 --ffn 512 --frames 16 --size 32 --patch 2,4,4 --batch 16 --threads $THREADS"
KEEP=$(mktemp -d)
set -- "default:" "Prescott:OPENBLAS_CORETYPE=Prescott" "Haswell:OPENBLAS_CORETYPE=Haswell" \
       "SkylakeX:OPENBLAS_CORETYPE=SkylakeX" "fallback to Prescott, replaced by prophy:LD_PRELOAD=$SHIM"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    i=0
    for c in "$@"; do
        i=$((i + 1)); envs=${c#*:}
        env -u OPENBLAS_CORETYPE $envs "$PROPHY" bench $A 2>/dev/null | grep '^{' >>"$KEEP/$i.jsonl"
    done
    r=$((r + 1))
done
field() { grep -o "\"$2\":[^,}]*" "$1" | cut -d: -f2 | tr -d '"'; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'; }
model=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "CPU: $model; $THREADS threads; medians of $ROUNDS runs"
echo
echo "| OpenBLAS kernel | runs | train samples/s | train GFLOP/s | sgemm GFLOP/s | FMA peak GFLOP/s | train / FMA peak |"
echo "|---|---|---:|---:|---:|---:|---:|"
i=0
for c in "$@"; do
    i=$((i + 1)); f="$KEEP/$i.jsonl"
    echo "| ${c%%:*} | $(field "$f" blas_core | sort -u | tr '\n' ' ')| $(field "$f" train_samples_per_s | median) | $(field "$f" gflops_train | median) | $(field "$f" sgemm_peak_gflops | median) | $(field "$f" fma_peak_gflops | median) | $(field "$f" train_peak_fraction | median) |"
done
rm -rf "$KEEP"
