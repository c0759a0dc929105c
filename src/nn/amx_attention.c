/* amx_attention.c - softmax attention in BF16 arithmetic (nn/amx.h), its two
 * products on AMX tiles or on AVX512-BF16 dot products.
 *
 * q [B,Nq,H,D]; k, v [B,Nk,H,D]; out [B,Nq,H,D]; lse [B,H,Nq]; D a multiple of 32.
 * The flash-attention loop of ops_attention.c with its products in BF16:
 * - per (batch, head), once per thread: K packed as the second operand of
 *   S = Q K^T (BF16 pairs over d, groups of 16 keys), V as that of O += P V
 *   (pairs over keys, groups of 16 channels); keys padded to 32 with zeros;
 * - per block of 32 queries: q / sqrt(D) rounded to BF16 rows; then per block of
 *   BK keys: the scores into F32, the online softmax in F32, the probabilities
 *   rounded to BF16 rows (padded keys 0), and O += P V on the F32 output block.
 * On tiles each product is 4 accumulator tiles per 32 x 32. With dot products
 * a query row's pair is broadcast against a packed group of 16 keys (scores) or
 * 16 channels (P V), so each accumulator is already a row piece of S or O: 8
 * queries x 2 groups in 16 zmm accumulators (dp_rows8 of amx_impl.h, the linear
 * layer's block too).
 * Each query row is one work item's fixed-order computation: thread-count
 * independent. */
#include <math.h>
#include "nn/amx.h"
#include "nn/amx_impl.h"
#include "nn/ops_util.h"

#if defined(PP_HAVE_AMX) || defined(PP_HAVE_BF16_DP)
#define BQ 32
#define BK 128

typedef struct {
    uint32_t *kp, *vp; /* [Nkp/16][D/2][16], [D/16][Nkp/2][16] words */
    uint16_t *qa, *pa; /* [BQ][D], [BQ][BK] BF16 rows */
    float *S, *O, *m, *l;
    int amx;           /* the products on tiles (else dot products) */
} ws;

/* rows 2r, 2r+1 of v (stride ld; past Nk zeros) -> word [dg][r][i] = (v[2r][16dg+i], v[2r+1][16dg+i]) */
static void pack_v(uint32_t *vp, const float *v, size_t ld, int Nk, int Nkp, int D) {
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    for (int r = 0; r < Nkp / 2; r++) {
        const float *a = v + (size_t)(2 * r) * ld, *b = a + ld;
        for (int dg = 0; dg < D / 16; dg++) {
            __m512i ra = 2 * r < Nk ? amx_round_bf16(_mm512_loadu_ps(a + 16 * dg)) : _mm512_setzero_si512();
            __m512i rb = 2 * r + 1 < Nk ? amx_round_bf16(_mm512_loadu_ps(b + 16 * dg)) : _mm512_setzero_si512();
            __m512i w = _mm512_or_si512(_mm512_srli_epi32(ra, 16), _mm512_and_si512(rb, hi));
            _mm512_storeu_si512(vp + ((size_t)dg * (Nkp / 2) + r) * 16, w);
        }
    }
}

