#!/bin/sh
# Side by side: the C umT5 encoder (bench/bench_umt5.c, BF16 weights in place,
# F32 arithmetic, or BF16 with COMPUTE=bf16) and transformers' UMT5EncoderModel on PyTorch
# (tools/bench_umt5_torch.py), alternating, on the same random-weight file
# (tools/make_umt5_random_xxl.py) and ids. Prints every result line.
#
#   bench/bench_umt5.sh MODEL.safetensors
#
# Environment: COMPUTE (f32 or bf16, the C side's arithmetic), LENS (token counts, default "32 128"), THREADS (2), ROUNDS (2),
# TORCH_DTYPE (bf16), TORCH_PAD (0: no padding; 512: Wan's padded call),
# PYTHON (python3 with torch 2.x and transformers 5.x).
set -u
cd "$(dirname "$0")/.." || exit 1
MODEL=$1
LENS=${LENS:-"32 128"}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
TORCH_DTYPE=${TORCH_DTYPE:-bf16}
TORCH_PAD=${TORCH_PAD:-0}
PYTHON=${PYTHON:-python3}
BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
export OMP_WAIT_POLICY=PASSIVE
make -s build/libprophy.a || exit 1
gcc -O3 -march=native -fopenmp -std=c11 -D_GNU_SOURCE -Isrc bench/bench_umt5.c build/libprophy.a \
    -L$BLAS -Wl,-rpath,$BLAS -lopenblas -lcjson -lm -o build/bench_umt5 || exit 1
echo "== $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
OPENBLAS_VERBOSE=2 build/bench_umt5 2>&1 | grep -i core
for L in $LENS; do
    pad=$L
    [ "$TORCH_PAD" -gt "$L" ] && pad=$TORCH_PAD
    for r in $(seq "$ROUNDS"); do
        echo "-- C, $L tokens, round $r (load $(cut -d' ' -f1 /proc/loadavg))"
        build/bench_umt5 "$MODEL" "$L" "$THREADS" 2 | grep -E "arithmetic|forward|memory after forward"
        echo "-- PyTorch $TORCH_DTYPE, $L tokens (padded to $pad), round $r (load $(cut -d' ' -f1 /proc/loadavg))"
        "$PYTHON" tools/bench_umt5_torch.py "$MODEL" "$L" "$THREADS" 2 "$TORCH_DTYPE" "$pad" | grep -E "forward|peak"
    done
done
