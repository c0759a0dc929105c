/* text_encoder.c - see text_encoder.h */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/ops.h"
#include "text/text_encoder.h"
#include "text/tokenizer.h"

#define LN_EPS 1e-5f

/* ---- parameters --------------------------------------------------------- */

static size_t add1(pp_params *t, int64_t n, const char *fmt, int i) {
    char name[PP_NAME_MAX];
    snprintf(name, sizeof name, fmt, i);
    return pp_params_addf(t, 1, n, 0, 0, 0, 0, "text_encoder.%s", name);
}

static size_t add2(pp_params *t, int64_t r, int64_t c, const char *fmt, int i) {
    char name[PP_NAME_MAX];
    snprintf(name, sizeof name, fmt, i);
    return pp_params_addf(t, 2, r, c, 0, 0, 0, "text_encoder.%s", name);
}

static void declare_block(pp_text_block *k, pp_params *t, int i, int64_t d) {
    k->ln1_w = add1(t, d, "blocks.%d.norm1.weight", i);
    k->ln1_b = add1(t, d, "blocks.%d.norm1.bias", i);
    k->q_w = add2(t, d, d, "blocks.%d.attn.q.weight", i);
    k->q_b = add1(t, d, "blocks.%d.attn.q.bias", i);
    k->k_w = add2(t, d, d, "blocks.%d.attn.k.weight", i);
    k->k_b = add1(t, d, "blocks.%d.attn.k.bias", i);
    k->v_w = add2(t, d, d, "blocks.%d.attn.v.weight", i);
    k->v_b = add1(t, d, "blocks.%d.attn.v.bias", i);
    k->o_w = add2(t, d, d, "blocks.%d.attn.o.weight", i);
    k->o_b = add1(t, d, "blocks.%d.attn.o.bias", i);
    k->ln2_w = add1(t, d, "blocks.%d.norm2.weight", i);
    k->ln2_b = add1(t, d, "blocks.%d.norm2.bias", i);
    k->fc1_w = add2(t, 4 * d, d, "blocks.%d.ffn.0.weight", i);
    k->fc1_b = add1(t, 4 * d, "blocks.%d.ffn.0.bias", i);
    k->fc2_w = add2(t, d, 4 * d, "blocks.%d.ffn.2.weight", i);
    k->fc2_b = add1(t, d, "blocks.%d.ffn.2.bias", i);
}

int pp_text_encoder_create(pp_text_encoder *e, const pp_text_config *c, pp_params *t) {
    memset(e, 0, sizeof *e);
    if (c->vocab <= PP_TOK_NSPECIAL || c->dim < 1 || c->heads < 1 || c->layers < 0 || c->ctx < 1)
        PP_FAIL("text encoder: bad config (vocab %d, dim %d, heads %d, layers %d, ctx %d)", c->vocab,
                c->dim, c->heads, c->layers, c->ctx);
    if (c->dim % c->heads)
        PP_FAIL("text encoder: dim %d is not divisible by heads %d", c->dim, c->heads);
    e->cfg = *c;
    int64_t d = c->dim;
    e->tok_emb = add2(t, c->vocab, d, "token_embedding.weight", 0);
    e->pos_emb = add2(t, c->ctx, d, "position_embedding.weight", 0);
    e->blk = pp_calloc((size_t)(c->layers ? c->layers : 1), sizeof *e->blk);
    for (int i = 0; i < c->layers; i++) declare_block(&e->blk[i], t, i, d);
    e->lnf_w = add1(t, d, "norm.weight", 0);
    e->lnf_b = add1(t, d, "norm.bias", 0);
    return 0;
}

void pp_text_encoder_free(pp_text_encoder *e) {
    free(e->blk);
    memset(e, 0, sizeof *e);
}

static void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

void pp_text_encoder_init(const pp_text_encoder *e, float *P, pp_rng *rng) {
    const pp_text_config *c = &e->cfg;
    size_t d = (size_t)c->dim;
    float std = 0.02f, ostd = std / sqrtf(2.0f * (float)(c->layers ? c->layers : 1));
    pp_rng_fill_normal(rng, P + e->tok_emb, (size_t)c->vocab * d, std);
    pp_rng_fill_normal(rng, P + e->pos_emb, (size_t)c->ctx * d, std);
    for (int i = 0; i < c->layers; i++) {
        const pp_text_block *k = &e->blk[i];
        fill(P + k->ln1_w, d, 1.0f), fill(P + k->ln1_b, d, 0.0f);
        fill(P + k->ln2_w, d, 1.0f), fill(P + k->ln2_b, d, 0.0f);
        pp_rng_fill_normal(rng, P + k->q_w, d * d, std), fill(P + k->q_b, d, 0.0f);
        pp_rng_fill_normal(rng, P + k->k_w, d * d, std), fill(P + k->k_b, d, 0.0f);
        pp_rng_fill_normal(rng, P + k->v_w, d * d, std), fill(P + k->v_b, d, 0.0f);
        pp_rng_fill_normal(rng, P + k->o_w, d * d, ostd), fill(P + k->o_b, d, 0.0f);
        pp_rng_fill_normal(rng, P + k->fc1_w, 4 * d * d, std), fill(P + k->fc1_b, 4 * d, 0.0f);
        pp_rng_fill_normal(rng, P + k->fc2_w, 4 * d * d, ostd), fill(P + k->fc2_b, d, 0.0f);
    }
    fill(P + e->lnf_w, d, 1.0f), fill(P + e->lnf_b, d, 0.0f);
}

