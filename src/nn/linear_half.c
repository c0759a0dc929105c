/* linear_half.c - see linear_half.h */
#include <cblas.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#include "nn/amx.h"
#include "nn/linear_half.h"
#include "nn/ops.h"
#include "nn/ops_util.h"

#ifndef PANEL_FLOATS
#define PANEL_FLOATS (1024 * 1024) /* ~4 MiB of converted weight per panel */
#endif

int pp_linear_half_panel_rows(int K) {
    long r = K > 0 ? PANEL_FLOATS / K : 16;
    r = r / 16 * 16;
    return r < 16 ? 16 : (int)r;
}

static inline float bf16_word(uint16_t h) {
    union { uint32_t u; float f; } v = {.u = (uint32_t)h << 16};
    return v.f;
}

/* IEEE half to float, exactly (subnormals, inf and NaN included) */
static inline float f16_word(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0x1f) {
        u = sign | 0x7f800000u | (m << 13);
    } else if (e) {
        u = sign | ((e + 112) << 23) | (m << 13);
    } else if (m) { /* subnormal: normalise */
        e = 113;
        while (!(m & 0x400)) m <<= 1, e--;
        u = sign | (e << 23) | ((m & 0x3ff) << 13);
    } else {
        u = sign;
    }
    union { uint32_t u; float f; } v = {.u = u};
    return v.f;
}

static void to_f32_portable(float *dst, const unsigned char *src, size_t n, pp_half_kind kind) {
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)); /* little-endian words */
        dst[i] = kind == PP_HALF_BF16 ? bf16_word(h) : f16_word(h);
    }
}

void pp_half_to_f32(float *dst, const void *src, size_t n, pp_half_kind kind) {
    const unsigned char *s = src;
    size_t i = 0;
    if (!pp_ops_portable) {
#if defined(__AVX512F__)
        if (kind == PP_HALF_BF16)
            for (; i + 16 <= n; i += 16) {
                __m256i w = _mm256_loadu_si256((const __m256i *)(s + 2 * i));
                __m512i x = _mm512_slli_epi32(_mm512_cvtepu16_epi32(w), 16);
                _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(x));
            }
        else
            for (; i + 16 <= n; i += 16) {
                __m256i w = _mm256_loadu_si256((const __m256i *)(s + 2 * i));
                _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(w));
            }
#elif defined(__AVX2__)
        if (kind == PP_HALF_BF16)
            for (; i + 8 <= n; i += 8) {
                __m128i w = _mm_loadu_si128((const __m128i *)(s + 2 * i));
                __m256i x = _mm256_slli_epi32(_mm256_cvtepu16_epi32(w), 16);
                _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(x));
            }
#if defined(__F16C__)
        else
            for (; i + 8 <= n; i += 8) {
                __m128i w = _mm_loadu_si128((const __m128i *)(s + 2 * i));
                _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(w));
            }
#endif
#endif
    }
    to_f32_portable(dst + i, s + 2 * i, n - i, kind);
}

#if defined(__AVX512F__)
/* Few rows (M small, as for a text prompt): a register-blocked kernel that
 * reads the 16-bit weights directly, NB (<= 4) weight rows x MB (<= 6) input
 * rows of dot products at a time, each accumulated in 16 lanes over k and then
 * summed in a fixed order. No packing, no F32 copy of the weights: each weight
 * is read from memory once per call. */
#define KB_N 4
#define KB_M 6
static inline __m512 cvt16(__m256i w, int f16) {
    return f16 ? _mm512_cvtph_ps(w) : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(w), 16));
}

static inline __attribute__((always_inline)) void kern(float *out, int ldo, const float *x, int K,
                                                        const unsigned char *w, size_t ldw, int NB, int MB,
                                                        int f16, const unsigned char *wtail, const float *xtail) {
    __m512 acc[KB_N][KB_M];
    for (int n = 0; n < NB; n++)
        for (int m = 0; m < MB; m++) acc[n][m] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 wv[KB_N];
        for (int n = 0; n < NB; n++) wv[n] = cvt16(_mm256_loadu_si256((const __m256i *)(w + n * ldw + 2 * (size_t)k)), f16);
        for (int m = 0; m < MB; m++) {
            __m512 xv = _mm512_loadu_ps(x + (size_t)m * K + k);
            for (int n = 0; n < NB; n++) acc[n][m] = _mm512_fmadd_ps(wv[n], xv, acc[n][m]);
        }
    }
    if (k < K) { /* the last K % 16 columns, zero-padded copies made by the caller */
        __m512 wv[KB_N];
        for (int n = 0; n < NB; n++) wv[n] = cvt16(_mm256_loadu_si256((const __m256i *)(wtail + 32 * n)), f16);
        for (int m = 0; m < MB; m++) {
            __m512 xv = _mm512_loadu_ps(xtail + 16 * m);
            for (int n = 0; n < NB; n++) acc[n][m] = _mm512_fmadd_ps(wv[n], xv, acc[n][m]);
        }
    }
    for (int n = 0; n < NB; n++)
        for (int m = 0; m < MB; m++) out[(size_t)m * ldo + n] = _mm512_reduce_add_ps(acc[n][m]);
}

