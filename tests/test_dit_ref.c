/* test_dit_ref.c - the C backbone against the PyTorch reference of the same model
 * (tools/wan_dit.py; fixture written by tools/make_dit_fixture.py in float64).
 * Relative L2 error per tensor must be <= 1e-4 (fp32 against fp64). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "wan/dit.h"
#include "wan/flow.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "io/safetensors.h"
#include "test.h"

#define REL_TOL 1e-4

typedef struct {
    pp_st_file f;
    pp_dit_config c;
    pp_params t;
    pp_dit m;
    int B, F, H, W;
    float *P, *G;
} ref;

static int json_int(const cJSON *o, const char *k) { return cJSON_GetObjectItem(o, k)->valueint; }

static int ref_open(ref *r) {
    memset(r, 0, sizeof *r);
    char path[512];
    snprintf(path, sizeof path, "%s/dit_ref.safetensors", pp_fixture_dir());
    if (pp_st_open(&r->f, path)) return -1;
    cJSON *j = cJSON_Parse(pp_st_meta(&r->f, "config"));
    if (!j) return -1;
    pp_dit_config c = {.dim = json_int(j, "dim"), .ffn_dim = json_int(j, "ffn_dim"), .heads = json_int(j, "heads"),
                       .layers = json_int(j, "layers"), .in_dim = json_int(j, "in_dim"),
                       .out_dim = json_int(j, "out_dim"), .text_dim = json_int(j, "text_dim"),
                       .text_len = json_int(j, "text_len"), .freq_dim = json_int(j, "freq_dim"),
                       .eps = (float)cJSON_GetObjectItem(j, "eps")->valuedouble, .rope_theta = 10000.0f};
    cJSON *pa = cJSON_GetObjectItem(j, "patch");
    for (int i = 0; i < 3; i++) c.patch[i] = cJSON_GetArrayItem(pa, i)->valueint;
    r->B = json_int(j, "batch"), r->F = json_int(j, "frames"), r->H = json_int(j, "height"), r->W = json_int(j, "width");
    cJSON_Delete(j);
    r->c = c;
    if (pp_dit_init(&r->m, &c, &r->t)) return -1;
    r->P = pp_zalloc_floats(r->t.total);
    r->G = pp_zalloc_floats(r->t.total);
    for (int i = 0; i < r->t.n; i++) {
        const pp_param *p = &r->t.p[i];
        if (pp_st_load_f32(&r->f, p->name, r->P + p->offset, p->ndim, p->shape)) return -1;
    }
    return 0;
}

static void ref_close(ref *r) {
    pp_free_aligned(r->P), pp_free_aligned(r->G);
    pp_dit_free(&r->m);
    pp_params_free(&r->t);
    pp_st_close(&r->f);
}

/* Loads a fixture tensor (any shape) into a fresh buffer. */
static float *load(ref *r, const char *name) {
    const pp_st_tensor *t = pp_st_find(&r->f, name);
    if (!t) {
        pp_test_fail(__FILE__, __LINE__, "fixture lacks %s", name);
        return pp_zalloc_floats(1 << 16);
    }
    float *d = pp_alloc_floats(t->numel);
    pp_st_to_f32(&r->f, t, d);
    return d;
}

/* One flow-matching step: forward, MSE, backward into r->G (zeroed). Returns the loss. */
typedef struct { float *x0, *noise, *s, *cond, *ctx, *xin, *target, *pred, *dpred; size_t n; } batch;

static void batch_load(ref *r, batch *b) {
    b->x0 = load(r, "input.x0"), b->noise = load(r, "input.noise"), b->s = load(r, "input.s");
    b->cond = load(r, "input.cond"), b->ctx = load(r, "input.context");
    size_t vox = (size_t)r->F * r->H * r->W;
    b->n = (size_t)r->B * r->c.out_dim * vox;
    b->xin = pp_alloc_floats((size_t)r->B * r->c.in_dim * vox);
    b->target = pp_alloc_floats(b->n), b->pred = pp_alloc_floats(b->n), b->dpred = pp_alloc_floats(b->n);
    pp_flow_make_batch(b->xin, b->target, b->x0, b->noise, b->s, b->cond, r->B, r->c.out_dim,
                       r->c.in_dim - r->c.out_dim, vox);
}

static void batch_free(batch *b) {
    float *bufs[] = {b->x0, b->noise, b->s, b->cond, b->ctx, b->xin, b->target, b->pred, b->dpred};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
}

static float train_step(ref *r, batch *b, pp_dit_acts *a) {
    float t[64];
    for (int i = 0; i < r->B; i++) t[i] = 1000.0f * b->s[i];
    pp_dit_forward(&r->m, r->P, a, b->xin, t, b->ctx, b->pred);
    float loss = pp_mse_forward(b->pred, b->target, b->n);
    pp_mse_backward(b->dpred, b->pred, b->target, b->n, 1.0f);
    memset(r->G, 0, r->t.total * sizeof(float));
    pp_dit_backward(&r->m, r->P, r->G, a, b->dpred, NULL);
    return loss;
}

static void check_rel(const char *what, const float *got, const float *want, size_t n, double tol) {
    double e = pp_rel_err(got, want, n);
    CHECK_MSG(e <= tol, "%s: relative error %.3g > %.3g", what, e, tol);
}

