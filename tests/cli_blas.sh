# cli_blas.sh - the command picks OpenBLAS's kernel when OpenBLAS fell back to one
# below the CPU (a shim reports the Prescott fallback), a kernel the user set wins,
# and -v and bench say which kernel runs.
. tests/cli_lib.sh
SHIM=${BUILD:-build}/tests/blas_shim.so
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
expect_ok   "-v names the CPU and the kernel" $PROPHY -v sim --list
check       "...the kernel" 'grep -q "OpenBLAS kernel [A-Za-z]" $CLI_TMP/err'
if grep -qw avx /proc/cpuinfo; then
    expect_ok   "a Prescott fallback is replaced" env -u OPENBLAS_CORETYPE LD_PRELOAD=$SHIM $PROPHY -v sim --list
    check       "...by a kernel of this CPU's ISA" 'grep -Eq "OpenBLAS kernel (SkylakeX|Cooperlake|Haswell|Zen|Sandybridge) \(chosen by prophy; OpenBLAS picked Prescott\)" $CLI_TMP/err'
else
    echo "ok   (this CPU has no AVX: Prescott is its kernel, nothing to replace)"; cli_pass=$((cli_pass + 2))
fi
expect_ok   "a kernel the user set wins" env LD_PRELOAD=$SHIM OPENBLAS_CORETYPE=Prescott $PROPHY -v sim --list
check       "...and is said to be the user's" 'grep -q "OpenBLAS kernel Prescott (OPENBLAS_CORETYPE, set by the user)" $CLI_TMP/err'
expect_ok   "bench reports the kernel and the FMA peak" $PROPHY bench --dim 24 --heads 2 --layers 1 --ffn 32 --frames 2 --size 8 --patch 1,4,4 --batch 1 --iters 1 --warmup 0
check       "...in its JSON" 'grep -q "\"blas_core\":\"[A-Za-z]" $CLI_TMP/out && grep -Eq "\"fma_peak_gflops\":[0-9]" $CLI_TMP/out && grep -q "\"train_peak_fraction\"" $CLI_TMP/out'
cli_summary
