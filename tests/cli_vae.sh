# cli_vae.sh - prophy vae: train (exact resume; a decoder fine-tune that keeps the
# latents), encode, decode, recon, and one error line for each bad input: a VAE
# file with a missing or misshapen tensor, a frame count that is not 1+4k, a size
# that is not a multiple of 8, a latent whose channels disagree with the VAE.
. tests/cli_lib.sh
T=$CLI_TMP
TINY="-W 32 -H 32 --video-frames 9 --crop 5,16,16 --dim 4 --stats 2 -q -t 2"
expect_ok   "train a tiny VAE, 6 steps" $PROPHY vae train $TINY --steps 6 -o $T/a.safetensors
expect_ok   "train it 3 steps" $PROPHY vae train $TINY --steps 3 --log $T/b.csv -o $T/b.safetensors
expect_ok   "...and resume it to 6" $PROPHY vae train $TINY --steps 6 --resume $T/b.safetensors.ckpt --log $T/b.csv -o $T/b.safetensors
check       "resume gives the same bytes" 'cmp -s $T/a.safetensors $T/b.safetensors'
check       "the log has every step once" '[ $(wc -l < $T/b.csv) -eq 7 ] && head -1 $T/b.csv | grep -q "^step,loss,l1,mse,edge,kl"'
expect_ok   "batch 3 on 1 thread" $PROPHY vae train $TINY --batch 3 --steps 2 -t 1 -o $T/b1.safetensors
expect_ok   "batch 3 on 2 threads (its crops side by side)" $PROPHY vae train $TINY --batch 3 --steps 2 -t 2 -o $T/b2.safetensors
check       "the thread count does not change a byte" 'cmp -s $T/b1.safetensors $T/b2.safetensors'
expect_ok   "with the colour augmentation" $PROPHY vae train $TINY --steps 6 --color-aug 1 -o $T/nc.safetensors
check       "...the colour augmentation changes the training" '! cmp -s $T/a.safetensors $T/nc.safetensors'
expect_fail "--color-aug 2" $PROPHY vae train $TINY --steps 1 --color-aug 2 -o $T/x.safetensors
expect_ok   "a cosine learning rate" $PROPHY vae train $TINY --steps 6 --warmup 2 --lr-decay 6 --log $T/cos.csv -o $T/cos.safetensors
check       "...falls to lr/10 by the last step" 'tail -1 $T/cos.csv | cut -d, -f8 | grep -Eq "^(0.0001|1e-04)$"'
expect_fail "--lr-decay -1" $PROPHY vae train $TINY --steps 1 --lr-decay -1 -o $T/x.safetensors
expect_fail "a decay that ends within the warmup" $PROPHY vae train $TINY --steps 1 --warmup 100 --lr-decay 50 -o $T/x.safetensors
check       "...says it would never apply" 'grep -q "lr decay: it ends at step 50, within the 100 warmup steps" $CLI_TMP/err'
$PROPHY sim --scene collision --seed 3 -W 32 -H 32 --video-frames 9 -o $T/s.y4m 2>/dev/null
expect_ok   "recon" $PROPHY vae recon $T/s.y4m -o $T/r.y4m -m $T/a.safetensors
check       "...prints the PSNR" 'grep -Eq "^psnr [0-9.]+ dB" $CLI_TMP/out'
expect_ok   "encode" $PROPHY vae encode $T/s.y4m -o $T/z.safetensors -m $T/a.safetensors
check       "...a latent [16, 3, 4, 4]" '$PROPHY inspect $T/z.safetensors | grep -q "latent .*F32 *\[16,3,4,4\]"'
expect_ok   "decode" $PROPHY vae decode $T/z.safetensors -o $T/d.y4m -m $T/a.safetensors
check       "encode then decode is recon" 'cmp -s $T/d.y4m $T/r.y4m'
expect_ok   "decode to a GIF, upscaled" $PROPHY vae decode $T/z.safetensors -o $T/d.gif --upscale 2 -m $T/a.safetensors

