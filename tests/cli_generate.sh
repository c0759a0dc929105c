# cli_generate.sh - prophy generate / train / bench from the command line:
# what works, and one clear error line for every bad input.
. tests/cli_lib.sh
T=$CLI_TMP

expect_fail "no prompt"                   $PROPHY generate -o $T/x.gif
expect_fail "no output"                   $PROPHY generate -p "a red ball"
expect_fail "unknown option"              $PROPHY generate -p "a red ball" --bogus 3 -o $T/x.gif
expect_fail "unknown output format"       $PROPHY generate -p "a red ball" -o $T/x.avi --steps 1
expect_fail "output into a missing directory" $PROPHY generate -p "a red ball" -o $T/nodir/x.gif
expect_fail "--cond-frames without --init" $PROPHY generate -p "a red ball" --cond-frames 2 -o $T/x.gif
expect_fail "--init without --cond-frames" $PROPHY generate -p "a red ball" --init $T/none.y4m -o $T/x.gif
expect_fail "a safetensors file that is no model" $PROPHY generate -m tests/fixtures/dit_ref.safetensors -p "a red ball" -o $T/x.gif
expect_fail "heads that do not divide dim" $PROPHY train -q --steps 1 --dim 30 --heads 4 -o $T/m4.safetensors
expect_fail "negative learning rate"      $PROPHY train -q --steps 1 --lr -1 -o $T/m4.safetensors
expect_fail "train into a missing directory" $PROPHY train -q --steps 1 -o $T/nodir/m.safetensors
expect_fail "train without -o"            $PROPHY train -q --steps 1
expect_fail "bench with a bad patch"      $PROPHY bench --patch 2,x,4
expect_fail "unknown command"             $PROPHY frobnicate
# ---- ProPhy models (text encoder + backbone + physical branch)
P=$T/prophy.safetensors
expect_ok   "train a tiny ProPhy model" $PROPHY train --steps 2 --batch 2 --dim 24 --layers 2 --heads 2 --ffn 48 --text-dim 16 --video-frames 4 -W 16 -H 16 --patch 1,4,4 --branch full -o $P -q
expect_ok   "prophy: generate a gif" $PROPHY generate -m $P -p "a red ball falls and bounces" -o $T/p.gif --steps 3 -t 1
check       "prophy: the gif starts with GIF8" '[ "$(head -c 4 $T/p.gif)" = GIF8 ]'
check       "prophy: per-stage times on one line" 'grep -Eq "load .* s, encode .* s, sample .* s \(.* s/step\), decode .* s, write .* s, total .* s" $CLI_TMP/err'
expect_ok   "prophy: y4m + spec" $PROPHY generate -m $P -p "a red ball falls and bounces" -o $T/p.y4m --spec $T/p.json --steps 3 -t 1
check       "prophy: the spec names the prompt" 'grep -q "a red ball falls and bounces" $T/p.json'
expect_ok   "prophy: same seed (run 2)" $PROPHY generate -m $P -p "a red ball falls and bounces" -o $T/p2.y4m --steps 3 -t 1
check       "prophy: sampling is bit-for-bit deterministic" 'cmp -s $T/p.y4m $T/p2.y4m'
expect_ok   "prophy: another seed" $PROPHY generate -m $P -p "a red ball falls and bounces" -o $T/p3.y4m --steps 3 -s 9 -t 1
check       "prophy: the video depends on the seed" '! cmp -s $T/p.y4m $T/p3.y4m'
expect_ok   "prophy: the default model" $PROPHY generate -p "a red ball falls" -o $T/d.gif --steps 1 -t 1
check       "prophy: the default is the shipped latent model at CFG 3" 'grep -q "latent_prophy_long.safetensors (ProPhy, branch full, latent): 1 steps, cfg 3.0" $CLI_TMP/err'
expect_ok   "prophy: a pixel model" $PROPHY generate -m $P -p "a red ball falls" -o $T/d.gif --steps 1 -t 1
check       "prophy: a pixel model samples at CFG 5 by default" 'grep -q "branch full): 1 steps, cfg 5.0" $CLI_TMP/err'
expect_ok   "prophy: --cfg-scale overrides it" $PROPHY generate -m $P -p "a red ball falls" -o $T/d.gif --steps 1 -t 1 --cfg-scale 2
check       "prophy: the CFG given" 'grep -q "1 steps, cfg 2.0" $CLI_TMP/err'
expect_ok   "prophy: an unknown word is a warning" $PROPHY generate -m $P -p "a zorble ball falls" -o $T/q.gif --steps 1
check       "prophy: the warning names it" 'grep -q "warning: unknown words mapped to <unk>: zorble" $CLI_TMP/err'
LONG=$(for i in $(seq 60); do printf "ball "; done)
expect_ok   "prophy: a long prompt is truncated" $PROPHY generate -m $P -p "$LONG" -o $T/q.gif --steps 1
check       "prophy: the truncation warning" 'grep -q "warning: prompt has 60 words, the model reads the first" $CLI_TMP/err'
expect_ok   "prophy: first-frame prediction" $PROPHY generate -m $P -p "a red ball falls" --init $T/p.y4m --cond-frames 2 -o $T/f_%03d.png --steps 2 -t 1
expect_ok   "prophy: the same with another seed" $PROPHY generate -m $P -p "a red ball falls" --init $T/p.y4m --cond-frames 2 -o $T/g_%03d.png --steps 2 -s 7 -t 1
check       "prophy: the 2 given frames are kept" 'cmp -s $T/f_000.png $T/g_000.png && cmp -s $T/f_001.png $T/g_001.png'
check       "prophy: the predicted frames depend on the seed" '! cmp -s $T/f_003.png $T/g_003.png'
expect_fail "prophy: empty prompt"        $PROPHY generate -m $P -p "" -o $T/x.gif
expect_fail "prophy: a prompt with no words" $PROPHY generate -m $P -p " ,. " -o $T/x.gif
expect_fail "prophy: --steps 0"           $PROPHY generate -m $P -p "a red ball" --steps 0 -o $T/x.gif
expect_fail "prophy: negative --cfg-scale" $PROPHY generate -m $P -p "a red ball" --cfg-scale -2 -o $T/x.gif
expect_fail "prophy: size not divisible by patch" $PROPHY generate -m $P -p "a red ball" -W 18 -o $T/x.gif
expect_fail "prophy: first frames of the wrong size" $PROPHY generate -m $P -p "a red ball" --init $T/p.y4m --cond-frames 2 -W 32 -H 32 -o $T/x.gif
expect_fail "prophy: --cond-frames leaves nothing" $PROPHY generate -m $P -p "a red ball" --init $T/p.y4m --cond-frames 4 -o $T/x.gif
expect_fail "prophy: --spec for a prompt with no scene" $PROPHY generate -m $P -p "zorble" --spec $T/x.json -o $T/x.gif
head -c 5000 $P > $T/ptrunc.safetensors
expect_fail "prophy: truncated model file" $PROPHY generate -m $T/ptrunc.safetensors -p "a red ball" -o $T/x.gif
# a config that disagrees with the tensors (same header length: ffn 48 -> 50)
LC_ALL=C sed 's/\\"ffn_dim\\":48,/\\"ffn_dim\\":50,/' $P > $T/pbad.safetensors
check       "prophy: the edited config differs" '! cmp -s $P $T/pbad.safetensors'
expect_fail "prophy: a model whose config does not match its tensors" $PROPHY generate -m $T/pbad.safetensors -p "a red ball" -o $T/x.gif
expect_fail "prophy: a missing model file" $PROPHY generate -m $T/none.safetensors -p "a red ball" -o $T/x.gif
cli_summary