/* ---- activations -------------------------------------------------------- */

void pp_text_acts_alloc(pp_text_acts *a, const pp_text_config *c, int Bmax) {
    memset(a, 0, sizeof *a);
    size_t nl = (size_t)(c->layers ? c->layers : 1), BL = (size_t)Bmax * (size_t)c->ctx;
    size_t BLd = BL * (size_t)c->dim;
    a->Bmax = Bmax;
    a->ids = pp_calloc(BL, sizeof *a->ids);
    a->nvalid = pp_calloc((size_t)Bmax, sizeof *a->nvalid);
    a->x = pp_zalloc_floats((nl + 1) * BLd);
    a->xmid = pp_zalloc_floats(nl * BLd);
    a->ln1 = pp_zalloc_floats(nl * BLd);
    a->ln2 = pp_zalloc_floats(nl * BLd);
    a->ln1_mean = pp_zalloc_floats(nl * BL);
    a->ln1_rstd = pp_zalloc_floats(nl * BL);
    a->ln2_mean = pp_zalloc_floats(nl * BL);
    a->ln2_rstd = pp_zalloc_floats(nl * BL);
    a->q = pp_zalloc_floats(nl * BLd);
    a->k = pp_zalloc_floats(nl * BLd);
    a->v = pp_zalloc_floats(nl * BLd);
    a->att = pp_zalloc_floats(nl * BLd);
    a->lse = pp_zalloc_floats(nl * BL * (size_t)c->heads);
    a->h = pp_zalloc_floats(nl * 4 * BLd);
    a->hg = pp_zalloc_floats(nl * 4 * BLd);
    a->lnf_mean = pp_zalloc_floats(BL);
    a->lnf_rstd = pp_zalloc_floats(BL);
    a->out = pp_zalloc_floats(BLd);
    a->dx = pp_zalloc_floats(BLd);
    a->dy = pp_zalloc_floats(BLd);
    a->dq = pp_zalloc_floats(BLd);
    a->dk = pp_zalloc_floats(BLd);
    a->dv = pp_zalloc_floats(BLd);
    a->dh = pp_zalloc_floats(4 * BLd);
    a->dhg = pp_zalloc_floats(4 * BLd);
}

void pp_text_acts_free(pp_text_acts *a) {
    free(a->ids);
    free(a->nvalid);
    float *bufs[] = {a->x,   a->xmid, a->ln1, a->ln2, a->ln1_mean, a->ln1_rstd, a->ln2_mean,
                     a->ln2_rstd, a->q, a->k, a->v, a->att, a->lse, a->h, a->hg, a->lnf_mean,
                     a->lnf_rstd, a->out, a->dx, a->dy, a->dq, a->dk, a->dv, a->dh, a->dhg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) pp_free_aligned(bufs[i]);
    memset(a, 0, sizeof *a);
}

/* Per-layer views: layer l of a buffer holding Bmax*L*per floats per layer. */
typedef struct {
    float *x, *xn, *xmid, *ln1, *ln2, *m1, *r1, *m2, *r2, *q, *k, *v, *att, *lse, *h, *hg;
} layer_view;

static layer_view view(const pp_text_config *c, const pp_text_acts *a, int l) {
    size_t BL = (size_t)a->Bmax * (size_t)c->ctx, BLd = BL * (size_t)c->dim, L = (size_t)l;
    layer_view w = {
        a->x + L * BLd,        a->x + (L + 1) * BLd,  a->xmid + L * BLd,     a->ln1 + L * BLd,
        a->ln2 + L * BLd,      a->ln1_mean + L * BL,  a->ln1_rstd + L * BL,  a->ln2_mean + L * BL,
        a->ln2_rstd + L * BL,  a->q + L * BLd,        a->k + L * BLd,        a->v + L * BLd,
        a->att + L * BLd,      a->lse + L * BL * (size_t)c->heads,           a->h + L * 4 * BLd,
        a->hg + L * 4 * BLd};
    return w;
}

