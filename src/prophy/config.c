/* model.c - see model.h */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "prophy/config.h"

int pp_model_config_check(pp_model_config *c) {
    if (c->dit.out_dim < 1 || c->dit.out_dim > PP_MODEL_MAX_OUT_DIM) /* before 2 * out_dim + 1 */
        PP_FAIL("model config: out_dim %d must be in [1, %d]", c->dit.out_dim, PP_MODEL_MAX_OUT_DIM);
    if (c->cond) c->dit.in_dim = 2 * c->dit.out_dim + 1;
    else c->dit.in_dim = c->dit.out_dim;
    if (pp_dit_config_check(&c->dit)) return -1;
    if (c->frames < 1 || c->height < 1 || c->width < 1)
        PP_FAIL("model config: frames, height and width must be positive");
    if (c->frames % c->dit.patch[0] || c->height % c->dit.patch[1] || c->width % c->dit.patch[2])
        PP_FAIL("model config: video %dx%dx%d is not divisible by the patch %d,%d,%d", c->frames,
                c->height, c->width, c->dit.patch[0], c->dit.patch[1], c->dit.patch[2]);
    if (!(c->fps > 0)) c->fps = 10.0f;
    return 0;
}

cJSON *pp_model_config_to_json(const pp_model_config *c) {
    const pp_dit_config *d = &c->dit;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "prophy-model-1");
    cJSON_AddStringToObject(j, "world", c->world);
    cJSON_AddNumberToObject(j, "dim", d->dim);
    cJSON_AddNumberToObject(j, "ffn_dim", d->ffn_dim);
    cJSON_AddNumberToObject(j, "heads", d->heads);
    cJSON_AddNumberToObject(j, "layers", d->layers);
    cJSON_AddItemToObject(j, "patch", cJSON_CreateIntArray(d->patch, 3));
    cJSON_AddNumberToObject(j, "in_dim", d->in_dim);
    cJSON_AddNumberToObject(j, "out_dim", d->out_dim);
    cJSON_AddNumberToObject(j, "text_dim", d->text_dim);
    cJSON_AddNumberToObject(j, "text_len", d->text_len);
    cJSON_AddNumberToObject(j, "freq_dim", d->freq_dim);
    cJSON_AddNumberToObject(j, "eps", d->eps);
    cJSON_AddNumberToObject(j, "rope_theta", d->rope_theta);
    cJSON_AddNumberToObject(j, "frames", c->frames);
    cJSON_AddNumberToObject(j, "height", c->height);
    cJSON_AddNumberToObject(j, "width", c->width);
    cJSON_AddNumberToObject(j, "fps", c->fps);
    cJSON_AddNumberToObject(j, "cond", c->cond);
    return j;
}

/* The number `k` of the config: present, finite, in [lo, hi], integral when `integer`
 * (the bounds of config.h, checked before any cast). */
static int get_num(const cJSON *j, const char *k, const char *where, double lo, double hi, int integer,
                   double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(v)) PP_FAIL("%s: prophy.config: '%s': missing or not a number", where, k);
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi) || (integer && d != floor(d)))
        PP_FAIL("%s: prophy.config: '%s': %.17g is not %s in [%g, %g]", where, k, d,
                integer ? "an integer" : "a number", lo, hi);
    *out = d;
    return 0;
}

int pp_model_config_from_json(pp_model_config *c, const char *json, const char *where) {
    memset(c, 0, sizeof *c);
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        PP_FAIL("%s: no valid model config (metadata 'prophy.config')", where);
    }
    struct { const char *k; int *i; float *f; double lo, hi; } fields[] = {
        {"dim", &c->dit.dim, 0, 1, PP_MODEL_MAX_DIM}, {"ffn_dim", &c->dit.ffn_dim, 0, 1, PP_MODEL_MAX_FFN},
        {"heads", &c->dit.heads, 0, 1, PP_MODEL_MAX_HEADS}, {"layers", &c->dit.layers, 0, 1, PP_MODEL_MAX_LAYERS},
        {"in_dim", &c->dit.in_dim, 0, 1, 2 * PP_MODEL_MAX_OUT_DIM + 1},
        {"out_dim", &c->dit.out_dim, 0, 1, PP_MODEL_MAX_OUT_DIM},
        {"text_dim", &c->dit.text_dim, 0, 1, PP_MODEL_MAX_TEXT_DIM},
        {"text_len", &c->dit.text_len, 0, 1, PP_MODEL_MAX_TEXT_LEN},
        {"freq_dim", &c->dit.freq_dim, 0, 2, PP_MODEL_MAX_FREQ_DIM}, {"eps", 0, &c->dit.eps, 0, 1},
        {"rope_theta", 0, &c->dit.rope_theta, 1, 1e9}, {"frames", &c->frames, 0, 1, PP_MODEL_MAX_FRAMES},
        {"height", &c->height, 0, 1, PP_MODEL_MAX_SIDE}, {"width", &c->width, 0, 1, PP_MODEL_MAX_SIDE},
        {"fps", 0, &c->fps, 0, 1000}, {"cond", &c->cond, 0, 0, 1},
    };
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    int rc = 0;
    if (fmt && !(cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "prophy-model-1")))
        rc = -1, pp_seterr("%s: prophy.config: 'format': not \"prophy-model-1\"", where);
    for (size_t i = 0; i < sizeof fields / sizeof *fields && !rc; i++) {
        double v = 0;
        rc = get_num(j, fields[i].k, where, fields[i].lo, fields[i].hi, fields[i].i != NULL, &v);
        if (rc) break;
        if (fields[i].i) *fields[i].i = (int)v;
        else *fields[i].f = (float)v;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "patch");
    if (!rc && (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 3)) rc = -1, pp_seterr("%s: prophy.config: 'patch': not 3 numbers", where);
    for (int i = 0; !rc && i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(p, i);
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 1 && e->valuedouble <= PP_MODEL_MAX_PATCH) ||
            e->valuedouble != floor(e->valuedouble))
            rc = -1, pp_seterr("%s: prophy.config: 'patch[%d]': not an integer in [1, %d]", where, i, PP_MODEL_MAX_PATCH);
        else
            c->dit.patch[i] = (int)e->valuedouble;
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "world");
    snprintf(c->world, sizeof c->world, "%s", cJSON_IsString(w) ? w->valuestring : "unknown");
    cJSON_Delete(j);
    if (rc) return -1;
    int in_dim = c->dit.in_dim;
    if (pp_model_config_check(c)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        PP_FAIL("%s: prophy.config: %s", where, msg);
    }
    if (in_dim != c->dit.in_dim) PP_FAIL("%s: prophy.config: 'in_dim': %d disagrees with cond=%d", where, in_dim, c->cond);
    return 0;
}

