/* vae_train.c - see vae_train.h */
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/ops.h"
#include "prophy/vae_train.h"

/* A step's B crops go to S = min(B, PP_VAE_SLOTS) slots (crop b to slot b mod S),
 * each with its own gradient buffer, run side by side on the threads (each crop's
 * pass single-threaded inside); the slots' gradients are summed in slot order. The
 * bytes do not depend on the thread count. With B = 1 the one crop's pass uses
 * every thread instead: small crops keep 2 threads busier this way. */
#define PP_VAE_SLOTS 4

struct pp_vae_trainer {
    pp_vae_model *v;
    pp_vae_train_config cfg;
    pp_phys_source *src;
    pp_train_state st;
    int F, H, W;       /* the source's video size */
    int S;             /* gradient slots */
    size_t ncrop, neps;
    float *G[PP_VAE_SLOTS]; /* [total] each; G[0] receives the sum */
    float *crop, *eps;      /* [B][3, crop frames, crop h, crop w], [B][z, t, h, w] */
};

pp_vae_train_config pp_vae_train_defaults(void) {
    pp_vae_train_config c = {.base = pp_train_defaults(),
                             .loss = {.w_l1 = 1.0f, .w_mse = 1.0f, .w_edge = 0.5f, .w_kl = 1e-6f, .sample = 1},
                             .crop = {9, 64, 64}, .min_std = 0.05f, .color_aug = 0};
    c.base.batch = 1;
    c.base.opt.weight_decay = 0.0f;
    c.base.opt.warmup = 100;
    return c;
}

static pp_vae_trainer *trainer_alloc(pp_vae_model *v, const pp_vae_train_config *c, pp_phys_source *src) {
    int F, H, W;
    pp_phys_source_size(src, &F, &H, &W);
    const int *k = c->crop;
    if (c->base.batch < 1) {
        pp_seterr("batch size must be positive");
        return NULL;
    }
    if (pp_vae_check_video(&v->m, k[0], k[1], k[2])) return NULL;
    if (k[0] > F || k[1] > H || k[2] > W) {
        pp_seterr("the crop %dx%dx%d is larger than the videos (%d frames of %dx%d)", k[0], k[2], k[1], F, W, H);
        return NULL;
    }
    int B = c->base.batch, S = B < PP_VAE_SLOTS ? B : PP_VAE_SLOTS;
    if (pp_mem_check(pp_mul_size(v->table.total, (size_t)(3 + S) * sizeof(float)), "the VAE's gradients and AdamW moments"))
        return NULL;
    pp_vae_trainer *t = pp_calloc(1, sizeof *t);
    t->v = v, t->cfg = *c, t->src = src, t->F = F, t->H = H, t->W = W, t->S = S;
    t->ncrop = (size_t)3 * k[0] * k[1] * k[2];
    t->neps = (size_t)v->m.cfg.z_dim * pp_vae_latent_frames(&v->m, k[0]) * (k[1] / v->m.sdown) * (k[2] / v->m.sdown);
    for (int i = 0; i < S; i++) t->G[i] = pp_zalloc_floats(v->table.total);
    t->crop = pp_alloc_floats(t->ncrop * B);
    t->eps = pp_alloc_floats(t->neps * B);
    return t;
}

/* decoder_only: the encoder side leaves the optimiser and the step's backward */
static void apply_freeze(pp_vae_trainer *t) {
    pp_params *tab = &t->v->table;
    for (int i = 0; i < tab->n; i++) tab->p[i].frozen = t->cfg.decoder_only && pp_vae_encoder_side(tab->p[i].name);
    t->cfg.loss.frozen_encoder = t->cfg.decoder_only;
}

pp_vae_trainer *pp_vae_trainer_new(pp_vae_model *v, const pp_vae_train_config *c, pp_phys_source *src) {
    pp_vae_trainer *t = trainer_alloc(v, c, src);
    if (t) apply_freeze(t), pp_train_state_init(&t->st, &c->base, v->table.total, v->params);
    return t;
}

void pp_vae_trainer_free(pp_vae_trainer *t) {
    if (!t) return;
    pp_train_state_free(&t->st);
    for (int i = 0; i < t->S; i++) pp_free_aligned(t->G[i]);
    pp_free_aligned(t->crop), pp_free_aligned(t->eps);
    free(t);
}

/* ---- one step */

/* crop [3,kt,kh,kw] of video [3,F,H,W] at (t0, y0, x0), mirrored when flip, output
 * channel c from input channel perm[c] times sign[c]; returns the crop's pixel
 * standard deviation */
