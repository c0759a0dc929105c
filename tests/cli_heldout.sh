#!/usr/bin/env bash
# cli_heldout.sh - prophy eval -m MODEL --heldout N: the held-out benchmark with a
# tiny ProPhy model (rows of the table, one JSONL line per example, skipping the
# training data's prompts) and bad input (one error line, non-zero exit).
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
T=$CLI_TMP

expect_ok "train a tiny model" $PROPHY train --steps 2 --batch 2 --dim 24 --layers 2 --heads 2 --ffn 48 \
    --text-dim 16 --video-frames 4 -W 16 -H 16 --patch 1,4,4 --branch full -o "$T/m.safetensors" -q -t 1
expect_ok "heldout 1 id" $PROPHY eval -m "$T/m.safetensors" --heldout 1 --split id --steps 2 \
    --jsonl "$T/h.jsonl" --table "$T/h.md" -t 1
cp "$CLI_TMP/out" "$T/stdout.md"
cp "$CLI_TMP/err" "$T/stderr.txt"
check "table rows" 'grep -q "^| id / single | 11 |" "$T/h.md" && grep -q "^| id / composite | 3 |" "$T/h.md"'
check "table columns" 'grep -q "^| split / group | n | PC % \[95 %\] | SA % \[95 %\] | joint % \[95 %\] | vel. error (n) | IoU gen. / sim. video (all tokens) |" "$T/h.md"'
check "rates with their 95 % intervals" 'grep -Eq "^\| id / single \| 11 \|( [0-9.]+ \[[0-9.]+, [0-9.]+\] \|){3}" "$T/h.md"'
check "PC of the single scenes = the JSONL's passes / 11" '[ "$(grep -v -e bounce_smoke -e collision_flame -e melting_explosion "$T/h.jsonl" | grep -c "\"pc_pass\":true" | awk "{printf \"%.1f\", 100 * \$1 / 11}")" = "$(grep "^| id / single " "$T/h.md" | cut -d"|" -f4 | cut -d"[" -f1 | tr -d " ")" ]'
check "per-scene rows" '[ $(grep -c "^| id / [a-z_]* | 1 |" "$T/h.md") -eq 14 ]'
check "same table on stdout" 'cmp -s "$T/h.md" "$T/stdout.md"'
check "REB model has an IoU" 'grep "^| id / all " "$T/h.md" | grep -qv "n/a |$"'
check "14 JSONL lines" '[ $(wc -l < "$T/h.jsonl") -eq 14 ]'
check "JSONL fields" 'grep -q "\"scene\":\"collision\",\"split\":\"id\",\"seed\":[0-9]*,\"prompt\":\"[a-z ,.]*\",\"pc_pass\":[a-z]*,\"sa_pass\":[a-z]*" "$T/h.jsonl"'
check "every seed an integer literal (prophy sim --seed takes it)" '[ $(grep -c "\"seed\":[0-9]*," "$T/h.jsonl") -eq 14 ]'
check "JSONL timings" '[ $(grep -c "\"seconds\":{\"text_to_video\":" "$T/h.jsonl") -eq 14 ]'
check "progress on stderr" 'grep -q "example 14/14" "$T/stderr.txt"'

# --exclude-data: this melting dataset shares 2 prompts with the first held-out draws
expect_ok "training dataset" $PROPHY dataset --out "$T/ds" --count 1000 --scenes melting -W 16 -H 16 \
    --video-frames 4 -t 1 -q
expect_ok "heldout --exclude-data" $PROPHY eval -m "$T/m.safetensors" --heldout 4 --split both --steps 1 \
    --exclude-data "$T/ds" --cond-frames 2 --cfg-scale 1 --seed 0 --jsonl "$T/x.jsonl" -t 1
check "skipped training prompts" 'grep -q "^2 drawn examples skipped" "$CLI_TMP/out"'
check "both splits" 'grep -q "^| ood / composite | 12 |" "$CLI_TMP/out" && [ $(wc -l < "$T/x.jsonl") -eq 112 ]'

# bad input
M="$T/m.safetensors"
expect_fail "heldout 0" $PROPHY eval -m "$M" --heldout 0
expect_fail "unknown split" $PROPHY eval -m "$M" --heldout 1 --split train
expect_fail "no model" $PROPHY eval --heldout 1
expect_fail "missing model" $PROPHY eval -m "$T/none.safetensors" --heldout 1
expect_fail "model without heldout" $PROPHY eval -m "$M"
expect_fail "cond-frames too large" $PROPHY eval -m "$M" --heldout 1 --cond-frames 4
expect_fail "missing exclude-data" $PROPHY eval -m "$M" --heldout 1 --exclude-data "$T/nodata"
expect_fail "split both without heldout" $PROPHY eval --selftest --scene bounce --split both
cli_summary
