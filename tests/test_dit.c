/* test_dit.c - the backbone: key names, finite-difference gradients of the whole
 * model, inference == training forward, and the PyTorch reference fixture
 * (tests/fixtures/dit_ref.safetensors, written by tools/make_dit_fixture.py):
 * outputs, loss, every parameter gradient, 5 AdamW steps, and the CFG sampler. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "wan/dit.h"
#include "wan/flow.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "io/safetensors.h"
#include "test.h"

static pp_dit_config tiny_config(void) {
    pp_dit_config c = {.dim = 24, .ffn_dim = 40, .heads = 2, .layers = 2, .patch = {1, 2, 2},
                       .in_dim = 4, .out_dim = 3, .text_dim = 10, .text_len = 3, .freq_dim = 16,
                       .eps = 1e-6f, .rope_theta = 10000.0f};
    return c;
}

TEST(dit_wan_key_names_and_shapes) {
    pp_dit_config c = tiny_config();
    pp_params t = {0};
    pp_dit m;
    CHECK(pp_dit_init(&m, &c, &t) == 0);
    const pp_param *p = pp_params_find(&t, "patch_embedding.weight");
    CHECK(p && p->ndim == 5 && p->shape[0] == 24 && p->shape[1] == 4 && p->shape[2] == 1 &&
          p->shape[3] == 2 && p->shape[4] == 2);
    p = pp_params_find(&t, "blocks.1.modulation");
    CHECK(p && p->ndim == 3 && p->shape[0] == 1 && p->shape[1] == 6 && p->shape[2] == 24);
    p = pp_params_find(&t, "head.head.weight");
    CHECK(p && p->shape[0] == 1 * 2 * 2 * 3 && p->shape[1] == 24);
    const char *names[] = {"text_embedding.0.weight", "text_embedding.2.bias", "time_embedding.0.weight",
                           "time_projection.1.weight", "blocks.0.self_attn.norm_q.weight",
                           "blocks.0.cross_attn.norm_k.weight", "blocks.1.norm3.bias", "blocks.1.ffn.2.weight",
                           "head.modulation"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) CHECK_MSG(pp_params_find(&t, names[i]), "missing %s", names[i]);
    /* 7 top-level Linears/convs (14 tensors) + head.modulation; 27 tensors per block */
    CHECK(t.n == 14 + 1 + 2 * 27);
    pp_dit_config bad = c;
    bad.heads = 5;
    CHECK(pp_dit_init(&m, &bad, &t) != 0);
    pp_dit_free(&m);
    pp_params_free(&t);
}

/* Everything a small forward needs, with random weights (head not zero). */
typedef struct {
    pp_dit_config c;
    pp_params t;
    pp_dit m;
    float *P, *G, *x, *tt, *ctx, *dctx, *out, *r;
    int B, F, H, W;
    size_t nout, nx, nctx;
} rig;

static void rig_make_fe(rig *g, int B, int F, int H, int W, int frame_emb) {
    memset(g, 0, sizeof *g);
    g->c = tiny_config();
    g->c.frame_emb = frame_emb;
    g->B = B, g->F = F, g->H = H, g->W = W;
    pp_dit_init(&g->m, &g->c, &g->t);
    pp_rng r;
    pp_rng_seed(&r, 7);
    g->P = pp_zalloc_floats(g->t.total);
    g->G = pp_zalloc_floats(g->t.total);
    for (int i = 0; i < g->t.n; i++) pp_rng_fill_normal(&r, g->P + g->t.p[i].offset, g->t.p[i].numel, 0.2f);
    size_t vox = (size_t)F * H * W;
    g->nx = (size_t)B * g->c.in_dim * vox;
    g->nout = (size_t)B * g->c.out_dim * vox;
    g->nctx = (size_t)B * g->c.text_len * g->c.text_dim;
    g->x = pp_alloc_floats(g->nx), g->out = pp_alloc_floats(g->nout), g->r = pp_alloc_floats(g->nout);
    g->ctx = pp_alloc_floats(g->nctx), g->dctx = pp_zalloc_floats(g->nctx);
    g->tt = pp_alloc_floats((size_t)B);
    pp_rng_fill_normal(&r, g->x, g->nx, 1.0f);
    pp_rng_fill_normal(&r, g->ctx, g->nctx, 1.0f);
    pp_rng_fill_normal(&r, g->r, g->nout, 1.0f);
    for (int b = 0; b < B; b++) g->tt[b] = 1000.0f * pp_rng_uniform(&r);
}

