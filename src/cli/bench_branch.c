/* bench_branch.c - see bench_branch.h. The peer is bench/bench_torch.py --branch MODE
 * (the same sizes: text encoder 2 layers / 2 heads, M = 2, E_s = E_r = 8, top-2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli/bench_branch.h"
#include "optim.h"
#include "prophy_model.h"
#include "threads.h"

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
    if (reb) f += 2 * N * dim * c->ex.E_r + 2 * N * c->ex.top_k * dim * dim;
    return f;
}

static int rig_make(bench_rig *r, const pp_bench_branch_args *a) {
    memset(r, 0, sizeof *r);
    const char *words[] = {"a red ball is thrown to the right and falls bounces rolls"};
    if (pp_vocab_build(&r->voc, words, 1)) return -1;
    pp_model_config base = {.dit = a->c, .frames = a->frames, .height = a->size, .width = a->size,
                            .fps = 10, .cond = a->c.in_dim != a->c.out_dim};
    pp_prophy_config c;
    pp_prophy_config_default(&c, &base, r->voc.n);
    if (pp_branch_mode_parse(a->mode, &c.mode) || pp_prophy_create(&r->m, &c, &r->voc)) return -1;
    pp_rng rng;
    pp_rng_seed(&rng, 1);
    pp_prophy_init_weights(&r->m, r->m.params, &rng);
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
    r->b = (pp_prophy_batch){r->x, r->t, r->ids, r->target, r->labels, r->Qr};
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

int bench_branch(const pp_bench_branch_args *a, double (*median)(double *, int)) {
    bench_rig r;
    if (rig_make(&r, a)) return cli_lib_error();
    pp_prophy_acts *tr = pp_prophy_acts_new(&r.m, a->batch, a->frames, a->size, a->size, 1);
    pp_prophy_acts *inf = tr ? pp_prophy_acts_new(&r.m, a->batch, a->frames, a->size, a->size, 0) : NULL;
    if (!inf) return cli_lib_error();
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
    double train_s = median(tt, a->iters), fwd_s = median(tf, a->iters), fl = branch_flops(&r.m.cfg);
    const pp_dit_config *c = &r.m.cfg.base.dit;
    printf("{\"impl\":\"prophy\",\"branch\":\"%s\",\"threads\":%d,\"dim\":%d,\"layers\":%d,\"M\":%d,"
           "\"heads\":%d,\"ffn\":%d,\"frames\":%d,\"size\":%d,\"patch\":\"%d,%d,%d\",\"batch\":%d,"
           "\"params\":%zu,\"train_samples_per_s\":%.3f,\"forward_samples_per_s\":%.3f,"
           "\"gflops_train\":%.2f,\"gflops_forward\":%.2f,\"peak_rss_mb\":%.1f}\n",
           pp_branch_mode_name(r.m.cfg.mode), pp_get_threads(), c->dim, c->layers,
           pp_prophy_n_pb(&r.m.cfg), c->heads, c->ffn_dim, a->frames, a->size, c->patch[0], c->patch[1],
           c->patch[2], a->batch, r.m.table.total, a->batch / train_s, a->batch / fwd_s,
           3 * fl * a->batch / train_s / 1e9, fl * a->batch / fwd_s / 1e9, pp_peak_rss_mb());
    pp_adamw_free(&opt);
    pp_prophy_acts_free(tr), pp_prophy_acts_free(inf);
    rig_free(&r);
    return 0;
}
