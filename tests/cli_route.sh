# cli_route.sh - prophy route: the expert-routing GIF and summary of a ProPhy model,
# and one clear error line for every bad input.
. tests/cli_lib.sh
T=$CLI_TMP
TINY="--steps 2 --batch 2 --dim 24 --layers 2 --heads 2 --ffn 48 --text-dim 16 --video-frames 4 -W 16 -H 16 --patch 1,4,4 -q"
M=$T/full.safetensors

expect_ok   "train a tiny full-branch model" $PROPHY train $TINY --branch full -o $M
expect_ok   "route writes a gif" $PROPHY route -m $M -p "a red ball falls and bounces" -o $T/r.gif --steps 3 -t 1
check       "the gif starts with GIF8" '[ "$(head -c 4 $T/r.gif)" = GIF8 ]'
check       "the table names the categories and the experts" 'grep -q rigid_body_motion $CLI_TMP/err && grep -q "share of tokens" $CLI_TMP/err'
expect_ok   "route --json" $PROPHY route -m $M -p "a red ball falls and bounces" -o $T/r2.gif --steps 3 --json -t 1
cp $CLI_TMP/out $T/r.json
check       "the JSON has every field" 'grep -q "\"prompt\":[[:space:]]*\"a red ball falls and bounces\"" $T/r.json &&
    grep -q "\"semantic_weights\"" $T/r.json && grep -q "\"categories\"" $T/r.json &&
    grep -q "\"expert_share\"" $T/r.json && grep -q "\"category_mass\"" $T/r.json'
check       "17 categories, twice (coarse scores and mass)" '[ $(grep -o "\"unnatural_light_source\"" $T/r.json | wc -l) -eq 2 ]'
check       "the same seed draws the same gif" 'cmp -s $T/r.gif $T/r2.gif'
expect_ok   "route into png frames" $PROPHY route -m $M -p "a ball rolls" -o $T/p_%03d.png --steps 2 --upscale 2 -t 1
check       "the png frames exist" '[ -s $T/p_000.png ] && [ -s $T/p_003.png ]'
expect_ok   "an unknown word is only a warning" $PROPHY route -m $M -p "a zorble ball" -o $T/u.gif --steps 1 --json
check       "the warning names it" 'grep -q "unknown words mapped to <unk>: zorble" $CLI_TMP/err'

expect_ok   "train a tiny seb-only model" $PROPHY train $TINY --branch seb -o $T/seb.safetensors
expect_ok   "route with a seb-only model" $PROPHY route -m $T/seb.safetensors -p "a red ball falls" -o $T/s.gif --steps 2 --json
check       "semantic weights but no expert share" 'grep -q semantic_weights $CLI_TMP/out && ! grep -q expert_share $CLI_TMP/out'

expect_ok   "train a tiny model without branch" $PROPHY train $TINY --branch none -o $T/none.safetensors
expect_fail "a model without experts"   $PROPHY route -m $T/none.safetensors -p "a red ball" -o $T/x.gif
check       "the error names the branch mode" 'grep -q "has no physical branch (branch mode none)" $CLI_TMP/err'
expect_fail "a safetensors file that is no model" $PROPHY route -m tests/fixtures/dit_ref.safetensors -p "a red ball" -o $T/x.gif
expect_fail "missing model"             $PROPHY route -m $T/nothing.safetensors -p "a red ball" -o $T/x.gif
expect_fail "empty prompt"              $PROPHY route -m $M -p "" -o $T/x.gif
expect_fail "a prompt with no words"    $PROPHY route -m $M -p " ,. " -o $T/x.gif
expect_fail "no output"                 $PROPHY route -m $M -p "a red ball"
expect_fail "unknown output format"     $PROPHY route -m $M -p "a red ball" -o $T/x.avi
expect_fail "--steps 0"                 $PROPHY route -m $M -p "a red ball" -o $T/x.gif --steps 0
expect_fail "negative --cfg-scale"      $PROPHY route -m $M -p "a red ball" -o $T/x.gif --cfg-scale -1
expect_fail "unknown option"            $PROPHY route -m $M -p "a red ball" -o $T/x.gif --bogus 1
cli_summary
