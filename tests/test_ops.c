/* test_ops.c - the numeric core against naive double-precision references, and
 * every backward against central finite differences of L = sum(out * r). */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/ops.h"
#include "base/rng.h"
#include "test_ops_util.h"
#include "test.h"

/* ---------------- linear ---------------- */
typedef struct { float *out, *inp, *W, *b, *r; int M, K, N; } lin_ctx;

static double lin_loss(void *p) {
    lin_ctx *c = p;
    pp_linear_forward(c->out, c->inp, c->W, c->b, c->M, c->K, c->N);
    return dot_d(c->out, c->r, (size_t)c->M * c->N);
}

TEST(ops_linear_forward_matches_naive) {
    int M = 37, K = 19, N = 23;
    float *inp = randn(M * K, 1), *W = randn(N * K, 2), *b = randn(N, 3), *out = zeros(M * N),
          *ref = zeros(M * N);
    for (int pass = 0; pass < 2; pass++) {
        const float *bias = pass ? b : NULL;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = bias ? bias[n] : 0;
                for (int k = 0; k < K; k++) s += (double)inp[m * K + k] * W[n * K + k];
                ref[m * N + n] = (float)s;
            }
        pp_linear_forward(out, inp, W, bias, M, K, N);
        CHECK(pp_rel_err(out, ref, (size_t)M * N) < 1e-6);
    }
    free_all(5, inp, W, b, out, ref);
}

TEST(ops_linear_grad_fd_and_accumulates) {
    lin_ctx c = {.M = 9, .K = 7, .N = 5};
    c.inp = randn(c.M * c.K, 4), c.W = randn(c.N * c.K, 5), c.b = randn(c.N, 6);
    c.r = randn(c.M * c.N, 7), c.out = zeros(c.M * c.N);
    float *di = zeros(c.M * c.K), *dW = zeros(c.N * c.K), *db = zeros(c.N);
    pp_linear_backward(di, dW, db, c.r, c.inp, c.W, c.M, c.K, c.N);
    CHECK_FD(lin_loss, &c, c.inp, di, c.M * c.K);
    CHECK_FD(lin_loss, &c, c.W, dW, c.N * c.K);
    CHECK_FD(lin_loss, &c, c.b, db, c.N);
    float *di2 = copy(di, c.M * c.K), *db2 = copy(db, c.N);
    pp_linear_backward(di, NULL, db, c.r, c.inp, c.W, c.M, c.K, c.N);
    scale_buf(di2, 2, c.M * c.K), scale_buf(db2, 2, c.N);
    CHECK(pp_rel_err(di, di2, (size_t)c.M * c.K) < 1e-6);
    CHECK(pp_rel_err(db, db2, c.N) < 1e-6);
    free_all(10, c.inp, c.W, c.b, c.r, c.out, di, dW, db, di2, db2);
}

/* few rows: the GEMMs are split into column panels instead of row panels */
TEST(ops_linear_column_panels_match_naive) {
    int M = 3, K = 150, N = 200;
    float *inp = randn(M * K, 8), *W = randn(N * K, 9), *b = randn(N, 10), *dout = randn(M * N, 11);
    float *out = zeros(M * N), *di = zeros(M * K), *dW = zeros(N * K), *db = zeros(N);
    float *ro = zeros(M * N), *rdi = zeros(M * K), *rdW = zeros(N * K), *rdb = zeros(N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = b[n];
            for (int k = 0; k < K; k++) s += (double)inp[m * K + k] * W[n * K + k];
            ro[m * N + n] = (float)s;
            rdb[n] += dout[m * N + n];
            for (int k = 0; k < K; k++) {
                rdi[m * K + k] += dout[m * N + n] * W[n * K + k];
                rdW[n * K + k] += dout[m * N + n] * inp[m * K + k];
            }
        }
    pp_linear_forward(out, inp, W, b, M, K, N);
    pp_linear_backward(di, dW, db, dout, inp, W, M, K, N);
    CHECK(pp_rel_err(out, ro, (size_t)M * N) < 1e-6);
    CHECK(pp_rel_err(di, rdi, (size_t)M * K) < 1e-5);
    CHECK(pp_rel_err(dW, rdW, (size_t)N * K) < 1e-6);
    CHECK(pp_rel_err(db, rdb, N) < 1e-6);
    free_all(12, inp, W, b, dout, out, di, dW, db, ro, rdi, rdW, rdb);
}

/* ---------------- layernorm / rmsnorm ---------------- */
typedef struct { float *out, *mean, *rstd, *x, *w, *b, *r; int M, C, rms; } norm_ctx;

static double norm_loss(void *p) {
    norm_ctx *c = p;
    if (c->rms) pp_rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->M, c->C, 1e-6f);
    else pp_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, c->M, c->C, 1e-5f);
    return dot_d(c->out, c->r, (size_t)c->M * c->C);
}

