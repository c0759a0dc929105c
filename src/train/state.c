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

/* a non-negative integer counter below 2^53 */
static int get_count(const cJSON *j, const char *key, long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != floor(v->valuedouble))
        return -1;
    *out = (long)v->valuedouble;
    return 0;
}

static int parse_rng(const cJSON *j, pp_rng *r) {
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng"), *sp = cJSON_GetObjectItemCaseSensitive(j, "rng_spare");
    if (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4 || !cJSON_IsString(sp)) return -1;
    for (int i = 0; i < 4; i++) {
        const cJSON *w = cJSON_GetArrayItem(rng, i);
        char tail;
        if (!cJSON_IsString(w) || sscanf(w->valuestring, "%" SCNx64 "%c", &r->s[i], &tail) != 1) return -1;
    }
    uint32_t spare = 0;
    char tail;
    if (sscanf(sp->valuestring, "%d:%" SCNx32 "%c", &r->has_spare, &spare, &tail) != 2 ||
        (r->has_spare != 0 && r->has_spare != 1))
        return -1;
    memcpy(&r->spare, &spare, 4);
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
    cJSON *j = pp_train_state_meta(f);
    if (!j) return -1;
    long step = 0, opt_step = 0, skipped = 0;
    int bad = get_count(j, "step", &step) || get_count(j, "opt_step", &opt_step) || parse_rng(j, &s->rng) ||
              (cJSON_GetObjectItemCaseSensitive(j, "skipped") && get_count(j, "skipped", &skipped)) ||
              opt_step > step;
    cJSON_Delete(j);
    if (bad) PP_FAIL("%s: metadata 'prophy.train': malformed counters or RNG words", f->path);
    s->step = step, o->step = opt_step, o->skipped = skipped;
    return 0;
}
