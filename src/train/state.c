/* state.c - the optimiser state every trainer shares and its checkpoint part (train.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "train/train.h"

pp_train_config pp_train_defaults(void) {
    pp_train_config c = {.batch = 8, .steps = 1000, .seed = 1, .opt = pp_adamw_defaults(), .max_skips = 5};
    c.opt.lr = 1e-3f;
    c.opt.warmup = 50;
    return c;
}

void pp_train_state_init(pp_train_state *s, const pp_train_config *cfg, size_t n, const float *params) {
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    pp_rng_seed(&s->rng, cfg->seed);
    pp_adamw_init(&s->opt, &cfg->opt, n, params);
}

void pp_train_state_free(pp_train_state *s) { pp_adamw_free(&s->opt); }

int pp_train_apply(pp_train_state *s, const pp_params *t, float *params, float *grads, double loss) {
    s->step++;
    int finite = isfinite(loss);
    if (finite && !pp_adamw_step(&s->opt, t, params, grads, &s->last_norm)) {
        s->skips_in_a_row = 0;
        return 0;
    }
    if (!finite) s->opt.skipped++; /* else pp_adamw_step counted it */
    s->skips_in_a_row++;
    fprintf(stderr, "\nprophy: warning: step %ld: non-finite %s, step skipped (%ld so far)\n", s->step,
            finite ? "gradient" : "loss", s->opt.skipped);
    return 1;
}

const float *pp_train_final_weights(const pp_train_state *s, const float *params) {
    return s->opt.ema ? s->opt.ema : params;
}

/* ---- checkpoints */

int pp_train_write_state(const pp_train_state *s, pp_st_writer *w, cJSON *extra) {
    const pp_adamw *o = &s->opt;
    int64_t n = (int64_t)o->n;
    int rc = pp_st_add_f32(w, "optim.m", PP_F32, 1, &n, o->m);
    if (!rc) rc = pp_st_add_f32(w, "optim.v", PP_F32, 1, &n, o->v);
    if (!rc && o->ema) rc = pp_st_add_f32(w, "optim.ema", PP_F32, 1, &n, o->ema);
    cJSON *j = extra ? extra : cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "step", (double)s->step);
    cJSON_AddNumberToObject(j, "opt_step", (double)o->step);
    cJSON_AddNumberToObject(j, "skipped", (double)o->skipped);
    char buf[32];
    cJSON *rw = cJSON_AddArrayToObject(j, "rng");
    for (int i = 0; i < 4; i++) { /* hex: exact */
        snprintf(buf, sizeof buf, "%016" PRIx64, s->rng.s[i]);
        cJSON_AddItemToArray(rw, cJSON_CreateString(buf));
    }
    uint32_t spare;
    memcpy(&spare, &s->rng.spare, 4);
    snprintf(buf, sizeof buf, "%d:%08" PRIx32, s->rng.has_spare, spare);
    cJSON_AddStringToObject(j, "rng_spare", buf);
    cJSON_AddNumberToObject(j, "batch", s->cfg.batch);
    cJSON_AddNumberToObject(j, "lr", s->cfg.opt.lr);
    cJSON_AddNumberToObject(j, "ema", s->cfg.opt.ema_decay);
    cJSON_AddNumberToObject(j, "ema_warmup", s->cfg.opt.ema_warmup);
    if (!rc) rc = pp_st_set_meta_json(w, "prophy.train", j);
    cJSON_Delete(j);
    return rc;
}

cJSON *pp_train_state_meta(const pp_st_file *f) {
    const char *json = pp_st_meta(f, "prophy.train");
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        pp_seterr("%s: not a training checkpoint (metadata 'prophy.train' missing or malformed)", f->path);
        return NULL;
    }
    return j;
}

/* n hex digits exactly (what pp_train_write_state writes), into *out. */
static int hex_exact(const char *s, int n, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    if (s[n]) return -1;
    *out = v;
    return 0;
}

