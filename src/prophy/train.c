/* prophy_train.c - see prophy_train.h */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "prophy/train.h"

struct pp_prophy_trainer {
    pp_prophy *m;
    pp_prophy_train_config cfg;
    pp_phys_source *src;
    pp_adamw opt;
    pp_rng rng;
    long step;
    int B, F, H, W, C, Cc, L, N;
    size_t vox;
    pp_prophy_acts *acts;
    int *ids;                          /* [B,L] */
    float *G, *video, *eps, *s, *t, *cond, *xin, *target;
    float *labels, *maps, *bg, *Qr;    /* [B,17], [B,17,F,H,W], [B,F,H,W], [B,N,17] */
    double last_norm;
};

pp_prophy_train_config pp_prophy_train_defaults(void) {
    pp_prophy_train_config c = {.base = pp_train_defaults()};
    c.base.max_cond_frames = 3;
    return c;
}

static void alloc_buffers(pp_prophy_trainer *t) {
    const pp_prophy_config *c = &t->m->cfg;
    int B = t->cfg.base.batch;
    pp_phys_source_size(t->src, &t->F, &t->H, &t->W);
    t->B = B, t->C = c->base.dit.out_dim, t->Cc = c->base.dit.in_dim - c->base.dit.out_dim;
    t->L = c->text.ctx;
    t->vox = (size_t)t->F * t->H * t->W;
    const int *p = c->base.dit.patch;
    t->N = (t->F / p[0]) * (t->H / p[1]) * (t->W / p[2]);
    size_t n = (size_t)B * t->C * t->vox;
    t->G = pp_zalloc_floats(t->m->table.total);
    t->video = pp_alloc_floats(n), t->eps = pp_alloc_floats(n), t->target = pp_alloc_floats(n);
    t->s = pp_alloc_floats((size_t)B), t->t = pp_alloc_floats((size_t)B);
    t->cond = pp_zalloc_floats((size_t)B * (t->Cc ? t->Cc : 1) * t->vox);
    t->xin = pp_alloc_floats((size_t)B * (t->C + t->Cc) * t->vox);
    t->labels = pp_alloc_floats((size_t)B * PP_NCAT);
    t->maps = pp_alloc_floats((size_t)B * PP_NCAT * t->vox), t->bg = pp_alloc_floats((size_t)B * t->vox);
    t->Qr = pp_alloc_floats((size_t)B * t->N * PP_NCAT);
    t->ids = pp_malloc((size_t)B * t->L * sizeof(int));
    t->acts = pp_prophy_acts_new(t->m, B, t->F, t->H, t->W, 1);
}

static pp_prophy_trainer *trainer_alloc(pp_prophy *m, const pp_prophy_train_config *c, pp_phys_source *src) {
    if (c->base.batch < 1) {
        pp_seterr("batch size must be positive");
        return NULL;
    }
    int F, H, W;
    pp_phys_source_size(src, &F, &H, &W);
    const int *p = m->cfg.base.dit.patch;
    if (F % p[0] || H % p[1] || W % p[2]) {
        pp_seterr("training videos %dx%dx%d are not divisible by the model's patch %d,%d,%d", F, H, W, p[0], p[1],
                  p[2]);
        return NULL;
    }
    pp_prophy_trainer *t = pp_calloc(1, sizeof *t);
    t->m = m, t->cfg = *c, t->src = src;
    alloc_buffers(t);
    if (!t->acts) {
        pp_prophy_trainer_free(t);
        return NULL;
    }
    return t;
}

static void apply_freeze(pp_prophy_trainer *t) {
    pp_prophy_freeze_backbone(t->m, 0, 1); /* everything trainable, then: */
    if (t->cfg.freeze_text) {
        pp_prophy_freeze_backbone(t->m, 1, 1);
        if (!t->cfg.freeze_backbone) pp_prophy_freeze_backbone(t->m, 0, 0);
    } else if (t->cfg.freeze_backbone) {
        pp_prophy_freeze_backbone(t->m, 1, 0);
    }
}

pp_prophy_trainer *pp_prophy_trainer_new(pp_prophy *m, const pp_prophy_train_config *c, pp_phys_source *src) {
    pp_prophy_trainer *t = trainer_alloc(m, c, src);
    if (!t) return NULL;
    apply_freeze(t);
    pp_rng_seed(&t->rng, c->base.seed);
    pp_adamw_init(&t->opt, &c->base.opt, m->table.total, m->params);
    return t;
}

void pp_prophy_trainer_free(pp_prophy_trainer *t) {
    if (!t) return;
    float *bufs[] = {t->G, t->video, t->eps, t->s, t->t, t->cond, t->xin, t->target, t->labels, t->maps, t->bg, t->Qr};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(t->ids);
    pp_prophy_acts_free(t->acts);
    pp_adamw_free(&t->opt);
    free(t);
}

/* ---- one step */

