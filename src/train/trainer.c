/* train.c - see train.h */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/ops.h"
#include "train/trainer.h"

struct pp_trainer {
    pp_model *m;
    pp_train_config cfg;
    pp_data_source data;
    pp_adamw opt;
    pp_rng rng;
    long step;
    int F, H, W, C, Cc, L, D;
    size_t vox;
    pp_dit_acts *acts;
    float *G, *video, *eps, *s, *t, *cond, *ctx, *xin, *target, *pred, *dpred;
    double last_norm;
};

pp_train_config pp_train_defaults(void) {
    pp_train_config c = {.batch = 8, .steps = 1000, .seed = 1, .opt = pp_adamw_defaults(),
                         .s_dist = PP_S_LOGIT_NORMAL, .s_shift = 1.0f, .p_drop_text = 0.1f,
                         .p_first_frames = 0.5f, .max_cond_frames = 1};
    c.opt.lr = 1e-3f;
    c.opt.warmup = 50;
    return c;
}

static void alloc_buffers(pp_trainer *t) {
    const pp_model_config *c = &t->m->cfg;
    int B = t->cfg.batch;
    t->F = c->frames, t->H = c->height, t->W = c->width;
    t->C = c->dit.out_dim, t->Cc = c->dit.in_dim - c->dit.out_dim;
    t->L = c->dit.text_len, t->D = c->dit.text_dim;
    t->vox = (size_t)t->F * t->H * t->W;
    size_t n = (size_t)B * t->C * t->vox;
    t->G = pp_zalloc_floats(t->m->table.total);
    t->video = pp_alloc_floats(n), t->eps = pp_alloc_floats(n), t->target = pp_alloc_floats(n);
    t->pred = pp_alloc_floats(n), t->dpred = pp_alloc_floats(n);
    t->s = pp_alloc_floats((size_t)B), t->t = pp_alloc_floats((size_t)B);
    t->cond = pp_zalloc_floats((size_t)B * (t->Cc ? t->Cc : 1) * t->vox);
    t->xin = pp_alloc_floats((size_t)B * (t->C + t->Cc) * t->vox);
    t->ctx = pp_alloc_floats((size_t)B * t->L * t->D);
    t->acts = pp_dit_acts_new(&t->m->dit, B, t->F, t->H, t->W, 1);
}

static pp_trainer *trainer_alloc(pp_model *m, const pp_train_config *cfg, pp_data_source data) {
    if (cfg->batch < 1) {
        pp_seterr("batch size must be positive");
        return NULL;
    }
    pp_trainer *t = pp_calloc(1, sizeof *t);
    t->m = m, t->cfg = *cfg, t->data = data;
    alloc_buffers(t);
    if (!t->acts) {
        pp_trainer_free(t);
        return NULL;
    }
    return t;
}

pp_trainer *pp_trainer_new(pp_model *m, const pp_train_config *cfg, pp_data_source data) {
    pp_trainer *t = trainer_alloc(m, cfg, data);
    if (!t) return NULL;
    pp_rng_seed(&t->rng, cfg->seed);
    pp_dit_init_weights(&m->dit, m->params, &t->rng);
    pp_adamw_init(&t->opt, &cfg->opt, m->table.total, m->params);
    return t;
}

void pp_trainer_free(pp_trainer *t) {
    if (!t) return;
    float *bufs[] = {t->G, t->video, t->eps, t->s, t->t, t->cond, t->ctx, t->xin, t->target, t->pred, t->dpred};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    pp_dit_acts_free(t->acts);
    pp_adamw_free(&t->opt);
    free(t);
}

/* ---- one step */

static int make_batch(pp_trainer *t) {
    int B = t->cfg.batch;
    if (t->data.next(t->data.self, &t->rng, B, t->F, t->H, t->W, t->video, t->ctx, t->L, t->D)) return -1;
    size_t nctx = (size_t)t->L * t->D, hw = (size_t)t->H * t->W;
    for (int b = 0; b < B; b++) {
        t->s[b] = pp_flow_draw_s(&t->rng, t->cfg.s_dist, t->cfg.s_shift);
        t->t[b] = 1000.0f * t->s[b];
        if (pp_rng_uniform(&t->rng) < t->cfg.p_drop_text) memset(t->ctx + b * nctx, 0, nctx * sizeof(float));
        if (t->Cc) { /* first-frame conditioning: k clean frames + mask, or none */
            int k = 0;
            if (pp_rng_uniform(&t->rng) < t->cfg.p_first_frames)
                k = 1 + (int)pp_rng_below(&t->rng, (uint32_t)(t->cfg.max_cond_frames > 0 ? t->cfg.max_cond_frames : 1));
            pp_flow_make_cond(t->cond + (size_t)b * t->Cc * t->vox, t->video + (size_t)b * t->C * t->vox, 1,
                              t->C, t->F, hw, k);
        }
    }
    pp_rng_fill_normal(&t->rng, t->eps, (size_t)B * t->C * t->vox, 1.0f);
    pp_flow_make_batch(t->xin, t->target, t->video, t->eps, t->s, t->cond, B, t->C, t->Cc, t->vox);
    return 0;
}

