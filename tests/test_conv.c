/* test_conv.c - the VAE's ops (nn/conv.h) against naive double-precision loops,
 * both forward paths (direct kernel and sgemm tiles), every backward against
 * central finite differences, and thread-count independence. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/conv.h"
#include "nn/ops_util.h"
#include "test_ops_util.h"
#include "test.h"

/* x[ci][Y][X] of a frame as the mode's spatial transform sees it (0 outside) */
static double sample(const float *f, const pp_conv_shape *s, int ci, int Y, int X) {
    if (!f) return 0;
    int h = s->h, w = s->w;
    if (s->mode == PP_CONV_UP2) {
        if (Y < 0 || X < 0 || Y >= 2 * h || X >= 2 * w) return 0;
        Y /= 2, X /= 2;
    }
    if (Y < 0 || X < 0 || Y >= h || X >= w) return 0;
    return f[((size_t)ci * h + Y) * w + X];
}

static void conv_naive(float *out, const float *const *in, int nin, const float *W, const float *b,
                       const pp_conv_shape *s) {
    int ho, wo, To = pp_conv_out_frames(s, nin), k = s->kh;
    pp_conv_check(s, &ho, &wo);
    for (int j = 0; j < To; j++)
        for (int co = 0; co < s->cout; co++)
            for (int y = 0; y < ho; y++)
                for (int x = 0; x < wo; x++) {
                    double acc = b ? b[co] : 0;
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int t = 0; t < s->kt; t++)
                            for (int dy = 0; dy < k; dy++)
                                for (int dx = 0; dx < k; dx++) {
                                    int Y, X;
                                    if (s->mode == PP_CONV_DOWN2) Y = 2 * y + dy, X = 2 * x + dx;
                                    else Y = y + dy - k / 2, X = x + dx - k / 2;
                                    double wv = W[((((size_t)co * s->cin + ci) * s->kt + t) * k + dy) * k + dx];
                                    acc += wv * sample(in[j * s->st + t], s, ci, Y, X);
                                }
                    out[(((size_t)j * s->cout + co) * ho + y) * wo + x] = (float)acc;
                }
}

/* a case: stream of nin frames, the first nnull of them NULL (causal padding) */
typedef struct {
    pp_conv_shape s;
    int nin, nnull, ho, wo, To;
    float *x, *W, *b, *out, *r;
    const float *in[16];
    size_t fin, nout, nw;
} cc;

static void cc_make(cc *c, pp_conv_shape s, int nin, int nnull, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->s = s, c->nin = nin, c->nnull = nnull;
    CHECK(pp_conv_check(&s, &c->ho, &c->wo) == 0);
    c->To = pp_conv_out_frames(&s, nin);
    c->fin = (size_t)s.cin * s.h * s.w;
    c->nw = (size_t)s.cout * s.cin * s.kt * s.kh * s.kw;
    c->nout = (size_t)c->To * s.cout * c->ho * c->wo;
    c->x = randn(c->fin * nin, seed), c->W = randn(c->nw, seed + 1), c->b = randn(s.cout, seed + 2);
    scale_buf(c->W, 0.2f, c->nw);
    c->out = zeros(c->nout), c->r = randn(c->nout, seed + 3);
    for (int i = 0; i < nin; i++) c->in[i] = i < nnull ? NULL : c->x + c->fin * i;
}

static void cc_free(cc *c) { free_all(5, c->x, c->W, c->b, c->out, c->r); }

static double cc_loss(void *p) {
    cc *c = p;
    pp_conv_forward(c->out, c->in, c->nin, c->W, c->b, &c->s);
    return dot_d(c->out, c->r, c->nout);
}

static pp_conv_shape shp(int cin, int cout, int kt, int k, int st, pp_conv_mode m, int h, int w) {
    pp_conv_shape s = {.cin = cin, .cout = cout, .kt = kt, .kh = k, .kw = k, .st = st, .mode = m, .h = h, .w = w};
    return s;
}

/* shapes: 3x3x3 causal, 1x1x1, time conv (3,1,1) with stride 2, downsampler, upsampler;
 * channel counts off the kernel's blocking, a width off the vector length */
#define NCASES 6
static const struct { int cin, cout, kt, k, st, mode, h, w, nin, nnull; } CASES[NCASES] = {
    {5, 11, 3, 3, 1, PP_CONV_SAME, 7, 13, 5, 2},  {6, 9, 1, 1, 1, PP_CONV_SAME, 5, 21, 2, 0},
    {7, 5, 3, 1, 2, PP_CONV_SAME, 6, 10, 7, 0},   {4, 10, 1, 3, 1, PP_CONV_DOWN2, 10, 14, 2, 0},
    {5, 3, 1, 3, 1, PP_CONV_UP2, 5, 7, 2, 0},     {3, 17, 3, 3, 1, PP_CONV_SAME, 9, 50, 4, 1},
};

