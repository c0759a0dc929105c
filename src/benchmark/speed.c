/* speed.c - see speed.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "benchmark/speed.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "prophy/model.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double pp_speed_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------------ the backbone alone */

typedef struct {
    pp_dit m;
    pp_params t;
    pp_dit_acts *tr, *inf;
    float *P, *G, *x, *tt, *ctx, *out, *target, *dout;
    size_t nout;
} dit_rig;

static void dit_rig_free(dit_rig *b) {
    pp_dit_acts_free(b->tr), pp_dit_acts_free(b->inf);
    float *bufs[] = {b->P, b->G, b->x, b->tt, b->ctx, b->out, b->target, b->dout};
    for (int i = 0; i < 8; i++) pp_free_aligned(bufs[i]);
    pp_dit_free(&b->m);
    pp_params_free(&b->t);
}

static int dit_rig_make(dit_rig *b, const pp_speed_args *a) {
    memset(b, 0, sizeof *b);
    if (pp_dit_init(&b->m, &a->c, &b->t)) return -1;
    b->tr = pp_dit_acts_new(&b->m, a->batch, a->frames, a->size, a->size, 1);
    b->inf = b->tr ? pp_dit_acts_new(&b->m, a->batch, a->frames, a->size, a->size, 0) : NULL;
    if (!b->inf) return dit_rig_free(b), -1;
    pp_rng r;
    pp_rng_seed(&r, 1);
    b->P = pp_alloc_floats(b->t.total), b->G = pp_alloc_floats(b->t.total);
    pp_dit_init_weights(&b->m, b->P, &r);
    pp_rng_fill_normal(&r, b->P + b->m.head.w, (size_t)b->m.head.in * b->m.head.out, 0.02f);
    size_t vox = (size_t)a->frames * a->size * a->size;
    size_t nx = (size_t)a->batch * a->c.in_dim * vox, nctx = (size_t)a->batch * a->c.text_len * a->c.text_dim;
    b->nout = (size_t)a->batch * a->c.out_dim * vox;
    b->x = pp_alloc_floats(nx), b->ctx = pp_alloc_floats(nctx), b->tt = pp_alloc_floats((size_t)a->batch);
    b->out = pp_alloc_floats(b->nout), b->target = pp_alloc_floats(b->nout), b->dout = pp_alloc_floats(b->nout);
    pp_rng_fill_normal(&r, b->x, nx, 1.0f);
    pp_rng_fill_normal(&r, b->ctx, nctx, 1.0f);
    pp_rng_fill_normal(&r, b->target, b->nout, 1.0f);
    for (int i = 0; i < a->batch; i++) b->tt[i] = 1000.0f * pp_rng_uniform(&r);
    return 0;
}

static double dit_train_step(dit_rig *b, pp_adamw *opt) {
    double t0 = pp_now();
    pp_dit_forward(&b->m, b->P, b->tr, b->x, b->tt, b->ctx, b->out);
    pp_mse_forward(b->out, b->target, b->nout);
    pp_mse_backward(b->dout, b->out, b->target, b->nout, 1.0f);
    memset(b->G, 0, b->t.total * sizeof(float));
    pp_dit_backward(&b->m, b->P, b->G, b->tr, b->dout, NULL);
    pp_adamw_step(opt, &b->t, b->P, b->G, NULL);
    return pp_now() - t0;
}

static int speed_backbone(const pp_speed_args *a, pp_speed_result *res) {
    dit_rig b;
    if (dit_rig_make(&b, a)) return -1;
    pp_adamw_config oc = pp_adamw_defaults();
    pp_adamw opt;
    pp_adamw_init(&opt, &oc, b.t.total, b.P);
    double tt[16], tf[16];
    for (int i = 0; i < a->warmup + a->iters; i++) {
        double s = dit_train_step(&b, &opt);
        if (i >= a->warmup) tt[i - a->warmup] = s;
    }
    for (int i = 0; i < a->warmup + a->iters; i++) {
        double t0 = pp_now();
        pp_dit_forward(&b.m, b.P, b.inf, b.x, b.tt, b.ctx, b.out);
        if (i >= a->warmup) tf[i - a->warmup] = pp_now() - t0;
    }
    *res = (pp_speed_result){.train_s = pp_speed_median(tt, a->iters), .forward_s = pp_speed_median(tf, a->iters),
                             .flops_forward = pp_dit_flops(&a->c, a->frames, a->size, a->size), .params = b.t.total};
    pp_adamw_free(&opt);
    dit_rig_free(&b);
    return 0;
}

/* ------------------------------------------------------------------ the whole ProPhy model */

typedef struct {
    pp_vocab voc;
    pp_prophy m;
    float *G, *x, *t, *target, *labels, *Qr, *out;
    int *ids;
    pp_prophy_batch b;
} bench_rig;

/* Forward FLOPs per sample: the backbone, M more blocks, the injections and the
 * REB (the text encoder and the SEB are negligible here). Nothing is frozen, in
 * either implementation: the whole model's train step. */
static double branch_flops(const pp_prophy_config *c) {
    const pp_dit_config *d = &c->base.dit;
    double f = pp_dit_flops(d, c->base.frames, c->base.height, c->base.width);
    double N = (double)(c->base.frames / d->patch[0]) * (c->base.height / d->patch[1]) *
               (c->base.width / d->patch[2]), dim = d->dim;
    int M = pp_prophy_n_pb(c), reb = pp_prophy_has_reb(c);
    pp_dit_config d1 = *d, d0 = *d;
    d1.layers = 1, d0.layers = 0;
    double per_block = pp_dit_flops(&d1, c->base.frames, c->base.height, c->base.width) -
                       pp_dit_flops(&d0, c->base.frames, c->base.height, c->base.width);
    f += M * per_block + 2 * N * dim * dim * (M + reb);
    if (reb) f += 2 * N * dim * c->branch.E_r + 2 * N * c->branch.top_k * dim * dim;
    return f;
}

