# cli_wan.sh - prophy generate --wan on the tiny random Wan2.1 model of
# tools/make_wan_fixture.py in its three layouts (diffusers', Wan's, ComfyUI's),
# every output format, and one error line for each bad input: a folder with a
# part missing, a file of the wrong model, a DiT of another size than its config,
# a truncated BF16 file, a tokenizer that does not parse, a bad size. A prompt
# over 512 tokens is a warning, not an error.
. tests/cli_lib.sh
T=$CLI_TMP
F=tests/fixtures
P="A red ball falls onto the wooden floor and bounces."
TINY="-W 48 -H 32 --video-frames 9 --steps 4 -t 2"
expect_ok   "diffusers layout, PNG frames" $PROPHY generate --wan $F/wan_tiny -p "$P" $TINY --noise $F/wan_noise.safetensors -o $T/f_%03d.png --save-latent $T/lat.safetensors
check       "...9 frames" '[ -f $T/f_000.png ] && [ -f $T/f_008.png ] && [ ! -f $T/f_009.png ]'
check       "...a progress bar in s/it and the times of every stage" 'grep -q "4/4 .* s/it" $CLI_TMP/err && grep -q "encode .* sample .* decode" $CLI_TMP/err'
check       "...the final latent [16,3,4,6]" '$PROPHY inspect $T/lat.safetensors | grep -q "latent .*F32 *\[16,3,4,6\]"'
expect_ok   "the same again" $PROPHY generate --wan $F/wan_tiny -p "$P" $TINY --noise $F/wan_noise.safetensors -o $T/g_%03d.png
check       "...gives the same frames" 'cmp -s $T/f_000.png $T/g_000.png && cmp -s $T/f_008.png $T/g_008.png'
expect_ok   "the weights' pages kept resident" $PROPHY generate --wan $F/wan_tiny -p "$P" $TINY --noise $F/wan_noise.safetensors --keep-weights -o $T/k_%03d.png
check       "...the same frames as with them given back" 'cmp -s $T/f_000.png $T/k_000.png && cmp -s $T/f_008.png $T/k_008.png'
for ext in mp4 webm y4m gif; do
    expect_ok "seeded noise, .$ext" $PROPHY generate --wan $F/wan_tiny -p "$P" $TINY -s 7 -o $T/v.$ext
    check     "...wrote it" '[ -s $T/v.'$ext' ]'
done
expect_ok   "Euler, no guidance, F32 in memory" $PROPHY generate --wan $F/wan_tiny -p "$P" $TINY --sampler euler --cfg-scale 1 --f32 -o $T/e.y4m
expect_ok   "Wan's layout with the other parts named" $PROPHY generate --wan $F/wan_tiny_wan --wan-t5 $F/wan_tiny_comfy/text_encoders/umt5_tiny_fp32.safetensors --wan-tokenizer $F/spm_tokenizer.json --wan-vae $F/wan_tiny_comfy/vae/wan_tiny_vae.safetensors -p "$P" $TINY --noise $F/wan_noise.safetensors -o $T/w_%03d.png
check       "...the same frames as diffusers' layout (same weights)" 'cmp -s $T/f_000.png $T/w_000.png && cmp -s $T/f_008.png $T/w_008.png'
expect_ok   "ComfyUI's layout (BF16 DiT) with a tokenizer" $PROPHY generate --wan $F/wan_tiny_comfy --wan-tokenizer $F/spm_tokenizer.json -p "$P" $TINY -o $T/c.gif
expect_ok   "BF16 arithmetic" $PROPHY generate --wan $F/wan_tiny_comfy --wan-tokenizer $F/spm_tokenizer.json -p "$P" $TINY --compute bf16 -o $T/cb.y4m
check       "...says so" 'grep -q "; BF16 (.*) arithmetic" $CLI_TMP/err'
expect_ok   "F32 arithmetic" $PROPHY generate --wan $F/wan_tiny_comfy --wan-tokenizer $F/spm_tokenizer.json -p "$P" $TINY --compute f32 -o $T/cf.y4m
check       "...says so" 'grep -q "; F32 arithmetic" $CLI_TMP/err'
expect_fail "--compute fast" $PROPHY generate --wan $F/wan_tiny -p "$P" $TINY --compute fast -o $T/x.y4m
check       "...names the word" 'grep -q "compute: .fast. is not auto, f32 or bf16" $CLI_TMP/err'
expect_ok   "files alone, no folder" $PROPHY generate --wan-dit $F/wan_tiny_comfy/diffusion_models/wan2.1_t2v_tiny_bf16.safetensors --wan-t5 $F/wan_tiny/text_encoder/model.safetensors.index.json --wan-tokenizer $F/spm_tokenizer.json --wan-vae $F/wan_tiny_comfy/vae/wan_tiny_vae.safetensors -p "$P" $TINY --steps 1 -o $T/x.y4m
LONG=$(for i in $(seq 600); do printf 'ball '; done)
expect_ok   "a prompt over 512 tokens" $PROPHY generate --wan $F/wan_tiny -p "$LONG" $TINY --steps 1 -o $T/l.y4m
check       "...is a warning" 'grep -q "^warning: the prompt has [0-9]* tokens; the encoder reads the first 512" $CLI_TMP/err'