static pp_conv_shape case_shape(int i) {
    return shp(CASES[i].cin, CASES[i].cout, CASES[i].kt, CASES[i].k, CASES[i].st,
               (pp_conv_mode)CASES[i].mode, CASES[i].h, CASES[i].w);
}

TEST(conv_forward_matches_naive_both_paths) {
    for (int i = 0; i < NCASES; i++) {
        cc c;
        cc_make(&c, case_shape(i), CASES[i].nin, CASES[i].nnull, 100 + 10 * i);
        float *ref = zeros(c.nout);
        conv_naive(ref, c.in, c.nin, c.W, c.b, &c.s);
        for (int portable = 0; portable < 2; portable++) {
            pp_ops_portable = portable;
            memset(c.out, 0, c.nout * sizeof(float));
            pp_conv_forward(c.out, c.in, c.nin, c.W, c.b, &c.s);
            double e = pp_rel_err(c.out, ref, c.nout);
            CHECK_MSG(e < 1e-6, "case %d portable %d: rel err %.3g", i, portable, e);
        }
        pp_ops_portable = 0;
        /* a zero frame after real ones (not causal padding) reads zeros too */
        c.in[c.nin - 1] = NULL;
        conv_naive(ref, c.in, c.nin, c.W, NULL, &c.s);
        pp_conv_forward(c.out, c.in, c.nin, c.W, NULL, &c.s);
        CHECK_MSG(pp_rel_err(c.out, ref, c.nout) < 1e-6, "case %d with a trailing zero frame", i);
        pp_free_aligned(ref);
        cc_free(&c);
    }
}

TEST(conv_backward_fd_every_mode) {
    for (int i = 0; i < 2 * NCASES; i++) {
        pp_ops_portable = i >= NCASES; /* d/dx by the direct kernel (stride-1 SAME) or by sgemm */
        cc c;
        cc_make(&c, case_shape(i % NCASES), CASES[i % NCASES].nin, CASES[i % NCASES].nnull, 200 + 10 * i);
        float *dx = zeros(c.fin * c.nin), *dW = zeros(c.nw), *db = zeros(c.s.cout);
        float *din[16] = {0};
        for (int f = c.nnull; f < c.nin; f++) din[f] = dx + c.fin * f;
        pp_conv_backward(din, dW, db, c.r, c.in, c.nin, c.W, &c.s);
        CHECK_FD(cc_loss, &c, c.x + c.fin * c.nnull, dx + c.fin * c.nnull, c.fin * (c.nin - c.nnull));
        CHECK_FD(cc_loss, &c, c.W, dW, c.nw);
        CHECK_FD(cc_loss, &c, c.b, db, c.s.cout);
        /* accumulates; dW alone and dx alone give the same parts */
        float *dx2 = copy(dx, c.fin * c.nin), *dW2 = zeros(c.nw);
        pp_conv_backward(din, NULL, NULL, c.r, c.in, c.nin, c.W, &c.s);
        pp_conv_backward(NULL, dW2, NULL, c.r, c.in, c.nin, c.W, &c.s);
        scale_buf(dx2, 2, c.fin * c.nin);
        CHECK(pp_rel_err(dx, dx2, c.fin * c.nin) < 1e-6);
        CHECK(pp_rel_err(dW2, dW, c.nw) < 1e-6);
        free_all(5, dx, dW, db, dx2, dW2);
        cc_free(&c);
    }
    pp_ops_portable = 0;
}

TEST(conv_bitwise_independent_of_threads) {
    pp_conv_shape s = shp(24, 20, 3, 3, 1, PP_CONV_SAME, 24, 40);
    cc c;
    cc_make(&c, s, 5, 2, 300);
    size_t nx = c.fin * c.nin;
    float *o1 = zeros(c.nout), *dx1 = zeros(nx), *dW1 = zeros(c.nw), *dx = zeros(nx), *dW = zeros(c.nw);
    float *din[16] = {0}, *din1[16] = {0};
    for (int f = 2; f < 5; f++) din[f] = dx + c.fin * f, din1[f] = dx1 + c.fin * f;
    int nt = omp_get_max_threads();
    for (int portable = 0; portable < 2; portable++) {
        pp_ops_portable = portable;
        memset(dx1, 0, nx * 4), memset(dW1, 0, c.nw * 4), memset(dx, 0, nx * 4), memset(dW, 0, c.nw * 4);
        omp_set_num_threads(1);
        pp_conv_forward(o1, c.in, c.nin, c.W, c.b, &s);
        pp_conv_backward(din1, dW1, NULL, c.r, c.in, c.nin, c.W, &s);
        omp_set_num_threads(3);
        pp_conv_forward(c.out, c.in, c.nin, c.W, c.b, &s);
        pp_conv_backward(din, dW, NULL, c.r, c.in, c.nin, c.W, &s);
        CHECK(memcmp(o1, c.out, c.nout * 4) == 0);
        CHECK(memcmp(dx1, dx, nx * 4) == 0);
        CHECK(memcmp(dW1, dW, c.nw * 4) == 0);
    }
    omp_set_num_threads(nt);
    pp_ops_portable = 0;
    free_all(5, o1, dx1, dW1, dx, dW);
    cc_free(&c);
}

