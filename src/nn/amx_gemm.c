/* amx_gemm.c - the BF16 linear layer on AMX tiles (see amx.h).
 *
 * Roles: the tiles compute C^T = W X^T. The weight's rows are the first operand
 * (16 rows x 32 BF16 values of k per tile: the file's own layout); the inputs
 * are the second, which the hardware wants pair-interleaved: for 16 tokens and
 * 32 values of k, row r of the tile holds (x[m][2r], x[m][2r+1]) for m = 0..15.
 * So the inputs are converted to BF16 and interleaved in one pass
 * (Xp[group of 16 tokens][K/2 pairs][16 tokens] of 32-bit pairs), and each
 * 16 x 16 accumulator tile is written out transposed.
 *
 * Blocking: work items are chunks of weight rows, taken dynamically; within
 * one, for each piece of KC values of k, the chunk's piece of the weight is
 * copied into tile order (each tile 1 KiB contiguous; about 1 MiB, it stays in
 * L2; the weight is read from memory once per call), then for each 32 tokens,
 * for each 32 weight rows: 4 accumulator tiles over the piece, and out += the
 * tiles (the first piece writes bias + tiles). A single block of 32 tokens (a
 * prompt) uses each weight once, so there the tiles read it in place instead.
 * Every output element's sum runs in one fixed order. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "io/safetensors.h"
#include "nn/amx.h"
#include "nn/amx_impl.h"
#include "nn/ops_util.h"

int pp_compute_bf16 = 0;

const char *pp_compute_name(void) {
    return !pp_compute_bf16 ? "F32" : pp_amx_available() ? "BF16 (AMX tiles)" : "BF16 (rounded inputs, F32 kernels)";
}

float *pp_bf16_rounded_copy(const float *x, size_t n) {
    float *r = pp_alloc_floats(n);
#pragma omp parallel for schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) r[i] = pp_bf16_to_f32(pp_f32_to_bf16(x[i]));
    return r;
}

#ifdef PP_HAVE_AMX
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define MCH 4096 /* tokens packed at a time (bounds the packed copy) */

