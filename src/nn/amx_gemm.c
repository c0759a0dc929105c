/* amx_gemm.c - the BF16 linear layer (see amx.h), on one of two engines:
 * AMX tiles, or AVX512-BF16 dot products (vdpbf16ps) where there is no AMX.
 *
 * Roles, the same on both: the products compute C^T = W X^T. The weight's rows
 * are the first operand, read in their own layout (AMX: 16 rows x 32 BF16
 * values of k per tile; dot products: one (W[n][2r], W[n][2r+1]) pair broadcast
 * to all lanes); the inputs are the second, which both want pair-interleaved:
 * for 16 tokens and 32 values of k, row r holds (x[m][2r], x[m][2r+1]) for
 * m = 0..15. So the inputs are converted to BF16 and interleaved in one pass
 * (Xp[group of 16 tokens][K/2 pairs][16 tokens] of 32-bit pairs), and each
 * 16 x 16 accumulator block [weight row][token] is written out transposed.
 *
 * Blocking: work items are chunks of weight rows, taken dynamically; within
 * one, for each piece of KC values of k, for each block of tokens, for each
 * block of weight rows: the accumulators over the piece, and out += them (the
 * first piece writes bias + them). AMX blocks are 32 tokens x 32 rows (4
 * accumulator tiles); the chunk's piece of the weight (about 1 MiB) is first
 * copied into tile order (each tile 1 KiB contiguous), except for a single
 * block of 32 tokens (a prompt), where the tiles read it in place. Dot-product
 * blocks are 48 tokens (3 groups) x 8 weight rows in 24 zmm accumulators, the
 * weight read in place (its chunk about 512 KiB, in L2). Every output element's
 * sum runs in one fixed order, whatever the thread count. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "io/safetensors.h"
#include "nn/amx.h"
#include "nn/amx_impl.h"
#include "nn/ops_util.h"

int pp_compute_bf16 = 0;
int pp_bf16_no_amx = 0;

const char *pp_compute_name(void) {
    if (!pp_compute_bf16) return "F32";
    pp_bf16_kind e = pp_bf16_engine();
    return e == PP_BF16_AMX ? "BF16 (AMX tiles)"
           : e == PP_BF16_DP ? "BF16 (AVX512-BF16 dot products)"
                             : "BF16 (rounded inputs, F32 kernels)";
}

pp_bf16_kind pp_bf16_engine(void) {
    if (pp_amx_available() && !pp_bf16_no_amx) return PP_BF16_AMX;
    return pp_bf16_dp_available() ? PP_BF16_DP : PP_BF16_NONE;
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
#else
int pp_amx_available(void) { return 0; }
#endif

#ifdef PP_HAVE_BF16_DP
int pp_bf16_dp_available(void) {
    unsigned a = 7, b, c = 1, d; /* leaf 7, subleaf 1: EAX bit 5 is AVX512-BF16 */
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return a >> 5 & 1;
}
#else
int pp_bf16_dp_available(void) { return 0; }
#endif

#if defined(PP_HAVE_AMX) || defined(PP_HAVE_BF16_DP)
#define MCH 4096 /* tokens packed at a time (bounds the packed copy) */

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

#ifdef PP_HAVE_AMX
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

#endif

#ifdef PP_HAVE_BF16_DP
/* 16 weight rows [n0, n0+16) (w: row n0 in place) against the tokens [m0, m0+48)
 * of the packed groups at xp, over k in [k0, k1) */
static void block_dp(float *out, int N, const uint16_t *w, size_t K, const uint32_t *xp, size_t gstride, int k0,
                     int k1, int m0, int M, int n0, const float *b, int first, int gelu) {
    float t[3][256];
    int G = (M - m0 + 15) / 16;
    G = G > 3 ? 3 : G;
    for (int h = 0; h < 2; h++) { /* t[g] row 8h + i: weight row 8h + i's sums for 16 tokens */
        float *c = t[0] + 16 * 8 * h;
        const uint16_t *a = w + (size_t)8 * h * K + k0;
        const uint32_t *x = xp + (size_t)k0 / 2 * 16;
        int n = (k1 - k0) / 2;
        if (G == 3) dp_rows8(c, 16, 256, a, K, x, gstride, n, 3, 0);
        else if (G == 2) dp_rows8(c, 16, 256, a, K, x, gstride, n, 2, 0);
        else dp_rows8(c, 16, 256, a, K, x, gstride, n, 1, 0);
    }
    for (int g = 0; g < G; g++) {
        int mr = M - m0 - 16 * g < 16 ? M - m0 - 16 * g : 16;
        store_tile(out, N, t[g], m0 + 16 * g, mr, n0, b, first, gelu);
    }
}
#endif

/* weight rows per work item: their piece of KC values of k about `bytes` (AMX:
 * 1 MiB, half of L2, measured against 256 and 512 KiB: 10-15 % faster; the
 * dot products: 512 KiB), fewer when that leaves less than ~4 items per thread */