static int rig_make(bench_rig *r, const pp_speed_args *a) {
    memset(r, 0, sizeof *r);
    const char *words[] = {"a red ball is thrown to the right and falls bounces rolls"};
    if (pp_vocab_build(&r->voc, words, 1)) return -1;
    pp_model_config base = {.dit = a->c, .frames = a->frames, .height = a->size, .width = a->size,
                            .fps = 10, .cond = a->c.in_dim != a->c.out_dim};
    pp_prophy_config c;
    pp_prophy_config_default(&c, &base, r->voc.n);
    if (pp_branch_mode_parse(a->branch, &c.mode) || pp_prophy_create(&r->m, &c, &r->voc)) return -1;
    pp_rng rng;
    pp_rng_seed(&rng, 1);
    pp_prophy_init_weights(&r->m, r->m.params, &rng);
    if (a->stage2) pp_prophy_freeze_backbone(&r->m, 1, 1);
    const pp_param *p = pp_params_find(&r->m.table, "head.head.weight");
    pp_rng_fill_normal(&rng, r->m.params + p->offset, p->numel, 0.02f);
    int B = a->batch, L = a->c.text_len, N = (a->frames / a->c.patch[0]) * (a->size / a->c.patch[1]) *
                                            (a->size / a->c.patch[2]);
    size_t vox = (size_t)a->frames * a->size * a->size, nout = (size_t)B * a->c.out_dim * vox;
    size_t nx = (size_t)B * r->m.cfg.base.dit.in_dim * vox, nq = (size_t)B * N * PP_NCAT;
    r->G = pp_zalloc_floats(r->m.table.total);
    r->x = pp_alloc_floats(nx), r->target = pp_alloc_floats(nout), r->out = pp_alloc_floats(nout), r->t = pp_alloc_floats((size_t)B);
    r->labels = pp_zalloc_floats((size_t)B * PP_NCAT), r->Qr = pp_alloc_floats(nq);
    r->ids = pp_calloc((size_t)B * L, sizeof(int));
    pp_rng_fill_normal(&rng, r->x, nx, 1.0f);
    pp_rng_fill_normal(&rng, r->target, nout, 1.0f);
    pp_rng_fill_normal(&rng, r->Qr, nq, 0.5f);
    for (int b = 0; b < B; b++) {
        r->t[b] = 1000.0f * pp_rng_uniform(&rng);
        r->labels[b * PP_NCAT + b % PP_NCAT] = 1.0f;
        pp_tok_encode(&r->voc, "a red ball is thrown to the right and falls", L, r->ids + (size_t)b * L, NULL);
    }
    r->b = (pp_prophy_batch){.x = r->x, .t = r->t, .ids = r->ids, .target = r->target, .labels = r->labels, .Qr = r->Qr};
    return 0;
}

static void rig_free(bench_rig *r) {
    float *bufs[] = {r->G, r->x, r->t, r->target, r->labels, r->Qr, r->out};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(r->ids);
    pp_prophy_free(&r->m);
    pp_vocab_free(&r->voc);
}

static double time_train(bench_rig *r, pp_prophy_acts *a, pp_adamw *opt) {
    double t0 = pp_now();
    pp_prophy_losses L;
    memset(r->G, 0, r->m.table.total * sizeof(float));
    pp_prophy_step(&r->m, r->m.params, r->G, a, &r->b, NULL, &L);
    pp_adamw_step(opt, &r->m.table, r->m.params, r->G, NULL);
    return pp_now() - t0;
}

static int speed_branch(const pp_speed_args *a, pp_speed_result *res) {
    bench_rig r;
    if (rig_make(&r, a)) return rig_free(&r), -1;
    pp_prophy_acts *tr = pp_prophy_acts_new(&r.m, a->batch, a->frames, a->size, a->size, 1);
    pp_prophy_acts *inf = tr ? pp_prophy_acts_new(&r.m, a->batch, a->frames, a->size, a->size, 0) : NULL;
    if (!inf) return pp_prophy_acts_free(tr), rig_free(&r), -1;
    pp_adamw_config oc = pp_adamw_defaults();
    pp_adamw opt;
    pp_adamw_init(&opt, &oc, r.m.table.total, r.m.params);
    double tt[16], tf[16];
    for (int i = 0; i < a->warmup + a->iters; i++) {
        double s = time_train(&r, tr, &opt);
        if (i >= a->warmup) tt[i - a->warmup] = s;
    }
    for (int i = 0; i < a->warmup + a->iters; i++) {
        double t0 = pp_now();
        pp_prophy_forward(&r.m, r.m.params, inf, r.x, r.t, r.ids, r.out);
        if (i >= a->warmup) tf[i - a->warmup] = pp_now() - t0;
    }
    *res = (pp_speed_result){.train_s = pp_speed_median(tt, a->iters), .forward_s = pp_speed_median(tf, a->iters),
                             .flops_forward = branch_flops(&r.m.cfg), .params = r.m.table.total,
                             .M = pp_prophy_n_pb(&r.m.cfg), .branch = pp_branch_mode_name(r.m.cfg.mode)};
    pp_adamw_free(&opt);
    pp_prophy_acts_free(tr), pp_prophy_acts_free(inf);
    rig_free(&r);
    return 0;
}

int pp_speed_run(const pp_speed_args *a, pp_speed_result *r) {
    if (a->iters < 1 || a->iters > 16 || a->warmup < 0) PP_FAIL("bench: --iters must be in [1, 16]");
    return a->branch ? speed_branch(a, r) : speed_backbone(a, r);
}
