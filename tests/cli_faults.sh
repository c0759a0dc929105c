# cli_faults.sh - faults during training: a run killed (SIGKILL) three times, once
# while a checkpoint is being written, resumes to the bytes of a run never
# interrupted and leaves no temporary file behind; a full or read-only checkpoint
# directory is one error line and leaves the previous checkpoint loadable.
. tests/cli_lib.sh
T=$CLI_TMP
# a model big enough that a checkpoint takes a moment to write (10 MB)
RUN="--batch 4 --dim 96 --layers 4 --heads 4 --ffn 384 --video-frames 8 -W 32 -H 32 --patch 2,4,4 --steps 16 --ckpt-every 2 -q -t 2 -s 5"

expect_ok   "a run never interrupted" $PROPHY train $RUN -o $T/a.safetensors

# start, or resume from the last checkpoint if there is one ($1: a command to run it under)
train_b() {
    if [ -s $T/b.safetensors.ckpt ]; then $1 $PROPHY train $RUN --log $T/b.csv --resume $T/b.safetensors.ckpt -o $T/b.safetensors
    else $1 $PROPHY train $RUN --log $T/b.csv -o $T/b.safetensors; fi
}
kill_b() { pkill -9 -f -- "-o $T/b.safetensors" 2>/dev/null; }
logged_step() { tail -n 1 $T/b.csv 2>/dev/null | cut -d, -f1 | grep -E '^[0-9]+$' || echo 0; }
kill_at_step() { # kill once the log reaches step $1 (a moment between two checkpoints)
    train_b 2>/dev/null & local pid=$!
    while kill -0 $pid 2>/dev/null && [ "$(logged_step)" -lt "$1" ]; do sleep 0.01; done
    kill_b; wait $pid 2>/dev/null
}
kill_in_write() { # kill while a checkpoint's temporary file is being written
    local slow= # with strace, every write but the first waits 0.5 s: a wide window
    strace -qq -o /dev/null true 2>/dev/null && slow="strace -f -qq -o /dev/null -e trace=write -e inject=write:delay_enter=500000:when=2+"
    train_b "$slow" 2>/dev/null & local pid=$!
    while kill -0 $pid 2>/dev/null; do
        if ls $T | grep -q "b.safetensors.ckpt.tmp."; then kill_b; break; fi
    done
    wait $pid 2>/dev/null
}
kill_at_step 3
check       "kill 1 (step 3): the checkpoint of step 2 survives" '[ -s $T/b.safetensors.ckpt ]'
kill_at_step 7
check       "kill 2 (step 7): a later checkpoint survives" '[ -s $T/b.safetensors.ckpt ] && [ "$(logged_step)" -ge 6 ]'
kill_in_write
check       "kill 3 came while a checkpoint was written (its temporary is left)" 'ls $T | grep -q "b.safetensors.ckpt.tmp."'
expect_ok   "the checkpoint left by the kills is whole" $PROPHY inspect $T/b.safetensors.ckpt
expect_ok   "resumed to the end" train_b
check       "the same bytes as the run never interrupted" 'cmp -s $T/a.safetensors $T/b.safetensors'
check       "no temporary file is left (the stale one was removed)" '[ -z "$(ls $T | grep "\.tmp\.")" ]'

# a small file system: room for one checkpoint, not for the next one beside it
fs_run() { # $1 = script run with a tmpfs of $2 KiB mounted on $T/fs
    mkdir -p $T/fs
    if mount -t tmpfs -o size=$2k tmpfs $T/fs 2>/dev/null; then
        sh -c "$1"; local rc=$?; umount $T/fs; return $rc
    fi
    unshare -rm sh -c "mount -t tmpfs -o size=$2k tmpfs $T/fs && $1"
}
if fs_run true 64 2>/dev/null; then
    # a checkpoint of this model is 10 MB and the model 3.4 MB: 17 MB hold both, not a second checkpoint
    SMALL="$RUN --steps 6"
    fs_run "$PROPHY train $SMALL --steps 2 -o $T/fs/m.safetensors 2>/dev/null; cp $T/fs/m.safetensors.ckpt $T/good.ckpt;
            $PROPHY train $SMALL --resume $T/fs/m.safetensors.ckpt -o $T/fs/m.safetensors 2>$T/full.err; echo \$? > $T/full.rc;
            cmp -s $T/fs/m.safetensors.ckpt $T/good.ckpt && echo intact > $T/full.ok; ls $T/fs > $T/full.ls" 17000
    check "a full disk: training stops with an error" '[ "$(cat $T/full.rc)" != 0 ] && [ $(grep -c "^prophy: error:" $T/full.err) -eq 1 ] && grep -q "No space left" $T/full.err'
    check "...and the previous checkpoint is intact" '[ -f $T/full.ok ]'
    check "...and no temporary is left" '! grep -q "\.tmp\." $T/full.ls'
    expect_ok "...and it still resumes (elsewhere)" $PROPHY train $SMALL --resume $T/good.ckpt -o $T/g.safetensors
    fs_run "$PROPHY train $SMALL --steps 2 -o $T/fs/r.safetensors 2>/dev/null && mount -o remount,ro $T/fs &&
            $PROPHY train $SMALL --resume $T/fs/r.safetensors.ckpt -o $T/fs/r.safetensors 2>$T/ro.err; echo \$? > $T/ro.rc;
            $PROPHY inspect $T/fs/r.safetensors.ckpt > /dev/null 2>&1 && echo loadable > $T/ro.ok" 60000
    check "a read-only directory: one error line" '[ "$(cat $T/ro.rc)" != 0 ] && [ $(grep -c "^prophy: error:" $T/ro.err) -eq 1 ] && grep -qi "read-only\|not writable" $T/ro.err'
    check "...and the previous checkpoint is loadable" '[ -f $T/ro.ok ]'
else
    echo "ok   (no tmpfs can be mounted here: the full and read-only disk cases are skipped)"
fi
cli_summary
