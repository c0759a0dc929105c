/* ops_attention.c - fused multi-head softmax attention, flash style.
 * q [B,Nq,H,D]; k,v [B,Nk,H,D]; out [B,Nq,H,D]; lse [B,H,Nq].
 * Forward: per (batch*head, query block), loop over key tiles with an online
 * softmax; only the row log-sum-exp is kept. Backward: recompute the scores tile
 * by tile from q, k and lse, per batch*head (or, with fewer heads than threads,
 * per key tile for dK, dV and per query block for dQ). Scores are never stored
 * whole. The tile products run on pp_tile_gemm (AVX-512 or portable). */
#include <math.h>
#include <string.h>
#include "nn/amx.h"
#include "nn/ops.h"
#include "nn/ops_util.h"

#define BQ 64  /* query rows per block */
#define BK 128 /* keys per tile */

/* dst[D, n] = rows src[n] (row stride ld) transposed, in blocks of 16 rows so that
 * both the reads and the writes stay within a few cache lines */
static void pack_t(float *dst, const float *src, int n, int D, int ld) {
    for (int j0 = 0; j0 < n; j0 += 16) {
        int nj = n - j0 < 16 ? n - j0 : 16;
        for (int d = 0; d < D; d++)
            for (int j = 0; j < nj; j++) dst[(size_t)d * n + j0 + j] = src[(size_t)(j0 + j) * ld + d];
    }
}

/* offset of head (b,h)'s row 0 in a [B,N,H,D] tensor */
static size_t head_off(int b, int h, int N, int H, int D) {
    return (size_t)b * N * H * D + (size_t)h * D;
}

/* online-softmax update of one query block with a tile of scores S [nq, BK]:
 * turns S into probabilities relative to the new row max and rescales O, l */
static void online_softmax(float *S, float *O, float *m, float *l, int nq, int nk, int D) {
    for (int i = 0; i < nq; i++) {
        float *s = S + (size_t)i * BK, *o = O + (size_t)i * D, mx = pp_row_max(s, nk, m[i]);
        float sum = pp_exp_shifted_sum(s, s, nk, mx);
        if (mx > m[i]) { /* the running max moved: rescale what was summed so far */
            float corr = pp_exp_neg(m[i] - mx);
            l[i] *= corr;
            for (int d = 0; d < D; d++) o[d] *= corr;
            m[i] = mx;
        }
        l[i] += sum;
    }
}

typedef struct {
    float *kT, *S, *O, *Q, *m, *l;
} fwd_ws;

/* one query block [q0, q0+nq) of head (b,h) */
static void fwd_block(fwd_ws *w, float *out, float *lse, const float *q, const float *v, int b,
                      int h, int q0, int nq, int Nq, int Nk, int H, int D) {
    size_t ld = (size_t)H * D;
    float scale = 1.0f / sqrtf((float)D);
    for (int i = 0; i < nq; i++) {
        const float *qr = q + ((size_t)b * Nq + q0 + i) * ld + (size_t)h * D;
        for (int d = 0; d < D; d++) w->Q[(size_t)i * D + d] = qr[d] * scale;
        w->m[i] = -INFINITY;
        w->l[i] = 0;
    }
    memset(w->O, 0, (size_t)nq * D * sizeof(float));
    for (int k0 = 0; k0 < Nk; k0 += BK) {
        int nk = Nk - k0 < BK ? Nk - k0 : BK;
        pp_tile_gemm(w->S, BK, w->Q, D, 1, w->kT + k0, Nk, nq, nk, D, 0);
        online_softmax(w->S, w->O, w->m, w->l, nq, nk, D);
        const float *vt = v + ((size_t)b * Nk + k0) * ld + (size_t)h * D;
        pp_tile_gemm(w->O, D, w->S, BK, 1, vt, (int)ld, nq, D, nk, 1);
    }
    for (int i = 0; i < nq; i++) {
        float *o = out + ((size_t)b * Nq + q0 + i) * ld + (size_t)h * D, inv = 1.0f / w->l[i];
        for (int d = 0; d < D; d++) o[d] = w->O[(size_t)i * D + d] * inv;
        lse[((size_t)b * H + h) * Nq + q0 + i] = w->m[i] + logf(w->l[i]);
    }
}

static void forward_f32(float *out, float *lse, const float *q, const float *k, const float *v, int B, int Nq,
                        int Nk, int H, int D) {
    int nqb = (Nq + BQ - 1) / BQ;
#pragma omp parallel if ((size_t)B * H * Nq * Nk * D > PP_PAR_MIN * 64)
    {
        fwd_ws w;
        float *buf = pp_alloc_floats((size_t)D * Nk + BQ * BK + 2 * BQ * D + 2 * BQ);
        w.kT = buf, w.S = w.kT + (size_t)D * Nk, w.O = w.S + BQ * BK, w.Q = w.O + BQ * D;
        w.m = w.Q + BQ * D, w.l = w.m + BQ;
        int packed = -1;
#pragma omp for collapse(2) schedule(dynamic)
        for (int bh = 0; bh < B * H; bh++)
            for (int qb = 0; qb < nqb; qb++) {
                int b = bh / H, h = bh % H;
                if (packed != bh) {
                    pack_t(w.kT, k + head_off(b, h, Nk, H, D), Nk, D, H * D);
                    packed = bh;
                }
                int q0 = qb * BQ, nq = Nq - q0 < BQ ? Nq - q0 : BQ;
                fwd_block(&w, out, lse, q, v, b, h, q0, nq, Nq, Nk, H, D);
            }
        pp_free_aligned(buf);
    }
}

