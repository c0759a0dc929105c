#!/usr/bin/env bash
# gen_speed.sh [MODEL] [RUNS] - the time of one 16-frame video at the default size
# (32x32), 20 steps with CFG 5, on 2 threads: medians over RUNS runs (5) of each
# stage `prophy generate` prints (load, encode, sample, write, total).
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:-models/prophy.safetensors}
R=${2:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq "$R"); do
    ./prophy generate -m "$M" -p "a red ball is thrown to the right and falls" -s "$i" -t 2 \
        -o "$tmp/v.y4m" 2>&1 | grep '^wrote' | sed 's/.*: //' >> "$tmp/times"
done
# each line: load X s, encode X s, sample X s (Y s/step), write X s, total X s
for k in load encode sample write total; do
    v=$(sed -n "s/.*$k \([0-9.]*\) s.*/\1/p" "$tmp/times" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '%s %s s   ' "$k" "$v"
done
echo "(medians of $R runs, 2 threads, 16x32x32, 20 steps, cfg 5)"
