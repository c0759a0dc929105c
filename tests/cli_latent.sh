# cli_latent.sh - the latent physics world end to end on tiny sizes: a VAE, a
# latent dataset, stage 1 and stage 2 on it, text-to-video and video prediction
# decoded by the VAE, routing maps; and one error line for each bad input.
. tests/cli_lib.sh
T=$CLI_TMP
V=$T/vae.safetensors
expect_ok   "a tiny VAE" $PROPHY vae train -W 32 -H 32 --video-frames 9 --crop 5,16,16 --dim 4 --stats 2 --steps 2 -q -t 2 -o $V
expect_ok   "a latent dataset" $PROPHY dataset --out $T/lat --count 14 -W 32 -H 32 --video-frames 9 --vae $V -q
check       "...its manifest names the VAE" 'grep -q "\"vae_checksum\"" $T/lat/latents.json'
TINY="--batch 2 --dim 24 --layers 2 --heads 2 --ffn 48 --text-dim 16 -q -t 2"
expect_ok   "stage 1 on latents" $PROPHY train $TINY --data $T/lat --steps 3 -o $T/s1.safetensors
check       "...a latent model (16 channels, cond 2)" '$PROPHY inspect $T/s1.safetensors | grep -q "\"latent\":{\"vae_checksum\"" && $PROPHY inspect $T/s1.safetensors | grep -q "\"out_dim\":16,"'
expect_ok   "stage 2 (full branch) on latents" $PROPHY train $TINY --data $T/lat --steps 2 --init $T/s1.safetensors -o $T/s2.safetensors
expect_ok   "stage 2 resumed" $PROPHY train $TINY --data $T/lat --steps 4 --resume $T/s2.safetensors.ckpt -o $T/s3.safetensors
expect_ok   "text-to-video" $PROPHY generate -m $T/s2.safetensors --vae $V -p "a red ball falls" -o $T/g.y4m --steps 2
check       "...9 frames of 32x32" 'head -c 64 $T/g.y4m | grep -q "W32 H32"'
$PROPHY sim --scene parabola --seed 3 -W 32 -H 32 --video-frames 9 -o $T/s.y4m 2>/dev/null
expect_ok   "video prediction from 3 given frames" $PROPHY generate -m $T/s2.safetensors --vae $V -p "a red ball falls" --init $T/s.y4m --cond-frames 3 -o $T/p_%03d.png --steps 2
expect_ok   "...and from 1" $PROPHY generate -m $T/s2.safetensors --vae $V -p "a red ball falls" --init $T/s.y4m --cond-frames 1 -o $T/q_%03d.png --steps 2 -s 5
check       "...the given frame is kept" 'cmp -s $T/p_000.png $T/q_000.png'
expect_ok   "a decoder fine-tune of the VAE" $PROPHY vae train -W 32 -H 32 --video-frames 9 --crop 5,16,16 --init $V --decoder-only --steps 1 -q -t 2 -o $T/vae_dec.safetensors
expect_ok   "...still decodes the model's latents (same checksum)" $PROPHY generate -m $T/s2.safetensors --vae $T/vae_dec.safetensors -p "a red ball falls" -o $T/gd.y4m --steps 2
check       "...into another video" '! cmp -s $T/g.y4m $T/gd.y4m'
expect_ok   "routing maps of a latent model" $PROPHY route -m $T/s2.safetensors --vae $V -p "a red ball falls" -o $T/r.gif --steps 2
expect_ok   "the held-out benchmark of a latent model" $PROPHY eval -m $T/s2.safetensors --vae $V --heldout 1 --steps 1 --split id
check       "...one row per scene" '[ $(grep -c "^| id / " $CLI_TMP/out) -ge 17 ]'
expect_ok   "the held-out loss at fixed noise levels" $PROPHY eval -m $T/s2.safetensors --loss $T/lat --count 3 --levels 0.1,0.5
check       "...one row: 3 samples, 2 levels and their mean" 'tail -n 1 $CLI_TMP/out | grep -Eq "^\| 3 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$"'
expect_ok   "...as JSON" $PROPHY eval -m $T/s2.safetensors --loss $T/lat --count 2 --levels 0.3 --json
check       "...names the level" 'grep -q "\"levels\": \[0.3\]" $CLI_TMP/out'
expect_fail "...a level outside (0, 1)" $PROPHY eval -m $T/s2.safetensors --loss $T/lat --levels 0.1,1
expect_fail "...a level that is no number" $PROPHY eval -m $T/s2.safetensors --loss $T/lat --levels 0.1,x
expect_fail "...no model" $PROPHY eval --loss $T/lat
expect_fail "...a pixel model on latents" $PROPHY eval -m models/prophy.safetensors --loss $T/lat
expect_fail "...an unknown option" $PROPHY eval -m $T/s2.safetensors --loss $T/lat --bogus 1
expect_ok   "a VAE's reconstructions judged by the evaluator" $PROPHY eval --selftest --scene parabola --count 1 -W 32 -H 32 --video-frames 9 --vae $V
check       "...with their PSNR" 'grep -q "psnr [0-9.]* dB" $CLI_TMP/out'
expect_ok   "the shipped latent model with the shipped VAE" $PROPHY generate -m models/latent.safetensors -p "a red ball is thrown to the right and falls" --cfg-scale 3 --steps 2 -o $T/shipped.y4m
check       "...33 frames of 128x128" 'head -c 64 $T/shipped.y4m | grep -q "W128 H128" && [ $(grep -a -o FRAME $T/shipped.y4m | wc -l) -eq 33 ]'
expect_ok   "a latent dataset from the shipped VAE (1 video)" $PROPHY dataset --out $T/lat128 --count 1 -W 128 -H 128 --video-frames 33 --vae models/vae.safetensors -q
check       "...names the latent checksum the shipped latent models hold" 'c=$(grep -o "\"vae_checksum\":[[:space:]]*\"[0-9a-f]*\"" $T/lat128/latents.json | grep -o "[0-9a-f]\{16\}") && n=0 && for m in latent latent_baseline latent_prophy; do $PROPHY inspect models/$m.safetensors | grep -q "vae_checksum.\{3\}$c" && n=$((n + 1)); done && [ $n -eq 3 ]'
expect_ok   "...which the shipped backbone trains on" $PROPHY train --data $T/lat128 --init models/latent.safetensors --branch none --batch 1 --steps 1 -q -t 2 -o $T/ft.safetensors
expect_ok   "routing maps of the shipped latent ProPhy model" $PROPHY route -m models/latent_prophy.safetensors -p "a red ball is thrown to the right and falls" --steps 1 -o $T/lr.gif --json
check       "...the semantic router's 8 weights" 'grep -Eq "\"semantic_weights\":[[:space:]]*\[([-0-9.e]+, ){7}[-0-9.e]+\]" $CLI_TMP/out'
expect_fail "routing maps of the shipped latent model (no branch)" $PROPHY route -m models/latent.safetensors -p "a red ball" -o $T/x.gif
check       "...says why" 'grep -q "branch mode none" $CLI_TMP/err'
# bad input
BIN=$(cd "$(dirname "$PROPHY")" && pwd)/$(basename "$PROPHY")
expect_ok   "the shipped VAE found from another directory (beside the binary)" sh -c "cd $T && $BIN generate -m $(pwd)/models/latent.safetensors -p 'a red ball' --steps 1 -o far.y4m"
mkdir -p $T/bin && cp "$BIN" $T/bin/prophy
expect_fail "no VAE for a latent model (a binary with no models/ beside it)" sh -c "cd $T && bin/prophy generate -m s2.safetensors -p 'a red ball' -o x.gif"
check       "...names the file it looked for" 'grep -q "models/vae.safetensors: cannot open" $CLI_TMP/err'
expect_ok   "another VAE" $PROPHY vae train -W 32 -H 32 --video-frames 9 --crop 5,16,16 --dim 4 --stats 2 --steps 1 -q -s 9 -o $T/other.safetensors
expect_fail "the wrong VAE" $PROPHY generate -m $T/s2.safetensors --vae $T/other.safetensors -p "a red ball" -o $T/x.gif
check       "...refused by its checksum" 'grep -q "not the VAE this model was trained with" $CLI_TMP/err'
expect_fail "-W not a multiple of 16" $PROPHY generate -m $T/s2.safetensors --vae $V -p "a red ball" -W 40 -o $T/x.gif
check       "...says so" 'grep -q "multiples of 16" $CLI_TMP/err'
expect_fail "8 frames (not 1+4k)" $PROPHY generate -m $T/s2.safetensors --vae $V -p "a red ball" --video-frames 8 -o $T/x.gif
expect_fail "--cond-frames beyond the video" $PROPHY generate -m $T/s2.safetensors --vae $V -p "a red ball" --init $T/s.y4m --cond-frames 9 -o $T/x.gif
expect_ok   "--label-noise on latents (it degrades the token targets)" $PROPHY train $TINY --data $T/lat --steps 1 --label-noise blur=8,noise=0.1,shift=16 -o $T/x.safetensors
expect_ok   "--fg-weight 0 on latents" $PROPHY train $TINY --data $T/lat --steps 2 --fg-weight 0 --log $T/fg0.csv -o $T/fg0.safetensors
expect_ok   "...no flag" $PROPHY train $TINY --data $T/lat --steps 2 --log $T/fgn.csv -o $T/fgn.safetensors
check       "...the same model, byte for byte (the plain MSE)" 'cmp -s $T/fg0.safetensors $T/fgn.safetensors'
expect_ok   "--fg-weight 10 on latents" $PROPHY train $TINY --data $T/lat --steps 2 --fg-weight 10 --log $T/fg10.csv -o $T/fg10.safetensors
check       "...another diffusion loss and another model" '! cmp -s $T/fg0.csv $T/fg10.csv && ! cmp -s $T/fg0.safetensors $T/fg10.safetensors'
expect_ok   "...resumed without the flag" $PROPHY train $TINY --data $T/lat --steps 4 --resume $T/fg10.safetensors.ckpt --log $T/fgr.csv -o $T/fgr.safetensors
expect_ok   "...and straight through" $PROPHY train $TINY --data $T/lat --steps 4 --fg-weight 10 --log $T/fgs.csv -o $T/fgs.safetensors
check       "...the same model: the checkpoint keeps the weighting" 'cmp -s $T/fgr.safetensors $T/fgs.safetensors'
perl -pe 's/\\"fg_weight\\":10,/\\"fg_weight\\":-1,/' $T/fg10.safetensors.ckpt > $T/fgbad.ckpt
check       "a checkpoint whose fg_weight is damaged (same length)" '! cmp -s $T/fgbad.ckpt $T/fg10.safetensors.ckpt'
expect_fail "...is refused on resume" $PROPHY train $TINY --data $T/lat --steps 4 --resume $T/fgbad.ckpt -o $T/x.safetensors
check       "...naming the field" 'grep -q "fg_weight is not a number in \[0, 1000\]" $CLI_TMP/err'
expect_fail "--fg-weight below 0" $PROPHY train $TINY --data $T/lat --steps 1 --fg-weight -1 -o $T/x.safetensors
check       "...names the flag" 'grep -q "fg-weight" $CLI_TMP/err'
expect_fail "a pixel model on latents" $PROPHY train $TINY --data $T/lat --steps 1 --init models/prophy.safetensors -o $T/x.safetensors
expect_fail "a latent dataset without its shards" sh -c "mkdir -p $T/broken && cp $T/lat/latents.json $T/broken/ && $PROPHY train $TINY --data $T/broken --steps 1 -o $T/x.safetensors"
cli_summary
