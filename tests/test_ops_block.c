/* test_ops_block.c - the DiT block ops: modulation, fused LN + modulation, gated
 * residual, attention and 3D RoPE, against naive references and finite differences. */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/ops.h"
#include "nn/ops_util.h"
#include "test_ops_util.h"
#include "test.h"

/* ---------------- modulation ---------------- */
/* mod [B,6,C]: shift = chunk 0, scale = chunk 1 (row stride 6C) */
typedef struct { float *out, *x, *mod, *r, *mean, *rstd; int B, N, C, ln; } mod_ctx;

static double mod_loss(void *p) {
    mod_ctx *c = p;
    if (c->ln)
        pp_ln_modulate_forward(c->out, c->mean, c->rstd, c->x, c->mod, c->mod + c->C, c->B, c->N,
                               c->C, 6 * c->C, 1e-6f);
    else pp_modulate_forward(c->out, c->x, c->mod, c->mod + c->C, c->B, c->N, c->C, 6 * c->C);
    return dot_d(c->out, c->r, (size_t)c->B * c->N * c->C);
}

static void mod_case(int ln) {
    mod_ctx c = {.B = 2, .N = 7, .C = 70, .ln = ln};
    size_t n = (size_t)c.B * c.N * c.C;
    c.x = randn(n, 51), c.mod = randn(6 * c.B * c.C, 52), c.r = randn(n, 53), c.out = zeros(n);
    c.mean = zeros(c.B * c.N), c.rstd = zeros(c.B * c.N);
    float *ref = zeros(n), *dx = zeros(n), *dmod = zeros(6 * c.B * c.C);
    for (int b = 0; b < c.B; b++)
        for (int i = 0; i < c.N; i++) {
            const float *x = c.x + ((size_t)b * c.N + i) * c.C, *sh = c.mod + b * 6 * c.C;
            double mu = 0, var = 0;
            for (int k = 0; k < c.C && ln; k++) mu += x[k] / (double)c.C;
            for (int k = 0; k < c.C && ln; k++) var += (x[k] - mu) * (x[k] - mu) / c.C;
            double rs = ln ? 1 / sqrt(var + 1e-6) : 1;
            for (int k = 0; k < c.C; k++)
                ref[((size_t)b * c.N + i) * c.C + k] =
                    (float)((x[k] - mu) * rs * (1 + sh[c.C + k]) + sh[k]);
        }
    mod_loss(&c);
    CHECK(pp_rel_err(c.out, ref, n) < 1e-6);
    if (ln)
        pp_ln_modulate_backward(dx, dmod, dmod + c.C, c.r, c.x, c.mean, c.rstd, c.mod + c.C, c.B,
                                c.N, c.C, 6 * c.C);
    else pp_modulate_backward(dx, dmod, dmod + c.C, c.r, c.x, c.mod + c.C, c.B, c.N, c.C, 6 * c.C);
    CHECK_FD(mod_loss, &c, c.x, dx, n);
    CHECK_FD(mod_loss, &c, c.mod, dmod, 6 * c.B * c.C); /* also: chunks 2..5 stay 0 */
    int untouched = 1;
    for (int b = 0; b < c.B; b++)
        for (int k = 2 * c.C; k < 6 * c.C; k++) untouched &= dmod[b * 6 * c.C + k] == 0;
    CHECK(untouched);
    free_all(9, c.x, c.mod, c.r, c.out, c.mean, c.rstd, ref, dx, dmod);
}

TEST(ops_modulate_forward_and_grad) { mod_case(0); }
TEST(ops_ln_modulate_forward_and_grad) { mod_case(1); }

typedef struct { float *x0, *x, *y, *gate, *r; int B, N, C; } gr_ctx;

static double gr_loss(void *p) {
    gr_ctx *c = p;
    size_t n = (size_t)c->B * c->N * c->C;
    memcpy(c->x, c->x0, n * sizeof(float));
    pp_gated_residual_forward(c->x, c->y, c->gate, c->B, c->N, c->C, 3 * c->C);
    return dot_d(c->x, c->r, n);
}