#define KCASE(nb, mb)                                                                               \
    case (nb) * 8 + (mb):                                                                           \
        if (f16) kern(out, ldo, x, K, w, ldw, nb, mb, 1, wt, xt);                                   \
        else kern(out, ldo, x, K, w, ldw, nb, mb, 0, wt, xt);                                       \
        break;
#define KROW(nb) KCASE(nb, 1) KCASE(nb, 2) KCASE(nb, 3) KCASE(nb, 4) KCASE(nb, 5) KCASE(nb, 6)

static void kern_any(float *out, int ldo, const float *x, int K, const unsigned char *w, size_t ldw, int NB,
                     int MB, int f16, const unsigned char *wt, const float *xt) {
    switch (NB * 8 + MB) {
        KROW(1) KROW(2) KROW(3) KROW(4)
    default: break;
    }
}

#ifndef SMALL_M
#define SMALL_M 96 /* at most this many rows: the direct kernel (faster up to ~100 rows here) */
#endif
#define ROWS_CHUNK 64  /* weight rows per scheduled chunk */

static void linear_small(float *out, const float *inp, const unsigned char *w, int f16, const float *b, int M,
                         int K, int N) {
    int nch = (N + ROWS_CHUNK - 1) / ROWS_CHUNK, kt = K % 16, k0 = K - kt;
    size_t ldw = 2 * (size_t)K;
    /* zero-padded tails of the inputs' last K % 16 columns */
    float *xt = pp_zalloc_floats((size_t)16 * (M + KB_M));
    for (int m = 0; m < M && kt; m++) memcpy(xt + 16 * m, inp + (size_t)m * K + k0, (size_t)kt * sizeof(float));
#pragma omp parallel for schedule(dynamic) if ((size_t)M * N * K > PP_PAR_MIN * 64)
    for (int c = 0; c < nch; c++) {
        unsigned char wt[KB_N * 32];
        int n1 = (c + 1) * ROWS_CHUNK < N ? (c + 1) * ROWS_CHUNK : N;
        for (int n = c * ROWS_CHUNK; n < n1; n += KB_N) {
            int nb = n1 - n < KB_N ? n1 - n : KB_N;
            const unsigned char *wr = w + (size_t)n * ldw;
            if (kt) {
                memset(wt, 0, sizeof wt);
                for (int r = 0; r < nb; r++) memcpy(wt + 32 * r, wr + r * ldw + 2 * (size_t)k0, 2 * (size_t)kt);
            }
            for (int m = 0; m < M; m += KB_M) {
                int mb = M - m < KB_M ? M - m : KB_M;
                kern_any(out + (size_t)m * N + n, N, inp + (size_t)m * K, K, wr, ldw, nb, mb, f16, wt,
                         xt + 16 * m);
            }
        }
        if (b)
            for (int m = 0; m < M; m++)
                for (int n = c * ROWS_CHUNK; n < n1; n++) out[(size_t)m * N + n] += b[n];
    }
    pp_free_aligned(xt);
}
#endif

#define BIG_M 2048   /* at least this many rows: each panel shared by all threads, split by rows */
#define ROW_BLOCK 512 /* input rows per product on that path */

/* Many rows (video tokens): the panels one after another, each converted once
 * into a shared buffer (threads take chunks of it), then the products of all
 * row blocks against it in parallel. A panel's product is M x rows x K, so the
 * two barriers per panel cost nothing, and every thread stays busy however few
 * panels the weight has. fwd = 1: out[M,N] = inp[M,K] W^T + b; fwd = 0:
 * out[M,K] += inp[M,N] W (the input gradient). */
