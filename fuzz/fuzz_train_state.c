/* fuzz_train_state.c - the training-state metadata of a checkpoint
 * ("prophy.train", pp_train_state_parse). */
#include "fuzz_util.h"
#include "train/trainer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *json = fz_cstr(data, n);
    pp_rng r;
    pp_adamw o;
    long step = 0;
    memset(&r, 0, sizeof r);
    memset(&o, 0, sizeof o);
    fz_clear_err();
    if (pp_train_state_parse(json, "fuzz.ckpt", &r, &step, &o)) fz_check_err("fuzz.ckpt");
    free(json);
    return 0;
}
