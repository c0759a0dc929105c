/* ops_util.h - small shared helpers of the ops_*.c kernels (internal). */
#ifndef PP_OPS_UTIL_H
#define PP_OPS_UTIL_H
#include <math.h>
#include <stddef.h>
#include <omp.h>
#include "base/common.h"

/* Work (elements, or flops / 64) below which an op runs on the calling thread:
 * a parallel region costs microseconds, and far more when cores are shared. */
#define PP_PAR_MIN ((size_t)1 << 16)

static inline int pp_nthreads(void) { return omp_get_max_threads(); }
static inline int pp_tid(void) { return omp_get_thread_num(); }

/* Sums over rows (parameter gradients) are taken per fixed chunk of PP_ROW_CHUNK
 * rows, whichever thread runs it, and the chunk sums are added in chunk order:
 * the result does not depend on the thread count. */
#define PP_ROW_CHUNK 64

/* dst[i] += sum over p < np of part[p*stride + i], i < n, in order of p */
static inline void pp_reduce_partials(float *dst, const float *part, int np, size_t stride, int n) {
    for (int p = 0; p < np; p++)
        for (int i = 0; i < n; i++) dst[i] += part[(size_t)p * stride + i];
}

/* mean and rstd = 1/sqrt(var + eps) of a row of C floats (two passes, so the
 * variance is of centred values); with centre = 0 it is RMSNorm's rstd */
static inline void pp_row_stats(const float *x, int C, float eps, int centre, float *mean,
                                float *rstd) {
    float s = 0, v = 0;
    if (centre) {
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += x[c];
        s /= C;
    }
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; c++) v += (x[c] - s) * (x[c] - s);
    *mean = s;
    *rstd = 1.0f / sqrtf(v / C + eps);
}

/* dx += rstd * (g - mean(g) - xhat * mean(g * xhat)) for one row, g = dL/dxhat,
 * xhat = (x - mu) * rstd; centre = 0 (RMSNorm) drops the mean(g) term */
static inline void pp_row_norm_dx(float *dx, const float *g, const float *x, float mu, float rs,
                                  int C, int centre) {
    float sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int c = 0; c < C; c++) {
        sg += g[c];
        sgx += g[c] * (x[c] - mu) * rs;
    }
    float mg = centre ? sg / C : 0.0f, mgx = sgx / C;
#pragma omp simd
    for (int c = 0; c < C; c++) dx[c] += rs * (g[c] - mg - (x[c] - mu) * rs * mgx);
}

/* Set (e.g. by the tests) to run the portable C paths instead of the SIMD ones. */
extern int pp_ops_portable;

/* C[M,N] (+)= A[M,K] B[K,N] for in-cache tiles; A(m,k) = A[m*am + k*ak], B and C
 * row-major with row strides ldb, ldc; accumulate = 0 overwrites C. */
void pp_tile_gemm(float *C, int ldc, const float *A, int am, int ak, const float *B, int ldb, int M,
                  int N, int K, int accumulate);

/* e^x by x = n ln2 + r, |r| <= ln2/2: e^r by its degree-6 Taylor polynomial
 * (rel. error ~1.5e-7), 2^n by building the exponent bits. Branch-free, so loops
 * over it vectorise. x must lie in [-87.3, 88.7] (the callers clamp). */
static inline float pp_exp_core(float x) {
    float t = x * 1.44269504f + 12582912.0f; /* round(x log2 e) in the low mantissa */
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f; /* two-part ln 2 */
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^n by building the exponent bits; a NaN x leaves n NaN, which must not be
     * converted to an integer (undefined): p is NaN already and so is the result */
    int32_t e = n == n ? (int32_t)n + 127 : 127;
    union { uint32_t i; float f; } u = {.i = (uint32_t)e << 23};
    return p * u.f;
}

/* e^x for any x: clamped to [-87.3, 88.7], so very negative x gives ~1e-38
 * instead of 0 (which no caller can tell apart) and large x gives ~3e38 */
static inline float pp_exp(float x) {
    return pp_exp_core(x < -87.3f ? -87.3f : x > 88.7f ? 88.7f : x);
}

/* e^x for x <= 0 (softmax numerators; small positive x from rounding is fine):
 * one clamp fewer */
static inline float pp_exp_neg(float x) { return pp_exp_core(x < -87.3f ? -87.3f : x); }

/* max(init, x[0..n)) */
static inline float pp_row_max(const float *x, int n, float init) {
    float mx = init;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

/* dst[j] = e^(x[j] - mx) for x[j] <= mx (a softmax's numerators; dst may be x);
 * returns their sum */
static inline float pp_exp_shifted_sum(float *dst, const float *x, int n, float mx) {
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) {
        dst[j] = pp_exp_neg(x[j] - mx);
        sum += dst[j];
    }
    return sum;
}

/* tanh(y) = 1 - 2 / (1 + e^{2y}); exact to ~1e-7 absolute, saturates cleanly */
static inline float pp_tanh_fast(float y) { return 1.0f - 2.0f / (1.0f + pp_exp(2.0f * y)); }

#define PP_GELU_S 0.7978845608028654f /* sqrt(2/pi) */
#define PP_GELU_A 0.044715f

/* GELU, tanh form: 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))) */
static inline float pp_gelu_tanh(float v) {
    return 0.5f * v * (1.0f + pp_tanh_fast(PP_GELU_S * (v + PP_GELU_A * v * v * v)));
}
#endif