int pp_model_create(pp_model *m, const pp_model_config *cfg) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (pp_model_config_check(&m->cfg) || pp_dit_init(&m->dit, &m->cfg.dit, &m->table)) return -1;
    m->params = pp_zalloc_floats(m->table.total);
    return 0;
}

void pp_model_free(pp_model *m) {
    pp_dit_free(&m->dit);
    pp_params_free(&m->table);
    pp_free_aligned(m->params);
    memset(m, 0, sizeof *m);
}

int pp_st_set_meta_json(pp_st_writer *w, const char *key, const cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    int rc = pp_st_set_meta(w, key, s);
    free(s);
    return rc;
}

int pp_params_write(const pp_params *t, const float *params, pp_st_writer *w, pp_dtype as) {
    int rc = 0;
    for (int i = 0; i < t->n && !rc; i++) {
        const pp_param *p = &t->p[i];
        rc = pp_st_add_f32(w, p->name, as, p->ndim, p->shape, params + p->offset);
    }
    return rc;
}

int pp_params_read(const pp_params *t, float *params, const pp_st_file *f) {
    for (int i = 0; i < t->n; i++) {
        const pp_param *p = &t->p[i];
        if (pp_st_load_f32(f, p->name, params + p->offset, p->ndim, p->shape)) return -1;
    }
    return 0;
}

int pp_model_add_to_writer(const pp_model *m, pp_st_writer *w, const float *params, pp_dtype as) {
    cJSON *j = pp_model_config_to_json(&m->cfg);
    int rc = pp_st_set_meta_json(w, "prophy.config", j);
    cJSON_Delete(j);
    return rc ? rc : pp_params_write(&m->table, params ? params : m->params, w, as);
}

int pp_model_save(const pp_model *m, const char *path, const float *params, pp_dtype as) {
    pp_st_writer *w = pp_st_writer_new();
    int rc = pp_model_add_to_writer(m, w, params, as);
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

int pp_model_load_weights(pp_model *m, const pp_st_file *f) { return pp_params_read(&m->table, m->params, f); }

/* Before the weights are allocated: the file must hold them (at 2 bytes each at
 * least, F16/BF16), so a small file cannot make a config allocate without bound. */
static int config_fits_file(const pp_model_config *cfg, const pp_st_file *f) {
    pp_params t = {0};
    pp_dit dit;
    if (pp_dit_init(&dit, &cfg->dit, &t)) return -1;
    uint64_t numel = 0;
    for (int i = 0; i < t.n; i++) numel += t.p[i].numel;
    pp_dit_free(&dit);
    pp_params_free(&t);
    if (numel > f->data_len / 2)
        PP_FAIL("%s: prophy.config describes %llu weights, more than the file's %llu bytes of tensors can hold",
                f->path, (unsigned long long)numel, (unsigned long long)f->data_len);
    return 0;
}

int pp_model_load(pp_model *m, const char *path) {
    pp_st_file f;
    memset(m, 0, sizeof *m);
    if (pp_st_open(&f, path)) return -1;
    pp_model_config cfg;
    int rc = pp_model_config_from_json(&cfg, pp_st_meta(&f, "prophy.config"), path);
    if (!rc) rc = config_fits_file(&cfg, &f);
    if (!rc) rc = pp_model_create(m, &cfg);
    if (!rc) rc = pp_model_load_weights(m, &f);
    pp_st_close(&f);
    if (rc) pp_model_free(m);
    return rc;
}
