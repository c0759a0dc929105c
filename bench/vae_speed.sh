#!/bin/sh
# VAE speed and memory, C against diffusers' AutoencoderKLWan on the same thread count:
# builds build/bench_vae, then runs each side in its own process (so that each
# reports its own peak RSS), encode and decode measured separately.
#
#   bench/vae_speed.sh                     # small config, 33 frames at 128x128, 2 threads
#   CONFIG=wan21 FRAMES=17 SIZE=256 RUNS=1 TORCH=0 bench/vae_speed.sh
#
# Environment: CONFIG small|wan21, FRAMES, SIZE, RUNS (median of), THREADS,
# TORCH (0: skip the PyTorch side), PYTHON (an interpreter with torch 2 + diffusers).
set -eu
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-small}
FRAMES=${FRAMES:-33}
SIZE=${SIZE:-128}
RUNS=${RUNS:-5}
THREADS=${THREADS:-2}
TORCH=${TORCH:-1}
PYTHON=${PYTHON:-python3}
BLASDIR=${BLASDIR:-/usr/lib/x86_64-linux-gnu/openblas-openmp}
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMP_WAIT_POLICY
make -s -j2 build/libprophy.a
cc -O3 -march=native -fopenmp -Isrc bench/bench_vae.c build/libprophy.a -o build/bench_vae \
    -L"$BLASDIR" -Wl,-rpath,"$BLASDIR" -lopenblas -lcjson -lpng -lgif -lm
echo "# $(date -u +%Y-%m-%d) $(lscpu | sed -n 's/^Model name: *//p'), $(OPENBLAS_VERBOSE=2 build/bench_vae --frames 1 --size 8 --runs 1 --what dec 2>&1 | grep -i 'core' | head -n 1)"
for what in enc dec; do
    build/bench_vae --config "$CONFIG" --frames "$FRAMES" --size "$SIZE" --runs "$RUNS" --threads "$THREADS" --what "$what" | grep -v '^config' | sed 's/^/C       /'
    if [ "$TORCH" = 1 ]; then
        "$PYTHON" bench/bench_vae_torch.py --config "$CONFIG" --frames "$FRAMES" --size "$SIZE" --runs "$RUNS" \
            --threads "$THREADS" --what "$what" | grep -v '^torch' | sed 's/^/PyTorch /'
    fi
done