/* ---- forward ------------------------------------------------------------ */

/* x [B,L,d] = token_embedding[ids] + position_embedding; nvalid from the ids. */
static void embed_forward(const pp_text_encoder *e, const float *P, pp_text_acts *a, int B) {
    int L = e->cfg.ctx, d = e->cfg.dim;
    const float *tok = P + e->tok_emb, *pos = P + e->pos_emb;
    for (int b = 0; b < B; b++) {
        int n = 0;
        for (int t = 0; t < L; t++)
            if (a->ids[b * L + t] != PP_TOK_PAD) n = t + 1;
        a->nvalid[b] = n ? n : 1;
    }
#pragma omp parallel for collapse(2) if (B * L * d > 32768)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            float *x = a->x + ((size_t)b * L + t) * d;
            const float *te = tok + (size_t)a->ids[b * L + t] * d, *pe = pos + (size_t)t * d;
            for (int i = 0; i < d; i++) x[i] = te[i] + pe[i];
        }
}

/* Attention of each sequence over its first nvalid keys. q,k,v,out [B,L,H,Dh]; lse [B,H,L] */
static void masked_attention_forward(const pp_text_config *c, const pp_text_acts *a, float *out,
                                     float *lse, const float *q, const float *k, const float *v, int B) {
    int L = c->ctx, H = c->heads, Dh = c->dim / c->heads;
    size_t s = (size_t)L * c->dim;
    for (int b = 0; b < B; b++)
        pp_attention_forward(out + b * s, lse + (size_t)b * H * L, q + b * s, k + b * s, v + b * s,
                             1, L, a->nvalid[b], H, Dh);
}

static void block_forward(const pp_text_config *c, const pp_text_block *k, const float *P,
                          pp_text_acts *a, const layer_view *w, int B) {
    int M = B * c->ctx, d = c->dim;
    size_t Md = (size_t)M * d;
    pp_layernorm_forward(w->ln1, w->m1, w->r1, w->x, P + k->ln1_w, P + k->ln1_b, M, d, LN_EPS);
    pp_linear_forward(w->q, w->ln1, P + k->q_w, P + k->q_b, M, d, d);
    pp_linear_forward(w->k, w->ln1, P + k->k_w, P + k->k_b, M, d, d);
    pp_linear_forward(w->v, w->ln1, P + k->v_w, P + k->v_b, M, d, d);
    masked_attention_forward(c, a, w->att, w->lse, w->q, w->k, w->v, B);
    pp_linear_forward(w->xmid, w->att, P + k->o_w, P + k->o_b, M, d, d);
    pp_add_inplace(w->xmid, w->x, Md); /* xmid = x + o(att) */
    pp_layernorm_forward(w->ln2, w->m2, w->r2, w->xmid, P + k->ln2_w, P + k->ln2_b, M, d, LN_EPS);
    pp_linear_forward(w->h, w->ln2, P + k->fc1_w, P + k->fc1_b, M, d, 4 * d);
    pp_gelu_forward(w->hg, w->h, 4 * Md);
    pp_linear_forward(w->xn, w->hg, P + k->fc2_w, P + k->fc2_b, M, 4 * d, d);
    pp_add_inplace(w->xn, w->xmid, Md); /* x_next = xmid + ffn(...) */
}

/* Zero the rows of y [B,L,d] at <pad> positions. */
static void zero_pad_rows(float *y, const int *ids, int B, int L, int d) {
    for (int i = 0; i < B * L; i++)
        if (ids[i] == PP_TOK_PAD) memset(y + (size_t)i * d, 0, (size_t)d * sizeof *y);
}

int pp_text_encoder_forward(const pp_text_encoder *e, const float *P, const int *ids, int B,
                            float *out, pp_text_acts *a) {
    const pp_text_config *c = &e->cfg;
    int L = c->ctx, d = c->dim;
    if (B < 1 || B > a->Bmax) PP_FAIL("text encoder: batch %d outside [1, %d]", B, a->Bmax);
    for (int i = 0; i < B * L; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            PP_FAIL("text encoder: token id %d at position %d is outside [0, %d)", ids[i], i, c->vocab);
    a->B = B;
    memcpy(a->ids, ids, (size_t)B * L * sizeof *ids);
    embed_forward(e, P, a, B);
    for (int l = 0; l < c->layers; l++) {
        layer_view w = view(c, a, l);
        block_forward(c, &e->blk[l], P, a, &w, B);
    }
    const float *xl = a->x + (size_t)c->layers * a->Bmax * L * d;
    pp_layernorm_forward(a->out, a->lnf_mean, a->lnf_rstd, xl, P + e->lnf_w, P + e->lnf_b, B * L, d,
                         LN_EPS);
    if (c->zero_pads) zero_pad_rows(a->out, ids, B, L, d);
    if (out) memcpy(out, a->out, (size_t)B * L * d * sizeof *out);
    return 0;
}

/* ---- backward ----------------------------------------------------------- */

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof *p); }

