/* fuzz_safetensors.c - the safetensors reader: pp_st_open_memory (header length,
 * UTF-8 JSON, dtypes, shapes, offsets, layout), then every tensor loaded as the
 * model loaders do (pp_st_load_f32 / pp_st_load_raw), then the same bytes
 * through the file API (pp_st_open). */
#include "fuzz_util.h"
#include "io/safetensors.h"

static void load_all(const pp_st_file *f) {
    for (int i = 0; i < pp_st_count(f); i++) {
        const pp_st_tensor *t = pp_st_at(f, i);
        if (pp_st_find(f, t->name) != t) abort(); /* names are unique after open */
        if (t->end - t->begin != t->numel * pp_dtype_size(t->dtype)) abort();
        if (pp_dtype_is_float(t->dtype)) {
            float *x = malloc((size_t)t->numel * sizeof(float) + 1);
            if (pp_st_load_f32(f, t->name, x, t->ndim, t->shape)) abort();
            free(x);
        } else {
            void *b = malloc((size_t)(t->end - t->begin) + 1);
            if (pp_st_load_raw(f, t->name, t->dtype, b, t->ndim, t->shape)) abort();
            free(b);
        }
    }
    for (int i = 0; i < f->nmeta; i++)
        if (pp_st_meta(f, f->meta[i].key) == NULL) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    pp_st_file f;
    fz_clear_err();
    if (pp_st_open_memory(&f, "fuzz.safetensors", data, n) == 0) load_all(&f);
    else fz_check_err("fuzz.safetensors");
    pp_st_close(&f);

    const char *path = fz_write("in.safetensors", data, n);
    fz_clear_err();
    if (pp_st_open(&f, path) == 0) load_all(&f);
    else fz_check_err(path);
    pp_st_close(&f);
    return 0;
}