/* Example b of the batch: video, ids (text dropout), labels, maps. */
static int load_example(pp_prophy_trainer *t, int b) {
    pp_phys_example ex;
    if (pp_phys_source_draw(t->src, &t->rng, &ex)) return -1;
    size_t n = (size_t)t->C * t->vox;
    memcpy(t->video + b * n, ex.video, n * sizeof(float));
    memcpy(t->labels + b * PP_NCAT, ex.cats, PP_NCAT * sizeof(float));
    memcpy(t->maps + (size_t)b * PP_NCAT * t->vox, ex.maps, PP_NCAT * t->vox * sizeof(float));
    memcpy(t->bg + (size_t)b * t->vox, ex.bg, t->vox * sizeof(float));
    int *ids = t->ids + (size_t)b * t->L;
    if (pp_rng_uniform(&t->rng) < t->cfg.base.p_drop_text) {
        pp_prophy_empty_ids(ids, t->L);
    } else {
        pp_tok_report rep;
        if (pp_tok_encode(&t->m->vocab, ex.prompt, t->L, ids, &rep)) return -1;
    }
    return 0;
}

static int make_batch(pp_prophy_trainer *t) {
    const pp_train_config *c = &t->cfg.base;
    size_t hw = (size_t)t->H * t->W;
    for (int b = 0; b < t->B; b++) {
        if (load_example(t, b)) return -1;
        t->s[b] = pp_flow_draw_s(&t->rng, c->s_dist, c->s_shift);
        t->t[b] = 1000.0f * t->s[b];
        if (t->Cc) { /* first-frame conditioning: k clean frames + mask, or none */
            int k = 0;
            if (pp_rng_uniform(&t->rng) < c->p_first_frames)
                k = 1 + (int)pp_rng_below(&t->rng, (uint32_t)(c->max_cond_frames > 0 ? c->max_cond_frames : 1));
            if (k >= t->F) k = t->F - 1;
            pp_flow_make_cond(t->cond + (size_t)b * t->Cc * t->vox, t->video + (size_t)b * t->C * t->vox, 1, t->C,
                              t->F, hw, k);
        }
    }
    const int *p = t->m->cfg.base.dit.patch;
    pp_prophy_token_targets(t->Qr, t->maps, t->bg, t->B, t->F, t->H, t->W, p[0], p[1], p[2]);
    pp_rng_fill_normal(&t->rng, t->eps, (size_t)t->B * t->C * t->vox, 1.0f);
    pp_flow_make_batch(t->xin, t->target, t->video, t->eps, t->s, t->cond, t->B, t->C, t->Cc, t->vox);
    return 0;
}

int pp_prophy_trainer_step(pp_prophy_trainer *t, pp_prophy_losses *L) {
    if (make_batch(t)) return -1;
    pp_prophy *m = t->m;
    pp_prophy_batch b = {.x = t->xin, .t = t->t, .ids = t->ids, .target = t->target, .labels = t->labels,
                         .Qr = t->Qr};
    memset(t->G, 0, m->table.total * sizeof(float));
    if (pp_prophy_step(m, m->params, t->G, t->acts, &b, NULL, L)) return -1;
    t->step++;
    if (!isfinite(L->total) || pp_adamw_step(&t->opt, &m->table, m->params, t->G, &t->last_norm)) {
        if (!isfinite(L->total)) t->opt.skipped++; /* else pp_adamw_step counted it */
        fprintf(stderr, "\nprophy: warning: step %ld: non-finite %s, step skipped (%ld so far)\n", t->step,
                isfinite(L->total) ? "gradient" : "loss", t->opt.skipped);
        L->total = NAN;
    }
    return 0;
}

/* ---- checkpoints */

