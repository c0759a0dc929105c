/* fuzz_train_state.c - the training-state metadata of a checkpoint
 * ("prophy.train", pp_train_state_parse in src/train/state.c). */
#include "fuzz_util.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *json = fz_cstr(data, n);
    pp_train_state s;
    memset(&s, 0, sizeof s);
    fz_clear_err();
    if (pp_train_state_parse(&s, json, "fuzz.ckpt")) {
        fz_check_err("fuzz.ckpt");
        if (s.step || s.opt.step || s.opt.skipped) abort(); /* untouched on error */
    } else if (s.opt.step > s.step || s.opt.skipped > s.step || s.step < 0) {
        abort();
    }
    free(json);
    return 0;
}