static double cut(const pp_vae_trainer *t, float *crop, const float *video, int t0, int y0, int x0, int flip,
                  const int *perm, const float *sign) {
    const int *k = t->cfg.crop;
    double s = 0, s2 = 0;
    size_t n = 0;
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < k[0]; f++)
            for (int y = 0; y < k[1]; y++) {
                const float *row = video + (((size_t)perm[c] * t->F + t0 + f) * t->H + y0 + y) * t->W + x0;
                for (int x = 0; x < k[2]; x++, n++) {
                    float a = sign[c] * row[flip ? k[2] - 1 - x : x];
                    crop[n] = a, s += a, s2 += (double)a * a;
                }
            }
    double m = s / (double)n;
    return sqrt(fmax(s2 / (double)n - m * m, 0.0));
}

/* crop b of the step: one with something in it (or the 8th try), then its noise */
static int next_crop(pp_vae_trainer *t, int b) {
    const int *k = t->cfg.crop;
    pp_phys_example ex;
    if (pp_phys_source_draw(t->src, &t->st.rng, &ex)) return -1;
    for (int tries = 0; tries < 8; tries++) {
        int t0 = (int)pp_rng_below(&t->st.rng, (uint32_t)(t->F - k[0] + 1));
        int y0 = (int)pp_rng_below(&t->st.rng, (uint32_t)(t->H - k[1] + 1));
        int x0 = (int)pp_rng_below(&t->st.rng, (uint32_t)(t->W - k[2] + 1));
        int flip = pp_rng_uniform(&t->st.rng) < 0.5f, perm[3] = {0, 1, 2};
        float sign[3] = {1, 1, 1};
        if (t->cfg.color_aug) {
            uint32_t r = pp_rng_below(&t->st.rng, 48); /* 6 orders x 8 sign patterns */
            static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
            for (int c = 0; c < 3; c++) perm[c] = orders[r % 6][c], sign[c] = (r / 6) >> c & 1 ? -1.0f : 1.0f;
        }
        if (cut(t, t->crop + t->ncrop * b, ex.video, t0, y0, x0, flip, perm, sign) >= t->cfg.min_std) break;
    }
    if (t->cfg.loss.sample) pp_rng_fill_normal(&t->st.rng, t->eps + t->neps * b, t->neps, 1.0f);
    return 0;
}

/* the crops of slot s, in order, into G[s]; losses into one[b] */
static int run_slot(pp_vae_trainer *t, int s, pp_vae_losses *one) {
    const int *k = t->cfg.crop;
    memset(t->G[s], 0, t->v->table.total * sizeof(float));
    for (int b = s; b < t->cfg.base.batch; b += t->S)
        if (pp_vae_train_step(&t->v->m, t->v->params, t->G[s], t->crop + t->ncrop * b, k[0], k[1], k[2],
                              &t->cfg.loss, t->eps + t->neps * b, NULL, &one[b], NULL, NULL))
            return -1;
    return 0;
}

int pp_vae_trainer_step(pp_vae_trainer *t, pp_vae_losses *L) {
    pp_vae_model *v = t->v;
    int B = t->cfg.base.batch, S = t->S, bad = 0;
    for (int b = 0; b < B; b++) /* every draw in order, from the trainer's RNG */
        if (next_crop(t, b)) return -1;
    pp_vae_losses *one = pp_calloc((size_t)B, sizeof *one);
    if (S == 1) bad = run_slot(t, 0, one);
    else {
        char err[512] = "";
#pragma omp parallel for schedule(static) reduction(| : bad)
        for (int s = 0; s < S; s++) {
            omp_set_num_threads(1); /* this slot's pass runs as on one thread */
            if (run_slot(t, s, one)) {
                bad = 1;
#pragma omp critical
                if (!err[0]) snprintf(err, sizeof err, "%s", pp_lasterr());
            }
        }
        if (bad) pp_seterr("%s", err);
        for (int s = 1; s < S && !bad; s++) pp_add_inplace(t->G[0], t->G[s], v->table.total);
    }
    memset(L, 0, sizeof *L);
    for (int b = 0; b < B; b++)
        L->loss += one[b].loss / B, L->l1 += one[b].l1 / B, L->mse += one[b].mse / B, L->edge += one[b].edge / B,
            L->kl += one[b].kl / B;
    free(one);
    if (bad) return -1;
    if (B > 1) pp_scale_inplace(t->G[0], 1.0f / (float)B, v->table.total);
    if (pp_train_apply(&t->st, &v->table, v->params, t->G[0], L->loss)) L->loss = NAN;
    return 0;
}

/* ---- checkpoints: the VAE file (weights, config) plus the trainer state */