int pp_prophy_trainer_save_checkpoint(pp_prophy_trainer *t, const char *path) {
    pp_st_writer *w = pp_st_writer_new();
    int rc = pp_prophy_add_to_writer(t->m, w, NULL, PP_F32);
    if (!rc) rc = pp_train_add_optim(w, &t->opt);
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddBoolToObject(extra, "freeze_backbone", t->cfg.freeze_backbone);
    cJSON_AddBoolToObject(extra, "freeze_text", t->cfg.freeze_text);
    char *state = pp_train_state_json(&t->rng, t->step, &t->opt, &t->cfg.base, extra);
    if (!rc) rc = pp_st_set_meta(w, "prophy.train", state);
    free(state);
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

static void read_freeze(pp_prophy_train_config *c, const char *json) {
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    c->freeze_backbone = cJSON_IsTrue(cJSON_GetObjectItem(j, "freeze_backbone"));
    c->freeze_text = cJSON_IsTrue(cJSON_GetObjectItem(j, "freeze_text"));
    cJSON_Delete(j);
}

pp_prophy_trainer *pp_prophy_trainer_resume(pp_prophy *m, const char *ckpt, const pp_prophy_train_config *c,
                                            pp_phys_source *src) {
    if (pp_prophy_load(m, ckpt)) return NULL;
    pp_st_file f;
    if (pp_st_open(&f, ckpt)) {
        pp_prophy_free(m);
        return NULL;
    }
    pp_prophy_train_config cc = *c;
    const char *state = pp_st_meta(&f, "prophy.train");
    read_freeze(&cc, state);
    pp_prophy_trainer *t = trainer_alloc(m, &cc, src);
    int rc = t ? 0 : -1;
    if (!rc) {
        apply_freeze(t);
        pp_adamw_init(&t->opt, &cc.base.opt, m->table.total, m->params);
        rc = pp_train_load_optim(&f, &t->opt, m->params);
    }
    if (!rc) rc = pp_train_state_parse(state, ckpt, &t->rng, &t->step, &t->opt);
    pp_st_close(&f);
    if (rc) {
        pp_prophy_trainer_free(t);
        pp_prophy_free(m);
        return NULL;
    }
    return t;
}

long pp_prophy_trainer_steps_done(const pp_prophy_trainer *t) { return t->step; }

const float *pp_prophy_trainer_final_weights(const pp_prophy_trainer *t) {
    return t->opt.ema ? t->opt.ema : t->m->params;
}

/* ---- the loop */

typedef struct {
    double diff, coarse, fine, bal; /* smoothed terms */
    int init;
} smooth_losses;

static void smooth(smooth_losses *s, const pp_prophy_losses *L) {
    if (!isfinite(L->total)) return;
    double a = s->init ? 0.95 : 0.0;
    s->diff = a * s->diff + (1 - a) * L->diff, s->coarse = a * s->coarse + (1 - a) * L->coarse;
    s->fine = a * s->fine + (1 - a) * L->fine_align, s->bal = a * s->bal + (1 - a) * L->balance;
    s->init = 1;
}

static const char *hms(double sec, char *buf, size_t cap) {
    long s = isfinite(sec) && sec > 0 ? (long)(sec + 0.5) : 0;
    if (s >= 3600) snprintf(buf, cap, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    return buf;
}

static void progress(const pp_prophy_trainer *t, const smooth_losses *s, double sps, double eta) {
    fprintf(stderr, "\rstep %ld/%ld  diff %.4f", t->step, t->cfg.base.steps, s->diff);
    if (t->m->cfg.mode != PP_BRANCH_NONE) {
        if (pp_prophy_has_seb(&t->m->cfg)) fprintf(stderr, "  coarse %.3f", s->coarse);
        if (pp_prophy_has_reb(&t->m->cfg)) fprintf(stderr, "  fine %.4f  bal %.3f", s->fine, s->bal);
    }
    char buf[32];
    fprintf(stderr, "  |g| %.3f  lr %.2e  %.1f samples/s  ETA %s   ", t->last_norm, pp_adamw_lr(&t->opt), sps,
            hms(eta, buf, sizeof buf));
}

static FILE *open_log(const pp_prophy_trainer *t) {
    const char *path = t->cfg.base.log_path;
    if (!path) return NULL;
    FILE *f = fopen(path, t->step ? "a" : "w");
    if (!f) {
        pp_seterr("%s: cannot open the log for writing", path);
        return NULL;
    }
    if (!t->step) fprintf(f, "step,loss,diff,coarse,fine_align,balance,grad_norm,lr,samples_per_s\n");
    return f;
}

static int checkpoint(pp_prophy_trainer *t) {
    const pp_train_config *c = &t->cfg.base;
    int rc = pp_prophy_trainer_save_checkpoint(t, c->ckpt_path);
    if (!rc && t->cfg.plot_path && c->log_path) rc = pp_plot_loss_csv(c->log_path, t->cfg.plot_path);
    return rc;
}

int pp_prophy_trainer_run(pp_prophy_trainer *t) {
    const pp_train_config *c = &t->cfg.base;
    FILE *log = open_log(t);
    if (c->log_path && !log) return -1;
    double t0 = pp_now(), tlast = t0;
    long s0 = t->step;
    int rc = 0;
    smooth_losses sm = {0};
    while (t->step < c->steps) {
        float lr = pp_adamw_lr(&t->opt);
        pp_prophy_losses L;
        if ((rc = pp_prophy_trainer_step(t, &L))) break;
        double now = pp_now(), sps = c->batch / fmax(now - tlast, 1e-9);
        tlast = now;
        smooth(&sm, &L);
        double rate = (t->step - s0) / fmax(now - t0, 1e-9), eta = (c->steps - t->step) / fmax(rate, 1e-9);
        if (!c->quiet) progress(t, &sm, sps, eta);
        if (log) {
            fprintf(log, "%ld,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f\n", t->step, L.total, L.diff, L.coarse,
                    L.fine_align, L.balance, t->last_norm, lr, sps);
            fflush(log);
        }
        int timeout = c->time_limit > 0 && now - t0 > c->time_limit;
        if (c->ckpt_path && ((c->ckpt_every > 0 && t->step % c->ckpt_every == 0) || timeout || t->step == c->steps))
            if ((rc = checkpoint(t))) break;
        if (timeout) break;
    }
    if (!c->quiet) fprintf(stderr, "\n");
    if (log) fclose(log);
    return rc;
}