/* naive double reference of LayerNorm / RMSNorm */
static void norm_ref(float *ref, const norm_ctx *c) {
    for (int m = 0; m < c->M; m++) {
        const float *x = c->x + (size_t)m * c->C;
        double mu = 0, var = 0;
        if (!c->rms)
            for (int i = 0; i < c->C; i++) mu += x[i] / (double)c->C;
        for (int i = 0; i < c->C; i++) var += (x[i] - mu) * (x[i] - mu) / c->C;
        double rs = 1 / sqrt(var + (c->rms ? 1e-6 : 1e-5));
        for (int i = 0; i < c->C; i++)
            ref[(size_t)m * c->C + i] = (float)((x[i] - mu) * rs * (c->w ? c->w[i] : 1) +
                                                (c->b ? c->b[i] : 0));
    }
}

static void norm_case(int M, int C, int rms, int affine) {
    norm_ctx c = {.M = M, .C = C, .rms = rms};
    c.x = randn(M * C, 11), c.r = randn(M * C, 12), c.out = zeros(M * C);
    c.mean = zeros(M), c.rstd = zeros(M);
    c.w = affine ? randn(C, 13) : NULL, c.b = affine && !rms ? randn(C, 14) : NULL;
    for (int i = 0; i < M * C; i++) c.x[i] = 0.5f + 2 * c.x[i]; /* nonzero mean */
    float *ref = zeros(M * C), *dx = zeros(M * C), *dw = zeros(C), *db = zeros(C);
    norm_loss(&c);
    norm_ref(ref, &c);
    CHECK(pp_rel_err(c.out, ref, (size_t)M * C) < 1e-5);
    if (rms) pp_rmsnorm_backward(dx, c.w ? dw : NULL, c.r, c.x, c.rstd, c.w, M, C);
    else pp_layernorm_backward(dx, c.w ? dw : NULL, c.b ? db : NULL, c.r, c.x, c.mean, c.rstd, c.w, M, C);
    CHECK_FD(norm_loss, &c, c.x, dx, M * C);
    if (c.w) CHECK_FD(norm_loss, &c, c.w, dw, C);
    if (c.b) CHECK_FD(norm_loss, &c, c.b, db, C);
    free_all(11, c.x, c.r, c.out, c.mean, c.rstd, c.w, c.b, ref, dx, dw, db);
}

TEST(ops_layernorm_affine_forward_and_grad) { norm_case(13, 24, 0, 1); }
TEST(ops_layernorm_plain_forward_and_grad) { norm_case(5, 67, 0, 0); }
TEST(ops_rmsnorm_forward_and_grad) {
    norm_case(11, 40, 1, 1);
    norm_case(3, 17, 1, 0);
}

/* ---------------- activations ---------------- */
typedef struct { float *out, *x, *r; size_t n; int silu; } act_ctx;

static double act_loss(void *p) {
    act_ctx *c = p;
    (c->silu ? pp_silu_forward : pp_gelu_forward)(c->out, c->x, c->n);
    return dot_d(c->out, c->r, c->n);
}

static void act_case(int silu) {
    act_ctx c = {.n = 1000 + 37, .silu = silu};
    c.x = randn(c.n, 21), c.r = randn(c.n, 22), c.out = zeros(c.n);
    scale_buf(c.x, 4, c.n); /* reach the saturated tails */
    float *ref = zeros(c.n), *dx = zeros(c.n), *dx2;
    for (size_t i = 0; i < c.n; i++) {
        double x = c.x[i];
        ref[i] = (float)(silu ? x / (1 + exp(-x))
                              : 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))));
    }
    act_loss(&c);
    CHECK(pp_rel_err(c.out, ref, c.n) < 1e-6);
    (silu ? pp_silu_backward : pp_gelu_backward)(dx, c.r, c.x, c.n);
    CHECK_FD(act_loss, &c, c.x, dx, c.n);
    dx2 = copy(dx, c.n);
    (silu ? pp_silu_backward : pp_gelu_backward)(dx, c.r, c.x, c.n);
    scale_buf(dx2, 2, c.n);
    CHECK(pp_rel_err(dx, dx2, c.n) < 1e-6); /* accumulates */
    free_all(6, c.x, c.r, c.out, ref, dx, dx2);
}

TEST(ops_gelu_forward_grad_accumulates) { act_case(0); }
TEST(ops_silu_forward_grad_accumulates) { act_case(1); }

/* ---------------- softmax ---------------- */
typedef struct { float *out, *x, *r; int M, C; } sm_ctx;

static double sm_loss(void *p) {
    sm_ctx *c = p;
    pp_softmax_forward(c->out, c->x, c->M, c->C);
    return dot_d(c->out, c->r, (size_t)c->M * c->C);
}

TEST(ops_softmax_forward_and_grad) {
    sm_ctx c = {.M = 6, .C = 19};
    c.x = randn(c.M * c.C, 31), c.r = randn(c.M * c.C, 32), c.out = zeros(c.M * c.C);
    scale_buf(c.x, 3, c.M * c.C);
    float *ref = zeros(c.M * c.C), *dx = zeros(c.M * c.C);
    for (int m = 0; m < c.M; m++) {
        double s = 0;
        for (int i = 0; i < c.C; i++) s += exp(c.x[m * c.C + i]);
        for (int i = 0; i < c.C; i++) ref[m * c.C + i] = (float)(exp(c.x[m * c.C + i]) / s);
    }
    sm_loss(&c);
    CHECK(pp_rel_err(c.out, ref, (size_t)c.M * c.C) < 1e-6);
    pp_softmax_backward(dx, c.r, c.out, c.M, c.C);
    CHECK_FD(sm_loss, &c, c.x, dx, c.M * c.C);
    free_all(5, c.x, c.r, c.out, ref, dx);
}