static void rig_make(rig *g, int B, int F, int H, int W) { rig_make_fe(g, B, F, H, W, 0); }

static void rig_free(rig *g) {
    float *bufs[] = {g->P, g->G, g->x, g->tt, g->ctx, g->dctx, g->out, g->r};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    pp_dit_free(&g->m);
    pp_params_free(&g->t);
}

/* L = sum(out * r), in double */
static double rig_loss(rig *g, pp_dit_acts *a) {
    pp_dit_forward(&g->m, g->P, a, g->x, g->tt, g->ctx, g->out);
    double s = 0;
    for (size_t i = 0; i < g->nout; i++) s += (double)g->out[i] * g->r[i];
    return s;
}

/* Directional derivative of the loss along d over n entries at p, by a 4-point
 * central stencil (error O(h^4)). Perturbing a whole tensor at once makes the
 * signal large against float rounding, unlike entry-by-entry differences. */
static double fd_dir(rig *g, pp_dit_acts *a, float *p, const float *d, size_t n, float h) {
    float *keep = pp_alloc_floats(n);
    memcpy(keep, p, n * sizeof(float));
    double f[4], hs[4] = {h, -h, 2 * h, -2 * h};
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < n; i++) p[i] = keep[i] + (float)hs[k] * d[i];
        f[k] = rig_loss(g, a);
    }
    memcpy(p, keep, n * sizeof(float));
    pp_free_aligned(keep);
    return (8.0 * (f[0] - f[1]) - (f[2] - f[3])) / (12.0 * h);
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Compares numeric and analytic directional derivatives; returns 1 if they disagree. */
static int check_dir(rig *g, pp_dit_acts *a, const char *name, float *p, const float *grad, size_t n, pp_rng *r) {
    float *d = pp_alloc_floats(n);
    pp_rng_fill_normal(r, d, n, 1.0f);
    double num = fd_dir(g, a, p, d, n, 2e-2f), ana = dot(grad, d, n);
    pp_free_aligned(d);
    /* h = 2e-2 with the O(h^4) stencil; 1% relative, plus an absolute floor of 3e-4:
     * the float32 forward's rounding
     * noise in L, divided by h, measured at ~1e-4 for this model */
    int bad = fabs(num - ana) > 1e-2 * (fabs(num) + fabs(ana)) + 3e-4;
    if (bad) printf("    %s: numeric %.7g analytic %.7g\n", name, num, ana);
    return bad;
}

static void gradcheck_case(int frame_emb) {
    rig g;
    rig_make_fe(&g, 2, 2, 4, 4, frame_emb);
    pp_dit_acts *a = pp_dit_acts_new(&g.m, g.B, g.F, g.H, g.W, 1);
    rig_loss(&g, a);
    pp_dit_backward(&g.m, g.P, g.G, a, g.r, g.dctx);
    pp_rng r;
    pp_rng_seed(&r, 3);
    int bad = 0;
    for (int i = 0; i < g.t.n; i++) {
        const pp_param *p = &g.t.p[i];
        bad += check_dir(&g, a, p->name, g.P + p->offset, g.G + p->offset, p->numel, &r);
    }
    bad += check_dir(&g, a, "context", g.ctx, g.dctx, g.nctx, &r); /* joint text-encoder training */
    CHECK_MSG(bad == 0, "%d of %d tensors disagree", bad, g.t.n + 1);
    pp_dit_acts_free(a);
    rig_free(&g);
}

