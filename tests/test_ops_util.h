/* test_ops_util.h - buffers and the finite-difference gradient check shared by
 * the ops tests. The loss of a case is L = sum(out * r) in double; its analytic
 * gradient is the op's backward with dout = r. */
#ifndef PP_TEST_OPS_UTIL_H
#define PP_TEST_OPS_UTIL_H
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include "base/common.h"
#include "base/rng.h"
#include "nn/amx.h"
#include "test.h"

/* each BF16 engine this machine has: AMX (where present) and the AVX512-BF16
 * dot products (also on an AMX machine, through pp_bf16_no_amx); on a CPU with
 * neither, the rounded-input fallback once. Returns how many (at most 2). */
static inline int bf16_engines(pp_bf16_kind e[2]) {
    int n = 0;
    if (pp_amx_available()) e[n++] = PP_BF16_AMX;
    if (pp_bf16_dp_available()) e[n++] = PP_BF16_DP;
    if (!n) e[n++] = PP_BF16_NONE;
    return n;
}

static inline const char *bf16_engine_name(pp_bf16_kind e) {
    return e == PP_BF16_AMX ? "AMX" : e == PP_BF16_DP ? "AVX512-BF16" : "fallback";
}

static inline float *zeros(size_t n) { return pp_zalloc_floats(n); }

static inline float *randn(size_t n, uint64_t seed) {
    pp_rng r;
    pp_rng_seed(&r, seed);
    float *x = pp_alloc_floats(n);
    pp_rng_fill_normal(&r, x, n, 1.0f);
    return x;
}

static inline float *copy(const float *x, size_t n) {
    float *y = pp_alloc_floats(n);
    for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

static inline void scale_buf(float *x, float a, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= a;
}

static inline double dot_d(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static inline void free_all(int count, ...) {
    va_list ap;
    va_start(ap, count);
    for (int i = 0; i < count; i++) pp_free_aligned(va_arg(ap, float *));
    va_end(ap);
}

/* Normalised error of the analytic gradient g of loss(ctx) w.r.t. x [n] against
 * central differences (eps 1e-2 in float, loss in double) at up to 48 evenly
 * spread elements: ||num - g|| / ||num||, as in ggml's test-backend-ops. */
static inline double fd_err(double (*loss)(void *), void *ctx, float *x, const float *g, size_t n) {
    const float eps = 1e-2f;
    size_t step = n > 48 ? n / 48 : 1;
    double num2 = 0, diff2 = 0;
    for (size_t i = (n > 48 ? step / 2 : 0); i < n; i += step) {
        float save = x[i];
        x[i] = save + eps;
        double lp = loss(ctx);
        x[i] = save - eps;
        double lm = loss(ctx);
        x[i] = save;
        double num = (lp - lm) / (2.0 * eps);
        num2 += num * num;
        diff2 += (num - g[i]) * (num - g[i]);
    }
    loss(ctx); /* leave the outputs of the unperturbed inputs */
    return sqrt(diff2 / (num2 > 1e-20 ? num2 : 1e-20));
}

/* the threshold is ~4x the largest error of the correct ops; PP_FD_VERBOSE=1 prints each */
#define CHECK_FD(loss, ctx, x, g, n)                                                       \
    do {                                                                                   \
        double e_ = fd_err((loss), (ctx), (x), (g), (size_t)(n));                          \
        if (getenv("PP_FD_VERBOSE")) printf("      fd %-8s %.3g\n", #x, e_);              \
        CHECK_MSG(e_ < 1e-3, "gradient of %s: normalised fd error %.3g", #x, e_);          \
    } while (0)
#endif
