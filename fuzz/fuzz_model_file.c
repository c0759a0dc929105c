/* fuzz_model_file.c - a whole model file: pp_prophy_load (config, vocabulary,
 * every tensor checked against the config, weights loaded) and pp_model_load
 * (backbone-only files) on the same bytes. */
#include "fuzz_util.h"
#include "prophy/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *path = fz_write("model.safetensors", data, n);
    pp_prophy m;
    fz_clear_err();
    if (pp_prophy_load(&m, path) == 0) pp_prophy_free(&m);
    else fz_check_err(path);
    pp_model b;
    fz_clear_err();
    if (pp_model_load(&b, path) == 0) pp_model_free(&b);
    else fz_check_err(path);
    return 0;
}