TEST(dit_gradcheck_every_tensor) { gradcheck_case(0); }

/* the learned frame embedding: its gradient, that it tells frames apart, and
 * that a video with more token frames than it covers is refused */
TEST(dit_frame_embedding) {
    gradcheck_case(3);
    rig g;
    rig_make_fe(&g, 1, 2, 4, 4, 3);
    CHECK(pp_params_find(&g.t, "frame_embedding.weight") != NULL);
    pp_dit_acts *a = pp_dit_acts_new(&g.m, 1, 2, 4, 4, 0);
    pp_dit_forward(&g.m, g.P, a, g.x, g.tt, g.ctx, g.out);
    float *o1 = pp_alloc_floats(g.nout);
    memcpy(o1, g.out, g.nout * sizeof(float));
    float *fe = g.P + pp_params_find(&g.t, "frame_embedding.weight")->offset;
    memset(fe + 24, 0, 24 * sizeof(float)); /* frame 1's embedding changes: only what it reaches does */
    pp_dit_forward(&g.m, g.P, a, g.x, g.tt, g.ctx, g.out);
    CHECK(pp_rel_err(o1, g.out, g.nout) > 1e-4);
    CHECK(pp_dit_acts_new(&g.m, 1, 4, 4, 4, 0) == NULL && strstr(pp_lasterr(), "frame embedding covers 3"));
    pp_free_aligned(o1);
    pp_dit_acts_free(a);
    rig_free(&g);
}

/* The same forward with training and with inference activations: o_train in g->out,
 * o_infer returned; *shrink = training bytes / inference bytes. */
static float *forward_both(rig *g, double *shrink) {
    pp_dit_acts *a = pp_dit_acts_new(&g->m, g->B, g->F, g->H, g->W, 1);
    pp_dit_acts *b = pp_dit_acts_new(&g->m, g->B, g->F, g->H, g->W, 0);
    float *o2 = pp_alloc_floats(g->nout);
    pp_dit_forward(&g->m, g->P, a, g->x, g->tt, g->ctx, g->out);
    pp_dit_forward(&g->m, g->P, b, g->x, g->tt, g->ctx, o2);
    *shrink = (double)pp_dit_acts_bytes(a) / (double)pp_dit_acts_bytes(b);
    pp_dit_acts_free(a);
    pp_dit_acts_free(b);
    return o2;
}

TEST(dit_inference_forward_equals_training_forward) {
    rig g;
    double shrink;
    rig_make(&g, 2, 4, 4, 6);
    float *o2 = forward_both(&g, &shrink);
    CHECK(memcmp(o2, g.out, g.nout * sizeof(float)) == 0);
    CHECK(shrink > 1);
    CHECK(pp_dit_acts_new(&g.m, 1, 3, 5, 4, 0) == NULL); /* 5 rows: not divisible by the patch */
    CHECK(strstr(pp_lasterr(), "patch") != NULL);
    pp_free_aligned(o2);
    rig_free(&g);
}

/* Past 4096 tokens inference runs the FFN a piece of each video at a time (4096 +
 * 256 tokens here, two videos) in buffers that take over from dead ones. */
TEST(dit_inference_in_pieces_equals_training_forward) {
    rig g;
    double shrink, e = 0, n = 0;
    rig_make(&g, 2, 1, 128, 136);
    float *o2 = forward_both(&g, &shrink);
    for (size_t i = 0; i < g.nout; i++) e += (double)(o2[i] - g.out[i]) * (o2[i] - g.out[i]), n += (double)g.out[i] * g.out[i];
    CHECK_MSG(e <= 1e-12 * n, "relative L2 %.3g", sqrt(e / n));
    CHECK_MSG(shrink > 4, "inference activations only %.2fx smaller", shrink);
    pp_free_aligned(o2);
    rig_free(&g);
}
