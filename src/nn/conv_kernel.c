/* conv_kernel.c - the direct convolution kernel (conv_impl.h): an MR x NT block
 * of outputs held in registers while K shifted rows of the prepared frames
 * stream through, each row's NT positions loaded once and multiplied by MR
 * broadcast weights. AVX-512: 8 channels x 3 vectors of 16 positions (24
 * accumulators); AVX2 + FMA: 4 x 3 vectors of 8. Builds without either
 * (PORTABLE=1) have no kernel and conv.c uses its sgemm path. */
#include "nn/conv_impl.h"
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
#define MR 8
#define VL 16
typedef __m512 vec;
typedef __mmask16 vmask;
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_LOADM(m, p) _mm512_maskz_loadu_ps((m), (p))
#define V_STOREU(p, x) _mm512_storeu_ps((p), (x))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_SET1(x) _mm512_set1_ps(x)
static inline vmask lanes(int n) { return n >= VL ? (vmask)0xffff : n <= 0 ? 0 : (vmask)((1u << n) - 1); }
#elif defined(__AVX2__) && defined(__FMA__)
#define MR 4
#define VL 8
typedef __m256 vec;
typedef __m256i vmask;
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_LOADM(m, p) _mm256_maskload_ps((p), (m))
#define V_STOREU(p, x) _mm256_storeu_ps((p), (x))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_SET1(x) _mm256_set1_ps(x)
static inline vmask lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

#ifdef MR
#define NT (3 * VL)
const int pp_conv_mr = MR, pp_conv_nt = NT;

/* the accumulators c<r><v>, r < MR, v < 3, as named variables (kept in registers) */
#if MR == 8
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#else
#define ROWS(X) X(0) X(1) X(2) X(3)
#endif
#define DECL(r) vec c##r##0 = V_SET1(bias[r]), c##r##1 = c##r##0, c##r##2 = c##r##0;
#define FMA3(r)                                                                                    \
    {                                                                                              \
        vec a_ = V_SET1(a[r]);                                                                     \
        c##r##0 = V_FMA(a_, b0, c##r##0);                                                          \
        c##r##1 = V_FMA(a_, b1, c##r##1);                                                          \
        c##r##2 = V_FMA(a_, b2, c##r##2);                                                          \
    }
#define STORE3(r)                                                                                  \
    V_STOREU(tmp + r * NT, c##r##0);                                                               \
    V_STOREU(tmp + r * NT + VL, c##r##1);                                                          \
    V_STOREU(tmp + r * NT + 2 * VL, c##r##2);

void pp_conv_kernel(float *tmp, const float *A, const float *const *rows, int K, int p0, int n,
                    const float *bias) {
    ROWS(DECL)
    if (n == NT) {
        for (int k = 0; k < K; k++) {
            const float *b = rows[k] + p0, *a = A + (size_t)k * MR;
            vec b0 = V_LOADU(b), b1 = V_LOADU(b + VL), b2 = V_LOADU(b + 2 * VL);
            ROWS(FMA3)
        }
    } else { /* the last positions of a frame: masked loads never touch past n */
        vmask m0 = lanes(n), m1 = lanes(n - VL), m2 = lanes(n - 2 * VL);
        for (int k = 0; k < K; k++) {
            const float *b = rows[k] + p0, *a = A + (size_t)k * MR;
            vec b0 = V_LOADM(m0, b), b1 = V_LOADM(m1, b + VL), b2 = V_LOADM(m2, b + 2 * VL);
            ROWS(FMA3)
        }
    }
    ROWS(STORE3)
}
#else
const int pp_conv_mr = 1, pp_conv_nt = 0;

void pp_conv_kernel(float *tmp, const float *A, const float *const *rows, int K, int p0, int n,
                    const float *bias) {
    (void)tmp, (void)A, (void)rows, (void)K, (void)p0, (void)n, (void)bias;
}
#endif