static int chunk_rows(int kc, int N, int threads, size_t bytes) {
    int r = (int)(bytes / ((size_t)kc * 2)) / 32 * 32;
    int even = (N / (4 * threads) + 31) / 32 * 32; /* at least ~4 chunks per thread */
    r = r < even ? r : even;
    return r < 32 ? 32 : r > 1024 ? 1024 : r;
}

/* one block of tokens x weight rows on the engine e (the weight's piece in tile
 * order at wp when copied, else in place) */
static void block(pp_bf16_kind e, float *out, int N, const uint16_t *W, const uint16_t *wp, size_t tstride,
                  int copy, int K, const uint32_t *xp, size_t gstride, int k0, int k1, int m, int mc, int n, int n0,
                  const float *b, int gelu) {
#ifdef PP_HAVE_AMX
    if (e == PP_BF16_AMX) {
        const uint16_t *w0 = copy ? wp + (size_t)(n - n0) / 16 * tstride : W + (size_t)n * K + k0;
        const uint16_t *w1 = copy ? w0 + tstride : w0 + (size_t)16 * K;
        block32(out, N, w0, w1, copy ? 512 : 32, copy ? 64 : 2 * (size_t)K, xp, gstride, k0, k1, m, mc, n, b,
                k0 == 0, gelu);
        return;
    }
#endif
#ifdef PP_HAVE_BF16_DP
    block_dp(out, N, W + (size_t)n * K, (size_t)K, xp, gstride, k0, k1, m, mc, n, b, k0 == 0, gelu);
#endif
    (void)e, (void)wp, (void)tstride, (void)copy, (void)n0;
}

void pp_bf16_linear_act(float *out, const float *inp, const void *W, const float *b, int M, int K, int N, int gelu) {
    pp_bf16_kind e = pp_bf16_engine();
    if (e == PP_BF16_NONE || K % 32 || N % 32) pp_fatal("internal error: pp_bf16_linear on %dx%d", N, K);
    const int amx = e == PP_BF16_AMX, mstep = amx ? 32 : 48, nstep = amx ? 32 : 16;
    const int KC = K < 2048 ? K : 2048, nch = chunk_rows(KC, N, pp_nthreads(), (size_t)(amx ? 1024 : 512) << 10);
    const size_t gstride = (size_t)K / 2 * 16;
    int mch = M < MCH ? M : MCH;
    uint32_t *xp = (uint32_t *)pp_alloc_floats((size_t)((mch + mstep - 1) / mstep * (mstep / 16)) * gstride);
    for (int c0 = 0; c0 < M; c0 += MCH) {
        int mc = M - c0 < MCH ? M - c0 : MCH, groups = (mc + mstep - 1) / mstep * (mstep / 16);
        int nn = (N + nch - 1) / nch, copy = amx && mc > 32; /* copy: the weight chunks into tile order */
        const float *x = inp + (size_t)c0 * K;
        float *o = out + (size_t)c0 * N;
#pragma omp parallel if ((size_t)mc * N * K > PP_PAR_MIN * 64)
        {
#pragma omp for schedule(static)
            for (int g = 0; g < groups; g++) amx_pack_group(xp + g * gstride, x, (size_t)K, 16 * g, mc, K);
#ifdef PP_HAVE_AMX
            if (amx) amx_tiles_on();
#endif
            uint16_t *wp = copy ? (uint16_t *)pp_alloc_floats((size_t)nch * KC / 2) : NULL;
#pragma omp for schedule(dynamic)
            for (int in = 0; in < nn; in++) {
                int n0 = in * nch, n1 = n0 + nch < N ? n0 + nch : N;
                for (int k0 = 0; k0 < K; k0 += KC) {
                    int k1 = k0 + KC < K ? k0 + KC : K;
                    size_t tstride = (size_t)(k1 - k0) * 16; /* words per row tile */
#ifdef PP_HAVE_AMX
                    if (copy) pack_weight(wp, W, K, n0, n1, k0, k1);
#endif
                    for (int m = 0; m < mc; m += mstep)
                        for (int n = n0; n < n1; n += nstep)
                            block(e, o, N, W, wp, tstride, copy, K, xp + (size_t)(m / 16) * gstride, gstride, k0, k1,
                                  m, mc, n, n0, b, gelu && k1 == K);
                }
            }
            pp_free_aligned(wp);
#ifdef PP_HAVE_AMX
            if (amx) _tile_release();
#endif
        }
    }
    pp_free_aligned(xp);
}
#else
void pp_bf16_linear_act(float *out, const float *inp, const void *W, const float *b, int M, int K, int N, int gelu) {
    (void)out, (void)inp, (void)W, (void)b, (void)gelu;
    pp_fatal("internal error: pp_bf16_linear (%dx%dx%d) in a build without a BF16 engine", M, K, N);
}
#endif