void pp_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v, int B, int Nq,
                          int Nk, int H, int D) {
    if (!pp_compute_bf16 || D % 32) {
        forward_f32(out, lse, q, k, v, B, Nq, Nk, H, D);
    } else if (!pp_ops_portable && pp_bf16_engine() != PP_BF16_NONE) {
        pp_bf16_attention(out, lse, q, k, v, B, Nq, Nk, H, D);
    } else { /* q, k, v rounded as the tiles' path rounds them; probabilities in F32 */
        float *rq = pp_bf16_rounded_copy(q, (size_t)B * Nq * H * D), *rk = pp_bf16_rounded_copy(k, (size_t)B * Nk * H * D);
        float *rv = pp_bf16_rounded_copy(v, (size_t)B * Nk * H * D);
        forward_f32(out, lse, rq, rk, rv, B, Nq, Nk, H, D);
        pp_free_aligned(rq), pp_free_aligned(rk), pp_free_aligned(rv);
    }
}

typedef struct {
    float *kT, *vT, *S, *dP, *Q, *dO, *dQ, *Di;
    int ldt; /* row stride of kT, vT: Nk (whole head packed) or nk (one tile) */
} bwd_ws;

/* query rows [q0, q0+nq) of a head: Q * scale, dO, Di = rowsum(dO * O) */
static void bwd_load_q(bwd_ws *w, const float *q, const float *dout, const float *out, int q0,
                       int nq, int D, int ld) {
    float scale = 1.0f / sqrtf((float)D);
    for (int i = 0; i < nq; i++) {
        size_t r = (size_t)(q0 + i) * ld;
        float di = 0;
        for (int d = 0; d < D; d++) {
            w->Q[(size_t)i * D + d] = q[r + d] * scale;
            w->dO[(size_t)i * D + d] = dout[r + d];
            di += dout[r + d] * out[r + d];
        }
        w->Di[i] = di;
    }
}

/* one (query block, key tile [k0, k0+nk)) whose kT, vT columns start at kc:
 * P and dS from the recomputed scores, then dV, dK rows and dQacc (each skipped
 * when NULL); dk, dv, k point at the head's row 0 */
static void bwd_tile(bwd_ws *w, float *dk, float *dv, float *dQacc, const float *k,
                     const float *lse, int k0, int kc, int nk, int nq, int D, int ld) {
    pp_tile_gemm(w->S, BK, w->Q, D, 1, w->kT + kc, w->ldt, nq, nk, D, 0);
    pp_tile_gemm(w->dP, BK, w->dO, D, 1, w->vT + kc, w->ldt, nq, nk, D, 0);
    for (int i = 0; i < nq; i++) {
        float *s = w->S + (size_t)i * BK, *dp = w->dP + (size_t)i * BK, li = lse[i], di = w->Di[i];
#pragma omp simd
        for (int j = 0; j < nk; j++) {
            s[j] = pp_exp_neg(s[j] - li); /* <= 0 up to rounding */
            dp[j] = s[j] * (dp[j] - di); /* dS */
        }
    }
    if (dv) pp_tile_gemm(dv + (size_t)k0 * ld, ld, w->S, 1, BK, w->dO, D, nk, D, nq, 1);
    if (dk) pp_tile_gemm(dk + (size_t)k0 * ld, ld, w->dP, 1, BK, w->Q, D, nk, D, nq, 1);
    if (dQacc) pp_tile_gemm(dQacc, D, w->dP, BK, 1, k + (size_t)k0 * ld, ld, nq, D, nk, 1);
}

/* dq rows [q0, q0+nq) += scale * dQacc */
static void bwd_flush_dq(float *dq, const float *dQacc, int q0, int nq, int D, int ld) {
    float scale = 1.0f / sqrtf((float)D);
    for (int i = 0; i < nq; i++)
        for (int d = 0; d < D; d++) dq[(size_t)(q0 + i) * ld + d] += scale * dQacc[(size_t)i * D + d];
}

typedef struct {
    float *dq, *dk, *dv;
    const float *dout, *q, *k, *v, *out, *lse;
    int B, Nq, Nk, H, D;
} att_args;