TEST(ops_gated_residual_forward_and_grad) {
    gr_ctx c = {.B = 3, .N = 5, .C = 67};
    size_t n = (size_t)c.B * c.N * c.C;
    c.x0 = randn(n, 61), c.x = zeros(n), c.y = randn(n, 62), c.r = randn(n, 63);
    float *g3 = randn(3 * c.B * c.C, 64), *dy = zeros(n), *dg = zeros(3 * c.B * c.C);
    for (int pass = 0; pass < 2; pass++) { /* gate = chunk 1 of [B,3,C], then no gate */
        c.gate = pass ? NULL : g3 + c.C;
        gr_loss(&c);
        double err = 0;
        for (size_t i = 0; i < n; i++) {
            size_t b = i / ((size_t)c.N * c.C), k = i % c.C;
            double ref = c.x0[i] + (double)c.y[i] * (c.gate ? c.gate[b * 3 * c.C + k] : 1);
            err = fmax(err, fabs(c.x[i] - ref));
        }
        CHECK(err < 1e-6);
        memset(dy, 0, n * sizeof(float));
        pp_gated_residual_backward(dy, pass ? NULL : dg + c.C, c.r, c.y, c.gate, c.B, c.N, c.C, 3 * c.C);
        CHECK_FD(gr_loss, &c, c.y, dy, n);
        if (!pass) CHECK_FD(gr_loss, &c, g3, dg, 3 * c.B * c.C);
    }
    free_all(7, c.x0, c.x, c.y, c.r, g3, dy, dg);
}

/* ---------------- attention ---------------- */
typedef struct { float *out, *lse, *q, *k, *v, *r; int B, Nq, Nk, H, D; } att_ctx;

static double att_loss(void *p) {
    att_ctx *c = p;
    pp_attention_forward(c->out, c->lse, c->q, c->k, c->v, c->B, c->Nq, c->Nk, c->H, c->D);
    return dot_d(c->out, c->r, (size_t)c->B * c->Nq * c->H * c->D);
}

/* naive softmax attention of one head in double; also its lse */
static void att_ref(float *ref, float *lse, const att_ctx *c) {
    int H = c->H, D = c->D;
    double *s = malloc(sizeof(double) * c->Nk);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < c->Nq; i++) {
                const float *q = c->q + (((size_t)b * c->Nq + i) * H + h) * D;
                double mx = -1e300, sum = 0;
                for (int j = 0; j < c->Nk; j++) {
                    const float *k = c->k + (((size_t)b * c->Nk + j) * H + h) * D;
                    s[j] = 0;
                    for (int d = 0; d < D; d++) s[j] += (double)q[d] * k[d] / sqrt(D);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < c->Nk; j++) sum += (s[j] = exp(s[j] - mx));
                lse[((size_t)b * H + h) * c->Nq + i] = (float)(mx + log(sum));
                for (int d = 0; d < D; d++) {
                    double o = 0;
                    for (int j = 0; j < c->Nk; j++)
                        o += s[j] / sum * c->v[(((size_t)b * c->Nk + j) * H + h) * D + d];
                    ref[(((size_t)b * c->Nq + i) * H + h) * D + d] = (float)o;
                }
            }
    free(s);
}

static void att_case_scaled(int B, int Nq, int Nk, int H, int D, int gradcheck, float qscale) {
    att_ctx c = {.B = B, .Nq = Nq, .Nk = Nk, .H = H, .D = D};
    size_t nq = (size_t)B * Nq * H * D, nk = (size_t)B * Nk * H * D;
    c.q = randn(nq, 71), c.k = randn(nk, 72), c.v = randn(nk, 73), c.r = randn(nq, 74);
    scale_buf(c.q, qscale, nq);
    c.out = zeros(nq), c.lse = zeros((size_t)B * H * Nq);
    float *ref = zeros(nq), *rlse = zeros((size_t)B * H * Nq);
    att_loss(&c);
    att_ref(ref, rlse, &c);
    CHECK_MSG(pp_rel_err(c.out, ref, nq) < 2e-6, "out err %g", pp_rel_err(c.out, ref, nq));
    CHECK(pp_rel_err(c.lse, rlse, (size_t)B * H * Nq) < 2e-6);
    if (gradcheck) {
        float *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
        pp_attention_backward(dq, dk, dv, c.r, c.q, c.k, c.v, c.out, c.lse, B, Nq, Nk, H, D);
        CHECK_FD(att_loss, &c, c.q, dq, nq);
        CHECK_FD(att_loss, &c, c.k, dk, nk);
        CHECK_FD(att_loss, &c, c.v, dv, nk);
        float *dk2 = copy(dk, nk); /* accumulates; NULL gradients are skipped */
        pp_attention_backward(NULL, dk, NULL, c.r, c.q, c.k, c.v, c.out, c.lse, B, Nq, Nk, H, D);
        scale_buf(dk2, 2, nk);
        CHECK(pp_rel_err(dk, dk2, nk) < 1e-6);
        free_all(4, dq, dk, dv, dk2);
    }
    free_all(8, c.q, c.k, c.v, c.r, c.out, c.lse, ref, rlse);
}

