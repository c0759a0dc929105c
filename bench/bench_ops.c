/* bench_ops.c - GFLOP/s of the hot ops at the benchmark shapes (medians of runs).
 *   make bench/bench_ops && bench/bench_ops [reps]
 * Shapes: M = batch*tokens = 8192 rows; attention 64 heads-batches x 512 tokens x
 * D 32 (shape A) and 32 x 512 x 64 (shape B). Elementwise ops report GB/s of the
 * tensors they must read and write. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "base/common.h"
#include "nn/ops.h"
#include "base/rng.h"

static int g_reps = 7;
static double g_cpu; /* median CPU seconds (all threads) of the last median_time */

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median wall seconds of g_reps calls of fn(ctx), after one warm-up; the median
 * CPU seconds go to g_cpu (on shared cores, flops / CPU time is the steadier
 * measure of a kernel: it is what one fully owned core would deliver) */
static double median_time(void (*fn)(void *), void *ctx) {
    double t[64], c[64];
    fn(ctx);
    for (int r = 0; r < g_reps; r++) {
        double t0 = pp_now(), c0 = cpu_now();
        fn(ctx);
        t[r] = pp_now() - t0;
        c[r] = cpu_now() - c0;
    }
    qsort(t, (size_t)g_reps, sizeof t[0], cmp_d);
    qsort(c, (size_t)g_reps, sizeof c[0], cmp_d);
    g_cpu = c[g_reps / 2];
    return t[g_reps / 2];
}

static float *rnd(size_t n) {
    static pp_rng r;
    static int seeded;
    if (!seeded) pp_rng_seed(&r, 1), seeded = 1;
    float *x = pp_alloc_floats(n);
    pp_rng_fill_normal(&r, x, n, 1.0f);
    return x;
}

/* ---- linear ---- */
typedef struct { float *out, *inp, *W, *b, *dinp, *dW, *db; int M, K, N; } lin_b;
static void lin_f(void *p) {
    lin_b *c = p;
    pp_linear_forward(c->out, c->inp, c->W, c->b, c->M, c->K, c->N);
}
static void lin_bw(void *p) {
    lin_b *c = p;
    pp_linear_backward(c->dinp, c->dW, c->db, c->out, c->inp, c->W, c->M, c->K, c->N);
}
static void sgemm_raw(void *p) {
    lin_b *c = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->M, c->N, c->K, 1.0f, c->inp, c->K, c->W,
                c->K, 0.0f, c->out, c->N);
}

static void bench_linear(int M, int K, int N) {
    lin_b c = {.M = M, .K = K, .N = N};
    c.inp = rnd((size_t)M * K), c.W = rnd((size_t)N * K), c.b = rnd(N), c.out = rnd((size_t)M * N);
    c.dinp = rnd((size_t)M * K), c.dW = rnd((size_t)N * K), c.db = rnd(N);
    double fl = 2.0 * M * K * N, tf = median_time(lin_f, &c), cf = g_cpu;
    double tb = median_time(lin_bw, &c), cb = g_cpu;
    printf("linear  M=%d K=%4d N=%4d  fwd %6.1f (%5.1f/core)  bwd %6.1f (%5.1f/core) GFLOP/s\n", M,
           K, N, fl / tf / 1e9, fl / cf / 1e9, 2 * fl / tb / 1e9, 2 * fl / cb / 1e9);
    pp_free_aligned(c.inp), pp_free_aligned(c.W), pp_free_aligned(c.b), pp_free_aligned(c.out);
    pp_free_aligned(c.dinp), pp_free_aligned(c.dW), pp_free_aligned(c.db);
}

static void bench_peak(void) {
    int n = 2048;
    lin_b c = {.M = n, .K = n, .N = n};
    c.inp = rnd((size_t)n * n), c.W = rnd((size_t)n * n), c.out = rnd((size_t)n * n);
    double fl = 2.0 * n * n * n, t = median_time(sgemm_raw, &c);
    printf("sgemm peak %dx%dx%d: %.1f GFLOP/s (%.1f per core)\n", n, n, n, fl / t / 1e9,
           fl / g_cpu / 1e9);
    pp_free_aligned(c.inp), pp_free_aligned(c.W), pp_free_aligned(c.out);
}

/* ---- attention ---- */
typedef struct { float *out, *lse, *q, *k, *v, *dq, *dk, *dv, *dout; int B, N, H, D; } att_b;
static void att_f(void *p) {
    att_b *c = p;
    pp_attention_forward(c->out, c->lse, c->q, c->k, c->v, c->B, c->N, c->N, c->H, c->D);
}
static void att_bw(void *p) {
    att_b *c = p;
    pp_attention_backward(c->dq, c->dk, c->dv, c->dout, c->q, c->k, c->v, c->out, c->lse, c->B, c->N,
                          c->N, c->H, c->D);
}

static void bench_attention(int B, int N, int H, int D) {
    att_b c = {.B = B, .N = N, .H = H, .D = D};
    size_t n = (size_t)B * N * H * D;
    c.q = rnd(n), c.k = rnd(n), c.v = rnd(n), c.out = rnd(n), c.dout = rnd(n);
    c.dq = rnd(n), c.dk = rnd(n), c.dv = rnd(n), c.lse = rnd((size_t)B * H * N);
    double fl = 4.0 * B * H * N * (double)N * D; /* QK^T and PV */
    double tf = median_time(att_f, &c), cf = g_cpu, tb = median_time(att_bw, &c), cb = g_cpu;
    printf("attn    B*H=%d N=%d D=%d  fwd %6.1f (%5.1f/core) GFLOP/s %5.1f ms  bwd %6.1f (%5.1f/core) "
           "GFLOP/s %5.1f ms\n", B * H, N, D, fl / tf / 1e9, fl / cf / 1e9, tf * 1e3,
           2.5 * fl / tb / 1e9, 2.5 * fl / cb / 1e9, tb * 1e3);
    float *bufs[] = {c.q, c.k, c.v, c.out, c.dout, c.dq, c.dk, c.dv, c.lse};
    for (int i = 0; i < 9; i++) pp_free_aligned(bufs[i]);
}

