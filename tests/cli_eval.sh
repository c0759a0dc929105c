#!/usr/bin/env bash
# cli_eval.sh - prophy eval: JSON and table output, conditioned mode, PNG input,
# maps, the selftest, and bad input (one error line, non-zero exit).
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
T=$CLI_TMP

expect_ok "sim a parabola" $PROPHY sim --scene parabola --seed 3 -o "$T/p.y4m" --spec "$T/p.json"
expect_ok "eval --json" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --json
cp "$CLI_TMP/out" "$T/p_report.json"
check "one JSON line" '[ $(wc -l < "$T/p_report.json") -eq 1 ]'
check "pc_pass true" 'grep -q "\"pc_pass\":true" "$T/p_report.json"'
check "sa_pass true" 'grep -q "\"sa_pass\":true" "$T/p_report.json"'
check "checks have name/value/tolerance/pass" 'grep -q "\"checks\":\[{\"name\":\"[a-z_.]*\",\"value\":[-0-9.e]*,\"tolerance\":[0-9.e-]*,\"pass\":true" "$T/p_report.json"'
check "gravity check present" 'grep -q "ball.gravity" "$T/p_report.json"'

expect_ok "eval --cond-frames" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --cond-frames 4 --json
check "velocity_error reported" 'grep -q "\"velocity_error\":0\.[0-9]" "$CLI_TMP/out"'
expect_ok "eval table" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --cond-frames 4
check "table shows checks" 'grep -q "pc_pass yes, sa_pass yes" "$CLI_TMP/out" && grep -q "velocity_error" "$CLI_TMP/out"'
expect_ok "threshold parser" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --parser threshold --json

expect_ok "sim PNG frames" $PROPHY sim --scene smoke --seed 1 -o "$T/s_%03d.png" --spec "$T/s.json"
expect_ok "eval PNG frames" $PROPHY eval "$T/s_%03d.png" --spec "$T/s.json" --json
check "smoke rises" 'grep -q "\"smoke.rises\"" "$CLI_TMP/out" && grep -q "\"pc_pass\":true" "$CLI_TMP/out"'

# maps: the header line and raw float32s (an all-zero map scores IoU 0)
printf 'prophy-maps 1 16 8 8\n' > "$T/maps.bin"
head -c $((16 * 8 * 8 * 4)) /dev/zero >> "$T/maps.bin"
expect_ok "eval --maps" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --maps "$T/maps.bin" --json
check "loc_iou reported" 'grep -q "\"loc_iou\":0" "$CLI_TMP/out"'

expect_ok "selftest" $PROPHY eval --selftest --scene bounce --count 3 --corrupt all --json
check "selftest pass rate 1" 'grep -q "\"pc_pass_rate\":1" "$CLI_TMP/out"'
# 128x128x33 (Wan's 1 + 4k frames at PhyWorld's size): seeds 900002, 900004 and
# 900005 failed gravity/smooth/continuity before the contact detection was fixed
expect_ok "selftest 128x128x33" $PROPHY eval --selftest --scene bounce --seed 900002 --count 4 -W 128 -H 128 \
    --video-frames 33 --cond-frames 3 --json
check "128x128x33 pass rates 1" 'grep -q "\"pc_pass_rate\":1" "$CLI_TMP/out" && grep -q "\"sa_pass_rate\":1" "$CLI_TMP/out"'
# tools/eval_measure.sh at a given size (one video per scene)
expect_ok "eval_measure.sh at a size" env PROPHY="$PROPHY" SIZE=32 FRAMES=8 SEED=5 COND=2 tools/eval_measure.sh 1
check "eval_measure.sh measures that size" 'grep -q "32x32x8: vel_err" "$CLI_TMP/out" && grep -q "^-- split ood" "$CLI_TMP/out" && grep -q "^melting_explosion " "$CLI_TMP/out"'
expect_fail "eval_measure.sh bad SIZE" env PROPHY="$PROPHY" SIZE=big tools/eval_measure.sh 1