static void masked_attention_backward(const pp_text_config *c, const pp_text_acts *a,
                                      const float *dout, const layer_view *w, int B) {
    int L = c->ctx, H = c->heads, Dh = c->dim / c->heads;
    size_t s = (size_t)L * c->dim;
    for (int b = 0; b < B; b++)
        pp_attention_backward(a->dq + b * s, a->dk + b * s, a->dv + b * s, dout + b * s, w->q + b * s,
                              w->k + b * s, w->v + b * s, w->att + b * s, w->lse + (size_t)b * H * L,
                              1, L, a->nvalid[b], H, Dh);
}

/* a->dx: d x_next on entry, d x on return. Parameter grads accumulate into G. */
static void block_backward(const pp_text_config *c, const pp_text_block *k, const float *P,
                           float *G, pp_text_acts *a, const layer_view *w, int B) {
    int M = B * c->ctx, d = c->dim;
    size_t Md = (size_t)M * d;
    /* FFN branch; the residual passes dx through to xmid unchanged */
    zero(a->dhg, 4 * Md);
    pp_linear_backward(a->dhg, G + k->fc2_w, G + k->fc2_b, a->dx, w->hg, P + k->fc2_w, M, 4 * d, d);
    zero(a->dh, 4 * Md);
    pp_gelu_backward(a->dh, a->dhg, w->h, 4 * Md);
    zero(a->dy, Md);
    pp_linear_backward(a->dy, G + k->fc1_w, G + k->fc1_b, a->dh, w->ln2, P + k->fc1_w, M, d, 4 * d);
    pp_layernorm_backward(a->dx, G + k->ln2_w, G + k->ln2_b, a->dy, w->xmid, w->m2, w->r2,
                          P + k->ln2_w, M, d);
    /* attention branch */
    zero(a->dy, Md);
    pp_linear_backward(a->dy, G + k->o_w, G + k->o_b, a->dx, w->att, P + k->o_w, M, d, d);
    zero(a->dq, Md), zero(a->dk, Md), zero(a->dv, Md);
    masked_attention_backward(c, a, a->dy, w, B);
    zero(a->dy, Md);
    pp_linear_backward(a->dy, G + k->q_w, G + k->q_b, a->dq, w->ln1, P + k->q_w, M, d, d);
    pp_linear_backward(a->dy, G + k->k_w, G + k->k_b, a->dk, w->ln1, P + k->k_w, M, d, d);
    pp_linear_backward(a->dy, G + k->v_w, G + k->v_b, a->dv, w->ln1, P + k->v_w, M, d, d);
    pp_layernorm_backward(a->dx, G + k->ln1_w, G + k->ln1_b, a->dy, w->x, w->m1, w->r1,
                          P + k->ln1_w, M, d);
}

/* dx [B,L,d] -> position embedding (summed over B) and token embedding (scatter-added). */
static void embed_backward(const pp_text_encoder *e, float *G, const pp_text_acts *a) {
    int L = e->cfg.ctx, d = e->cfg.dim, B = a->B;
    float *dtok = G + e->tok_emb, *dpos = G + e->pos_emb;
    for (int b = 0; b < B; b++) /* serial: rows of dtok may repeat, and this is tiny */
        for (int t = 0; t < L; t++) {
            const float *g = a->dx + ((size_t)b * L + t) * d;
            float *dt = dtok + (size_t)a->ids[b * L + t] * d, *dp = dpos + (size_t)t * d;
            for (int i = 0; i < d; i++) {
                dt[i] += g[i];
                dp[i] += g[i];
            }
        }
}

void pp_text_encoder_backward(const pp_text_encoder *e, const float *P, float *G, const float *dout,
                              pp_text_acts *a) {
    const pp_text_config *c = &e->cfg;
    int B = a->B, L = c->ctx, d = c->dim, M = B * L;
    size_t Md = (size_t)M * d;
    memcpy(a->dy, dout, Md * sizeof *dout);
    if (c->zero_pads) zero_pad_rows(a->dy, a->ids, B, L, d);
    zero(a->dx, Md);
    const float *xl = a->x + (size_t)c->layers * a->Bmax * L * d;
    pp_layernorm_backward(a->dx, G + e->lnf_w, G + e->lnf_b, a->dy, xl, a->lnf_mean, a->lnf_rstd,
                          P + e->lnf_w, M, d);
    for (int l = c->layers - 1; l >= 0; l--) {
        layer_view w = view(c, a, l);
        block_backward(c, &e->blk[l], P, G, a, &w, B);
    }
    embed_backward(e, G, a);
}