static int amx_state;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_probe(void) {
    unsigned a = 7, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    int cpu = (d >> 22 & 1) && (d >> 24 & 1); /* AMX-BF16, AMX-TILE */
    amx_state = cpu && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

int pp_amx_available(void) {
    pthread_once(&amx_once, amx_probe);
    return amx_state;
}

/* out[m0..m0+mr, n0..n0+16) (+)= the accumulator tile t[16 rows n][16 tokens];
 * gelu: the last piece of k, so GELU(tanh) of each sum is stored */
static void store_tile(float *out, int N, const float *t, int m0, int mr, int n0, const float *b, int first,
                       int gelu) {
    __m512i r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(t + 16 * i);
    amx_transpose16(r);
    __m512 base = first ? (b ? _mm512_loadu_ps(b + n0) : _mm512_setzero_ps()) : _mm512_setzero_ps();
    for (int m = 0; m < mr; m++) {
        float *o = out + (size_t)(m0 + m) * N + n0;
        __m512 v = _mm512_add_ps(_mm512_castsi512_ps(r[m]), first ? base : _mm512_loadu_ps(o));
        _mm512_storeu_ps(o, v);
        if (gelu)
#pragma omp simd
            for (int j = 0; j < 16; j++) o[j] = pp_gelu_tanh(o[j]);
    }
}

/* Weight rows [n0, n1) and k in [k0, k1) into dst in tile order: for each 16
 * rows, for each 32 values of k, one contiguous 16 x 32 tile (1 KiB). */
static void pack_weight(uint16_t *dst, const uint16_t *W, int K, int n0, int n1, int k0, int k1) {
    int kb = (k1 - k0) / 32;
    for (int r = n0; r < n1; r++) {
        const uint16_t *src = W + (size_t)r * K + k0;
        uint16_t *d = dst + (size_t)((r - n0) / 16) * kb * 512 + (size_t)((r - n0) % 16) * 32;
        for (int b = 0; b < kb; b++) memcpy(d + (size_t)b * 512, src + 32 * b, 64);
    }
}

/* 32 weight rows (two row tiles at w0, w1: wstep words per 32 values of k, rows
 * wld bytes apart; the tile-order copy or the weight in place) against the 32
 * packed tokens at xp (2 groups of gstride words), over k in [k0, k1). */
static void block32(float *out, int N, const uint16_t *w0, const uint16_t *w1, size_t wstep, size_t wld,
                    const uint32_t *xp, size_t gstride, int k0, int k1, int m0, int M, int n0, const float *b,
                    int first, int gelu) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int k = k0; k < k1; k += 32) {
        size_t o = (size_t)(k - k0) / 32 * wstep;
        _tile_loadd(4, w0 + o, wld);
        _tile_loadd(5, w1 + o, wld);
        _tile_loadd(6, xp + (size_t)k / 2 * 16, 64);
        _tile_loadd(7, xp + gstride + (size_t)k / 2 * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    float t[4][256];
    _tile_stored(0, t[0], 64);
    _tile_stored(1, t[1], 64);
    _tile_stored(2, t[2], 64);
    _tile_stored(3, t[3], 64);
    int r0 = M - m0 < 16 ? M - m0 : 16, r1 = M - m0 - 16 < 16 ? M - m0 - 16 : 16;
    store_tile(out, N, t[0], m0, r0, n0, b, first, gelu);
    store_tile(out, N, t[2], m0, r0, n0 + 16, b, first, gelu);
    if (r1 > 0) {
        store_tile(out, N, t[1], m0 + 16, r1, n0, b, first, gelu);
        store_tile(out, N, t[3], m0 + 16, r1, n0 + 16, b, first, gelu);
    }
}

/* weight rows per work item: their piece of KC values of k about 1 MiB (half
 * of L2; measured against 256 and 512 KiB: 10-15 % faster), fewer when that
 * leaves less than ~4 items per thread */
static int chunk_rows(int kc, int N, int threads) {
    int r = (int)(((size_t)1 << 20) / ((size_t)kc * 2)) / 32 * 32;
    int even = (N / (4 * threads) + 31) / 32 * 32; /* at least ~4 chunks per thread */
    r = r < even ? r : even;
    return r < 32 ? 32 : r > 1024 ? 1024 : r;
}

void pp_amx_linear_bf16_act(float *out, const float *inp, const void *W, const float *b, int M, int K, int N,
                            int gelu) {
    if (!pp_amx_available() || K % 32 || N % 32) pp_fatal("internal error: pp_amx_linear_bf16 on %dx%d", N, K);
    const int KC = K < 2048 ? K : 2048, nch = chunk_rows(KC, N, pp_nthreads());
    const size_t gstride = (size_t)K / 2 * 16;
    int mch = M < MCH ? M : MCH;
    uint32_t *xp = (uint32_t *)pp_alloc_floats((size_t)((mch + 31) / 32 * 2) * gstride); /* 4-byte words */
    for (int c0 = 0; c0 < M; c0 += MCH) {
        int mc = M - c0 < MCH ? M - c0 : MCH, groups = (mc + 31) / 32 * 2;
        int nn = (N + nch - 1) / nch, copy = mc > 32; /* copy: the weight chunks into tile order */
        const float *x = inp + (size_t)c0 * K;
        float *o = out + (size_t)c0 * N;
#pragma omp parallel if ((size_t)mc * N * K > PP_PAR_MIN * 64)
        {
#pragma omp for schedule(static)
            for (int g = 0; g < groups; g++) amx_pack_group(xp + g * gstride, x, (size_t)K, 16 * g, mc, K);
            amx_tiles_on();
            uint16_t *wp = copy ? (uint16_t *)pp_alloc_floats((size_t)nch * KC / 2) : NULL;
#pragma omp for schedule(dynamic)
            for (int in = 0; in < nn; in++) {
                int n0 = in * nch, n1 = n0 + nch < N ? n0 + nch : N;
                for (int k0 = 0; k0 < K; k0 += KC) {
                    int k1 = k0 + KC < K ? k0 + KC : K;
                    size_t tstride = (size_t)(k1 - k0) * 16; /* words per row tile */
                    if (copy) pack_weight(wp, W, K, n0, n1, k0, k1);
                    for (int m = 0; m < mc; m += 32)
                        for (int n = n0; n < n1; n += 32) {
                            const uint16_t *w0 = copy ? wp + (size_t)(n - n0) / 16 * tstride
                                                      : (const uint16_t *)W + (size_t)n * K + k0;
                            const uint16_t *w1 = copy ? w0 + tstride : w0 + (size_t)16 * K;
                            block32(o, N, w0, w1, copy ? 512 : 32, copy ? 64 : 2 * (size_t)K,
                                    xp + (size_t)(m / 16) * gstride, gstride, k0, k1, m, mc, n, b, k0 == 0,
                                    gelu && k1 == K);
                        }
                }
            }
            pp_free_aligned(wp);
            _tile_release();
        }
    }
    pp_free_aligned(xp);
}
#else
int pp_amx_available(void) { return 0; }
void pp_amx_linear_bf16_act(float *out, const float *inp, const void *W, const float *b, int M, int K, int N,
                            int gelu) {
    (void)out, (void)inp, (void)W, (void)b, (void)gelu;
    pp_fatal("internal error: pp_amx_linear_bf16 (%dx%dx%d) in a build without AMX", M, K, N);
}
#endif
