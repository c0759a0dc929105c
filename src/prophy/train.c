/* prophy_train.c - see prophy_train.h */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "prophy/latents.h"
#include "prophy/train.h"

struct pp_prophy_trainer {
    pp_prophy *m;
    pp_prophy_train_config cfg;
    pp_phys_source *src;
    pp_train_state st;             /* AdamW, RNG, counters */
    int B, F, H, W, C, Cc, L, N;
    size_t vox;
    pp_prophy_acts *acts;
    int *ids;                          /* [B,L] */
    float *G, *video, *eps, *s, *t, *cond, *xin, *target;
    float *labels, *maps, *bg, *Qr;    /* [B,17], [B,17,F,H,W], [B,F,H,W], [B,N,17] (maps, bg: pixel models) */
    int latent;                        /* the model diffuses latents; F,H,W are the latent grid */
    float *zc3;                        /* latent models: [B, C, 2, H, W] the first 3 frames' latents */
    float *wvox;                       /* [B,F,H,W] diffusion-loss weights (cfg.fg_weight > 0), or NULL */
};

pp_prophy_train_config pp_prophy_train_defaults(void) {
    return (pp_prophy_train_config){.base = pp_train_defaults(), .s_dist = PP_S_LOGIT_NORMAL, .s_shift = 1.0f,
                                    .p_drop_text = 0.1f, .p_first_frames = 0.5f, .max_cond_frames = 3};
}

static void alloc_buffers(pp_prophy_trainer *t) {
    const pp_prophy_config *c = &t->m->cfg;
    int B = t->cfg.base.batch;
    t->F = c->base.frames, t->H = c->base.height, t->W = c->base.width, t->latent = c->base.latent;
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
    if (t->latent) t->zc3 = pp_alloc_floats((size_t)B * t->C * 2 * t->H * t->W);
    else t->maps = pp_alloc_floats((size_t)B * PP_NCAT * t->vox), t->bg = pp_alloc_floats((size_t)B * t->vox);
    t->Qr = pp_alloc_floats((size_t)B * t->N * PP_NCAT);
    if (t->cfg.fg_weight > 0) t->wvox = pp_alloc_floats((size_t)B * t->vox);
    t->ids = pp_malloc((size_t)B * t->L * sizeof(int));
    t->acts = pp_prophy_acts_new(t->m, B, t->F, t->H, t->W, 1);
}

/* The data must be what the model diffuses: pixels of its size, or latents of its
 * grid made with its VAE. */
int pp_prophy_check_source(const pp_prophy *m, const pp_phys_source *src) {
    const pp_model_config *b = &m->cfg.base;
    int C, t, h, w, F, H, W;
    uint64_t sum;
    pp_phys_source_size(src, &F, &H, &W);
    int latent = pp_phys_source_latent(src, &C, &t, &h, &w, &sum);
    if (latent != b->latent)
        PP_FAIL("the data holds %s, the model diffuses %s", latent ? "latents" : "pixels", b->latent ? "latents" : "pixels");
    if (latent && (C != b->dit.out_dim || t != b->frames || h != b->height || w != b->width))
        PP_FAIL("the data's latents are [%d,%d,%d,%d], the model's [%d,%d,%d,%d]", C, t, h, w, b->dit.out_dim, b->frames,
                b->height, b->width);
    if (latent && sum != b->vae_checksum)
        PP_FAIL("the data's latents come from another VAE than the model's (checksum %016llx, the model's %016llx; "
                "files from before 2026-12-02 name the same VAE by another hash: tools/restamp_vae_checksum.py)",
                (unsigned long long)sum, (unsigned long long)b->vae_checksum);
    if (!latent && (F != b->frames || H != b->height || W != b->width))
        PP_FAIL("the data's videos are %d frames of %dx%d, the model's are %d frames of %dx%d", F, W, H, b->frames,
                b->width, b->height);
    const int *p = b->dit.patch;
    if (b->frames % p[0] || b->height % p[1] || b->width % p[2])
        PP_FAIL("the grid %dx%dx%d is not divisible by the model's patch %d,%d,%d", b->frames, b->height, b->width,
                p[0], p[1], p[2]);
    return 0;
}

static pp_prophy_trainer *trainer_alloc(pp_prophy *m, const pp_prophy_train_config *c, pp_phys_source *src) {
    if (c->base.batch < 1) {
        pp_seterr("batch size must be positive");
        return NULL;
    }
    if (pp_prophy_check_source(m, src)) return NULL;
    int F = m->cfg.base.frames, H = m->cfg.base.height, W = m->cfg.base.width;
    /* gradients, both AdamW moments and the EMA; the batch's buffers; the activations */
    size_t B = (size_t)c->base.batch, vox = (size_t)F * H * W, P = m->table.total;
    size_t need = pp_mul_size(P, (3 + (c->base.opt.ema_decay > 0)) * sizeof(float));
    need += pp_mul_size(B * vox, (4 * 3 + m->cfg.base.dit.in_dim + PP_NCAT + 2) * sizeof(float));
    size_t acts = pp_prophy_acts_bytes_for(m, c->base.batch, F, H, W, 1);
    char what[128];
    snprintf(what, sizeof what, "training with batch %d of %d frames of %dx%d", c->base.batch, F, W, H);
    if (pp_mem_check(acts == SIZE_MAX ? SIZE_MAX : need + acts, what)) return NULL;
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
    pp_train_state_init(&t->st, &c->base, m->table.total, m->params);
    return t;
}