# bad input
expect_fail "a file that is no VAE (Wan2.1's tensors missing)" $PROPHY vae recon $T/s.y4m -o $T/x.y4m -m tests/fixtures/dit_ref.safetensors
check       "...names the missing tensor" 'grep -q "missing tensor .encoder.conv1.weight" $CLI_TMP/err'
LC_ALL=C sed 's/\\"dim\\":4,/\\"dim\\":8,/' $T/a.safetensors > $T/wide.safetensors
check       "the edited config differs" '! cmp -s $T/a.safetensors $T/wide.safetensors'
expect_fail "a config that disagrees with the tensors" $PROPHY vae recon $T/s.y4m -o $T/x.y4m -m $T/wide.safetensors
check       "...names the tensor and its shapes" 'grep -q "has shape .* expects" $CLI_TMP/err'
$PROPHY sim --scene collision --seed 3 -W 32 -H 32 --video-frames 8 -o $T/s8.y4m 2>/dev/null
expect_fail "8 frames (not 1+4k)" $PROPHY vae recon $T/s8.y4m -o $T/x.y4m -m $T/a.safetensors
check       "...says which counts it takes" 'grep -q "1+4k" $CLI_TMP/err'
$PROPHY sim --scene collision --seed 3 -W 36 -H 36 --video-frames 9 -o $T/s36.y4m 2>/dev/null
expect_fail "36x36 (not a multiple of 8)" $PROPHY vae encode $T/s36.y4m -o $T/x.safetensors -m $T/a.safetensors
expect_ok   "a VAE with 8 latent channels" $PROPHY vae train $TINY --z-dim 8 --steps 1 -o $T/z8.safetensors
expect_fail "a latent of 16 channels into it" $PROPHY vae decode $T/z.safetensors -o $T/x.y4m -m $T/z8.safetensors
check       "...names both counts" 'grep -q "16 channels" $CLI_TMP/err && grep -q "z_dim is 8" $CLI_TMP/err'
expect_fail "a latent file without a latent" $PROPHY vae decode $T/a.safetensors -o $T/x.y4m -m $T/a.safetensors
mkdir -p $T/bin && cp "$PROPHY" $T/bin/prophy # (a binary with no models/ beside it, run elsewhere)
expect_fail "no VAE shipped or given" sh -c "cd $T && bin/prophy vae recon s.y4m -o x.y4m"
check       "...names the file it looked for" 'grep -q "models/vae.safetensors: cannot open" $CLI_TMP/err'
expect_ok   "an image VAE (1-frame crops)" $PROPHY vae train $TINY --crop 1,16,16 --steps 2 -o $T/img.safetensors
TINYI="-W 32 -H 32 --video-frames 9 --crop 5,16,16 --stats 2 -q -t 2"
expect_ok   "a video run from it (--init)" $PROPHY vae train $TINYI --init $T/img.safetensors --steps 2 -o $T/vid.safetensors
check       "...says it starts from its weights" 'grep -q "starting from the weights of .*img.safetensors" $CLI_TMP/err'
check       "...and keeps its architecture (dim 4)" '$PROPHY inspect $T/vid.safetensors | grep -q "\"dim\":4"'
expect_ok   "...with --per-frame" $PROPHY vae train $TINYI --init $T/a.safetensors --per-frame --steps 1 -o $T/pf.safetensors
check       "...says so" 'grep -q "older time taps zeroed" $CLI_TMP/err'
expect_ok   "a decoder fine-tune (--decoder-only), 3 steps" $PROPHY vae train $TINYI --init $T/a.safetensors --decoder-only --ema 0.9 --steps 3 -o $T/dec.safetensors
check       "...says the encoder and the latent statistics stay" 'grep -q "encoder and the latent statistics are unchanged" $CLI_TMP/err'
expect_ok   "...encodes as the VAE it started from" $PROPHY vae encode $T/s.y4m -o $T/zd.safetensors -m $T/dec.safetensors
check       "...the same latent, byte for byte" 'cmp -s $T/z.safetensors $T/zd.safetensors'
expect_ok   "...but decodes differently" $PROPHY vae recon $T/s.y4m -o $T/rd.y4m -m $T/dec.safetensors
check       "...its reconstruction differs" '! cmp -s $T/r.y4m $T/rd.y4m'
expect_ok   "a decoder fine-tune, 2 steps" $PROPHY vae train $TINYI --init $T/a.safetensors --decoder-only --ema 0.9 --steps 2 -o $T/dec2.safetensors
expect_ok   "...resumed to 3 without the flag (the checkpoint keeps it)" $PROPHY vae train $TINYI --resume $T/dec2.safetensors.ckpt --ema 0.9 --steps 3 -o $T/dec2.safetensors
check       "...equals the straight run" 'cmp -s $T/dec.safetensors $T/dec2.safetensors'
expect_fail "--decoder-only without --init" $PROPHY vae train $TINY --decoder-only --steps 1 -o $T/x.safetensors
check       "...says it goes with --init" 'grep -q "decoder-only goes with --init" $CLI_TMP/err'
expect_fail "--decoder-only with --per-frame" $PROPHY vae train $TINYI --init $T/a.safetensors --decoder-only --per-frame --steps 1 -o $T/x.safetensors
expect_fail "--per-frame without --init" $PROPHY vae train $TINY --per-frame --steps 1 -o $T/x.safetensors
expect_fail "--init with --dim" $PROPHY vae train $TINY --init $T/img.safetensors --steps 1 -o $T/x.safetensors
check       "...says why" 'grep -q "takes the architecture from its file" $CLI_TMP/err'
expect_fail "--init of a file that is no VAE" $PROPHY vae train $TINYI --init tests/fixtures/dit_ref.safetensors --steps 1 -o $T/x.safetensors
expect_fail "a crop larger than the videos" $PROPHY vae train $TINY --crop 13,16,16 --steps 1 -o $T/x.safetensors
expect_fail "a crop of 8 frames" $PROPHY vae train $TINY --crop 8,16,16 --steps 1 -o $T/x.safetensors
expect_fail "unknown subcommand" $PROPHY vae squash
expect_fail "unknown option" $PROPHY vae recon $T/s.y4m -o $T/x.y4m --bogus 1
cli_summary
