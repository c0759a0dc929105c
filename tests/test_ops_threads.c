/* test_ops_threads.c - ops at sizes above the serial threshold give bitwise the
 * same results on 3 threads as on 1: the thread splits, the per-chunk partial
 * sums of parameter gradients, attention's split backward (few heads per thread). */
#include <omp.h>
#include <string.h>
#include "base/common.h"
#include "nn/ops.h"
#include "test_ops_util.h"
#include "test.h"

enum { B = 2, N = 256, C = 160, H = 2, D = 32, NRES = 11 };
#define NX ((size_t)B * N * C)

/* sizes of the results compared */
static const size_t SZ[NRES] = {NX, C, NX, 6 * B * C, NX, 4 * (size_t)C, (size_t)B * N * H * D * 4,
                                NX, NX, NX, NX + (size_t)C * C};

typedef struct { float *x, *y, *r, *mod, *w, *q, *k, *v, *res[NRES]; } th_ctx;

/* every op with a reduction or a non-trivial split, results in c->res (zeroed) */
static void run_all(th_ctx *c) {
    for (int i = 0; i < NRES; i++) memset(c->res[i], 0, SZ[i] * sizeof(float));
    float *mean = zeros((size_t)B * N), *rstd = zeros((size_t)B * N), **r = c->res;
    pp_layernorm_forward(c->y, mean, rstd, c->x, c->w, c->w + C, B * N, C, 1e-5f);
    pp_layernorm_backward(r[0], r[1], r[1], c->r, c->x, mean, rstd, c->w, B * N, C);
    pp_ln_modulate_forward(r[2], mean, rstd, c->x, c->mod, c->mod + C, B, N, C, 6 * C, 1e-6f);
    pp_ln_modulate_backward(r[0], r[3], r[3] + C, c->r, c->x, mean, rstd, c->mod + C, B, N, C, 6 * C);
    pp_modulate_backward(r[4], r[3] + 2 * C, r[3] + 3 * C, c->r, c->x, c->mod + C, B, N, C, 6 * C);
    pp_gated_residual_backward(r[4], r[3] + 4 * C, c->r, c->x, c->mod, B, N, C, 6 * C);
    pp_rmsnorm_forward(c->y, rstd, c->x, c->w, B * N, C, 1e-6f);
    pp_rmsnorm_backward(r[4], r[5], c->r, c->x, rstd, c->w, B * N, C);
    pp_linear_backward(NULL, NULL, r[5] + C, c->r, c->x, c->w, B * N, C, C);
    pp_linear_forward(r[9], c->x, c->w, c->mod, B * N, C, C);
    pp_linear_backward(r[10], r[10] + NX, NULL, c->r, c->x, c->w, B * N, C, C);
    r[5][2 * C] = pp_mse_forward(c->x, c->r, NX);
    pp_softmax_forward(r[7], c->x, B * N, C);
    pp_softmax_backward(r[8], c->r, r[7], B * N, C);
    /* attention on [B, N, H, D] views of the same buffers */
    size_t na = (size_t)B * N * H * D;
    float *lse = zeros((size_t)B * H * N);
    pp_attention_forward(r[6], lse, c->q, c->k, c->v, B, N, N, H, D);
    pp_attention_backward(r[6] + na, r[6] + 2 * na, r[6] + 3 * na, c->r, c->q, c->k, c->v, r[6], lse,
                          B, N, N, H, D);
    free_all(3, mean, rstd, lse);
}

TEST(ops_threaded_matches_one_thread) {
    th_ctx c;
    c.x = randn(NX, 101), c.y = zeros(NX), c.r = randn(NX, 102), c.mod = randn(6 * B * C, 103);
    c.w = randn(C * C, 104), c.q = randn(NX, 105), c.k = randn(NX, 106), c.v = randn(NX, 107);
    float *one[NRES];
    for (int i = 0; i < NRES; i++) c.res[i] = zeros(SZ[i]);
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    run_all(&c);
    for (int i = 0; i < NRES; i++) one[i] = copy(c.res[i], SZ[i]);
    omp_set_num_threads(3);
    run_all(&c);
    omp_set_num_threads(nt);
    for (int i = 0; i < NRES; i++) {
        double e = pp_rel_err(c.res[i], one[i], SZ[i]);
        CHECK_MSG(e == 0, "result %d: rel err %g between 3 threads and 1", i, e);
        free_all(2, c.res[i], one[i]);
    }
    free_all(8, c.x, c.y, c.r, c.mod, c.w, c.q, c.k, c.v);
}