/* A counter of the state: an integer in [0, 2^53), checked before the cast. */
static int get_count(const cJSON *j, const char *key, const char *path, int required, long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v && !required) {
        *out = 0;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 9007199254740992.0) ||
        v->valuedouble != floor(v->valuedouble))
        PP_FAIL("%s: prophy.train: '%s': missing or not an integer in [0, 2^53)", path, key);
    *out = (long)v->valuedouble;
    return 0;
}

/* The RNG words: 4 of exactly 16 hex digits, not all zero; the spare normal
 * "0:" or "1:" and the 8 hex digits of a finite float. */
static int parse_rng(const cJSON *j, const char *path, pp_rng *r) {
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng"), *sp = cJSON_GetObjectItemCaseSensitive(j, "rng_spare");
    uint64_t words[4] = {0}, spare = 0;
    if (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4) PP_FAIL("%s: prophy.train: 'rng': not 4 words", path);
    for (int i = 0; i < 4; i++) {
        const cJSON *w = cJSON_GetArrayItem(rng, i);
        if (!cJSON_IsString(w) || hex_exact(w->valuestring, 16, &words[i]))
            PP_FAIL("%s: prophy.train: 'rng[%d]': not 16 hex digits", path, i);
    }
    if (!(words[0] | words[1] | words[2] | words[3]))
        PP_FAIL("%s: prophy.train: 'rng': all four words are zero (not a generator state)", path);
    if (!cJSON_IsString(sp) || (sp->valuestring[0] != '0' && sp->valuestring[0] != '1') || sp->valuestring[1] != ':' ||
        hex_exact(sp->valuestring + 2, 8, &spare))
        PP_FAIL("%s: prophy.train: 'rng_spare': not 0:XXXXXXXX or 1:XXXXXXXX", path);
    uint32_t bits = (uint32_t)spare;
    float fspare;
    memcpy(&fspare, &bits, 4);
    if (!isfinite(fspare)) PP_FAIL("%s: prophy.train: 'rng_spare': the spare normal is not finite", path);
    memcpy(r->s, words, sizeof words);
    r->has_spare = sp->valuestring[0] == '1';
    r->spare = fspare;
    return 0;
}

int pp_train_state_parse(pp_train_state *s, const char *json, const char *path) {
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        PP_FAIL("%s: not a training checkpoint (metadata 'prophy.train' missing or malformed)", path);
    }
    long step = 0, opt_step = 0, skipped = 0;
    pp_rng r;
    int rc = get_count(j, "step", path, 1, &step) || get_count(j, "opt_step", path, 1, &opt_step) ||
             get_count(j, "skipped", path, 0, &skipped) ? -1 : 0;
    if (!rc && (opt_step > step || skipped > step))
        rc = -1, pp_seterr("%s: prophy.train: 'opt_step' %ld and 'skipped' %ld cannot exceed 'step' %ld", path,
                           opt_step, skipped, step);
    if (!rc) rc = parse_rng(j, path, &r);
    cJSON_Delete(j);
    if (rc) return -1;
    s->step = step, s->opt.step = opt_step, s->opt.skipped = skipped, s->rng = r;
    return 0;
}

/* a tensor of the optimiser state, every value finite */
static int load_finite(const pp_st_file *f, const char *name, float *dst, size_t n) {
    int64_t shape = (int64_t)n;
    if (pp_st_load_f32(f, name, dst, 1, &shape)) return -1;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            PP_FAIL("%s: tensor '%s' holds a non-finite value at index %zu: the checkpoint is damaged", f->path,
                    name, i);
    return 0;
}

int pp_train_read_state(pp_train_state *s, const pp_st_file *f) {
    pp_adamw *o = &s->opt;
    if (load_finite(f, "optim.m", o->m, o->n) || load_finite(f, "optim.v", o->v, o->n)) return -1;
    if (o->ema && pp_st_find(f, "optim.ema") && load_finite(f, "optim.ema", o->ema, o->n)) return -1;
    return pp_train_state_parse(s, pp_st_meta(f, "prophy.train"), f->path);
}