float pp_trainer_step(pp_trainer *t) {
    if (make_batch(t)) return NAN;
    pp_model *m = t->m;
    size_t n = (size_t)t->cfg.batch * t->C * t->vox;
    pp_dit_forward(&m->dit, m->params, t->acts, t->xin, t->t, t->ctx, t->pred);
    float loss = pp_mse_forward(t->pred, t->target, n);
    pp_mse_backward(t->dpred, t->pred, t->target, n, 1.0f);
    memset(t->G, 0, m->table.total * sizeof(float));
    pp_dit_backward(&m->dit, m->params, t->G, t->acts, t->dpred, NULL);
    t->step++;
    if (!isfinite(loss) || pp_adamw_step(&t->opt, &m->table, m->params, t->G, &t->last_norm)) {
        if (!isfinite(loss)) t->opt.skipped++; /* else pp_adamw_step counted it */
        fprintf(stderr, "\nprophy: warning: step %ld: non-finite %s, step skipped (%ld so far)\n", t->step,
                isfinite(loss) ? "gradient" : "loss", t->opt.skipped);
        return NAN;
    }
    return loss;
}

/* ---- checkpoints */

/* The "prophy.train" metadata: counters, RNG words (hex: exact), settings; `extra`
 * (consumed, may be NULL) is merged in. */
char *pp_train_state_json(const pp_rng *r, long step, const pp_adamw *o, const pp_train_config *c, cJSON *extra) {
    cJSON *j = extra ? extra : cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "step", (double)step);
    cJSON_AddNumberToObject(j, "opt_step", (double)o->step);
    cJSON_AddNumberToObject(j, "skipped", (double)o->skipped);
    char buf[32];
    cJSON *rw = cJSON_AddArrayToObject(j, "rng");
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "%016" PRIx64, r->s[i]);
        cJSON_AddItemToArray(rw, cJSON_CreateString(buf));
    }
    uint32_t spare;
    memcpy(&spare, &r->spare, 4);
    snprintf(buf, sizeof buf, "%d:%08" PRIx32, r->has_spare, spare);
    cJSON_AddStringToObject(j, "rng_spare", buf);
    cJSON_AddNumberToObject(j, "batch", c->batch);
    cJSON_AddNumberToObject(j, "lr", c->opt.lr);
    cJSON_AddNumberToObject(j, "ema", c->opt.ema_decay);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

int pp_train_add_optim(pp_st_writer *w, const pp_adamw *o) {
    int64_t n = (int64_t)o->n;
    int rc = pp_st_add_f32(w, "optim.m", PP_F32, 1, &n, o->m);
    if (!rc) rc = pp_st_add_f32(w, "optim.v", PP_F32, 1, &n, o->v);
    if (!rc && o->ema) rc = pp_st_add_f32(w, "optim.ema", PP_F32, 1, &n, o->ema);
    return rc;
}

int pp_train_load_optim(const pp_st_file *f, pp_adamw *o, const float *params) {
    int64_t n = (int64_t)o->n;
    int rc = pp_st_load_f32(f, "optim.m", o->m, 1, &n);
    if (!rc) rc = pp_st_load_f32(f, "optim.v", o->v, 1, &n);
    if (!rc && o->ema) {
        if (pp_st_find(f, "optim.ema")) rc = pp_st_load_f32(f, "optim.ema", o->ema, 1, &n);
        else memcpy(o->ema, params, o->n * sizeof(float));
    }
    return rc;
}

