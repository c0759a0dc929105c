/* vae_file.c - see vae_file.h */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <string.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "wan/vae_file.h"

/* an integer in [lo, hi] */
static int get_int(const cJSON *j, const char *k, int lo, int hi, const char *where, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        PP_FAIL("%s: vae_config: '%s' must be an integer in [%d, %d]", where, k, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

/* an array of n numbers (bools as 0/1 where bools) */
static int get_array(const cJSON *j, const char *k, int n, int bools, const char *where, double *out) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        PP_FAIL("%s: vae_config: '%s' must be an array of %d %s", where, k, n, bools ? "booleans" : "numbers");
    for (int i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i);
        if (bools ? !cJSON_IsBool(x) : !cJSON_IsNumber(x) || !isfinite(x->valuedouble))
            PP_FAIL("%s: vae_config: '%s'[%d] is not a %s", where, k, i, bools ? "boolean" : "finite number");
        out[i] = bools ? cJSON_IsTrue(x) : x->valuedouble;
    }
    return 0;
}

/* the parameters cfg declares (cfg already checked) */
static size_t vae_params(const pp_vae_config *cfg) {
    pp_vae m;
    pp_params t = {0};
    size_t total = pp_vae_init(&m, cfg, &t) ? SIZE_MAX : t.total;
    pp_vae_free(&m);
    pp_params_free(&t);
    return total;
}

/* latents_mean / latents_std as 32-bit floats: finite, and std > 0 after the cast
 * (1e300 would become inf, 1e-50 zero) */
static int latent_floats(const double *v, int z, int is_std, const char *where) {
    const char *k = is_std ? "latents_std" : "latents_mean";
    for (int i = 0; i < z; i++) {
        float f = fabs(v[i]) <= FLT_MAX ? (float)v[i] : INFINITY;
        if (!isfinite(f) || (is_std && !(f > 0)))
            PP_FAIL("%s: vae_config: '%s'[%d] = %g is not a %s 32-bit float", where, k, i, v[i],
                    is_std ? "finite, positive" : "finite");
    }
    return 0;
}

int pp_vae_config_read(pp_vae_config *c, const char *json, const char *where) {
    if (!json) {
        pp_vae_config_wan21(c);
        return 0;
    }
    cJSON *j = cJSON_Parse(json);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        PP_FAIL("%s: metadata 'vae_config' is not a JSON object", where);
    }
    int dim, z, res, rc;
    const cJSON *mult = cJSON_GetObjectItemCaseSensitive(j, "dim_mult");
    int levels = cJSON_IsArray(mult) ? cJSON_GetArraySize(mult) : 0;
    double m[PP_VAE_MAX_LEVELS], td[PP_VAE_MAX_LEVELS], mean[PP_VAE_MAX_Z], std[PP_VAE_MAX_Z];
    rc = get_int(j, "dim", 1, 1024, where, &dim) || get_int(j, "z_dim", 1, PP_VAE_MAX_Z, where, &z) ||
         get_int(j, "num_res_blocks", 1, 8, where, &res);
    if (!rc && (levels < 1 || levels > PP_VAE_MAX_LEVELS))
        rc = -1, pp_seterr("%s: vae_config: 'dim_mult' must hold 1 to %d levels", where, PP_VAE_MAX_LEVELS);
    rc = rc || get_array(j, "dim_mult", levels, 0, where, m) ||
         get_array(j, "temperal_downsample", levels - 1, 1, where, td) ||
         get_array(j, "latents_mean", z, 0, where, mean) || get_array(j, "latents_std", z, 0, where, std);
    cJSON_Delete(j);
    if (rc || latent_floats(mean, z, 0, where) || latent_floats(std, z, 1, where)) return -1;
    int mi[PP_VAE_MAX_LEVELS], ti[PP_VAE_MAX_LEVELS];
    for (int i = 0; i < levels; i++) {
        if (m[i] != floor(m[i]) || m[i] < 1 || m[i] > 4096) PP_FAIL("%s: vae_config: dim_mult[%d] = %g", where, i, m[i]);
        mi[i] = (int)m[i], ti[i] = i + 1 < levels ? (int)td[i] : 0;
    }
    pp_vae_config_make(c, dim, z, levels, mi, res, ti);
    for (int i = 0; i < z; i++) c->latent_mean[i] = (float)mean[i], c->latent_std[i] = (float)std[i];
    if (pp_vae_config_check(c)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        PP_FAIL("%s: %s", where, msg);
    }
    size_t np = vae_params(c);
    if (np > PP_VAE_MAX_PARAMS) {
        char ms[96];
        int k = 0;
        for (int i = 0; i < levels; i++) k += snprintf(ms + k, sizeof ms - (size_t)k, "%s%d", i ? "," : "", mi[i]);
        PP_FAIL("%s: vae_config: 'dim' %d, 'dim_mult' [%s] and 'num_res_blocks' %d describe a VAE of %.0f M "
                "parameters, more than the %zu M allowed (Wan2.1's has 127 M)",
                where, dim, ms, res, np / 1e6, PP_VAE_MAX_PARAMS / 1000000);
    }
    return 0;
}

