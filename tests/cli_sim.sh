#!/usr/bin/env bash
# cli_sim.sh - `prophy sim` and `prophy dataset`: listing, writing every format,
# determinism of the written files, the spec, and one clear error line for each
# kind of bad input.
cd "$(dirname "$0")/.." || exit 1
source tests/cli_lib.sh
T="$CLI_TMP"

# fails_with WHAT PATTERN CMD...: one error line, non-zero exit, and the line matches PATTERN
fails_with() {
    local what=$1 pat=$2; shift 2
    expect_fail "$what" "$@"
    check "$what: message says '$pat'" 'grep -q -- "^prophy: error: .*$pat" "$CLI_TMP/err"'
}

# ---- listing
expect_ok "sim --list" "$PROPHY" sim --list
check "list has the PhyWorld scenes" 'grep -qx uniform_motion "$T/out" && grep -qx parabola "$T/out" && grep -qx collision "$T/out"'
check "list has >= 13 scenes" '[ "$(grep -c . "$T/out")" -ge 13 ]'
cp "$T/out" "$T/scenes"

# ---- one video per scene, with its spec and maps overlay
for s in $(cat "$T/scenes"); do
    expect_ok "sim $s" "$PROPHY" sim --scene "$s" --seed 3 -W 32 -H 24 --video-frames 6 -o "$T/$s.y4m" --spec "$T/$s.json" --maps "$T/${s}_maps.png"
done
check "y4m header has the size" 'head -c 40 "$T/bounce.y4m" | grep -q "W32 H24"'
check "spec names its scene" 'grep -q "\"scene\":[[:space:]]*\"bounce\"" "$T/bounce.json"'
expect_ok "a 53-bit seed" "$PROPHY" sim --scene uniform_motion --seed 5025271712334729 -o "$T/big.y4m" --spec "$T/big.json"
check "...written exactly in the spec (not 5.02527171233473e+15)" 'grep -q "\"seed\":[[:space:]]*5025271712334729," "$T/big.json"'
expect_ok "...and the spec judges its video" "$PROPHY" eval "$T/big.y4m" --spec "$T/big.json"
check "spec has the format tag" 'grep -q "prophy-spec-1" "$T/collision.json"'
check "spec has 6 states" '[ "$(grep -c "\"t\":" "$T/collision.json")" -eq 6 ]'
check "maps overlay written" '[ -s "$T/bounce_maps.png" ]'

# ---- formats, determinism, split, overrides
expect_ok "gif with upscale" "$PROPHY" sim --scene parabola --seed 1 -o "$T/p.gif" --upscale 3
check "gif magic" 'head -c 4 "$T/p.gif" | grep -q GIF8'
expect_ok "png frames" "$PROPHY" sim --scene smoke --seed 1 --video-frames 3 -o "$T/f_%02d.png"
check "three png frames" '[ -s "$T/f_00.png" ] && [ -s "$T/f_02.png" ]'
expect_ok "same seed again" "$PROPHY" sim --scene bounce --seed 3 -W 32 -H 24 --video-frames 6 -o "$T/b2.y4m" --spec "$T/b2.json"
check "same seed, same bytes" 'cmp -s "$T/bounce.y4m" "$T/b2.y4m" && cmp -s "$T/bounce.json" "$T/b2.json"'
expect_ok "other seed" "$PROPHY" sim --scene bounce --seed 4 -W 32 -H 24 --video-frames 6 -o "$T/b3.y4m"
check "other seed, other bytes" '! cmp -s "$T/bounce.y4m" "$T/b3.y4m"'
expect_ok "ood split" "$PROPHY" sim --scene uniform_motion --seed 2 --split ood -o "$T/u.y4m" --spec "$T/u.json"
check "spec says ood" 'grep -q "\"split\":[[:space:]]*\"ood\"" "$T/u.json"'
expect_ok "radius override" "$PROPHY" sim --scene collision --seed 2 --radius 1.0 --param v1=2.5 -o "$T/c.y4m" --spec "$T/c.json"
check "override in spec" 'grep -q "\"r1\":[[:space:]]*1[,}]" "$T/c.json" && grep -q "\"v1\":[[:space:]]*2.5" "$T/c.json"'
expect_ok "contact sheet" "$PROPHY" sim --contact-sheet "$T/sheet.png" -W 16 -H 16 --video-frames 8
check "contact sheet png" '[ -s "$T/sheet.png" ]'