TEST(conv_rejects_bad_shapes) {
    pp_conv_shape s = shp(4, 4, 3, 3, 1, PP_CONV_DOWN2, 7, 8);
    CHECK(pp_conv_check(&s, NULL, NULL) == -1);
    CHECK(strstr(pp_lasterr(), "even") != NULL);
    s = shp(4, 4, 3, 5, 1, PP_CONV_SAME, 8, 8);
    CHECK(pp_conv_check(&s, NULL, NULL) == -1);
    s = shp(4, 4, 3, 1, 1, PP_CONV_UP2, 8, 8);
    CHECK(pp_conv_check(&s, NULL, NULL) == -1);
    s = shp(4, 4, 3, 3, 3, PP_CONV_SAME, 8, 8);
    CHECK(pp_conv_check(&s, NULL, NULL) == -1);
    CHECK(pp_conv_out_frames(&s, 2) == 0);
}

/* ---------------- channel RMS_norm (+ SiLU) ---------------- */
typedef struct { float *x, *g, *b, *y, *rn, *r; int T, C, N, silu, bias; } nc;

static double nc_loss(void *p) {
    nc *c = p;
    pp_chnorm_forward(c->y, c->rn, c->x, c->g, c->bias ? c->b : NULL, c->T, c->C, c->N, c->silu);
    return dot_d(c->y, c->r, (size_t)c->T * c->C * c->N);
}

TEST(chnorm_forward_matches_naive_and_fd) {
    for (int mode = 0; mode < 3; mode++) {
        nc c = {.T = 2, .C = 7, .N = 300, .silu = mode != 1, .bias = mode == 2};
        size_t n = (size_t)c.T * c.C * c.N;
        c.x = randn(n, 400 + mode), c.g = randn(c.C, 410), c.b = randn(c.C, 411), c.y = zeros(n);
        c.rn = zeros((size_t)c.T * c.N), c.r = randn(n, 412);
        /* one position all zero: the clamped norm */
        for (int ch = 0; ch < c.C; ch++) c.x[(size_t)ch * c.N + 5] = 0;
        float *ref = zeros(n);
        for (int t = 0; t < c.T; t++)
            for (int p = 0; p < c.N; p++) {
                double ss = 0;
                for (int ch = 0; ch < c.C; ch++) ss += (double)c.x[((size_t)t * c.C + ch) * c.N + p] * c.x[((size_t)t * c.C + ch) * c.N + p];
                double nrm = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
                for (int ch = 0; ch < c.C; ch++) {
                    size_t i = ((size_t)t * c.C + ch) * c.N + p;
                    double v = c.x[i] / nrm * sqrt((double)c.C) * c.g[ch] + (c.bias ? c.b[ch] : 0);
                    ref[i] = (float)(c.silu ? v / (1 + exp(-v)) : v);
                }
            }
        nc_loss(&c);
        CHECK_MSG(pp_rel_err(c.y, ref, n) < 1e-6, "mode %d", mode);
        float *dx = zeros(n), *dg = zeros(c.C), *db = zeros(c.C);
        pp_chnorm_backward(dx, dg, db, c.r, c.x, c.rn, c.g, c.b, c.T, c.C, c.N, c.silu);
        int finite = 1;
        for (size_t i = 0; i < n; i++) finite &= isfinite(dx[i]);
        CHECK(finite);
        memset(dx, 0, n * 4), memset(dg, 0, c.C * 4), memset(db, 0, c.C * 4);
        c.x[5] = 1.0f; /* finite differences away from the clamp's kink */
        nc_loss(&c);
        pp_chnorm_backward(dx, dg, c.bias ? db : NULL, c.r, c.x, c.rn, c.g, c.bias ? c.b : NULL, c.T, c.C, c.N, c.silu);
        CHECK_FD(nc_loss, &c, c.x, dx, n);
        CHECK_FD(nc_loss, &c, c.g, dg, c.C);
        if (c.bias) CHECK_FD(nc_loss, &c, c.b, db, c.C);
        free_all(10, c.x, c.g, c.b, c.y, c.rn, c.r, ref, dx, dg, db);

    }
}

TEST(chnorm_and_transposes_small_helpers) {
    int T = 2, C = 3, N = 5;
    float *x = randn((size_t)T * C * N, 420), *t = zeros((size_t)T * C * N), *y = zeros((size_t)T * C * N);
    pp_frames_to_tokens(t, x, T, C, N);
    CHECK(t[(1 * N + 4) * C + 2] == x[(1 * C + 2) * N + 4]);
    pp_tokens_to_frames(y, t, T, C, N);
    CHECK(memcmp(x, y, sizeof(float) * T * C * N) == 0);
    free_all(3, x, t, y);
}
