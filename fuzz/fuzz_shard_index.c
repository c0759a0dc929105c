/* fuzz_shard_index.c - a sharded checkpoint's index (io/safetensors.c,
 * pp_st_open_sharded: "*.safetensors.index.json", {"weight_map": {tensor: shard}}),
 * the way the Wan DiT, umT5 and VAE loaders open one. The input is the index,
 * written next to four shards made once: a.safetensors (tensors "x", "y", metadata),
 * b.safetensors ("z", "w"), c.safetensors (not a safetensors file) and
 * d.safetensors (an "x" of its own). On success every tensor is loaded (pp_st_load_f32 / pp_st_load_raw) and
 * every weight_map name must be found. */
#include <cjson/cJSON.h>
#include "fuzz_util.h"
#include "io/safetensors.h"

static void make_shards(void) {
    static int done;
    if (done) return;
    done = 1;
    const float v[6] = {1, 2, 3, 4, 5, 6};
    const int64_t s2[2] = {2, 3}, s1[1] = {2};
    pp_st_writer *w = pp_st_writer_new();
    if (pp_st_add_f32(w, "x", PP_F32, 2, s2, v) || pp_st_add_f32(w, "y", PP_BF16, 1, s1, v) ||
        pp_st_set_meta(w, "format", "pt") || pp_st_save(w, fz_path("a.safetensors")))
        abort();
    pp_st_writer_free(w);
    w = pp_st_writer_new();
    const uint8_t raw[3] = {1, 2, 3};
    const int64_t s3[1] = {3};
    if (pp_st_add(w, "z", PP_U8, 1, s3, raw) || pp_st_add_f32(w, "w", PP_F16, 1, s1, v) ||
        pp_st_save(w, fz_path("b.safetensors")))
        abort();
    pp_st_writer_free(w);
    w = pp_st_writer_new();
    if (pp_st_add_f32(w, "x", PP_F16, 1, s1, v) || pp_st_save(w, fz_path("d.safetensors"))) abort();
    pp_st_writer_free(w);
    fz_write("c.safetensors", (const uint8_t *)"{\"weight_map\": {}}", 18);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    make_shards();
    const char *path = fz_write("model.safetensors.index.json", data, n);
    pp_st_file f;
    fz_clear_err();
    if (pp_st_open_sharded(&f, path)) {
        fz_check_err(NULL); /* errors name the index or the shard */
        if (!strstr(pp_lasterr(), fz_dir())) {
            fprintf(stderr, "fuzz: error line names no file: %s\n", pp_lasterr());
            abort();
        }
        pp_st_close(&f);
        return 0;
    }
    for (int i = 0; i < pp_st_count(&f); i++) {
        const pp_st_tensor *t = pp_st_at(&f, i);
        if (pp_st_find(&f, t->name) != t) abort();
        if (pp_dtype_is_float(t->dtype)) {
            float *x = malloc((size_t)t->numel * sizeof(float) + 1);
            if (pp_st_load_f32(&f, t->name, x, t->ndim, t->shape)) abort();
            free(x);
        } else {
            void *b = malloc((size_t)(t->end - t->begin) + 1);
            if (pp_st_load_raw(&f, t->name, t->dtype, b, t->ndim, t->shape)) abort();
            free(b);
        }
    }
    cJSON *j = cJSON_ParseWithLength((const char *)data, n);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(j, "weight_map"), *e;
    cJSON_ArrayForEach(e, map) if (!pp_st_find(&f, e->string)) abort();
    cJSON_Delete(j);
    pp_st_close(&f);
    return 0;
}
