#!/usr/bin/env bash
# run.sh - runs each libFuzzer harness for a bounded number of executions.
# Usage: fuzz/run.sh RUNS [TARGET...]   (make fuzz; TARGET = NAME of fuzz/fuzz_NAME.c)
# FUZZ_TIME=S also stops each target after S seconds (libFuzzer's -max_total_time).
# One fuzzer process at a time, at the lowest priority, one OpenMP thread. New
# corpus entries go to $FUZZ_BUILD/corpus/NAME (fuzz/corpus/NAME, the committed
# seeds, is only read); crashes, leaks, timeouts and out-of-memory inputs go to
# $FUZZ_BUILD/artifacts/NAME/. Prints one summary line per target and exits
# non-zero when any target found something.
set -u
cd "$(dirname "$0")/.."
B=${FUZZ_BUILD:-build-fuzz}
runs=${1:-20000}
shift || true
# target  max_len  (a dictionary fuzz/dict/NAME.dict is used when present)
limits="safetensors 65536
y4m 16384
png 16384
spec 8192
maps 8192
dataset 16384
model_config 4096
model_file 65536
train_state 2048
tokenizer 4096
prompt_parse 512
parse_num 64
spm 8192
vae_config 4096
wan_config 4096
shard_index 4096
umt5 16384"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_*.c; do t=${f#fuzz/fuzz_}; targets+=("${t%.c}"); done
fi
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
mkdir -p "$B/logs"
bad=0
printf '%-14s %12s %8s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
    bin=$B/fuzz_$t
    [ -x "$bin" ] || { echo "$t: $bin not built (make fuzz-build)"; bad=1; continue; }
    len=$(echo "$limits" | awk -v t="$t" '$1 == t { print $2 }')
    mkdir -p "$B/corpus/$t" "$B/artifacts/$t" "fuzz/corpus/$t"
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
    log=$B/logs/$t.log
    time_opt=()
    [ -n "${FUZZ_TIME:-}" ] && time_opt=(-max_total_time="$FUZZ_TIME")
    nice -n 19 "$bin" -runs="$runs" "${time_opt[@]}" -max_len="${len:-4096}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$B/artifacts/$t/" "${dict[@]}" \
        "$B/corpus/$t" "fuzz/corpus/$t" > "$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    ncorp=$(find "$B/corpus/$t" "fuzz/corpus/$t" -type f | wc -l)
    res=ok
    if [ $rc -ne 0 ]; then res="FOUND (exit $rc): see $log and $B/artifacts/$t/"; bad=1; fi
    printf '%-14s %12s %8s %8s  %s\n' "$t" "${execs:-?}" "${speed:-?}" "$ncorp" "$res"
done
exit $bad