# bad input
expect_fail "no video" $PROPHY eval --spec "$T/p.json"
expect_fail "no spec" $PROPHY eval "$T/p.y4m"
expect_fail "missing video" $PROPHY eval "$T/none.y4m" --spec "$T/p.json"
expect_fail "missing spec" $PROPHY eval "$T/p.y4m" --spec "$T/none.json"
head -c 5000 "$T/p.y4m" > "$T/trunc.y4m"
expect_fail "truncated Y4M" $PROPHY eval "$T/trunc.y4m" --spec "$T/p.json"
check "truncated named" 'grep -q "truncated" "$CLI_TMP/err"'
printf 'YUV4MPEG2 W32 H32 F10:1 C420jpeg\nFRAME\n' > "$T/c420.y4m"
expect_fail "unsupported colourspace" $PROPHY eval "$T/c420.y4m" --spec "$T/p.json"
expect_ok "sim 64x64" $PROPHY sim --scene parabola --seed 3 -W 64 -H 64 -o "$T/p64.y4m" --spec "$T/p64.json"
expect_fail "size disagrees with spec" $PROPHY eval "$T/p64.y4m" --spec "$T/p.json"
check "size error names the spec" 'grep -q "spec" "$CLI_TMP/err"'
sed 's/"fps":[[:space:]]*10/"fps": "ten"/' "$T/p.json" > "$T/badtype.json"
expect_fail "spec field of the wrong type" $PROPHY eval "$T/p.y4m" --spec "$T/badtype.json"
check "wrong type names the field" 'grep -q "video.fps" "$CLI_TMP/err"'
sed 's/"categories":[[:space:]]*\[/"categories": "x", "old": [/' "$T/p.json" > "$T/badcat.json"
expect_fail "categories not an array" $PROPHY eval "$T/p.y4m" --spec "$T/badcat.json"
echo '{"format":"prophy-spec-1",' > "$T/broken.json"
expect_fail "spec not JSON" $PROPHY eval "$T/p.y4m" --spec "$T/broken.json"
# specs the evaluator cannot judge: refused, naming the file and the field
sed 's/"scene":[[:space:]]*"parabola"/"scene": "no_such_scene"/' "$T/p.json" > "$T/noscene.json"
expect_fail "spec naming no scene" $PROPHY eval "$T/p.y4m" --spec "$T/noscene.json"
check "unknown scene names the file and the field" 'grep -q "noscene.json.*scene" "$CLI_TMP/err"'
sed 's/"dt":[[:space:]]*0\.1/"dt": 0/' "$T/p.json" > "$T/dt0.json"
check "dt edited" 'grep -q "\"dt\": 0[,}]" "$T/dt0.json"'
expect_fail "spec with world dt 0" $PROPHY eval "$T/p.y4m" --spec "$T/dt0.json"
check "dt 0 names the file and the field" 'grep -q "dt0.json.*world.dt" "$CLI_TMP/err"'
sed 's/"kind":[[:space:]]*"ball"/"kind": "cube"/' "$T/p.json" > "$T/kind.json"
expect_fail "spec with an unknown object kind" $PROPHY eval "$T/p.y4m" --spec "$T/kind.json"
check "unknown kind names the field" 'grep -q "objects\[0\].kind" "$CLI_TMP/err"'
expect_fail "cond-frames too large" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --cond-frames 16
expect_fail "cond-frames not a number" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --cond-frames x
expect_fail "unknown option" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --bogus
expect_fail "bad parser" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --parser magic
printf 'prophy-maps 1 16 8 8\n123' > "$T/badmaps.bin"
expect_fail "short maps file" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --maps "$T/badmaps.bin"
printf 'prophy-maps 1 16 64 64\n' > "$T/finemaps.bin"
head -c $((16 * 64 * 64 * 4)) /dev/zero >> "$T/finemaps.bin"
expect_fail "maps finer than the video" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --maps "$T/finemaps.bin"
check "finer maps name the file" 'grep -q "finemaps.bin" "$CLI_TMP/err"'
printf 'prophy-maps 3 16 8 8\n' > "$T/c3maps.bin"
head -c $((3 * 16 * 8 * 8 * 4)) /dev/zero >> "$T/c3maps.bin"
expect_fail "maps with 3 channels" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --maps "$T/c3maps.bin"
check "3 channels names the file and C" 'grep -q "c3maps.bin: C:" "$CLI_TMP/err"'
printf 'prophy-maps 18 16 8 8\n' > "$T/maps18.bin"
head -c $((18 * 16 * 8 * 8 * 4)) /dev/zero >> "$T/maps18.bin"
expect_ok "maps with the background channel" $PROPHY eval "$T/p.y4m" --spec "$T/p.json" --maps "$T/maps18.bin" --json
expect_fail "PNG pattern missing" $PROPHY eval "$T/none_%03d.png" --spec "$T/s.json"
expect_fail "unreadable video type" $PROPHY eval "$T/p.json" --spec "$T/p.json"
expect_fail "selftest unknown scene" $PROPHY eval --selftest --scene nope --count 2
expect_fail "selftest unknown corruption" $PROPHY eval --selftest --scene bounce --corrupt melt
cli_summary