# ---- bad input: one line, non-zero exit, never a crash
fails_with "unknown scene" "unknown scene" "$PROPHY" sim --scene warp_drive --seed 1 -o "$T/x.y4m"
fails_with "negative radius" "impossible" "$PROPHY" sim --scene uniform_motion --seed 1 --radius -1 -o "$T/x.y4m"
fails_with "impossible restitution" "impossible" "$PROPHY" sim --scene bounce --seed 1 --param restitution=1.5 -o "$T/x.y4m"
fails_with "unknown parameter" "no parameter" "$PROPHY" sim --scene bounce --seed 1 --param spin=3 -o "$T/x.y4m"
fails_with "malformed --param" "NAME=VALUE" "$PROPHY" sim --scene bounce --seed 1 --param spin -o "$T/x.y4m"
fails_with "zero frames" "frames" "$PROPHY" sim --scene bounce --seed 1 --video-frames 0 -o "$T/x.y4m"
fails_with "too many frames" "frames" "$PROPHY" sim --scene bounce --seed 1 --video-frames 100000 -o "$T/x.y4m"
fails_with "huge size" "out of range" "$PROPHY" sim --scene bounce --seed 1 -W 100000 -o "$T/x.y4m"
fails_with "tiny size" "out of range" "$PROPHY" sim --scene bounce --seed 1 -H 2 -o "$T/x.y4m"
fails_with "too many pixel-frames" "too large" "$PROPHY" sim --scene bounce --seed 1 -W 1024 -H 1024 --video-frames 256 -o "$T/x.y4m"
fails_with "bad seed" "seed" "$PROPHY" sim --scene bounce --seed -5 -o "$T/x.y4m"
fails_with "bad split" "split" "$PROPHY" sim --scene bounce --seed 1 --split test -o "$T/x.y4m"
fails_with "missing output" "-o" "$PROPHY" sim --scene bounce --seed 1
fails_with "missing scene" "scene" "$PROPHY" sim --seed 1 -o "$T/x.y4m"
fails_with "missing value" "needs a value" "$PROPHY" sim --scene
fails_with "unknown option" "unknown option" "$PROPHY" sim --scene bounce --frobnicate
expect_fail "unwritable output" "$PROPHY" sim --scene bounce --seed 1 -o /nonexistent/dir/x.y4m
expect_fail "unwritable spec" "$PROPHY" sim --scene bounce --seed 1 -o "$T/x.y4m" --spec /nonexistent/dir/x.json
expect_fail "unknown extension" "$PROPHY" sim --scene bounce --seed 1 -o "$T/x.avi"

# ---- dataset
expect_ok "dataset" "$PROPHY" dataset --out "$T/ds" --count 30 --seed 5 --split ood -q --shard-size 16
check "dataset manifest" 'grep -q "prophy-dataset-1" "$T/ds/manifest.json" && grep -q "\"count\":[[:space:]]*30" "$T/ds/manifest.json"'
check "two shards" '[ -s "$T/ds/shard-00000.ppds" ] && [ -s "$T/ds/shard-00001.ppds" ]'
check "shard magic" '[ "$(head -c 8 "$T/ds/shard-00000.ppds")" = PPDSHRD1 ]'
expect_ok "dataset again" "$PROPHY" dataset --out "$T/ds2" --count 30 --seed 5 --split ood -q --shard-size 16 -t 1
check "dataset deterministic across threads" 'cmp -s "$T/ds/shard-00001.ppds" "$T/ds2/shard-00001.ppds"'
expect_ok "dataset scene subset" "$PROPHY" dataset --out "$T/ds3" --count 4 --scenes bounce,smoke -q -W 16 -H 16 --video-frames 4
fails_with "dataset unknown scene" "unknown scene" "$PROPHY" dataset --out "$T/ds4" --count 4 --scenes bounce,nope
fails_with "dataset zero count" "count" "$PROPHY" dataset --out "$T/ds4" --count 0
fails_with "dataset missing out" "--out" "$PROPHY" dataset --count 3
fails_with "dataset bad split" "split" "$PROPHY" dataset --out "$T/ds4" --count 3 --split train
fails_with "dataset zero frames" "frames" "$PROPHY" dataset --out "$T/ds4" --count 3 --video-frames 0
expect_fail "dataset unwritable dir" "$PROPHY" dataset --out /nonexistent/dir/ds --count 3 -q
cli_summary