void pp_prophy_trainer_free(pp_prophy_trainer *t) {
    if (!t) return;
    float *bufs[] = {t->G, t->video, t->eps, t->s, t->t, t->cond, t->xin, t->target, t->labels, t->maps, t->bg, t->Qr,
                     t->zc3, t->wvox};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(t->ids);
    pp_prophy_acts_free(t->acts);
    pp_train_state_free(&t->st);
    free(t);
}

/* ---- one step */

/* w [vox] = 1 + k f: f the fraction of each voxel the phenomenon maps cover. A
 * latent pixel's target is ql = mean(m_c - bg) = 2 frac - 1 for its strongest
 * category c (bg = 1 - max_c m_c); a pixel's is 1 - bg. */
static void fg_weights(float *w, const pp_phys_example *ex, int latent, size_t vox, float k) {
    for (size_t v = 0; v < vox; v++) {
        float f;
        if (latent) {
            const float *q = ex->ql + v * PP_NCAT;
            float mx = q[0];
            for (int c = 1; c < PP_NCAT; c++) mx = q[c] > mx ? q[c] : mx;
            f = 0.5f * (mx + 1.0f);
        } else {
            f = 1.0f - ex->bg[v];
        }
        w[v] = 1.0f + k * (f < 0 ? 0 : f > 1 ? 1 : f);
    }
}

/* Example b of the batch: video (or latent), ids (text dropout), labels, maps (or
 * a latent model's token targets and first-frame latents). */
static int load_example(pp_prophy_trainer *t, int b) {
    pp_phys_example ex;
    if (pp_phys_source_draw(t->src, &t->st.rng, &ex)) return -1;
    size_t n = (size_t)t->C * t->vox;
    memcpy(t->labels + b * PP_NCAT, ex.cats, PP_NCAT * sizeof(float));
    if (t->latent) {
        const int *p = t->m->cfg.base.dit.patch;
        size_t nzc = (size_t)t->C * 2 * t->H * t->W;
        memcpy(t->video + b * n, ex.z, n * sizeof(float));
        memcpy(t->zc3 + b * nzc, ex.zc3, nzc * sizeof(float));
        pp_latent_token_targets(t->Qr + (size_t)b * t->N * PP_NCAT, ex.ql, t->F, t->H, t->W, p[0], p[1], p[2]);
    } else {
        memcpy(t->video + b * n, ex.video, n * sizeof(float));
        memcpy(t->maps + (size_t)b * PP_NCAT * t->vox, ex.maps, PP_NCAT * t->vox * sizeof(float));
        memcpy(t->bg + (size_t)b * t->vox, ex.bg, t->vox * sizeof(float));
    }
    if (t->wvox) fg_weights(t->wvox + (size_t)b * t->vox, &ex, t->latent, t->vox, t->cfg.fg_weight);
    int *ids = t->ids + (size_t)b * t->L;
    if (pp_rng_uniform(&t->st.rng) < t->cfg.p_drop_text) {
        pp_prophy_empty_ids(ids, t->L);
    } else {
        pp_tok_report rep;
        if (pp_tok_encode(&t->m->vocab, ex.prompt, t->L, ids, &rep)) return -1;
    }
    return 0;
}

static int make_batch(pp_prophy_trainer *t) {
    const pp_prophy_train_config *c = &t->cfg;
    size_t hw = (size_t)t->H * t->W;
    for (int b = 0; b < t->B; b++) {
        if (load_example(t, b)) return -1;
        t->s[b] = pp_flow_draw_s(&t->st.rng, c->s_dist, c->s_shift);
        t->t[b] = 1000.0f * t->s[b];
        if (t->Cc && t->latent) { /* latent frames: 1 or 3 given pixel frames + masks, or none */
            int k = 0;
            if (pp_rng_uniform(&t->st.rng) < c->p_first_frames) k = pp_rng_below(&t->st.rng, 2) ? 3 : 1;
            const float *zk = k == 3 ? t->zc3 + (size_t)b * t->C * 2 * hw : t->video + (size_t)b * t->C * t->vox;
            pp_latent_make_cond(t->cond + (size_t)b * t->Cc * t->vox, zk, k == 3 ? 2 : t->F, k, t->C, t->F, t->H, t->W);
        } else if (t->Cc) { /* first-frame conditioning: k clean frames + mask, or none */
            int k = 0;
            if (pp_rng_uniform(&t->st.rng) < c->p_first_frames)
                k = 1 + (int)pp_rng_below(&t->st.rng, (uint32_t)(c->max_cond_frames > 0 ? c->max_cond_frames : 1));
            if (k >= t->F) k = t->F - 1;
            pp_flow_make_cond(t->cond + (size_t)b * t->Cc * t->vox, t->video + (size_t)b * t->C * t->vox, 1, t->C,
                              t->F, hw, k);
        }
    }
    const int *p = t->m->cfg.base.dit.patch;
    if (!t->latent) pp_prophy_token_targets(t->Qr, t->maps, t->bg, t->B, t->F, t->H, t->W, p[0], p[1], p[2]);
    pp_rng_fill_normal(&t->st.rng, t->eps, (size_t)t->B * t->C * t->vox, 1.0f);
    pp_flow_make_batch(t->xin, t->target, t->video, t->eps, t->s, t->cond, t->B, t->C, t->Cc, t->vox);
    return 0;
}

