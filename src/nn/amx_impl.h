/* amx_impl.h - shared inline helpers of the BF16 kernels (amx_gemm.c,
 * amx_attention.c); internal. PP_HAVE_AMX in builds with AMX-TILE, AMX-BF16 and
 * AVX-512BW (-march=native on such a CPU); PP_HAVE_BF16_DP in builds with
 * AVX512-BF16 (vdpbf16ps: AMD Zen 4 and later, Intel Cooper Lake, Sapphire
 * Rapids). The rounding, transpose and packing helpers serve both. */
#ifndef PP_NN_AMX_IMPL_H
#define PP_NN_AMX_IMPL_H
#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__linux__)
#define PP_HAVE_BF16_DP 1
#endif
#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BW__) && defined(__linux__)
#define PP_HAVE_AMX 1
#endif
#if defined(PP_HAVE_BF16_DP) || defined(PP_HAVE_AMX)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#ifdef PP_HAVE_AMX
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* palette 1, all 8 tiles 16 rows x 64 bytes */
static inline void amx_tiles_on(void) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 8; i++) c.colsb[i] = 64, c.rows[i] = 16;
    _tile_loadconfig(&c);
}
#endif

/* 16 lanes of floats -> BF16 (ties to even, NaN kept quiet) in the upper 16 bits */
static inline __m512i amx_round_bf16(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                                     _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x400000));
}

/* r[i][j] -> r[j][i] for a 16 x 16 block of 32-bit words */
static inline void amx_transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int a = 0; a < 8; a++) {
        t[2 * a] = _mm512_unpacklo_epi32(r[2 * a], r[2 * a + 1]);
        t[2 * a + 1] = _mm512_unpackhi_epi32(r[2 * a], r[2 * a + 1]);
    }
    for (int b = 0; b < 4; b++) { /* u[4b+c], 128-bit lane L: column 4L+c of rows 4b..4b+3 */
        u[4 * b] = _mm512_unpacklo_epi64(t[4 * b], t[4 * b + 2]);
        u[4 * b + 1] = _mm512_unpackhi_epi64(t[4 * b], t[4 * b + 2]);
        u[4 * b + 2] = _mm512_unpacklo_epi64(t[4 * b + 1], t[4 * b + 3]);
        u[4 * b + 3] = _mm512_unpackhi_epi64(t[4 * b + 1], t[4 * b + 3]);
    }
    for (int c = 0; c < 4; c++) { /* a 4 x 4 transpose of 128-bit lanes */
        __m512i x0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44), x1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xee);
        __m512i x2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44),
                x3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xee);
        r[c] = _mm512_shuffle_i32x4(x0, x2, 0x88), r[4 + c] = _mm512_shuffle_i32x4(x0, x2, 0xdd);
        r[8 + c] = _mm512_shuffle_i32x4(x1, x3, 0x88), r[12 + c] = _mm512_shuffle_i32x4(x1, x3, 0xdd);
    }
}

#ifdef PP_HAVE_BF16_DP
/* The dot-product engine's block: for 8 rows i of BF16 pairs (a: row i at
 * a + i * lda 16-bit words, pair r at word 2r, any alignment) against G packed
 * groups (b: group g at b + g * gstride 32-bit words, word row r = 16 lanes of
 * pairs), over pairs r < n:
 *   c[i * ldc + g * gstep + lane] (+)= sum_r a[i] pair r . b group g row r lane
 * one accumulator per (i, g) (G <= 3: 24 zmm), loaded from c first when load.
 * G must be a constant at the call (always inlined), so each G is its own loop. */
static inline __attribute__((always_inline)) void dp_rows8(float *c, size_t ldc, size_t gstep, const uint16_t *a,
                                                           size_t lda, const uint32_t *b, size_t gstride, int n,
                                                           const int G, int load) {
    __m512 acc[8][3];
    for (int i = 0; i < 8; i++)
        for (int g = 0; g < G; g++)
            acc[i][g] = load ? _mm512_loadu_ps(c + i * ldc + g * gstep) : _mm512_setzero_ps();
    for (int r = 0; r < n; r++) {
        __m512bh x[3];
        for (int g = 0; g < G; g++) x[g] = (__m512bh)_mm512_loadu_si512(b + g * gstride + (size_t)r * 16);
        for (int i = 0; i < 8; i++) {
            uint32_t pair;
            memcpy(&pair, a + i * lda + 2 * (size_t)r, 4);
            __m512bh w = (__m512bh)_mm512_set1_epi32((int)pair);
            for (int g = 0; g < G; g++) acc[i][g] = _mm512_dpbf16_ps(acc[i][g], w, x[g]);
        }
    }
    for (int i = 0; i < 8; i++)
        for (int g = 0; g < G; g++) _mm512_storeu_ps(c + i * ldc + g * gstep, acc[i][g]);
}
#endif

/* Rows [m0, m0+16) of inp (row stride ld; rows past M are zeros), their first
 * K values, into the pair-interleaved group at dst ([K/2][16] words: word
 * [r][i] = BF16 pair (x[i][2r], x[i][2r+1])). K a multiple of 32. */
static inline void amx_pack_group(uint32_t *dst, const float *inp, size_t ld, int m0, int M, int K) {
    const __m512i hi = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27,
                                        25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int k = 0; k < K; k += 32) {
        __m512i r[16];
        for (int i = 0; i < 16; i++) {
            if (m0 + i >= M) {
                r[i] = _mm512_setzero_si512();
                continue;
            }
            const float *x = inp + (size_t)(m0 + i) * ld + k;
            __m512i a = amx_round_bf16(_mm512_loadu_ps(x)), b = amx_round_bf16(_mm512_loadu_ps(x + 16));
            r[i] = _mm512_permutex2var_epi16(a, hi, b); /* the 32 upper halves in order: 16 pairs */
        }
        amx_transpose16(r);
        for (int j = 0; j < 16; j++) _mm512_storeu_si512(dst + (size_t)(k / 2 + j) * 16, r[j]);
    }
}

#endif
#endif
