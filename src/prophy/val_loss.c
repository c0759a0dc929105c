/* val_loss.c - see val_loss.h */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "prophy/train.h"
#include "prophy/val_loss.h"
#include "text/tokenizer.h"
#include "wan/flow.h"

pp_val_loss_cfg pp_val_loss_defaults(void) {
    return (pp_val_loss_cfg){.levels = {0.05f, 0.1f, 0.2f, 0.3f, 0.5f, 0.7f, 0.9f}, .n_levels = 7, .count = 64,
                             .batch = 8};
}

/* One batch's buffers: x0, eps, input, target and prediction [B, ...], t [B], ids [B,L]. */
typedef struct {
    int B, C, Cc, L;
    size_t vox;
    float *x0, *eps, *xin, *target, *pred, *cond, *s, *t;
    int *ids;
} val_batch;

static void batch_alloc(val_batch *v, const pp_prophy *m, int B) {
    const pp_model_config *b = &m->cfg.base;
    v->B = B, v->C = b->dit.out_dim, v->Cc = b->dit.in_dim - b->dit.out_dim, v->L = m->cfg.text.ctx;
    v->vox = (size_t)b->frames * b->height * b->width;
    size_t n = (size_t)B * v->C * v->vox;
    v->x0 = pp_alloc_floats(n), v->eps = pp_alloc_floats(n), v->target = pp_alloc_floats(n);
    v->pred = pp_alloc_floats(n);
    v->xin = pp_alloc_floats((size_t)B * (v->C + v->Cc) * v->vox);
    v->cond = pp_zalloc_floats((size_t)B * (v->Cc ? v->Cc : 1) * v->vox); /* no given frames, no masks */
    v->s = pp_alloc_floats((size_t)B), v->t = pp_alloc_floats((size_t)B);
    v->ids = pp_malloc((size_t)B * v->L * sizeof(int));
}

static void batch_free(val_batch *v) {
    free(v->x0), free(v->eps), free(v->xin), free(v->target), free(v->pred), free(v->cond);
    free(v->s), free(v->t), free(v->ids);
}

/* Row b <- sample idx: its x0, prompt ids and noise. */
static int batch_load(val_batch *v, const pp_prophy *m, pp_phys_source *src, int64_t idx, int b, uint64_t seed) {
    pp_phys_example ex;
    if (pp_phys_source_get(src, idx, &ex)) return -1;
    size_t n = (size_t)v->C * v->vox;
    memcpy(v->x0 + b * n, m->cfg.base.latent ? ex.z : ex.video, n * sizeof(float));
    pp_tok_report rep;
    if (pp_tok_encode(&m->vocab, ex.prompt, v->L, v->ids + (size_t)b * v->L, &rep)) return -1;
    pp_rng r;
    pp_rng_seed(&r, seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(idx + 1)));
    pp_rng_fill_normal(&r, v->eps + b * n, n, 1.0f);
    return 0;
}

/* Adds the first nb rows' MSE at level s to *acc. */
static int batch_level(val_batch *v, const pp_prophy *m, const float *P, pp_prophy_acts *a, int nb, float s,
                       double *acc) {
    for (int b = 0; b < v->B; b++) v->s[b] = s, v->t[b] = 1000.0f * s;
    pp_flow_make_batch(v->xin, v->target, v->x0, v->eps, v->s, v->Cc ? v->cond : NULL, v->B, v->C, v->Cc, v->vox);
    if (pp_prophy_forward(m, P, a, v->xin, v->t, v->ids, v->pred)) return -1;
    size_t n = (size_t)v->C * v->vox;
    for (int b = 0; b < nb; b++) {
        double e = 0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)v->pred[b * n + i] - v->target[b * n + i];
            e += d * d;
        }
        *acc += e / (double)n;
    }
    return 0;
}

static int check_cfg(const pp_val_loss_cfg *c) {
    if (c->n_levels < 1 || c->n_levels > PP_VAL_MAX_LEVELS)
        PP_FAIL("val loss: %d noise levels (1 to %d)", c->n_levels, PP_VAL_MAX_LEVELS);
    for (int k = 0; k < c->n_levels; k++)
        if (!(c->levels[k] > 0.0f && c->levels[k] < 1.0f))
            PP_FAIL("val loss: noise level %g is not inside (0, 1)", (double)c->levels[k]);
    if (c->count < 1 || c->batch < 1) PP_FAIL("val loss: count %d and batch %d must be >= 1", c->count, c->batch);
    return 0;
}

int pp_prophy_val_loss(const pp_prophy *m, const float *P, pp_phys_source *src, const pp_val_loss_cfg *c,
                       double *loss, int *used) {
    if (check_cfg(c) || pp_prophy_check_source(m, src)) return -1;
    int64_t have = pp_phys_source_count(src);
    int n = have < c->count ? (int)have : c->count, B = n < c->batch ? n : c->batch;
    const pp_model_config *b = &m->cfg.base;
    pp_prophy_acts *a = pp_prophy_acts_new(m, B, b->frames, b->height, b->width, 0);
    val_batch v;
    batch_alloc(&v, m, B);
    memset(loss, 0, (size_t)c->n_levels * sizeof *loss);
    int rc = 0;
    for (int i0 = 0; i0 < n && !rc; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        for (int r = 0; r < B && !rc; r++) /* a short last batch repeats its last sample */
            rc = batch_load(&v, m, src, i0 + (r < nb ? r : nb - 1), r, c->seed);
        for (int k = 0; k < c->n_levels && !rc; k++) rc = batch_level(&v, m, P, a, nb, c->levels[k], &loss[k]);
    }
    for (int k = 0; k < c->n_levels; k++) loss[k] /= n;
    if (used) *used = n;
    batch_free(&v);
    pp_prophy_acts_free(a);
    return rc;
}
