/* linear_half.c - see linear_half.h */
#include <cblas.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#include "nn/linear_half.h"
#include "nn/ops_util.h"

#define PANEL_FLOATS (256 * 1024) /* ~1 MiB of converted weight per panel */

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

void pp_linear_forward_half(float *out, const float *inp, const void *W, pp_half_kind kind,
                            const float *b, int M, int K, int N) {
    int rows = pp_linear_half_panel_rows(K), np = (N + rows - 1) / rows;
    const unsigned char *w = W;
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
