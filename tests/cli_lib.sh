# cli_lib.sh - helpers for command-line tests, sourced by tests/cli_*.sh.
#   expect_ok   "what"  cmd args...   the command exits 0
#   expect_fail "what"  cmd args...   exits non-zero (not by a signal) with exactly
#                                     one non-empty line on stderr
#   check       "what"  shell-expr    the expression is true
# Each script ends with cli_summary, which prints "N passed, N failed".
PROPHY=${PROPHY:-./prophy}
CLI_TMP=$(mktemp -d /tmp/prophy-cli.XXXXXX)
trap 'rm -rf "$CLI_TMP"' EXIT
cli_pass=0
cli_fail=0

_ok()  { echo "ok   $1"; cli_pass=$((cli_pass + 1)); }
_bad() { echo "FAIL $1${2:+: $2}"; cli_fail=$((cli_fail + 1)); }

expect_ok() {
    local what=$1; shift
    if "$@" >"$CLI_TMP/out" 2>"$CLI_TMP/err"; then _ok "$what"
    else _bad "$what" "exit $? : $(head -c 300 "$CLI_TMP/err")"; fi
}

expect_fail() {
    local what=$1; shift
    "$@" >"$CLI_TMP/out" 2>"$CLI_TMP/err"
    local rc=$?
    local lines; lines=$(grep -c . "$CLI_TMP/err")
    if [ $rc -eq 0 ]; then _bad "$what" "exited 0"
    elif [ $rc -ge 128 ]; then _bad "$what" "killed by signal $((rc - 128))"
    elif [ "$lines" -ne 1 ]; then _bad "$what" "expected one error line, got $lines: $(head -c 300 "$CLI_TMP/err")"
    else _ok "$what"; fi
}

check() {
    local what=$1; shift
    if eval "$@"; then _ok "$what"; else _bad "$what" "$*"; fi
}

cli_summary() { echo "$cli_pass passed, $cli_fail failed"; [ $cli_fail -eq 0 ]; }
