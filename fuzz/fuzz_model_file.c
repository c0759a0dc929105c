/* fuzz_model_file.c - a whole model file: pp_prophy_load (config, vocabulary,
 * the file's size against the weights the config describes, every tensor checked
 * against the config, weights loaded). */
#include "fuzz_util.h"
#include "prophy/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *path = fz_write("model.safetensors", data, n);
    pp_prophy m;
    fz_clear_err();
    if (pp_prophy_load(&m, path) == 0) pp_prophy_free(&m);
    else fz_check_err(path);
    return 0;
}