/* the pointers of head bh in a */
static att_args head_of(const att_args *a, int bh) {
    int b = bh / a->H, h = bh % a->H;
    size_t oq = head_off(b, h, a->Nq, a->H, a->D), ok = head_off(b, h, a->Nk, a->H, a->D);
    att_args r = *a;
    r.dq = a->dq ? a->dq + oq : NULL;
    r.dk = a->dk ? a->dk + ok : NULL;
    r.dv = a->dv ? a->dv + ok : NULL;
    r.dout = a->dout + oq, r.q = a->q + oq, r.out = a->out + oq;
    r.k = a->k + ok, r.v = a->v + ok;
    r.lse = a->lse + (size_t)bh * a->Nq;
    return r;
}

/* pack kT, vT of keys [k0, k0+n) of head h (row 0 pointers) */
static void bwd_pack(bwd_ws *w, const att_args *h, int k0, int n) {
    int ld = h->H * h->D;
    w->ldt = n;
    pack_t(w->kT, h->k + (size_t)k0 * ld, n, h->D, ld);
    pack_t(w->vT, h->v + (size_t)k0 * ld, n, h->D, ld);
}

/* query block qb of head h against keys [k0, k1): dK, dV of those keys and, when
 * dq is wanted, this block's dQ; kT, vT hold keys from kbase on */
static void bwd_block(bwd_ws *w, const att_args *h, int qb, int k0, int k1, int kbase, int want_kv,
                      int want_q) {
    int ld = h->H * h->D, D = h->D, q0 = qb * BQ, nq = h->Nq - q0 < BQ ? h->Nq - q0 : BQ;
    bwd_load_q(w, h->q, h->dout, h->out, q0, nq, D, ld);
    if (want_q) memset(w->dQ, 0, (size_t)nq * D * sizeof(float));
    for (int kt = k0; kt < k1; kt += BK)
        bwd_tile(w, want_kv ? h->dk : NULL, want_kv ? h->dv : NULL, want_q ? w->dQ : NULL, h->k,
                 h->lse + q0, kt, kt - kbase, k1 - kt < BK ? k1 - kt : BK, nq, D, ld);
    if (want_q) bwd_flush_dq(h->dq, w->dQ, q0, nq, D, ld);
}

/* Work items. Head mode: one item per head, everything at once (the heads are
 * enough to feed the threads). Split mode (few heads): items per key tile for dK,
 * dV, then items per query block for dQ; the scores are recomputed by both
 * passes, but every output is still written by exactly one item. */
static void bwd_item(bwd_ws *w, const att_args *a, int pass, int item, int nkt, int nqb) {
    int per = pass == 1 ? nkt : pass == 2 ? nqb : 1, bh = item / per, j = item % per;
    att_args h = head_of(a, bh);
    if (pass == 0) { /* head mode */
        bwd_pack(w, &h, 0, h.Nk);
        for (int qb = 0; qb < nqb; qb++) bwd_block(w, &h, qb, 0, h.Nk, 0, 1, h.dq != NULL);
    } else if (pass == 1) { /* dK, dV of key tile j */
        int k0 = j * BK, k1 = h.Nk - k0 < BK ? h.Nk : k0 + BK;
        bwd_pack(w, &h, k0, k1 - k0);
        for (int qb = 0; qb < nqb; qb++) bwd_block(w, &h, qb, k0, k1, k0, 1, 0);
    } else { /* dQ of query block j */
        bwd_pack(w, &h, 0, h.Nk);
        bwd_block(w, &h, j, 0, h.Nk, 0, 0, 1);
    }
}

void pp_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const float *out, const float *lse,
                           int B, int Nq, int Nk, int H, int D) {
    att_args a = {dq, dk, dv, dout, q, k, v, out, lse, B, Nq, Nk, H, D};
    int nkt = (Nk + BK - 1) / BK, nqb = (Nq + BQ - 1) / BQ, BH = B * H;
    int split = BH < 2 * pp_nthreads() && (nkt > 1 || nqb > 1);
    for (int pass = split ? 1 : 0; pass <= (split ? 2 : 0); pass++) {
        if ((pass == 1 && !dk && !dv) || (pass == 2 && !dq)) continue;
        int n = BH * (pass == 1 ? nkt : pass == 2 ? nqb : 1);
#pragma omp parallel if ((size_t)BH * Nq * Nk * D > PP_PAR_MIN * 64)
        {
            bwd_ws w;
            float *buf = pp_alloc_floats(2 * (size_t)D * Nk + 2 * BQ * BK + 3 * BQ * D + BQ);
            w.kT = buf, w.vT = w.kT + (size_t)D * Nk, w.S = w.vT + (size_t)D * Nk;
            w.dP = w.S + BQ * BK, w.Q = w.dP + BQ * BK, w.dO = w.Q + BQ * D, w.dQ = w.dO + BQ * D;
            w.Di = w.dQ + BQ * D;
#pragma omp for schedule(dynamic)
            for (int i = 0; i < n; i++) bwd_item(&w, &a, pass, i, nkt, nqb);
            pp_free_aligned(buf);
        }
    }
}
