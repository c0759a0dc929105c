/* config.c - see config.h */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "prophy/config.h"

int pp_model_config_check(pp_model_config *c) {
    if (c->cond < PP_COND_NONE || c->cond > PP_COND_LATENT)
        PP_FAIL("model config: cond = %d must be 0 (none), 1 (pixel frames) or 2 (latent frames)", c->cond);
    if (c->dit.out_dim < 1 || c->dit.out_dim > PP_DIT_MAX_CHANNELS / 2 - 4)
        PP_FAIL("model config: out_dim = %d is outside [1, %d]", c->dit.out_dim, PP_DIT_MAX_CHANNELS / 2 - 4);
    if (c->cond == PP_COND_LATENT && !c->latent) PP_FAIL("model config: latent conditioning needs a latent model");
    c->dit.in_dim = c->cond == PP_COND_PIXEL ? 2 * c->dit.out_dim + 1
                    : c->cond == PP_COND_LATENT ? 2 * c->dit.out_dim + 4 : c->dit.out_dim;
    if (c->latent && (c->vframes < 1 || c->vheight < 1 || c->vwidth < 1 || c->vframes > PP_MODEL_MAX_SIZE ||
                      c->vheight > PP_MODEL_MAX_SIZE || c->vwidth > PP_MODEL_MAX_SIZE))
        PP_FAIL("model config: a latent model's video size %dx%dx%d must be in [1, %d]", c->vframes, c->vheight,
                c->vwidth, PP_MODEL_MAX_SIZE);
    if (pp_dit_config_check(&c->dit)) return -1;
    if (c->frames < 1 || c->height < 1 || c->width < 1 || c->frames > PP_MODEL_MAX_SIZE ||
        c->height > PP_MODEL_MAX_SIZE || c->width > PP_MODEL_MAX_SIZE)
        PP_FAIL("model config: frames, height and width (%d, %d, %d) must be in [1, %d]", c->frames, c->height,
                c->width, PP_MODEL_MAX_SIZE);
    if (!(c->fps > 0 && c->fps <= 1000)) c->fps = 10.0f;
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
    if (d->frame_emb > 0) cJSON_AddNumberToObject(j, "frame_emb", d->frame_emb);
    cJSON_AddNumberToObject(j, "frames", c->frames);
    cJSON_AddNumberToObject(j, "height", c->height);
    cJSON_AddNumberToObject(j, "width", c->width);
    cJSON_AddNumberToObject(j, "fps", c->fps);
    cJSON_AddNumberToObject(j, "cond", c->cond);
    if (c->latent) {
        cJSON *l = cJSON_AddObjectToObject(j, "latent");
        char buf[32];
        snprintf(buf, sizeof buf, "%016llx", (unsigned long long)c->vae_checksum);
        cJSON_AddStringToObject(l, "vae_checksum", buf);
        int v[3] = {c->vframes, c->vheight, c->vwidth};
        cJSON_AddItemToObject(l, "video", cJSON_CreateIntArray(v, 3));
    }
    return j;
}

static int get_num(const cJSON *j, const char *k, const char *where, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        PP_FAIL("%s: model config lacks the number '%s'", where, k);
    *out = v->valuedouble;
    return 0;
}

/* An integer field of a config, read before any cast (a value outside int's range
 * is not an int); the range checks proper are the configs' own. */
int pp_json_int(const void *obj, const char *k, const char *where, int *out) {
    double v;
    if (get_num(obj, k, where, &v)) return -1;
    if (v != floor(v) || v < -2147483648.0 || v > 2147483647.0)
        PP_FAIL("%s: model config: '%s' = %g is not an integer in int's range", where, k, v);
    *out = (int)v;
    return 0;
}

int pp_model_config_from_json(pp_model_config *c, const char *json, const char *where) {
    memset(c, 0, sizeof *c);
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        PP_FAIL("%s: no valid model config (metadata 'prophy.config')", where);
    }
    struct { const char *k; int *i; float *f; } fields[] = {
        {"dim", &c->dit.dim, 0}, {"ffn_dim", &c->dit.ffn_dim, 0}, {"heads", &c->dit.heads, 0},
        {"layers", &c->dit.layers, 0}, {"in_dim", &c->dit.in_dim, 0}, {"out_dim", &c->dit.out_dim, 0},
        {"text_dim", &c->dit.text_dim, 0}, {"text_len", &c->dit.text_len, 0},
        {"freq_dim", &c->dit.freq_dim, 0}, {"eps", 0, &c->dit.eps}, {"rope_theta", 0, &c->dit.rope_theta},
        {"frames", &c->frames, 0}, {"height", &c->height, 0}, {"width", &c->width, 0},
        {"fps", 0, &c->fps}, {"cond", &c->cond, 0},
    };
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    int rc = 0;
    if (fmt && !(cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "prophy-model-1")))
        rc = -1, pp_seterr("%s: model config: 'format' is not \"prophy-model-1\"", where);
    for (size_t i = 0; i < sizeof fields / sizeof *fields && !rc; i++) {
        double v = 0;
        if (fields[i].i) rc = pp_json_int(j, fields[i].k, where, fields[i].i);
        else if (!(rc = get_num(j, fields[i].k, where, &v))) *fields[i].f = (float)v;
    }
    if (!rc && cJSON_GetObjectItemCaseSensitive(j, "frame_emb")) /* optional: absent = none (Wan) */
        rc = pp_json_int(j, "frame_emb", where, &c->dit.frame_emb);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "patch");
    if (!rc && (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 3)) rc = -1, pp_seterr("%s: model config: 'patch' must be 3 numbers", where);
    for (int i = 0; !rc && i < 3; i++) {
        const cJSON *x = cJSON_GetArrayItem(p, i);
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 1 || x->valuedouble > 64)
            rc = -1, pp_seterr("%s: model config: 'patch' must be 3 integers in [1, 64]", where);
        else c->dit.patch[i] = (int)x->valuedouble;
    }
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(j, "latent");
    if (!rc && lat) { /* optional: absent = a pixel model */
        const cJSON *ck = cJSON_GetObjectItemCaseSensitive(lat, "vae_checksum"), *v = cJSON_GetObjectItemCaseSensitive(lat, "video");
        unsigned long long sum;
        int ok = cJSON_IsString(ck) && sscanf(ck->valuestring, "%16llx", &sum) == 1 && cJSON_IsArray(v) &&
                 cJSON_GetArraySize(v) == 3;
        int *dst[3] = {&c->vframes, &c->vheight, &c->vwidth};
        for (int i = 0; ok && i < 3; i++) {
            const cJSON *x = cJSON_GetArrayItem(v, i);
            ok = cJSON_IsNumber(x) && x->valuedouble == floor(x->valuedouble) && x->valuedouble >= 1 &&
                 x->valuedouble <= PP_MODEL_MAX_SIZE;
            if (ok) *dst[i] = (int)x->valuedouble;
        }
        if (!ok) rc = -1, pp_seterr("%s: model config: 'latent' needs 'vae_checksum' (hex) and 'video' [F,H,W]", where);
        else c->latent = 1, c->vae_checksum = sum;
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "world");
    snprintf(c->world, sizeof c->world, "%s", cJSON_IsString(w) ? w->valuestring : "unknown");
    cJSON_Delete(j);
    if (rc) return -1;
    int in_dim = c->dit.in_dim;
    if (pp_model_config_check(c)) { /* the checks after the fields name the file too */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        PP_FAIL("%s: %s", where, msg);
    }
    if (in_dim != c->dit.in_dim) PP_FAIL("%s: model config: in_dim %d disagrees with cond=%d", where, in_dim, c->cond);
    return 0;
}