/* ---- elementwise and row ops ---- */
typedef struct { float *x, *y, *dx, *dy, *mod, *dmod, *mean, *rstd; pp_rope rope; int B, N, C; } ew_b;
static void lnm_f(void *p) {
    ew_b *c = p;
    pp_ln_modulate_forward(c->y, c->mean, c->rstd, c->x, c->mod, c->mod + c->C, c->B, c->N, c->C,
                           6 * c->C, 1e-6f);
}
static void lnm_bw(void *p) {
    ew_b *c = p;
    pp_ln_modulate_backward(c->dx, c->dmod, c->dmod + c->C, c->dy, c->x, c->mean, c->rstd,
                            c->mod + c->C, c->B, c->N, c->C, 6 * c->C);
}
static void gelu_f(void *p) {
    ew_b *c = p;
    pp_gelu_forward(c->y, c->x, (size_t)c->B * c->N * c->C);
}
static void gelu_bw(void *p) {
    ew_b *c = p;
    pp_gelu_backward(c->dx, c->dy, c->x, (size_t)c->B * c->N * c->C);
}
static void rope_f(void *p) {
    ew_b *c = p;
    pp_rope_forward(c->y, c->x, &c->rope, c->B, c->C / c->rope.D);
}
static void rope_bw(void *p) {
    ew_b *c = p;
    pp_rope_backward(c->dx, c->dy, &c->rope, c->B, c->C / c->rope.D);
}
static void gres_f(void *p) {
    ew_b *c = p;
    pp_gated_residual_forward(c->x, c->y, c->mod + 2 * c->C, c->B, c->N, c->C, 6 * c->C);
}
static void gres_bw(void *p) {
    ew_b *c = p;
    pp_gated_residual_backward(c->dy, c->dmod + 2 * c->C, c->dx, c->y, c->mod + 2 * c->C, c->B, c->N,
                               c->C, 6 * c->C);
}
static void rms_f(void *p) {
    ew_b *c = p;
    pp_rmsnorm_forward(c->y, c->rstd, c->x, c->mod, c->B * c->N, c->C, 1e-6f);
}
static void rms_bw(void *p) {
    ew_b *c = p;
    pp_rmsnorm_backward(c->dx, c->dmod, c->dy, c->x, c->rstd, c->mod, c->B * c->N, c->C);
}

/* fwd moves 2 tensors (read x, write y); bwd 3-4 (read dy, x; read+write dx) */
static void bench_ew(const char *name, void (*f)(void *), void (*b)(void *), ew_b *c, double fwd_t,
                     double bwd_t) {
    double bytes = 4.0 * c->B * c->N * c->C;
    double tf = median_time(f, c), cf = g_cpu, tb = median_time(b, c), cb = g_cpu;
    printf("%-7s [%d,%d,%d]  fwd %6.1f GB/s %.2f ms (%.2f cpu-ms)  bwd %6.1f GB/s %.2f ms (%.2f cpu-ms)\n",
           name, c->B, c->N, c->C, fwd_t * bytes / tf / 1e9, tf * 1e3, cf * 1e3,
           bwd_t * bytes / tb / 1e9, tb * 1e3, cb * 1e3);
}

static void bench_elementwise(int B, int N, int C, int ffn, int H) {
    ew_b c = {.B = B, .N = N, .C = C};
    size_t n = (size_t)B * N * ffn;
    c.x = rnd(n), c.y = rnd(n), c.dx = rnd(n), c.dy = rnd(n);
    c.mod = rnd((size_t)B * 6 * C), c.dmod = rnd((size_t)B * 6 * C);
    c.mean = rnd((size_t)B * N), c.rstd = rnd((size_t)B * N);
    pp_rope_build(&c.rope, 8, 8, N / 64, C / H, 10000.0f);
    bench_ew("lnmod", lnm_f, lnm_bw, &c, 2, 3);
    bench_ew("rmsnorm", rms_f, rms_bw, &c, 2, 3);
    bench_ew("gres", gres_f, gres_bw, &c, 3, 3);
    bench_ew("rope", rope_f, rope_bw, &c, 2, 2);
    c.C = ffn;
    bench_ew("gelu", gelu_f, gelu_bw, &c, 2, 4);
    pp_rope_free(&c.rope);
    float *bufs[] = {c.x, c.y, c.dx, c.dy, c.mod, c.dmod, c.mean, c.rstd};
    for (int i = 0; i < 8; i++) pp_free_aligned(bufs[i]);
}

int main(int argc, char **argv) {
    if (argc > 1) g_reps = atoi(argv[1]) < 1 ? 1 : atoi(argv[1]) > 63 ? 63 : atoi(argv[1]);
    bench_peak();
    int kn[4] = {128, 256, 512, 1024};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if (i == j || kn[i] * 4 == kn[j] || kn[j] * 4 == kn[i]) bench_linear(8192, kn[i], kn[j]);
    bench_attention(16, 512, 4, 32);
    bench_attention(8, 512, 4, 64);
    bench_attention(16, 256, 4, 32);
    bench_elementwise(16, 512, 128, 512, 4);
    bench_elementwise(8, 512, 256, 1024, 4);
    return 0;
}