# bad input: one error line each
expect_fail "ComfyUI's layout without a tokenizer" $PROPHY generate --wan $F/wan_tiny_comfy -p "$P" $TINY -o $T/x.y4m
check       "...says to pass --wan-tokenizer" 'grep -q "wan-tokenizer" $CLI_TMP/err'
mkdir -p $T/d && cp -r $F/wan_tiny/transformer $F/wan_tiny/text_encoder $F/wan_tiny/model_index.json $T/d/ && cp -rL $F/wan_tiny/tokenizer $T/d/
expect_fail "a diffusers folder without its VAE" $PROPHY generate --wan $T/d -p "$P" $TINY -o $T/x.y4m
check       "...names the folder and the file" 'grep -q "d/vae: no diffusion_pytorch_model.safetensors" $CLI_TMP/err'
expect_fail "a VAE given as the DiT" $PROPHY generate --wan $F/wan_tiny --wan-dit $F/wan_tiny/vae/diffusion_pytorch_model.safetensors -p "$P" $TINY -o $T/x.y4m
check       "...names the file and the tensor it lacks" 'grep -q "vae/diffusion_pytorch_model.safetensors: not a Wan2.1 DiT: no tensor .patch_embedding.weight" $CLI_TMP/err'
expect_fail "a DiT given as the VAE" $PROPHY generate --wan $F/wan_tiny --wan-vae $F/wan_tiny_wan/diffusion_pytorch_model.safetensors -p "$P" $TINY -o $T/x.y4m
check       "...names the tensor" 'grep -q "missing tensor .encoder.conv1.weight" $CLI_TMP/err'
printf '{"dim": 1536, "num_heads": 12, "num_layers": 30, "ffn_dim": 8960, "model_type": "t2v"}' > $T/c13.json
expect_fail "a DiT of another size than its config (1.3B expected)" $PROPHY generate --wan $F/wan_tiny_wan --wan-dit-config $T/c13.json --wan-t5 $F/wan_tiny/text_encoder/model.safetensors.index.json --wan-tokenizer $F/spm_tokenizer.json --wan-vae $F/wan_tiny_comfy/vae/wan_tiny_vae.safetensors -p "$P" $TINY -o $T/x.y4m
check       "...names the file, the tensor and both shapes" 'grep -q "diffusion_pytorch_model.safetensors: tensor .* has shape \[48\], the model (c13.json: dim 1536.*) expects \[1536\]" $CLI_TMP/err'
head -c -10 $F/wan_tiny_comfy/diffusion_models/wan2.1_t2v_tiny_bf16.safetensors > $T/cut.safetensors
expect_fail "a truncated BF16 file" $PROPHY generate --wan $F/wan_tiny --wan-dit $T/cut.safetensors -p "$P" $TINY -o $T/x.y4m
check       "...names the file and the tensor" 'grep -q "cut.safetensors: tensor .model.diffusion_model.head.head.bias.: data_offsets" $CLI_TMP/err'
printf '{"model": {"type": "Unigram", "vocab": [["a", ' > $T/tok.json
expect_fail "a tokenizer that does not parse" $PROPHY generate --wan $F/wan_tiny --wan-tokenizer $T/tok.json -p "$P" $TINY -o $T/x.y4m
check       "...names the file" 'grep -q "tok.json" $CLI_TMP/err'
expect_fail "8 frames" $PROPHY generate --wan $F/wan_tiny -p "$P" -W 48 -H 32 --video-frames 8 -o $T/x.y4m
expect_fail "a noise file of another shape" $PROPHY generate --wan $F/wan_tiny -p "$P" -W 64 -H 32 --video-frames 9 --noise $F/wan_noise.safetensors -o $T/x.y4m
expect_fail "no folder and no files" $PROPHY generate --wan-dit $F/wan_tiny_wan/diffusion_pytorch_model.safetensors -p "$P" -o $T/x.y4m
expect_fail "not a model folder" $PROPHY generate --wan $F -p "$P" -o $T/x.y4m
expect_fail "an unknown option" $PROPHY generate --wan $F/wan_tiny -p "$P" -o $T/x.y4m --bogus 1
cli_summary