int pp_trainer_save_checkpoint(pp_trainer *t, const char *path) {
    pp_st_writer *w = pp_st_writer_new();
    int rc = pp_model_add_to_writer(t->m, w, NULL, PP_F32);
    if (!rc) rc = pp_train_add_optim(w, &t->opt);
    char *state = pp_train_state_json(&t->rng, t->step, &t->opt, &t->cfg, NULL);
    if (!rc) rc = pp_st_set_meta(w, "prophy.train", state);
    free(state);
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

/* n hex digits exactly (what pp_train_state_json writes), into *out. */
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

/* A counter of the state: an integer in [0, 2^53). */
static int state_count(const cJSON *j, const char *key, const char *path, int required, long *out) {
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

int pp_train_state_parse(const char *json, const char *path, pp_rng *r, long *step, pp_adamw *o) {
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        PP_FAIL("%s: not a training checkpoint (metadata 'prophy.train' missing or malformed)", path);
    }
    long st, os, sk;
    int rc = state_count(j, "step", path, 1, &st) || state_count(j, "opt_step", path, 1, &os) ||
             state_count(j, "skipped", path, 0, &sk) ? -1 : 0;
    if (!rc && (os > st || sk > st))
        rc = -1, pp_seterr("%s: prophy.train: 'opt_step' %ld and 'skipped' %ld cannot exceed 'step' %ld", path, os, sk, st);
    cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng"), *sp = cJSON_GetObjectItemCaseSensitive(j, "rng_spare");
    uint64_t words[4] = {0}, spare = 0;
    if (!rc && (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4))
        rc = -1, pp_seterr("%s: prophy.train: 'rng': not 4 words", path);
    for (int i = 0; !rc && i < 4; i++) {
        cJSON *w = cJSON_GetArrayItem(rng, i);
        if (!cJSON_IsString(w) || hex_exact(w->valuestring, 16, &words[i]))
            rc = -1, pp_seterr("%s: prophy.train: 'rng[%d]': not 16 hex digits", path, i);
    }
    if (!rc && !(words[0] | words[1] | words[2] | words[3]))
        rc = -1, pp_seterr("%s: prophy.train: 'rng': all four words are zero (not a generator state)", path);
    if (!rc && (!cJSON_IsString(sp) || (sp->valuestring[0] != '0' && sp->valuestring[0] != '1') ||
                sp->valuestring[1] != ':' || hex_exact(sp->valuestring + 2, 8, &spare)))
        rc = -1, pp_seterr("%s: prophy.train: 'rng_spare': not 0:XXXXXXXX or 1:XXXXXXXX", path);
    float fspare = 0;
    uint32_t bits = (uint32_t)spare;
    memcpy(&fspare, &bits, 4);
    if (!rc && !isfinite(fspare)) rc = -1, pp_seterr("%s: prophy.train: 'rng_spare': the spare normal is not finite", path);
    if (!rc) {
        memcpy(r->s, words, sizeof words);
        r->has_spare = sp->valuestring[0] == '1';
        r->spare = fspare;
        *step = st;
        o->step = os;
        o->skipped = sk;
    }
    cJSON_Delete(j);
    return rc;
}

pp_trainer *pp_trainer_resume(pp_model *m, const char *ckpt, const pp_train_config *cfg, pp_data_source data) {
    if (pp_model_load(m, ckpt)) return NULL;
    pp_st_file f;
    if (pp_st_open(&f, ckpt)) {
        pp_model_free(m);
        return NULL;
    }
    pp_trainer *t = trainer_alloc(m, cfg, data);
    int rc = t ? 0 : -1;
    if (!rc) pp_adamw_init(&t->opt, &cfg->opt, m->table.total, m->params);
    if (!rc) rc = pp_train_load_optim(&f, &t->opt, m->params);
    if (!rc) rc = pp_train_state_parse(pp_st_meta(&f, "prophy.train"), ckpt, &t->rng, &t->step, &t->opt);
    pp_st_close(&f);
    if (rc) { /* the caller gets nothing to free */
        pp_trainer_free(t);
        pp_model_free(m);
        return NULL;
    }
    return t;
}

long pp_trainer_steps_done(const pp_trainer *t) { return t->step; }

const float *pp_trainer_final_weights(const pp_trainer *t) { return t->opt.ema ? t->opt.ema : t->m->params; }

/* ---- the loop */

static void progress(const pp_trainer *t, float loss, double sps, double eta) {
    fprintf(stderr, "\rstep %ld/%ld  loss %.4f  |g| %.3f  lr %.2e  %.1f samples/s  ETA %.0fs   ", t->step,
            t->cfg.steps, loss, t->last_norm, pp_adamw_lr(&t->opt), sps, eta);
}

int pp_trainer_run(pp_trainer *t) {
    FILE *log = NULL;
    if (t->cfg.log_path) {
        log = fopen(t->cfg.log_path, t->step ? "a" : "w");
        if (!log) PP_FAIL("%s: cannot open the log for writing", t->cfg.log_path);
        if (!t->step) fprintf(log, "step,loss,grad_norm,lr,samples_per_s\n");
    }
    double t0 = pp_now(), tlast = t0;
    long s0 = t->step;
    int rc = 0;
    float ema_loss = NAN;
    while (t->step < t->cfg.steps) {
        float lr = pp_adamw_lr(&t->opt), loss = pp_trainer_step(t);
        double now = pp_now(), sps = t->cfg.batch / fmax(now - tlast, 1e-9);
        tlast = now;
        if (isfinite(loss)) ema_loss = isfinite(ema_loss) ? 0.95f * ema_loss + 0.05f * loss : loss;
        double rate = (t->step - s0) / fmax(now - t0, 1e-9), eta = (t->cfg.steps - t->step) / fmax(rate, 1e-9);
        if (!t->cfg.quiet) progress(t, ema_loss, sps, eta);
        if (log) {
            fprintf(log, "%ld,%.6f,%.6f,%.6g,%.3f\n", t->step, loss, t->last_norm, lr, sps);
            fflush(log);
        }
        int timeout = t->cfg.time_limit > 0 && now - t0 > t->cfg.time_limit;
        if (t->cfg.ckpt_path && ((t->cfg.ckpt_every > 0 && t->step % t->cfg.ckpt_every == 0) || timeout ||
                                 t->step == t->cfg.steps))
            if ((rc = pp_trainer_save_checkpoint(t, t->cfg.ckpt_path))) break;
        if (timeout) break;
    }
    if (!t->cfg.quiet) fprintf(stderr, "\n");
    if (log) fclose(log);
    return rc;
}