/* n floats -> BF16 words (x * scale), n a multiple of 16 */
static void round_row(uint16_t *dst, const float *x, int n, float scale) {
    for (int j = 0; j < n; j += 16) {
        __m512i r = amx_round_bf16(_mm512_mul_ps(_mm512_loadu_ps(x + j), _mm512_set1_ps(scale)));
        _mm256_storeu_si256((__m256i *)(dst + j), _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
    }
}

#ifdef PP_HAVE_AMX
/* S[32][nkp] = Qa Kp^T for keys [k0, k0+nkp) */
static void scores_amx(ws *w, int k0, int nkp, int D) {
    for (int j = 0; j < nkp; j += 32) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        const uint32_t *g0 = w->kp + (size_t)(k0 + j) / 16 * (D / 2) * 16, *g1 = g0 + (size_t)(D / 2) * 16;
        for (int d = 0; d < D; d += 32) {
            _tile_loadd(4, w->qa + d, 2 * D);
            _tile_loadd(5, w->qa + 16 * D + d, 2 * D);
            _tile_loadd(6, g0 + d / 2 * 16, 64);
            _tile_loadd(7, g1 + d / 2 * 16, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, w->S + j, 4 * BK);
        _tile_stored(1, w->S + j + 16, 4 * BK);
        _tile_stored(2, w->S + 16 * BK + j, 4 * BK);
        _tile_stored(3, w->S + 16 * BK + j + 16, 4 * BK);
    }
}

/* O[32][D] += Pa V for keys [k0, k0+nkp) */
static void accumulate_amx(ws *w, int k0, int nkp, int Nkp, int D) {
    for (int dd = 0; dd < D; dd += 32) {
        float *o = w->O + dd;
        _tile_loadd(0, o, 4 * D);
        _tile_loadd(1, o + 16, 4 * D);
        _tile_loadd(2, o + 16 * D, 4 * D);
        _tile_loadd(3, o + 16 * D + 16, 4 * D);
        const uint32_t *g0 = w->vp + (size_t)dd / 16 * (Nkp / 2) * 16, *g1 = g0 + (size_t)(Nkp / 2) * 16;
        for (int j = 0; j < nkp; j += 32) {
            size_t r = (size_t)(k0 + j) / 2 * 16;
            _tile_loadd(4, w->pa + j, 2 * BK);
            _tile_loadd(5, w->pa + 16 * BK + j, 2 * BK);
            _tile_loadd(6, g0 + r, 64);
            _tile_loadd(7, g1 + r, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, o, 4 * D);
        _tile_stored(1, o + 16, 4 * D);
        _tile_stored(2, o + 16 * D, 4 * D);
        _tile_stored(3, o + 16 * D + 16, 4 * D);
    }
}

#endif

#ifdef PP_HAVE_BF16_DP
/* S[32][nkp] = Qa Kp^T for keys [k0, k0+nkp): query pairs over d against key groups */
static void scores_dp(ws *w, int k0, int nkp, int D) {
    for (int i = 0; i < BQ; i += 8)
        for (int j = 0; j < nkp; j += 32)
            dp_rows8(w->S + (size_t)i * BK + j, BK, 16, w->qa + (size_t)i * D, (size_t)D,
                     w->kp + (size_t)(k0 + j) / 16 * (D / 2) * 16, (size_t)(D / 2) * 16, D / 2, 2, 0);
}

/* O[32][D] += Pa V for keys [k0, k0+nkp): probability pairs over keys against channel groups */
static void accumulate_dp(ws *w, int k0, int nkp, int Nkp, int D) {
    for (int i = 0; i < BQ; i += 8) /* pa's rows start at key k0 */
        for (int dd = 0; dd < D; dd += 32)
            dp_rows8(w->O + (size_t)i * D + dd, (size_t)D, 16, w->pa + (size_t)i * BK, BK,
                     w->vp + ((size_t)dd / 16 * (Nkp / 2) + (size_t)k0 / 2) * 16, (size_t)(Nkp / 2) * 16, nkp / 2, 2,
                     1);
}
#endif

static void scores(ws *w, int k0, int nkp, int D) {
#ifdef PP_HAVE_AMX
    if (w->amx) {
        scores_amx(w, k0, nkp, D);
        return;
    }
#endif
#ifdef PP_HAVE_BF16_DP
    scores_dp(w, k0, nkp, D);
#endif
}

static void accumulate(ws *w, int k0, int nkp, int Nkp, int D) {
#ifdef PP_HAVE_AMX
    if (w->amx) {
        accumulate_amx(w, k0, nkp, Nkp, D);
        return;
    }
#endif
#ifdef PP_HAVE_BF16_DP
    accumulate_dp(w, k0, nkp, Nkp, D);
#endif
}

/* e^x for x <= 0 (-inf gives 0): x = n ln2 + r, e^r by its degree-5 Taylor
 * polynomial (relative error < 3e-6, far below BF16's 2^-9), 2^n by VSCALEFPS */
static inline __m512 exp_neg16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 120);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* The online softmax of query row i over the block's nk keys (nkp = nk padded
 * to 32; the padded keys weigh nothing), in one pass in registers: the new row
 * max, the probabilities relative to it rounded to BF16 into the row of pa, their
 * F32 sum into l, and the row of O rescaled when the max moved. */
static void softmax_row(ws *w, int i, int nk, int nkp, int D) {
    float *s = w->S + (size_t)i * BK, *o = w->O + (size_t)i * D;
    __m512 v[BK / 16], mx = _mm512_set1_ps(w->m[i]);
    __mmask16 k[BK / 16];
    for (int j = 0; j < nkp / 16; j++) {
        int left = nk - 16 * j;
        k[j] = left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        v[j] = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k[j], s + 16 * j);
        mx = _mm512_max_ps(mx, v[j]);
    }
    float m = _mm512_reduce_max_ps(mx);
    __m512 mv = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    uint16_t *p = w->pa + (size_t)i * BK;
    for (int j = 0; j < nkp / 16; j++) {
        __m512 e = _mm512_maskz_mov_ps(k[j], exp_neg16(_mm512_sub_ps(v[j], mv)));
        sum = _mm512_add_ps(sum, e);
        __m512i r = _mm512_srli_epi32(amx_round_bf16(e), 16);
        _mm256_storeu_si256((__m256i *)(p + 16 * j), _mm512_cvtepi32_epi16(r));
    }
    if (m > w->m[i]) { /* the running max moved: rescale what was summed so far */
        float corr = w->m[i] == -INFINITY ? 0.0f : expf(w->m[i] - m);
        w->l[i] *= corr;
        for (int d = 0; d < D; d += 16) _mm512_storeu_ps(o + d, _mm512_mul_ps(_mm512_loadu_ps(o + d), _mm512_set1_ps(corr)));
        w->m[i] = m;
    }
    w->l[i] += _mm512_reduce_add_ps(sum);
}

