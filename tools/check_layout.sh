#!/bin/sh
# check_layout.sh - the folder rules of docs/ARCHITECTURE.md: each folder of src/
# includes only the folders its row allows, no .c file sits directly in src/, every
# header compiles on its own (it includes what it uses), and libprophy.a defines
# only pp_ names (run after make). Prints each breach; exit 1 if there is one.
cd "$(dirname "$0")/.." || exit 1
allowed() {
    case "$1" in
    base) echo "" ;;
    io) echo "base" ;;
    nn) echo "base io" ;;
    wan|text|branch) echo "base io nn" ;;
    train) echo "base io nn" ;;
    pipeline) echo "base io nn wan text" ;;
    sim) echo "base io" ;;
    eval) echo "base io sim" ;;
    prophy) echo "base io nn wan text branch train sim" ;;
    benchmark) echo "base io nn wan text branch train sim eval prophy" ;;
    cli) echo "*" ;;
    *) echo "?" ;;
    esac
}
bad=0
for f in src/*.c; do [ -e "$f" ] && { echo "a .c file directly in src/: $f"; bad=1; }; done
for d in src/*/; do
    d=${d#src/}; d=${d%/}
    ok=$(allowed "$d")
    [ "$ok" = "?" ] && { echo "src/$d: a folder docs/ARCHITECTURE.md does not describe"; bad=1; continue; }
    [ "$ok" = "*" ] && continue
    for t in $(grep -ho '#include "[a-z_]*/' src/$d/*.[ch] | sed 's/#include "//; s/\///' | sort -u); do
        [ "$t" = "$d" ] && continue
        case " $ok " in *" $t "*) ;; *) echo "src/$d includes src/$t"; bad=1 ;; esac
    done
done
CC=${CC:-cc}
for h in src/*/*.h; do
    printf '#include "%s"\n' "${h#src/}" | $CC -std=c11 -D_GNU_SOURCE -fsyntax-only -Isrc -x c - 2>/dev/null ||
        { echo "$h does not compile on its own (a missing #include?)"; bad=1; }
done
LIB=${LIB:-build/libprophy.a}
if [ -f "$LIB" ]; then
    # (ASan's one-definition-rule markers, __odr_asan.<name>, are the compiler's, not ours)
    others=$(nm "$LIB" | awk '$2 ~ /^[TDBRCVW]$/ {print $3}' | sed 's/^__odr_asan\.//' | grep -v '^pp_' | sort -u)
    [ -n "$others" ] && { echo "globals without the pp_ prefix: $others"; bad=1; }
fi
[ $bad -eq 0 ] && echo "layout: ok"
exit $bad