static void att_case(int B, int Nq, int Nk, int H, int D, int gradcheck) {
    att_case_scaled(B, Nq, Nk, H, D, gradcheck, 2.0f); /* peaky enough softmax rows */
}

/* every case runs on the SIMD kernels and on the portable fallback */
TEST(ops_attention_self_odd_sizes) {
    for (pp_ops_portable = 0; pp_ops_portable < 2; pp_ops_portable++) {
        att_case(2, 67, 67, 3, 16, 1);   /* crosses the 64-row query block */
        att_case(1, 200, 200, 2, 32, 0); /* several key tiles, partial last ones */
        att_case(1, 130, 130, 1, 64, 1);
        att_case(1, 33, 33, 2, 36, 0);   /* D not a multiple of 16 */
    }
    pp_ops_portable = 0;
}

TEST(ops_attention_cross_nq_ne_nk) {
    for (pp_ops_portable = 0; pp_ops_portable < 2; pp_ops_portable++) {
        att_case(2, 9, 150, 2, 8, 1); /* Nk crosses the 128-key tile */
        att_case(1, 70, 5, 2, 20, 1);
    }
    pp_ops_portable = 0;
}

/* scores in the hundreds: the online softmax must not overflow or lose rows */
TEST(ops_attention_large_logits_stable) {
    att_case_scaled(1, 70, 300, 2, 32, 0, 40.0f);
}

/* ---------------- 3D RoPE ---------------- */
/* naive rotation of x [B,N,H,D] from the angle definition, in double */
static void rope_ref(float *out, const float *x, int gf, int gh, int gw, int B, int H, int D) {
    int dt = D - 4 * (D / 6), dh = 2 * (D / 6), N = gf * gh * gw;
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < D / 2; j++) {
                    int pos, i, p;
                    if (2 * j < dt) pos = n / (gh * gw), i = j, p = dt;
                    else if (2 * j < dt + dh) pos = n / gw % gh, i = j - dt / 2, p = dh;
                    else pos = n % gw, i = j - dt / 2 - dh / 2, p = dh;
                    double a = pos * pow(10000.0, -2.0 * i / p);
                    size_t o = (((size_t)b * N + n) * H + h) * D + 2 * j;
                    out[o] = (float)(x[o] * cos(a) - x[o + 1] * sin(a));
                    out[o + 1] = (float)(x[o] * sin(a) + x[o + 1] * cos(a));
                }
}

static void rope_case(int gf, int gh, int gw, int D) {
    int B = 2, H = 3;
    size_t n = (size_t)B * gf * gh * gw * H * D;
    pp_rope r;
    pp_rope_build(&r, gf, gh, gw, D, 10000.0f);
    float *x = randn(n, 81), *y = zeros(n), *ref = zeros(n), *z = randn(n, 82);
    pp_rope_forward(y, x, &r, B, H);
    rope_ref(ref, x, gf, gh, gw, B, H, D);
    CHECK_MSG(pp_rel_err(y, ref, n) < 2e-6, "D=%d rope err %g", D, pp_rel_err(y, ref, n));
    /* backward is R^T: <R x, z> = <x, R^T z>, and R^T R = I (in place) */
    float *rz = copy(z, n);
    pp_rope_backward(rz, rz, &r, B, H);
    CHECK_NEAR(dot_d(y, z, n), dot_d(x, rz, n), 1e-4 * sqrt((double)n));
    pp_rope_backward(y, y, &r, B, H);
    CHECK(pp_rel_err(y, x, n) < 1e-6);
    memcpy(y, x, n * sizeof(float));
    pp_rope_forward(y, y, &r, B, H); /* out == x */
    CHECK(pp_rel_err(y, ref, n) < 2e-6);
    pp_rope_free(&r);
    free_all(5, x, y, ref, z, rz);
}

TEST(ops_rope_3d_wan_split) {
    rope_case(3, 4, 5, 32); /* t, h, w parts of 12, 10, 10 dims */
    rope_case(2, 3, 4, 64); /* 24, 20, 20 */
    rope_case(2, 2, 3, 128); /* 44, 42, 42 */
    rope_case(2, 3, 2, 36); /* 12, 12, 12 */
}