TEST(dit_matches_pytorch_forward_loss_grads) {
    ref r;
    if (ref_open(&r)) {
        CHECK_MSG(0, "cannot open fixture: %s", pp_lasterr());
        return;
    }
    batch b;
    batch_load(&r, &b);
    pp_dit_acts *a = pp_dit_acts_new(&r.m, r.B, r.F, r.H, r.W, 1);
    float loss = train_step(&r, &b, a);
    float *want = load(&r, "output.pred"), *wl = load(&r, "output.loss");
    check_rel("output.pred", b.pred, want, b.n, REL_TOL);
    CHECK_NEAR(loss, wl[0], 1e-4 * fabs(wl[0]));
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < r.t.n; i++) {
        const pp_param *p = &r.t.p[i];
        char name[PP_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", p->name);
        float *g = load(&r, name);
        double e = pp_rel_err(r.G + p->offset, g, p->numel);
        if (e > worst) worst = e, worst_name = p->name;
        check_rel(name, r.G + p->offset, g, p->numel, REL_TOL);
        pp_free_aligned(g);
    }
    printf("    worst gradient relative error %.2e (%s)\n", worst, worst_name);
    pp_free_aligned(want), pp_free_aligned(wl);
    pp_dit_acts_free(a);
    batch_free(&b);
    ref_close(&r);
}

TEST(dit_matches_pytorch_adamw_steps) {
    ref r;
    if (ref_open(&r)) {
        CHECK_MSG(0, "cannot open fixture: %s", pp_lasterr());
        return;
    }
    cJSON *j = cJSON_Parse(pp_st_meta(&r.f, "adamw.config"));
    CHECK(j != NULL);
    if (!j) return;
    pp_adamw_config oc = pp_adamw_defaults();
    oc.lr = (float)cJSON_GetObjectItem(j, "lr")->valuedouble;
    oc.beta1 = (float)cJSON_GetArrayItem(cJSON_GetObjectItem(j, "betas"), 0)->valuedouble;
    oc.beta2 = (float)cJSON_GetArrayItem(cJSON_GetObjectItem(j, "betas"), 1)->valuedouble;
    oc.eps = (float)cJSON_GetObjectItem(j, "eps")->valuedouble;
    oc.weight_decay = (float)cJSON_GetObjectItem(j, "weight_decay")->valuedouble;
    oc.clip_norm = (float)cJSON_GetObjectItem(j, "max_norm")->valuedouble;
    cJSON_Delete(j);
    batch b;
    batch_load(&r, &b);
    pp_dit_acts *a = pp_dit_acts_new(&r.m, r.B, r.F, r.H, r.W, 1);
    pp_adamw opt;
    pp_adamw_init(&opt, &oc, r.t.total, r.P);
    float *losses = load(&r, "adamw.losses"), *norms = load(&r, "adamw.grad_norms");
    for (int k = 0; k < 5; k++) {
        float loss = train_step(&r, &b, a);
        double norm;
        CHECK(pp_adamw_step(&opt, &r.t, r.P, r.G, &norm) == 0);
        CHECK_NEAR(loss, losses[k], 1e-4 * fabs(losses[k]));
        CHECK_NEAR(norm, norms[k], 1e-4 * fabs(norms[k]));
    }
    for (int i = 0; i < r.t.n; i++) {
        const pp_param *p = &r.t.p[i];
        char name[PP_NAME_MAX + 8];
        snprintf(name, sizeof name, "final.%s", p->name);
        float *w = load(&r, name);
        check_rel(name, r.P + p->offset, w, p->numel, REL_TOL);
        pp_free_aligned(w);
    }
    pp_free_aligned(losses), pp_free_aligned(norms);
    pp_adamw_free(&opt);
    pp_dit_acts_free(a);
    batch_free(&b);
    ref_close(&r);
}

TEST(dit_matches_pytorch_cfg_sampler) {
    ref r;
    if (ref_open(&r)) {
        CHECK_MSG(0, "cannot open fixture: %s", pp_lasterr());
        return;
    }
    cJSON *j = cJSON_Parse(pp_st_meta(&r.f, "sample.config"));
    CHECK(j != NULL);
    if (!j) return;
    pp_sample_config sc = {.steps = cJSON_GetObjectItem(j, "steps")->valueint,
                           .shift = (float)cJSON_GetObjectItem(j, "shift")->valuedouble,
                           .cfg = (float)cJSON_GetObjectItem(j, "cfg")->valuedouble};
    cJSON_Delete(j);
    float *x = load(&r, "sample.noise"), *want = load(&r, "sample.out");
    float *cond = load(&r, "input.cond"), *ctx = load(&r, "input.context");
    pp_dit_runner run = {.m = &r.m, .params = r.P, .F = r.F, .H = r.H, .W = r.W};
    size_t vox = (size_t)r.F * r.H * r.W, row = (size_t)r.c.text_len * r.c.text_dim;
    /* the reference's unconditional pass is the all-zero context */
    float *zero = pp_zalloc_floats(row);
    const void *rows[8], *zeros[8];
    for (int b = 0; b < r.B && b < 8; b++) rows[b] = ctx + b * row, zeros[b] = zero;
    CHECK(r.B <= 8);
    CHECK(pp_flow_sample(pp_dit_velocity, &run, &sc, x, cond, rows, zeros, r.B, r.c.out_dim,
                         r.c.in_dim - r.c.out_dim, vox) == 0);
    check_rel("sample.out", x, want, (size_t)r.B * r.c.out_dim * vox, REL_TOL);
    pp_dit_runner_free(&run);
    float *bufs[] = {x, want, cond, ctx, zero};
    for (int i = 0; i < 5; i++) pp_free_aligned(bufs[i]);
    ref_close(&r);
}
