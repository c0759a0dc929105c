# cli_hostile.sh - what a careless user (or a hostile file) does to the command:
# impossible sizes, inputs that are not files, outputs that are not files, a full
# stdout, non-finite weights, absurd thread counts and malformed lists. Each gets
# one error line (or a warning) and never a hang, a crash or a silent success.
. tests/cli_lib.sh
T=$CLI_TMP
TINY="--batch 2 --dim 24 --layers 2 --heads 2 --ffn 48 --text-dim 16 --video-frames 4 -W 16 -H 16 --patch 1,4,4 -q -t 1"
P=$T/m.safetensors
expect_ok   "a tiny model to work with" $PROPHY train $TINY --steps 2 --branch full -o $P

# ---- sizes that cannot fit: one line saying what they would need, before any work
expect_fail "generate 512 frames of 2048x2048" $PROPHY generate -m $P -p "a red ball" -W 2048 -H 2048 --video-frames 512 -o $T/x.gif
check       "...says what it needs" 'grep -q "needs .* GiB of memory, .* GiB are available" $CLI_TMP/err'
expect_fail "bench 64 frames of 512x512, patch 1,1,1" $PROPHY bench --frames 64 --size 512 --patch 1,1,1
check       "...says what it needs" 'grep -q "needs .* GiB of memory" $CLI_TMP/err'
expect_fail "train --dim 8192 --layers 256" $PROPHY train -q --dim 8192 --heads 64 --layers 256 --steps 1 -o $T/x.safetensors
check       "...says what it needs" 'grep -q "parameters needs .* GiB of memory" $CLI_TMP/err'

# ---- inputs that are not regular files are refused at once, never waited on
mkfifo $T/fifo $T/fifo.y4m
expect_fail "a FIFO as --init" timeout 20 $PROPHY generate -m $P -p "a red ball" --init $T/fifo.y4m --cond-frames 1 -o $T/x.gif
check       "...named as a pipe" 'grep -q "fifo.y4m: is a pipe" $CLI_TMP/err'
expect_fail "a FIFO as the model" timeout 20 $PROPHY generate -m $T/fifo -p "a red ball" -o $T/x.gif
expect_fail "a FIFO as --resume" timeout 20 $PROPHY train $TINY --resume $T/fifo -o $T/x.safetensors
expect_fail "a FIFO as --init of training" timeout 20 $PROPHY train $TINY --init $T/fifo -o $T/x.safetensors
expect_fail "a FIFO as the video to judge" timeout 20 $PROPHY eval $T/fifo.y4m --spec $T/fifo
$PROPHY sim --scene collision --seed 1 -W 32 -H 32 --video-frames 8 -o $T/s.y4m --spec $T/s.json 2>/dev/null
expect_fail "a FIFO as --spec" timeout 20 $PROPHY eval $T/s.y4m --spec $T/fifo
expect_fail "/dev/zero as --spec" timeout 20 $PROPHY eval $T/s.y4m --spec /dev/zero
check       "...named as a device" 'grep -q "/dev/zero: is a device" $CLI_TMP/err'
expect_fail "a directory as the model" $PROPHY generate -m $T -p "a red ball" -o $T/x.gif

# ---- outputs: never written over anything but a regular file
mkfifo $T/out.y4m
expect_fail "an existing FIFO as the output" timeout 20 $PROPHY sim --scene collision --seed 1 -W 32 -H 32 --video-frames 8 -o $T/out.y4m
check       "...and the FIFO is still a FIFO" '[ -p $T/out.y4m ]'
mkdir $T/adir.y4m
expect_fail "a directory as the output" $PROPHY sim --scene collision --seed 1 -W 32 -H 32 --video-frames 8 -o $T/adir.y4m
check       "...and it is still a directory" '[ -d $T/adir.y4m ]'
: > $T/target.y4m
ln -s target.y4m $T/link.y4m
expect_ok   "a symlink as the output" $PROPHY sim --scene collision --seed 1 -W 32 -H 32 --video-frames 8 -o $T/link.y4m
check       "...writes through the link" '[ -L $T/link.y4m ] && [ -s $T/target.y4m ]'
check       "...and leaves no temporary file" '[ -z "$(ls $T | grep "\.tmp\.")" ]'

# ---- a full stdout is an error, not a success
expect_fail "--json into a full stdout" sh -c "$PROPHY route -m $P -p 'a red ball falls' -o $T/r.gif --json --steps 1 > /dev/full"
expect_fail "a listing into a full stdout" sh -c "$PROPHY inspect $P > /dev/full"
expect_fail "the scene list into a full stdout" sh -c "$PROPHY sim --list > /dev/full"

# ---- non-finite weights: refused, naming the tensor
python_free_nan() { # $1 = in, $2 = out: the first F32 value of the first tensor becomes NaN
    local hl; hl=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    cp "$1" "$2"
    printf '\000\000\300\177' | dd of="$2" bs=1 seek=$((8 + hl)) conv=notrunc status=none
}
python_free_nan $P $T/nan.safetensors
expect_fail "inspect: a NaN in a tensor" $PROPHY inspect $T/nan.safetensors
check       "...names the tensor" 'grep -q "tensor .* holds nan at index 0" $CLI_TMP/err'
expect_fail "generate: a model with a NaN weight" $PROPHY generate -m $T/nan.safetensors -p "a red ball" -o $T/x.gif
check       "...names the tensor" 'grep -q "non-finite" $CLI_TMP/err'
expect_fail "train --init: a stage-1 model with a NaN weight" $PROPHY train $TINY --init $T/nan.safetensors -o $T/x.safetensors

# ---- flags
expect_ok   "-t 1000 is clamped" $PROPHY dataset --out $T/ds --count 2 -W 16 -H 16 --video-frames 4 -q -t 1000
check       "...with a warning" 'grep -q "warning: -t 1000: this machine runs" $CLI_TMP/err'
expect_ok   "-t 1000 is clamped (generate)" $PROPHY generate -m $P -p "a red ball" -o $T/x.gif --steps 1 -t 1000
check       "...with a warning" 'grep -q "warning: -t 1000: this machine runs" $CLI_TMP/err'
expect_fail "--patch with four numbers" $PROPHY train $TINY --patch 1,4,4,9 -o $T/x.safetensors
expect_fail "--patch with two numbers" $PROPHY bench --patch 1,4
expect_fail "--patch with a blank" $PROPHY bench --patch "1,4, 4"
cli_summary
