# cli_train.sh - prophy train on the physics world: stage 1, stage 2 (each branch
# mode), the loss log and plot, exact resume through the command, and one clear
# error line for every bad input.
. tests/cli_lib.sh
T=$CLI_TMP
TINY="--batch 2 --dim 24 --layers 2 --heads 2 --ffn 48 --text-dim 16 --video-frames 4 -W 16 -H 16 --patch 1,4,4 -q -t 1"

expect_ok   "stage 1 from scratch" $PROPHY train $TINY --steps 4 -o $T/s1.safetensors --log $T/s1.csv
check       "the log has a header and 4 rows" '[ $(wc -l < $T/s1.csv) -eq 5 ] && head -1 $T/s1.csv | grep -q "^step,loss,diff,coarse,fine_align,balance"'
check       "the loss plot is a PNG" '[ "$(head -c 4 $T/s1.safetensors.loss.png | tail -c 3)" = PNG ]'
for b in none seb reb full; do
    expect_ok "stage 2 --branch $b" $PROPHY train $TINY --steps 3 --init $T/s1.safetensors --branch $b -o $T/s2$b.safetensors
done
expect_ok   "stage 2 prints the trainable count" $PROPHY train --batch 2 --steps 1 -t 1 --init $T/s1.safetensors -o $T/x.safetensors
check       "fewer trainable than total parameters" 'grep -q "trainable), branch full" $CLI_TMP/err && ! grep -q " \([0-9]*\) parameters (\1 trainable" $CLI_TMP/err'

# a run cut short by its time limit and resumed gives the bytes of one straight run
expect_ok   "straight run" $PROPHY train $TINY --steps 6 -o $T/a.safetensors
expect_ok   "first half" $PROPHY train $TINY --steps 3 -o $T/b.safetensors
expect_ok   "resumed to the end" $PROPHY train $TINY --steps 6 --resume $T/b.safetensors.ckpt -o $T/b.safetensors
check       "resume gives the same bytes" 'cmp -s $T/a.safetensors $T/b.safetensors'
expect_ok   "resume with a new --log" $PROPHY train $TINY --steps 8 --resume $T/a.safetensors.ckpt --log $T/new.csv -o $T/c.safetensors
check       "the new log has its header and the 2 resumed steps" '[ $(wc -l < $T/new.csv) -eq 3 ] && head -1 $T/new.csv | grep -q "^step,loss,diff" && [ -s $T/c.safetensors ]'

expect_ok   "stage 2 on 2 threads" $PROPHY train --batch 2 --steps 2 -q -t 2 --init $T/s1.safetensors -o $T/t2.safetensors
expect_ok   "stage 2 on 1 thread" $PROPHY train --batch 2 --steps 2 -q -t 1 --init $T/s1.safetensors -o $T/t1.safetensors
check       "the thread count does not change a byte" 'cmp -s $T/t1.safetensors $T/t2.safetensors'

expect_fail "unknown branch" $PROPHY train $TINY --branch most -o $T/e.safetensors
expect_fail "unknown world" $PROPHY train $TINY --world cubes -o $T/e.safetensors
expect_fail "a decay that ends within the warmup" $PROPHY train $TINY --warmup 50 --lr-decay 10 -o $T/e.safetensors
check       "...says it would never apply" 'grep -q "lr decay: it ends at step 10, within the 50 warmup steps" $CLI_TMP/err'
expect_fail "missing stage-1 model" $PROPHY train $TINY --init $T/nope.safetensors -o $T/e.safetensors
expect_fail "a safetensors file that is no stage-1 model" $PROPHY train -q --init tests/fixtures/dit_ref.safetensors -o $T/e.safetensors
expect_fail "--maps without --data" $PROPHY train $TINY --maps $T -o $T/e.safetensors
expect_fail "a missing dataset" $PROPHY train $TINY --data $T/nodata -o $T/e.safetensors
expect_ok   "--fg-weight on pixels (the weights from the background map)" $PROPHY train $TINY --steps 2 --fg-weight 5 -o $T/fg.safetensors
expect_fail "bad label noise" $PROPHY train $TINY --label-noise blurry=2 -o $T/e.safetensors
expect_fail "--resume with --init" $PROPHY train $TINY --resume $T/b.safetensors.ckpt --init $T/s1.safetensors -o $T/e.safetensors
expect_fail "more physical blocks than layers" $PROPHY train $TINY --init $T/s1.safetensors --pb 3 -o $T/e.safetensors
expect_fail "size not divisible by the patch" $PROPHY train $TINY -W 18 -o $T/e.safetensors
expect_fail "--steps 0" $PROPHY train $TINY --steps 0 -o $T/e.safetensors
expect_fail "a truncated checkpoint" sh -c "head -c 1000 $T/b.safetensors.ckpt > $T/t.ckpt && $PROPHY train $TINY --resume $T/t.ckpt -o $T/e.safetensors"
cli_summary