int pp_prophy_trainer_step(pp_prophy_trainer *t, pp_prophy_losses *L) {
    if (make_batch(t)) return -1;
    pp_prophy *m = t->m;
    pp_prophy_batch b = {.x = t->xin, .t = t->t, .ids = t->ids, .target = t->target, .labels = t->labels,
                         .Qr = t->Qr, .wvox = t->wvox};
    memset(t->G, 0, m->table.total * sizeof(float));
    if (pp_prophy_step(m, m->params, t->G, t->acts, &b, NULL, L)) return -1;
    if (pp_train_apply(&t->st, &m->table, m->params, t->G, L->total)) L->total = NAN;
    return 0;
}

/* ---- checkpoints */

int pp_prophy_trainer_save_checkpoint(pp_prophy_trainer *t, const char *path) {
    pp_st_writer *w = pp_st_writer_new();
    int rc = pp_prophy_add_to_writer(t->m, w, NULL, PP_F32);
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddBoolToObject(extra, "freeze_backbone", t->cfg.freeze_backbone);
    cJSON_AddBoolToObject(extra, "freeze_text", t->cfg.freeze_text);
    cJSON_AddNumberToObject(extra, "fg_weight", t->cfg.fg_weight);
    if (!rc) rc = pp_train_write_state(&t->st, w, extra);
    else cJSON_Delete(extra);
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
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
    cJSON *meta = pp_train_state_meta(&f);
    pp_prophy_trainer *t = NULL;
    if (meta) { /* the frozen set and the loss's weighting come from the checkpoint */
        cc.freeze_backbone = cJSON_IsTrue(cJSON_GetObjectItem(meta, "freeze_backbone"));
        cc.freeze_text = cJSON_IsTrue(cJSON_GetObjectItem(meta, "freeze_text"));
        const cJSON *fg = cJSON_GetObjectItem(meta, "fg_weight"); /* absent before --fg-weight existed */
        int bad_fg = fg && !(cJSON_IsNumber(fg) && fg->valuedouble >= 0 && fg->valuedouble <= 1000);
        if (fg && !bad_fg) cc.fg_weight = (float)fg->valuedouble;
        cJSON_Delete(meta);
        if (bad_fg) pp_seterr("%s: its fg_weight is not a number in [0, 1000] (a damaged checkpoint)", ckpt);
        else t = trainer_alloc(m, &cc, src);
    }
    int rc = t ? 0 : -1;
    if (!rc) {
        apply_freeze(t);
        pp_train_state_init(&t->st, &cc.base, m->table.total, m->params);
        rc = pp_train_read_state(&t->st, &f);
    }
    pp_st_close(&f);
    if (rc) {
        pp_prophy_trainer_free(t);
        pp_prophy_free(m);
        return NULL;
    }
    return t;
}

long pp_prophy_trainer_steps_done(const pp_prophy_trainer *t) { return t->st.step; }

const float *pp_prophy_trainer_final_weights(const pp_prophy_trainer *t) {
    return pp_train_final_weights(&t->st, t->m->params);
}

/* ---- the loop (train.h) */

enum { T_LOSS, T_DIFF, T_COARSE, T_FINE, T_BALANCE, NTERMS };

static int step_hook(void *self, pp_train_terms *terms) {
    pp_prophy_trainer *t = self;
    pp_prophy_losses L;
    if (pp_prophy_trainer_step(t, &L)) return -1;
    terms->value[T_LOSS] = L.total, terms->value[T_DIFF] = L.diff, terms->value[T_COARSE] = L.coarse;
    terms->value[T_FINE] = L.fine_align, terms->value[T_BALANCE] = L.balance;
    return 0;
}

static int save_hook(void *self, const char *path) { return pp_prophy_trainer_save_checkpoint(self, path); }

int pp_prophy_trainer_run(pp_prophy_trainer *t) {
    const pp_prophy_config *c = &t->m->cfg;
    unsigned shown = 1u << T_DIFF;
    if (pp_prophy_n_pb(c) && pp_prophy_has_seb(c)) shown |= 1u << T_COARSE;
    if (pp_prophy_n_pb(c) && pp_prophy_has_reb(c)) shown |= 1u << T_FINE | 1u << T_BALANCE;
    pp_train_hooks h = {.self = t, .state = &t->st, .step = step_hook, .save = save_hook,
                        .terms = {.n = NTERMS, .name = {"loss", "diff", "coarse", "fine_align", "balance"},
                                  .shown = shown}};
    return pp_train_run(&h);
}