int pp_vae_trainer_save_checkpoint(pp_vae_trainer *t, const char *path) {
    pp_st_writer *w = pp_st_writer_new();
    int rc = pp_vae_add_to_writer(&t->v->m, &t->v->table, t->v->params, w, PP_F32);
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddBoolToObject(extra, "decoder_only", t->cfg.decoder_only);
    if (!rc) rc = pp_train_write_state(&t->st, w, extra);
    else cJSON_Delete(extra);
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

pp_vae_trainer *pp_vae_trainer_resume(pp_vae_model *v, const char *ckpt, const pp_vae_train_config *c,
                                      pp_phys_source *src) {
    if (pp_vae_model_open(v, ckpt)) return NULL;
    pp_st_file f;
    pp_vae_trainer *t = NULL;
    if (pp_st_open(&f, ckpt) == 0) {
        pp_vae_train_config cc = *c;
        cJSON *meta = pp_train_state_meta(&f);
        if (meta) { /* a decoder fine-tune stays one (absent before decoder_only existed) */
            cc.decoder_only = cJSON_IsTrue(cJSON_GetObjectItem(meta, "decoder_only"));
            cJSON_Delete(meta);
        }
        t = meta ? trainer_alloc(v, &cc, src) : NULL;
        if (t) apply_freeze(t), pp_train_state_init(&t->st, &cc.base, v->table.total, v->params);
        if (t && pp_train_read_state(&t->st, &f)) pp_vae_trainer_free(t), t = NULL;
        pp_st_close(&f);
    }
    if (!t) pp_vae_model_free(v);
    return t;
}

long pp_vae_trainer_steps_done(const pp_vae_trainer *t) { return t->st.step; }

int pp_vae_trainer_decoder_only(const pp_vae_trainer *t) { return t->cfg.decoder_only; }

const float *pp_vae_trainer_final_weights(const pp_vae_trainer *t) {
    return pp_train_final_weights(&t->st, t->v->params);
}

/* ---- the loop */

enum { T_LOSS, T_L1, T_MSE, T_EDGE, T_KL, NTERMS };

static int step_hook(void *self, pp_train_terms *terms) {
    pp_vae_losses L;
    if (pp_vae_trainer_step(self, &L)) return -1;
    terms->value[T_LOSS] = L.loss, terms->value[T_L1] = L.l1, terms->value[T_MSE] = L.mse;
    terms->value[T_EDGE] = L.edge, terms->value[T_KL] = L.kl;
    return 0;
}

static int save_hook(void *self, const char *path) { return pp_vae_trainer_save_checkpoint(self, path); }

int pp_vae_trainer_run(pp_vae_trainer *t) {
    pp_train_hooks h = {.self = t, .state = &t->st, .step = step_hook, .save = save_hook,
                        .terms = {.n = NTERMS, .name = {"loss", "l1", "mse", "edge", "kl"},
                                  .shown = 1u << T_L1 | 1u << T_MSE | 1u << T_KL}};
    return pp_train_run(&h);
}

/* ---- latent statistics */

int pp_vae_set_latent_stats(pp_vae_model *v, const float *params, pp_phys_source *src, int n) {
    int F, H, W;
    pp_phys_source_size(src, &F, &H, &W);
    pp_vae *m = &v->m;
    if (pp_vae_check_video(m, F, H, W)) return -1;
    int Z = m->cfg.z_dim, t = pp_vae_latent_frames(m, F), h = H / m->sdown, w = W / m->sdown;
    size_t per = (size_t)t * h * w;
    float *z = pp_alloc_floats((size_t)Z * per);
    double sum[PP_VAE_MAX_Z] = {0}, sq[PP_VAE_MAX_Z] = {0};
    pp_vae_config raw = m->cfg; /* encode with mean 0, std 1: z = mu */
    for (int c = 0; c < Z; c++) m->cfg.latent_mean[c] = 0.0f, m->cfg.latent_std[c] = 1.0f;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        pp_phys_example ex;
        rc = pp_phys_source_get(src, i, &ex) || pp_vae_encode(m, params, ex.video, F, H, W, z, NULL);
        for (int c = 0; c < Z && !rc; c++)
            for (size_t k = 0; k < per; k++) {
                double x = z[(size_t)c * per + k];
                sum[c] += x, sq[c] += x * x;
            }
    }
    m->cfg = raw;
    if (!rc) {
        double cnt = (double)n * (double)per;
        for (int c = 0; c < Z; c++) {
            double mean = sum[c] / cnt, var = sq[c] / cnt - mean * mean;
            m->cfg.latent_mean[c] = (float)mean;
            m->cfg.latent_std[c] = (float)sqrt(fmax(var, 1e-8));
        }
    }
    pp_free_aligned(z);
    return rc;
}
