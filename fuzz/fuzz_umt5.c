/* fuzz_umt5.c - a umT5 encoder file (text/umt5.c): pp_umt5_config_from_file (the
 * config from the tensor shapes, transformers' or Wan's names under any prefix);
 * an accepted config that passes pp_umt5_config_check is declared (pp_umt5_init)
 * and the file loaded against it (pp_umt5_load, BF16/F16 kept in place), which
 * must then succeed or fail with one error line naming the file. */
#include "fuzz_util.h"
#include "text/umt5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *path = fz_write("umt5.safetensors", data, n);
    pp_umt5_config c;
    fz_clear_err();
    if (pp_umt5_config_from_file(path, &c)) {
        fz_check_err(path);
        return 0;
    }
    if (c.vocab < 0 || c.dim < 0 || c.heads < 1 || c.d_kv < 0 || c.layers < 0 || c.ffn < 0 || c.buckets < 0) abort();
    if (pp_umt5_config_check(&c)) return 0;
    pp_umt5 m;
    memset(&m, 0, sizeof m);
    if (pp_umt5_init(&m, &c)) abort();
    fz_clear_err();
    if (pp_umt5_load(&m, path, (int)(n & 1))) fz_check_err(path);
    pp_umt5_free(&m);
    return 0;
}
