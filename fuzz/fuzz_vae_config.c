/* fuzz_vae_config.c - the VAE file's config (metadata "vae_config", wan/vae_file.c):
 * pp_vae_config_read on the JSON. An accepted config must be one the VAE can be
 * declared from (pp_vae_init, shapes only) with at most PP_VAE_MAX_PARAMS
 * parameters, so that pp_vae_model_create never allocates more than the reader
 * allowed; a small one is also created, written by pp_vae_add_to_writer and read
 * back (the same config). */
#include "fuzz_util.h"
#include "wan/vae_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *json = fz_cstr(data, n);
    pp_vae_config c;
    fz_clear_err();
    if (pp_vae_config_read(&c, json, "fuzz-vae.safetensors")) {
        fz_check_err("fuzz-vae.safetensors");
        free(json);
        return 0;
    }
    free(json);
    pp_vae m;
    pp_params t = {0};
    if (pp_vae_init(&m, &c, &t)) abort();
    if (t.total > PP_VAE_MAX_PARAMS) {
        fprintf(stderr, "fuzz: an accepted vae_config declares %zu parameters (at most %ld)\n", t.total,
                (long)PP_VAE_MAX_PARAMS);
        abort();
    }
    if (t.total <= (1 << 16)) {
        pp_vae_model v;
        if (pp_vae_model_create(&v, &c)) abort();
        pp_st_writer *w = pp_st_writer_new();
        if (pp_vae_add_to_writer(&v.m, &v.table, v.params, w, PP_F16)) abort();
        const char *path = fz_path("vae.safetensors");
        if (pp_st_save(w, path)) abort();
        pp_st_writer_free(w);
        pp_st_file f;
        pp_vae_config back;
        if (pp_st_open(&f, path) || pp_vae_config_read(&back, pp_st_meta(&f, "vae_config"), path)) abort();
        pp_st_close(&f);
        if (memcmp(&back, &c, sizeof c)) abort();
        pp_vae_model_free(&v);
    }
    pp_vae_free(&m);
    pp_params_free(&t);
    return 0;
}