static void query_block(ws *w, float *out, float *lse, const float *q, int b, int h, int q0, int nq, int Nq,
                        int Nk, int Nkp, int H, int D) {
    size_t ld = (size_t)H * D;
    for (int i = 0; i < BQ; i++) {
        if (i < nq) round_row(w->qa + (size_t)i * D, q + ((size_t)b * Nq + q0 + i) * ld + (size_t)h * D, D,
                              1.0f / sqrtf((float)D));
        else memset(w->qa + (size_t)i * D, 0, (size_t)D * 2);
        w->m[i] = -INFINITY, w->l[i] = 0;
    }
    memset(w->O, 0, (size_t)BQ * D * sizeof(float));
    memset(w->pa, 0, (size_t)BQ * BK * 2);
    for (int k0 = 0; k0 < Nk; k0 += BK) {
        int nk = Nk - k0 < BK ? Nk - k0 : BK, nkp = (nk + 31) / 32 * 32;
        scores(w, k0, nkp, D);
        for (int i = 0; i < nq; i++) softmax_row(w, i, nk, nkp, D);
        accumulate(w, k0, nkp, Nkp, D);
    }
    for (int i = 0; i < nq; i++) {
        float *o = out + ((size_t)b * Nq + q0 + i) * ld + (size_t)h * D, inv = 1.0f / w->l[i];
        for (int d = 0; d < D; d++) o[d] = w->O[(size_t)i * D + d] * inv;
        if (lse) lse[((size_t)b * H + h) * Nq + q0 + i] = w->m[i] + logf(w->l[i]);
    }
}

void pp_bf16_attention(float *out, float *lse, const float *q, const float *k, const float *v, int B, int Nq, int Nk,
                       int H, int D) {
    pp_bf16_kind e = pp_bf16_engine();
    if (e == PP_BF16_NONE || D % 32) pp_fatal("internal error: pp_bf16_attention with head size %d", D);
    int Nkp = (Nk + 31) / 32 * 32, nqb = (Nq + BQ - 1) / BQ;
    size_t ld = (size_t)H * D, words = (size_t)Nkp * D / 2;
#pragma omp parallel if ((size_t)B * H * Nq * Nk * D > PP_PAR_MIN * 64)
    {
        ws w;
        w.kp = (uint32_t *)pp_alloc_floats(2 * words), w.vp = w.kp + words;
        w.qa = (uint16_t *)pp_alloc_floats((size_t)BQ * (D + BK) / 2), w.pa = w.qa + (size_t)BQ * D;
        w.S = pp_alloc_floats((size_t)BQ * (BK + D) + 2 * BQ), w.O = w.S + BQ * BK;
        w.m = w.O + (size_t)BQ * D, w.l = w.m + BQ;
        w.amx = e == PP_BF16_AMX;
#ifdef PP_HAVE_AMX
        if (w.amx) amx_tiles_on();
#endif
        int packed = -1;
#pragma omp for collapse(2) schedule(dynamic)
        for (int bh = 0; bh < B * H; bh++)
            for (int qb = 0; qb < nqb; qb++) {
                int b = bh / H, h = bh % H;
                if (packed != bh) {
                    const float *kh = k + (size_t)b * Nk * ld + (size_t)h * D;
                    for (int g = 0; g < Nkp / 16; g++)
                        amx_pack_group(w.kp + (size_t)g * (D / 2) * 16, kh, ld, 16 * g, Nk, D);
                    pack_v(w.vp, v + (size_t)b * Nk * ld + (size_t)h * D, ld, Nk, Nkp, D);
                    packed = bh;
                }
                int q0 = qb * BQ, nq = Nq - q0 < BQ ? Nq - q0 : BQ;
                query_block(&w, out, lse, q, b, h, q0, nq, Nq, Nk, Nkp, H, D);
            }
#ifdef PP_HAVE_AMX
        if (w.amx) _tile_release();
#endif
        pp_free_aligned(w.kp), pp_free_aligned(w.qa), pp_free_aligned(w.S);
    }
}
#else
void pp_bf16_attention(float *out, float *lse, const float *q, const float *k, const float *v, int B, int Nq, int Nk,
                       int H, int D) {
    (void)out, (void)lse, (void)q, (void)k, (void)v, (void)B, (void)Nk, (void)H;
    pp_fatal("internal error: pp_bf16_attention (%d queries, head size %d) in a build without a BF16 engine", Nq, D);
}
#endif