static void linear_rows(float *out, const float *inp, const unsigned char *w, pp_half_kind kind,
                        const float *b, int M, int K, int N, int fwd) {
    int rows = pp_linear_half_panel_rows(K), np = (N + rows - 1) / rows, nb = (M + ROW_BLOCK - 1) / ROW_BLOCK;
    float *buf = pp_alloc_floats((size_t)rows * K);
#pragma omp parallel if ((size_t)M * N * K > PP_PAR_MIN * 64)
    for (int p = 0; p < np; p++) {
        int n0 = p * rows, nr = N - n0 < rows ? N - n0 : rows;
#pragma omp for schedule(static)
        for (int r = 0; r < nr; r += 16) {
            int cnt = nr - r < 16 ? nr - r : 16;
            pp_half_to_f32(buf + (size_t)r * K, w + ((size_t)n0 + r) * K * 2, (size_t)cnt * K, kind);
        }
#pragma omp for schedule(dynamic)
        for (int q = 0; q < nb; q++) {
            int m0 = q * ROW_BLOCK, mr = M - m0 < ROW_BLOCK ? M - m0 : ROW_BLOCK;
            if (fwd) {
                float *o = out + (size_t)m0 * N + n0;
                if (b)
                    for (int m = 0; m < mr; m++) memcpy(o + (size_t)m * N, b + n0, (size_t)nr * sizeof(float));
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mr, nr, K, 1.0f, inp + (size_t)m0 * K, K,
                            buf, K, b ? 1.0f : 0.0f, o, N);
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mr, K, nr, 1.0f,
                            inp + (size_t)m0 * N + n0, N, buf, K, 1.0f, out + (size_t)m0 * K, K);
            }
        }
    }
    pp_free_aligned(buf);
}

void pp_linear_backward_input_half(float *din, const float *dout, const void *W, pp_half_kind kind, int M,
                                   int K, int N) {
    linear_rows(din, dout, W, kind, NULL, M, K, N, 0);
}

static void forward_f32(float *out, const float *inp, const void *W, pp_half_kind kind, const float *b, int M,
                        int K, int N) {
    int rows = pp_linear_half_panel_rows(K), np = (N + rows - 1) / rows;
    const unsigned char *w = W;
    if (M >= BIG_M) {
        linear_rows(out, inp, w, kind, b, M, K, N, 1);
        return;
    }
#if defined(__AVX512F__)
    if (!pp_ops_portable && M <= SMALL_M) {
        linear_small(out, inp, w, kind == PP_HALF_F16, b, M, K, N);
        return;
    }
#endif
#pragma omp parallel if ((size_t)M * N * K > PP_PAR_MIN * 64)
    {
        float *buf = pp_alloc_floats((size_t)rows * K);
#pragma omp for schedule(dynamic)
        for (int p = 0; p < np; p++) {
            int n0 = p * rows, nr = N - n0 < rows ? N - n0 : rows;
            pp_half_to_f32(buf, w + (size_t)n0 * K * 2, (size_t)nr * K, kind);
            float *o = out + n0;
            if (b)
                for (int m = 0; m < M; m++) memcpy(o + (size_t)m * N, b + n0, (size_t)nr * sizeof(float));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nr, K, 1.0f, inp, K, buf, K,
                        b ? 1.0f : 0.0f, o, N);
        }
        pp_free_aligned(buf);
    }
}

static void forward_half(float *out, const float *inp, const void *W, pp_half_kind kind, const float *b, int M,
                         int K, int N, int gelu) {
    if (!pp_compute_bf16 || kind != PP_HALF_BF16) {
        forward_f32(out, inp, W, kind, b, M, K, N);
    } else if (!pp_ops_portable && K > 0 && K % 32 == 0 && N % 32 == 0 && pp_bf16_engine() != PP_BF16_NONE) {
        pp_bf16_linear_act(out, inp, W, b, M, K, N, gelu);
        return; /* GELU done as the blocks were stored */
    } else { /* the same rounding, F32 products */
        float *r = pp_bf16_rounded_copy(inp, (size_t)M * K);
        forward_f32(out, r, W, kind, b, M, K, N);
        pp_free_aligned(r);
    }
    if (gelu) pp_gelu_forward(out, out, (size_t)M * N);
}

void pp_linear_forward_half(float *out, const float *inp, const void *W, pp_half_kind kind,
                            const float *b, int M, int K, int N) {
    forward_half(out, inp, W, kind, b, M, K, N, 0);
}

void pp_linear_forward_half_gelu(float *out, const float *inp, const void *W, pp_half_kind kind,
                                 const float *b, int M, int K, int N) {
    forward_half(out, inp, W, kind, b, M, K, N, 1);
}
