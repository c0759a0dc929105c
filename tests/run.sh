#!/usr/bin/env bash
# run.sh - the whole test suite: the C unit tests, then every tests/cli_*.sh.
# Usage: tests/run.sh [BUILD_DIR]   (BUILD_DIR holds prophy and prophy_test)
# Ends with one line "N passed, N failed" summing all parts.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
export PROPHY=${PROPHY:-$build/prophy}
# Sleeping (not spinning) OpenMP threads: see prefer_passive_waiting() in src/cli/prophy.c.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
total_pass=0
total_fail=0
tally() { # read the last "N passed, N failed" line of a log
    local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -z "$line" ]; then total_fail=$((total_fail + 1)); echo "FAIL $2 (no summary line)"; return; fi
    total_pass=$((total_pass + $(echo "$line" | cut -d' ' -f1)))
    total_fail=$((total_fail + $(echo "$line" | cut -d' ' -f3)))
}
log=$(mktemp)
echo "== unit tests ($build/prophy_test)"
"$build/prophy_test" | tee "$log"
tally "$log" prophy_test
for t in tests/cli_*.sh; do
    [ "$t" = tests/cli_lib.sh ] && continue
    echo "== $t"
    bash "$t" | tee "$log"
    tally "$log" "$t"
done
rm -f "$log"
echo "$total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
