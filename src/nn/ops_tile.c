/* ops_tile.c - the small in-cache GEMM of the fused kernels (attention tiles):
 * C[M,N] (+)= A[M,K] B[K,N] with A(m,k) = A[m*am + k*ak] (so A may be read
 * transposed) and row-major B, C. A register-blocked AVX-512 or AVX2 micro-kernel
 * when compiled for one, and a portable loop (also used when pp_ops_portable is
 * set, so the tests cover both). */
#include <string.h>
#include "nn/ops_util.h"
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

int pp_ops_portable = 0;

static void tile_gemm_portable(float *C, int ldc, const float *A, int am, int ak, const float *B,
                               int ldb, int M, int N, int K, int accumulate) {
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * ldc;
        if (!accumulate) memset(c, 0, (size_t)N * sizeof(float));
        for (int k = 0; k < K; k++) {
            float a = A[(size_t)m * am + (size_t)k * ak];
            const float *b = B + (size_t)k * ldb;
            for (int n = 0; n < N; n++) c[n] += a * b[n];
        }
    }
}

/* The vector ISA of the micro-kernel: AVX-512 (16 lanes, mask registers) or
 * AVX2 + FMA (8 lanes, integer-vector masks); 16 or 12 accumulators. */
#if defined(__AVX512F__)
#define PP_TILE_SIMD 1
typedef __m512 vec;
typedef __mmask16 vmask;
#define VL 16
#define MR_NARROW 8 /* rows when a block has <= 2 vectors of columns */
#define MR_WIDE 4
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(m, p) _mm512_maskz_loadu_ps((m), (p))
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_STOREU(p, x) _mm512_storeu_ps((p), (x))
#define V_STORE(p, m, x) _mm512_mask_storeu_ps((p), (m), (x))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_SET1(x) _mm512_set1_ps(x)
static inline vmask tail_mask(int rem) { return (vmask)((1u << rem) - 1); }
#elif defined(__AVX2__) && defined(__FMA__)
#define PP_TILE_SIMD 1
typedef __m256 vec;
typedef __m256i vmask;
#define VL 8
#define MR_NARROW 6
#define MR_WIDE 3
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(m, p) _mm256_maskload_ps((p), (m))
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_STOREU(p, x) _mm256_storeu_ps((p), (x))
#define V_STORE(p, m, x) _mm256_maskstore_ps((p), (m), (x))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_SET1(x) _mm256_set1_ps(x)
static inline vmask tail_mask(int rem) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

#ifdef PP_TILE_SIMD
/* MR rows x NV vectors of VL columns; the last vector is masked by `last`. The
 * accumulators are named variables (an array of them would be kept in memory);
 * the guards on the constants MR, NV fold away once inlined. */
#define ALL_RV(X) X(0, 0) X(0, 1) X(0, 2) X(0, 3) X(1, 0) X(1, 1) X(1, 2) X(1, 3) X(2, 0) X(2, 1) X(2, 2) X(2, 3) X(3, 0) X(3, 1) X(3, 2) X(3, 3) X(4, 0) X(4, 1) X(4, 2) X(4, 3) X(5, 0) X(5, 1) X(5, 2) X(5, 3) X(6, 0) X(6, 1) X(6, 2) X(6, 3) X(7, 0) X(7, 1) X(7, 2) X(7, 3)
/* only the last vector of a row is masked (plain loads fold into the FMAs) */
#define LOADV(v, p) ((v) == NV - 1 ? V_LOAD(last, (p)) : V_LOADU(p))
#define STOREV(v, p, x)                                                                            \
    if ((v) == NV - 1) V_STORE((p), last, (x));                                                    \
    else V_STOREU((p), (x));
#define LOAD_C(r, v)                                                                               \
    vec c##r##v = V_ZERO();                                                                        \
    if (MR > r && NV > v && acc) c##r##v = LOADV(v, C + (size_t)r * ldc + VL * v);
#define FMA_C(r, v)                                                                                \
    if (MR > r && NV > v) c##r##v = V_FMA(V_SET1(a[(size_t)r * am]), b##v, c##r##v);
#define STORE_C(r, v)                                                                              \
    if (MR > r && NV > v) {                                                                        \
        STOREV(v, C + (size_t)r * ldc + VL * v, c##r##v)                                           \
    }
static inline __attribute__((always_inline)) void
micro(float *C, int ldc, const float *A, int am, int ak, const float *B, int ldb, int K, int acc,
      vmask last, const int MR, const int NV) {
    ALL_RV(LOAD_C)
    for (int k = 0; k < K; k++) {
        const float *b = B + (size_t)k * ldb, *a = A + (size_t)k * ak;
        vec b0 = LOADV(0, b), b1 = b0, b2 = b0, b3 = b0;
        if (NV > 1) b1 = LOADV(1, b + VL);
        if (NV > 2) b2 = LOADV(2, b + 2 * VL);
        if (NV > 3) b3 = LOADV(3, b + 3 * VL);
        ALL_RV(FMA_C)
    }
    ALL_RV(STORE_C)
}
#undef LOAD_C
#undef FMA_C
#undef STORE_C
#undef LOADV
#undef STOREV

/* one (mr <= 8, nv <= 4) block, dispatched to a fully unrolled micro-kernel */
static void micro_any(float *C, int ldc, const float *A, int am, int ak, const float *B, int ldb,
                      int K, int acc, vmask last, int mr, int nv) {
#define MK(R, V) micro(C, ldc, A, am, ak, B, ldb, K, acc, last, R, V)
#define ROW(R)                                                                                     \
    case R:                                                                                        \
        if (nv == 1) MK(R, 1);                                                                     \
        else if (nv == 2) MK(R, 2);                                                                \
        else if (nv == 3) MK(R, 3);                                                                \
        else MK(R, 4);                                                                             \
        break;
    switch (mr) {
        ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8)
    }
#undef ROW
#undef MK
}

/* blocks of up to 4 vectors of columns by MR_NARROW or MR_WIDE rows */
static void tile_gemm_simd(float *C, int ldc, const float *A, int am, int ak, const float *B,
                           int ldb, int M, int N, int K, int accumulate) {
    for (int n0 = 0; n0 < N; n0 += 4 * VL) {
        int nn = N - n0 < 4 * VL ? N - n0 : 4 * VL, nv = (nn + VL - 1) / VL;
        vmask last = tail_mask(nn - VL * (nv - 1));
        int mrmax = nv <= 2 ? MR_NARROW : MR_WIDE;
        for (int m0 = 0; m0 < M; m0 += mrmax) {
            int mr = M - m0 < mrmax ? M - m0 : mrmax;
            micro_any(C + (size_t)m0 * ldc + n0, ldc, A + (size_t)m0 * am, am, ak, B + n0, ldb, K,
                      accumulate, last, mr, nv);
        }
    }
}
#endif

void pp_tile_gemm(float *C, int ldc, const float *A, int am, int ak, const float *B, int ldb, int M,
                  int N, int K, int accumulate) {
#ifdef PP_TILE_SIMD
    if (!pp_ops_portable) {
        tile_gemm_simd(C, ldc, A, am, ak, B, ldb, M, N, K, accumulate);
        return;
    }
#endif
    tile_gemm_portable(C, ldc, A, am, ak, B, ldb, M, N, K, accumulate);
}