/* ---------------- mse and helpers ---------------- */
TEST(ops_mse_forward_backward_writes) {
    size_t n = 777;
    float *p = randn(n, 41), *t = randn(n, 42), *d = randn(n, 43);
    double ref = 0;
    for (size_t i = 0; i < n; i++) ref += ((double)p[i] - t[i]) * ((double)p[i] - t[i]) / n;
    CHECK_NEAR(pp_mse_forward(p, t, n), ref, 1e-6 * ref);
    pp_mse_backward(d, p, t, n, 0.5f); /* writes over the random contents */
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= fabs(d[i] - 0.5 * 2 * (p[i] - t[i]) / n) < 1e-8;
    CHECK(ok);
    /* fd of the loss itself */
    float save = p[5], eps = 1e-2f;
    p[5] = save + eps;
    double lp = pp_mse_forward(p, t, n);
    p[5] = save - eps;
    double lm = pp_mse_forward(p, t, n);
    p[5] = save;
    CHECK_NEAR((lp - lm) / (2 * eps) * 0.5, d[5], 1e-5);
    free_all(3, p, t, d);
}

typedef struct { float *p, *t, *w; int B, C; size_t V; } wmse_ctx;

static double wmse_loss(void *q) {
    wmse_ctx *c = q;
    return pp_wmse_forward(c->p, c->t, c->w, c->B, c->C, c->V);
}

TEST(ops_wmse_forward_grad_and_plain_case) {
    wmse_ctx c = {.B = 3, .C = 4, .V = 131};
    size_t n = (size_t)c.B * c.C * c.V, nw = (size_t)c.B * c.V;
    c.p = randn(n, 44), c.t = randn(n, 45), c.w = randn(nw, 46);
    for (size_t i = 0; i < nw; i++) c.w[i] = 0.25f + fabsf(c.w[i]) * 3; /* like 1 + k * foreground */
    double num = 0, den = 0;
    for (int b = 0; b < c.B; b++)
        for (size_t v = 0; v < c.V; v++) {
            double wv = c.w[(size_t)b * c.V + v];
            den += c.C * wv;
            for (int ch = 0; ch < c.C; ch++) {
                size_t i = ((size_t)b * c.C + ch) * c.V + v;
                num += wv * ((double)c.p[i] - c.t[i]) * ((double)c.p[i] - c.t[i]);
            }
        }
    CHECK_NEAR(wmse_loss(&c), num / den, 1e-6 * num / den);
    float *d = randn(n, 47);
    /* the fd on a small slice (the loss is a float: each element's share of it must be
     * well above its rounding) */
    wmse_ctx s = {.p = c.p, .t = c.t, .w = c.w, .B = 2, .C = 3, .V = 7};
    size_t ns = (size_t)s.B * s.C * s.V;
    pp_wmse_backward(d, s.p, s.t, s.w, s.B, s.C, s.V, 1.0f); /* writes over the random contents */
    CHECK_FD(wmse_loss, &s, s.p, d, ns);
    /* a constant weight is the plain MSE, whatever the constant */
    for (size_t i = 0; i < nw; i++) c.w[i] = 2.5f;
    CHECK_NEAR(wmse_loss(&c), pp_mse_forward(c.p, c.t, n), 1e-6);
    float *d0 = zeros(n);
    pp_wmse_backward(d, c.p, c.t, c.w, c.B, c.C, c.V, 0.5f);
    pp_mse_backward(d0, c.p, c.t, n, 0.5f);
    CHECK(pp_rel_err(d, d0, n) < 1e-6);
    free_all(5, c.p, c.t, c.w, d, d0);
}

TEST(ops_add_scale_helpers) {
    float y[5] = {1, 2, 3, 4, 5}, x[5] = {1, 1, 1, 1, -5};
    pp_add_inplace(y, x, 5);
    pp_scale_inplace(y, 0.5f, 5);
    CHECK(y[0] == 1 && y[1] == 1.5f && y[3] == 2.5f && y[4] == 0);
}

/* ---------------- timestep embedding ---------------- */
TEST(ops_timestep_embedding_cos_then_sin) {
    float t[3] = {0, 1, 999.5f}, out[3 * 256];
    pp_timestep_embedding(out, t, 3, 256);
    CHECK(out[0] == 1 && out[127] == 1 && out[128] == 0 && out[255] == 0);
    int ok = 1;
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 128; i++) {
            double a = t[b] * pow(10000.0, -i / 128.0);
            ok &= fabs(out[b * 256 + i] - cos(a)) < 2e-6 && fabs(out[b * 256 + 128 + i] - sin(a)) < 2e-6;
        }
    CHECK(ok);
}