int pp_vae_model_create(pp_vae_model *v, const pp_vae_config *cfg) {
    memset(v, 0, sizeof *v);
    if (pp_vae_init(&v->m, cfg, &v->table)) return -1;
    char what[64];
    snprintf(what, sizeof what, "a VAE of %.1f M parameters", v->table.total / 1e6);
    if (pp_mem_check(pp_mul_size(v->table.total, sizeof(float)), what)) {
        pp_vae_model_free(v);
        return -1;
    }
    v->params = pp_zalloc_floats(v->table.total);
    return 0;
}

int pp_vae_model_open(pp_vae_model *v, const char *path) {
    memset(v, 0, sizeof *v);
    pp_st_file f;
    if (pp_st_open(&f, path)) return -1;
    pp_vae_config c;
    int rc = pp_vae_config_read(&c, pp_st_meta(&f, "vae_config"), path);
    pp_st_close(&f);
    /* every tensor's name and shape before the weights are allocated: a small file
     * whose config describes a large VAE is refused without allocating it */
    pp_vae chk;
    pp_params ct = {0};
    memset(&chk, 0, sizeof chk);
    if (!rc) rc = pp_vae_init(&chk, &c, &ct) || pp_vae_load(&chk, &ct, NULL, path) ? -1 : 0;
    pp_vae_free(&chk);
    pp_params_free(&ct);
    if (!rc) rc = pp_vae_model_create(v, &c);
    if (!rc) return pp_vae_model_load_weights(v, path);
    pp_vae_model_free(v);
    return rc;
}

int pp_vae_model_load_weights(pp_vae_model *v, const char *path) {
    int rc = pp_vae_load(&v->m, &v->table, v->params, path);
    for (int i = 0; !rc && i < v->table.n; i++) {
        const pp_param *p = &v->table.p[i];
        for (size_t k = 0; k < p->numel && !rc; k++)
            if (!isfinite(v->params[p->offset + k]))
                rc = -1, pp_seterr("%s: tensor '%s' holds a non-finite value at index %zu", path, p->name, k);
    }
    if (rc) pp_vae_model_free(v);
    return rc;
}

void pp_vae_model_free(pp_vae_model *v) {
    pp_vae_free(&v->m);
    pp_params_free(&v->table);
    pp_free_aligned(v->params);
    memset(v, 0, sizeof *v);
}

int pp_vae_add_to_writer(const pp_vae *m, const pp_params *t, const float *P, pp_st_writer *w, int dtype) {
    int rc = 0;
    for (int i = 0; i < t->n && !rc; i++)
        rc = pp_st_add_f32(w, t->p[i].name, (pp_dtype)dtype, t->p[i].ndim, t->p[i].shape, P + t->p[i].offset);
    const pp_vae_config *c = &m->cfg;
    cJSON *j = cJSON_CreateObject(), *a;
    cJSON_AddNumberToObject(j, "dim", c->dim);
    cJSON_AddNumberToObject(j, "z_dim", c->z_dim);
    cJSON_AddNumberToObject(j, "num_res_blocks", c->num_res_blocks);
    cJSON_AddItemToObject(j, "dim_mult", a = cJSON_CreateArray());
    for (int i = 0; i < c->nlevels; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(c->dim_mult[i]));
    cJSON_AddItemToObject(j, "temperal_downsample", a = cJSON_CreateArray());
    for (int i = 0; i + 1 < c->nlevels; i++) cJSON_AddItemToArray(a, cJSON_CreateBool(c->temporal_down[i]));
    cJSON_AddItemToObject(j, "latents_mean", a = cJSON_CreateArray());
    for (int i = 0; i < c->z_dim; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(c->latent_mean[i]));
    cJSON_AddItemToObject(j, "latents_std", a = cJSON_CreateArray());
    for (int i = 0; i < c->z_dim; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(c->latent_std[i]));
    if (!rc) rc = pp_st_set_meta_json(w, "vae_config", j);
    cJSON_Delete(j);
    return rc;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t bytes) {
    const uint8_t *p = data;
    for (size_t i = 0; i < bytes; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}
#define FNV_BASIS 1469598103934665603ULL

uint64_t pp_vae_checksum(const pp_vae_model *v) {
    uint64_t h = FNV_BASIS;
    for (int i = 0; i < v->table.n; i++) {
        const pp_param *p = &v->table.p[i];
        if (pp_vae_encoder_side(p->name)) h = fnv1a(h, v->params + p->offset, p->numel * sizeof(float));
    }
    int z = v->m.cfg.z_dim;
    h = fnv1a(h, v->m.cfg.latent_mean, (size_t)z * sizeof(float));
    return fnv1a(h, v->m.cfg.latent_std, (size_t)z * sizeof(float));
}

uint64_t pp_vae_checksum_whole(const pp_vae_model *v) {
    return fnv1a(FNV_BASIS, v->params, v->table.total * sizeof(float));
}

int pp_vae_checksum_matches(const pp_vae_model *v, uint64_t sum) {
    return sum == pp_vae_checksum(v) || sum == pp_vae_checksum_whole(v);
}
