/* dit.c - the Wan2.1 DiT backbone: parameter layout, forward, backward.
 * See dit.h for the data flow and docs/ARCHITECTURE.md for the critical details. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "wan/dit.h"
#include "nn/linear.h"
#include "nn/ops.h"

/* ------------------------------------------------------------------ layout */

/* one field against its bounds */
static int bounded(const char *name, int v, int lo, int hi) {
    if (v < lo || v > hi) PP_FAIL("model config: %s = %d is outside [%d, %d]", name, v, lo, hi);
    return 0;
}

int pp_dit_config_check(const pp_dit_config *c) {
    if (bounded("dim", c->dim, 1, PP_DIT_MAX_DIM) || bounded("heads", c->heads, 1, PP_DIT_MAX_HEADS) ||
        bounded("layers", c->layers, 1, PP_DIT_MAX_LAYERS) || bounded("ffn_dim", c->ffn_dim, 1, PP_DIT_MAX_FFN) ||
        bounded("in_dim", c->in_dim, 1, PP_DIT_MAX_CHANNELS) || bounded("out_dim", c->out_dim, 1, PP_DIT_MAX_CHANNELS) ||
        bounded("text_dim", c->text_dim, 1, PP_DIT_MAX_TEXT_DIM) ||
        bounded("text_len", c->text_len, 1, PP_DIT_MAX_TEXT_LEN) ||
        bounded("freq_dim", c->freq_dim, 2, PP_DIT_MAX_FREQ_DIM) ||
        bounded("frame_emb", c->frame_emb, 0, PP_DIT_MAX_FRAME_EMB))
        return -1;
    if (c->dim % c->heads) PP_FAIL("model config: heads (%d) must divide dim (%d)", c->heads, c->dim);
    int d = c->dim / c->heads;
    if (d % 2 || d < 6) PP_FAIL("model config: head dim %d must be even and >= 6 (3D RoPE)", d);
    for (int i = 0; i < 3; i++)
        if (c->patch[i] < 1 || c->patch[i] > 64) PP_FAIL("model config: patch sizes must be in [1,64]");
    if (c->freq_dim < 2 || c->freq_dim % 2) PP_FAIL("model config: freq_dim must be even and >= 2");
    if (!(c->eps > 0) || !(c->rope_theta > 1)) PP_FAIL("model config: eps must be > 0 and rope_theta > 1");
    return 0;
}

/* A Linear: weight and bias in t, or (tw != t) the weight in tw and the bias in t. */
static pp_lin lin_declare(pp_params *t, pp_params *tw, const char *name, int in, int out) {
    if (tw == t) return pp_lin_declare(t, name, in, out);
    pp_lin l = {0, 0, in, out, NULL, 0};
    l.w = pp_params_addf(tw, 2, out, in, 0, 0, 0, "%s.weight", name);
    l.b = pp_params_addf(t, 1, out, 0, 0, 0, 0, "%s.bias", name);
    return l;
}

static void block_declare(pp_dit_block *b, pp_params *t, pp_params *tw, const char *prefix, int dim, int ffn) {
    char name[PP_NAME_MAX];
    b->modulation = pp_params_addf(t, 3, 1, 6, dim, 0, 0, "%s.modulation", prefix);
#define LIN(field, suffix, in, out)                              \
    snprintf(name, sizeof name, "%s." suffix, prefix);           \
    b->field = lin_declare(t, tw, name, in, out)
#define VEC(field, suffix) b->field = pp_params_addf(t, 1, dim, 0, 0, 0, 0, "%s." suffix, prefix)
    LIN(sa_q, "self_attn.q", dim, dim);
    LIN(sa_k, "self_attn.k", dim, dim);
    LIN(sa_v, "self_attn.v", dim, dim);
    LIN(sa_o, "self_attn.o", dim, dim);
    VEC(sa_norm_q, "self_attn.norm_q.weight");
    VEC(sa_norm_k, "self_attn.norm_k.weight");
    VEC(norm3_w, "norm3.weight");
    VEC(norm3_b, "norm3.bias");
    LIN(ca_q, "cross_attn.q", dim, dim);
    LIN(ca_k, "cross_attn.k", dim, dim);
    LIN(ca_v, "cross_attn.v", dim, dim);
    LIN(ca_o, "cross_attn.o", dim, dim);
    VEC(ca_norm_q, "cross_attn.norm_q.weight");
    VEC(ca_norm_k, "cross_attn.norm_k.weight");
    LIN(ffn0, "ffn.0", dim, ffn);
    LIN(ffn2, "ffn.2", ffn, dim);
#undef LIN
#undef VEC
}

void pp_dit_block_declare(pp_dit_block *b, pp_params *t, const char *prefix, int dim, int ffn) {
    block_declare(b, t, t, prefix, dim, ffn);
}

static int dit_declare(pp_dit *m, const pp_dit_config *cfg, pp_params *t, pp_params *tw) {
    if (pp_dit_config_check(cfg)) return -1;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int dim = cfg->dim, pt = cfg->patch[0], ph = cfg->patch[1], pw = cfg->patch[2];
    /* patch_embedding.weight is [dim, in, pt, ph, pw]: a Linear over (c,kt,kh,kw) */
    m->patch.in = cfg->in_dim * pt * ph * pw;
    m->patch.out = dim;
    m->patch.w = pp_params_addf(tw, 5, dim, cfg->in_dim, pt, ph, pw, "patch_embedding.weight");
    m->patch.b = pp_params_addf(t, 1, dim, 0, 0, 0, 0, "patch_embedding.bias");
    m->text0 = lin_declare(t, tw, "text_embedding.0", cfg->text_dim, dim);
    m->text2 = lin_declare(t, tw, "text_embedding.2", dim, dim);
    m->time0 = lin_declare(t, tw, "time_embedding.0", cfg->freq_dim, dim);
    m->time2 = lin_declare(t, tw, "time_embedding.2", dim, dim);
    m->tproj = lin_declare(t, tw, "time_projection.1", dim, 6 * dim);
    m->blocks = pp_calloc((size_t)cfg->layers, sizeof *m->blocks);
    for (int i = 0; i < cfg->layers; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "blocks.%d", i);
        block_declare(&m->blocks[i], t, tw, prefix, dim, cfg->ffn_dim);
    }
    m->head_mod = pp_params_addf(t, 3, 1, 2, dim, 0, 0, "head.modulation");
    m->head = lin_declare(t, tw, "head.head", dim, pt * ph * pw * cfg->out_dim);
    if (cfg->frame_emb > 0) m->frame_emb = pp_params_addf(t, 2, cfg->frame_emb, dim, 0, 0, 0, "frame_embedding.weight");
    return 0;
}

int pp_dit_init(pp_dit *m, const pp_dit_config *cfg, pp_params *t) { return dit_declare(m, cfg, t, t); }

int pp_dit_init_external(pp_dit *m, const pp_dit_config *cfg, pp_params *small, pp_params *weights) {
    if (small == weights) PP_FAIL("internal error: pp_dit_init_external needs two tables");
    return dit_declare(m, cfg, small, weights);
}

int pp_dit_linears(pp_dit *m, pp_lin **out, int max) {
    int n = 0;
#define PUT(l) (n < max ? (void)(out[n] = &(l)) : (void)0, n++)
    PUT(m->patch), PUT(m->text0), PUT(m->text2), PUT(m->time0), PUT(m->time2), PUT(m->tproj);
    for (int i = 0; i < m->cfg.layers; i++) {
        pp_dit_block *b = &m->blocks[i];
        PUT(b->sa_q), PUT(b->sa_k), PUT(b->sa_v), PUT(b->sa_o);
        PUT(b->ca_q), PUT(b->ca_k), PUT(b->ca_v), PUT(b->ca_o), PUT(b->ffn0), PUT(b->ffn2);
    }
    PUT(m->head);
#undef PUT
    return n;
}

void pp_dit_free(pp_dit *m) {
    free(m->blocks);
    m->blocks = NULL;
}

/* ------------------------------------------------------------------ init */

static void fill_const(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

void pp_dit_block_init(const pp_dit_block *b, int dim, float *P, pp_rng *r) {
    pp_rng_fill_normal(r, P + b->modulation, 6 * (size_t)dim, 1.0f / sqrtf((float)dim));
    const pp_lin *lins[] = {&b->sa_q, &b->sa_k, &b->sa_v, &b->sa_o, &b->ca_q,
                            &b->ca_k, &b->ca_v, &b->ca_o, &b->ffn0, &b->ffn2};
    for (size_t j = 0; j < sizeof lins / sizeof *lins; j++) pp_lin_init_xavier(P, *lins[j], r);
    size_t ones[] = {b->sa_norm_q, b->sa_norm_k, b->ca_norm_q, b->ca_norm_k, b->norm3_w};
    for (size_t j = 0; j < 5; j++) fill_const(P + ones[j], (size_t)dim, 1.0f);
    fill_const(P + b->norm3_b, (size_t)dim, 0.0f);
}

void pp_dit_init_weights(const pp_dit *m, float *P, pp_rng *r) {
    int dim = m->cfg.dim;
    pp_lin_init_xavier(P, m->patch, r);
    pp_lin_init_normal(P, m->text0, 0.02f, r);
    pp_lin_init_normal(P, m->text2, 0.02f, r);
    pp_lin_init_normal(P, m->time0, 0.02f, r);
    pp_lin_init_normal(P, m->time2, 0.02f, r);
    pp_lin_init_xavier(P, m->tproj, r);
    for (int i = 0; i < m->cfg.layers; i++) pp_dit_block_init(&m->blocks[i], dim, P, r);
    pp_rng_fill_normal(r, P + m->head_mod, 2 * (size_t)dim, 1.0f / sqrtf((float)dim));
    /* Wan zero-initialises head.head.weight: the untrained model predicts zero. */
    memset(P + m->head.w, 0, (size_t)m->head.in * m->head.out * sizeof(float));
    memset(P + m->head.b, 0, (size_t)m->head.out * sizeof(float));
    if (m->cfg.frame_emb > 0) pp_rng_fill_normal(r, P + m->frame_emb, (size_t)m->cfg.frame_emb * dim, 0.02f);
}

double pp_dit_flops(const pp_dit_config *c, int F, int H, int W) {
    double N = (double)(F / c->patch[0]) * (H / c->patch[1]) * (W / c->patch[2]);
    double L = c->text_len, d = c->dim, pv = (double)c->patch[0] * c->patch[1] * c->patch[2];
    double f = 2 * N * (c->in_dim * pv) * d;                      /* patch embedding */
    f += 2 * L * ((double)c->text_dim * d + d * d);               /* text embedding */
    f += 2 * ((double)c->freq_dim * d + d * d + d * 6 * d);       /* time embedding + projection */
    double layer = 2 * N * 4 * d * d + 4 * N * N * d              /* self-attention */
                   + 2 * N * 2 * d * d + 2 * L * 2 * d * d + 4 * N * L * d /* cross-attention */
                   + 2 * N * 2 * d * c->ffn_dim;                  /* ffn */
    f += c->layers * layer;
    f += 2 * N * d * (c->out_dim * pv);                           /* head */
    return f;
}

/* ------------------------------------------------------------------ activations */

struct pp_block_acts {
    float *mod;                                 /* [B,6,dim] modulation + e0 */
    float *mean1, *rstd1, *h1;                  /* LN1 + modulate: [BN], [BN], [BN,dim] */
    float *qlin, *klin, *rq, *rk, *q, *k, *v;   /* q,k = RoPE(RMSNorm(lin)) [BN,dim] */
    float *o, *lse, *ysa;                       /* attention out, [B,H,N], o-proj */
    float *xa, *mean3, *rstd3, *h3;             /* after self-attn residual; norm3 */
    float *qclin, *rqc, *qc;                    /* cross q [BN,dim] */
    float *kclin, *rkc, *kc, *vc;               /* cross k,v [BL,dim] */
    float *oc, *lsec, *yca;                     /* [BN,dim], [B,H,N], [BN,dim] */
    float *xb, *mean2, *rstd2, *h2, *f1, *g1, *yffn; /* ffn path; f1,g1 [rows,ffn] */
    int ffn_rows; /* tokens per FFN pass: B*N, or FFN_ROWS at inference */
    float *arena; /* only for blocks made by pp_block_acts_new */
};
typedef pp_block_acts layer_acts;

struct pp_dit_acts {
    int B, F, H, W, N, train, dim;
    pp_rope rope;
    const float *ctx;                        /* caller's context, kept for the backward */
    float *tok_in;                           /* [BN, in*pt*ph*pw] */
    float *sinus, *te0, *ts0, *e, *se, *e0;  /* time path: [B,freq], [B,dim] x4, [B,6dim] */
    float *c0, *c1, *cemb;                   /* text path: [BL,dim] */
    float *xs;                               /* residual stream at block boundaries */
    layer_acts *L;
    float *hmod, *hmean, *hrstd, *hn, *otok; /* head */
    /* backward scratch */
    float *dx, *gy, *go, *gh, *gq, *gq2, *gk, *gk2, *gv, *gf, *gf2, *gotok;
    float *dmod, *ge0, *ge, *gse, *gts0, *gte0, *gcemb, *gc0, *gc1, *ghmod;
    float *arena;
    size_t arena_floats;
};

static float *take(float *base, size_t *cur, size_t n) {
    float *p = base ? base + *cur : NULL;
    *cur += (n + 15) & ~(size_t)15;
    return p;
}

/* Tokens per FFN pass at inference: the hidden state [rows, ffn] is then bounded
 * (8960 x 4096 floats for Wan 1.3B instead of 8960 x 32760 at 480x832x81). */
#define FFN_ROWS 4096

/* The buffers of one block (B videos of N tokens, BL text tokens). Training keeps
 * every intermediate for the backward. Inference (lean) lets a buffer take over one
 * whose last reader has run, so a block holds five [BN,dim] buffers:
 *   h1: LN1 out -> ysa -> h3 -> yca      q: qlin -> q -> xa = xb
 *   k:  klin -> k -> qclin -> qc         v        o: o -> oc
 * and runs its FFN FFN_ROWS tokens at a time. */
static void block_acts_layout(layer_acts *s, float *base, size_t *pcur, size_t B, size_t N, size_t BL, size_t dim,
                              size_t ffn, size_t H, int lean) {
    size_t cur = *pcur, BN = B * N, rows = lean && BN > FFN_ROWS ? FFN_ROWS : BN;
    s->mod = take(base, &cur, B * 6 * dim);
    s->mean1 = take(base, &cur, BN);
    s->rstd1 = take(base, &cur, BN);
    s->h1 = take(base, &cur, BN * dim);
    s->rq = take(base, &cur, BN);
    s->rk = take(base, &cur, BN);
    s->q = take(base, &cur, BN * dim);
    s->k = take(base, &cur, BN * dim);
    s->v = take(base, &cur, BN * dim);
    s->o = take(base, &cur, BN * dim);
    s->lse = take(base, &cur, B * H * N);
    s->mean3 = take(base, &cur, BN);
    s->rstd3 = take(base, &cur, BN);
    s->rqc = take(base, &cur, BN);
    s->kclin = take(base, &cur, BL * dim);
    s->rkc = take(base, &cur, BL);
    s->kc = take(base, &cur, BL * dim);
    s->vc = take(base, &cur, BL * dim);
    s->lsec = take(base, &cur, B * H * N);
    s->mean2 = take(base, &cur, rows);
    s->rstd2 = take(base, &cur, rows);
    s->h2 = take(base, &cur, rows * dim);
    s->f1 = take(base, &cur, rows * ffn);
    s->yffn = take(base, &cur, rows * dim);
    s->ffn_rows = (int)rows;
    if (lean) {
        s->qlin = s->xa = s->xb = s->q, s->klin = s->qclin = s->qc = s->k;
        s->ysa = s->h3 = s->yca = s->h1, s->oc = s->o, s->g1 = s->f1;
    } else {
        float **kept[] = {&s->qlin, &s->klin, &s->ysa, &s->xa, &s->h3, &s->qclin, &s->qc, &s->oc, &s->yca, &s->xb};
        for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) *kept[i] = take(base, &cur, BN * dim);
        s->g1 = take(base, &cur, BN * ffn);
    }
    *pcur = cur;
}

/* Assigns every buffer from `base` (or only counts, when base is NULL). */
static size_t acts_layout(pp_dit_acts *a, const pp_dit *m, float *base) {
    const pp_dit_config *c = &m->cfg;
    size_t cur = 0, B = a->B, N = a->N, BN = B * N, dim = c->dim, ffn = c->ffn_dim;
    size_t BL = B * c->text_len, H = c->heads, big = (BN > BL ? BN : BL) * dim;
    size_t pin = (size_t)m->patch.in, pout = (size_t)m->head.out;
    int nl = a->train ? c->layers : 1;
    a->tok_in = take(base, &cur, BN * pin);
    a->sinus = take(base, &cur, B * c->freq_dim);
    a->te0 = take(base, &cur, B * dim);
    a->ts0 = take(base, &cur, B * dim);
    a->e = take(base, &cur, B * dim);
    a->se = take(base, &cur, B * dim);
    a->e0 = take(base, &cur, B * 6 * dim);
    a->c0 = take(base, &cur, BL * dim);
    a->c1 = take(base, &cur, BL * dim);
    a->cemb = take(base, &cur, BL * dim);
    a->xs = take(base, &cur, (size_t)(a->train ? c->layers + 1 : 2) * BN * dim);
    for (int l = 0; l < nl; l++) {
        layer_acts dummy, *s = base ? &a->L[l] : &dummy;
        block_acts_layout(s, base, &cur, B, N, BL, dim, ffn, H, !a->train);
    }
    a->hmod = take(base, &cur, B * 2 * dim);
    a->hmean = take(base, &cur, BN);
    a->hrstd = take(base, &cur, BN);
    if (a->train) a->hn = take(base, &cur, BN * dim);
    else if (base) a->hn = a->L[0].h1; /* the blocks are done with it */
    a->otok = take(base, &cur, BN * pout);
    if (!a->train) return cur;
    float **big_bufs[] = {&a->dx, &a->gy, &a->go, &a->gh, &a->gq, &a->gq2, &a->gk, &a->gk2, &a->gv};
    for (size_t i = 0; i < sizeof big_bufs / sizeof *big_bufs; i++) *big_bufs[i] = take(base, &cur, big);
    a->gf = take(base, &cur, BN * ffn);
    a->gf2 = take(base, &cur, BN * ffn);
    a->gotok = take(base, &cur, BN * pout);
    a->dmod = take(base, &cur, B * 6 * dim);
    a->ge0 = take(base, &cur, B * 6 * dim);
    a->ge = take(base, &cur, B * dim);
    a->gse = take(base, &cur, B * dim);
    a->gts0 = take(base, &cur, B * dim);
    a->gte0 = take(base, &cur, B * dim);
    a->gcemb = take(base, &cur, BL * dim);
    a->gc0 = take(base, &cur, BL * dim);
    a->gc1 = take(base, &cur, BL * dim);
    a->ghmod = take(base, &cur, B * 2 * dim);
    return cur;
}

static int check_size(const pp_dit_config *c, int B, int F, int H, int W) {
    if (B < 1 || F < 1 || H < 1 || W < 1 || B > 65536 || F > 65536 || H > 65536 || W > 65536)
        PP_FAIL("video size %dx%dx%d (batch %d) must be positive and below 65536", F, H, W, B);
    if (F % c->patch[0] || H % c->patch[1] || W % c->patch[2])
        PP_FAIL("video size %d frames x %dx%d is not divisible by the patch %d,%d,%d", F, H, W, c->patch[0],
                c->patch[1], c->patch[2]);
    if (c->frame_emb > 0 && F / c->patch[0] > c->frame_emb)
        PP_FAIL("%d frames make %d token frames; the model's frame embedding covers %d", F, F / c->patch[0],
                c->frame_emb);
    size_t N = pp_mul3_size((size_t)(F / c->patch[0]), (size_t)(H / c->patch[1]), (size_t)(W / c->patch[2]));
    if (N > INT32_MAX / 2 || pp_mul_size(N, (size_t)B) > INT32_MAX / 2)
        PP_FAIL("video size %d frames x %dx%d (batch %d) makes more tokens than this build indexes", F, H, W, B);
    return 0;
}

size_t pp_dit_acts_bytes_for(const pp_dit *m, int B, int F, int H, int W, int train) {
    if (check_size(&m->cfg, B, F, H, W)) return SIZE_MAX;
    const pp_dit_config *c = &m->cfg;
    pp_dit_acts a = {.B = B, .F = F, .H = H, .W = W, .train = train, .dim = c->dim};
    a.N = (F / c->patch[0]) * (H / c->patch[1]) * (W / c->patch[2]);
    size_t floats = acts_layout(&a, m, NULL), rope = (size_t)a.N * (c->dim / c->heads);
    return pp_mul_size(floats + rope, sizeof(float));
}

pp_dit_acts *pp_dit_acts_new(const pp_dit *m, int B, int F, int H, int W, int train) {
    const pp_dit_config *c = &m->cfg;
    char what[128];
    snprintf(what, sizeof what, "the backbone's activations for %d video%s of %d frames of %dx%d", B,
             B == 1 ? "" : "s", F, W, H);
    if (check_size(c, B, F, H, W) || pp_mem_check(pp_dit_acts_bytes_for(m, B, F, H, W, train), what)) return NULL;
    pp_dit_acts *a = pp_calloc(1, sizeof *a);
    a->B = B, a->F = F, a->H = H, a->W = W, a->train = train, a->dim = c->dim;
    int gf = F / c->patch[0], gh = H / c->patch[1], gw = W / c->patch[2];
    a->N = gf * gh * gw;
    a->L = pp_calloc((size_t)c->layers, sizeof *a->L);
    a->arena_floats = acts_layout(a, m, NULL);
    a->arena = pp_zalloc_floats(a->arena_floats);
    acts_layout(a, m, a->arena);
    pp_rope_build(&a->rope, gf, gh, gw, c->dim / c->heads, c->rope_theta);
    return a;
}

size_t pp_block_acts_bytes_for(const pp_dit *m, int B, int N) {
    const pp_dit_config *c = &m->cfg;
    size_t n = 0;
    pp_block_acts dummy;
    block_acts_layout(&dummy, NULL, &n, (size_t)B, (size_t)N, (size_t)B * c->text_len, c->dim, c->ffn_dim, c->heads, 0);
    return pp_mul_size(n, sizeof(float));
}

pp_block_acts *pp_block_acts_new(const pp_dit *m, const pp_dit_acts *a) {
    const pp_dit_config *c = &m->cfg;
    size_t n = 0, B = a->B, N = a->N, BL = B * c->text_len;
    pp_block_acts *s = pp_calloc(1, sizeof *s), dummy;
    block_acts_layout(&dummy, NULL, &n, B, N, BL, c->dim, c->ffn_dim, c->heads, 0);
    s->arena = pp_zalloc_floats(n);
    n = 0;
    block_acts_layout(s, s->arena, &n, B, N, BL, c->dim, c->ffn_dim, c->heads, 0);
    return s;
}

void pp_block_acts_free(pp_block_acts *s) {
    if (!s) return;
    pp_free_aligned(s->arena);
    free(s);
}

void pp_dit_acts_free(pp_dit_acts *a) {
    if (!a) return;
    pp_rope_free(&a->rope);
    pp_free_aligned(a->arena);
    free(a->L);
    free(a);
}

size_t pp_dit_acts_bytes(const pp_dit_acts *a) { return a->arena_floats * sizeof(float); }

pp_block_acts *pp_dit_block_acts(pp_dit_acts *a, int l) { return &a->L[a->train ? l : 0]; }

/* ------------------------------------------------------------------ forward */

float *pp_dit_stream(const pp_dit_acts *a, int l) {
    size_t step = (size_t)a->B * a->N * a->dim;
    return a->xs + (a->train ? (size_t)l : (size_t)(l % 2)) * step;
}

int pp_dit_acts_batch(const pp_dit_acts *a) { return a->B; }
int pp_dit_acts_tokens(const pp_dit_acts *a) { return a->N; }
void pp_dit_acts_grid(const pp_dit_acts *a, int *gf, int *gh, int *gw) {
    *gf = a->rope.gf, *gh = a->rope.gh, *gw = a->rope.gw;
}

/* dst = src, unless the lean layout made them one buffer */
static void copy_rows(float *dst, const float *src, size_t n) {
    if (dst != src) memcpy(dst, src, n * sizeof(float));
}

static void self_attn_forward(const pp_dit *m, const float *P, pp_dit_acts *a, const pp_dit_block *b,
                              layer_acts *s, const float *xin) {
    const pp_dit_config *c = &m->cfg;
    int B = a->B, N = a->N, BN = B * N, dim = c->dim, H = c->heads, ms = 6 * dim;
    pp_ln_modulate_forward(s->h1, s->mean1, s->rstd1, xin, s->mod, s->mod + dim, B, N, dim, ms, c->eps);
    pp_lin_forward(P, b->sa_q, s->qlin, s->h1, BN);
    pp_lin_forward(P, b->sa_k, s->klin, s->h1, BN);
    pp_lin_forward(P, b->sa_v, s->v, s->h1, BN);
    pp_rmsnorm_forward(s->q, s->rq, s->qlin, P + b->sa_norm_q, BN, dim, c->eps);
    pp_rmsnorm_forward(s->k, s->rk, s->klin, P + b->sa_norm_k, BN, dim, c->eps);
    pp_rope_forward(s->q, s->q, &a->rope, B, H);
    pp_rope_forward(s->k, s->k, &a->rope, B, H);
    pp_attention_forward(s->o, s->lse, s->q, s->k, s->v, B, N, N, H, dim / H);
    pp_lin_forward(P, b->sa_o, s->ysa, s->o, BN);
    copy_rows(s->xa, xin, (size_t)BN * dim);
    pp_gated_residual_forward(s->xa, s->ysa, s->mod + 2 * dim, B, N, dim, ms);
}

static void cross_attn_forward(const pp_dit *m, const float *P, pp_dit_acts *a,
                               const pp_dit_block *b, layer_acts *s) {
    const pp_dit_config *c = &m->cfg;
    int B = a->B, N = a->N, BN = B * N, BL = B * c->text_len, dim = c->dim, H = c->heads;
    pp_layernorm_forward(s->h3, s->mean3, s->rstd3, s->xa, P + b->norm3_w, P + b->norm3_b, BN, dim, c->eps);
    pp_lin_forward(P, b->ca_q, s->qclin, s->h3, BN);
    pp_rmsnorm_forward(s->qc, s->rqc, s->qclin, P + b->ca_norm_q, BN, dim, c->eps);
    pp_lin_forward(P, b->ca_k, s->kclin, a->cemb, BL);
    pp_rmsnorm_forward(s->kc, s->rkc, s->kclin, P + b->ca_norm_k, BL, dim, c->eps);
    pp_lin_forward(P, b->ca_v, s->vc, a->cemb, BL);
    pp_attention_forward(s->oc, s->lsec, s->qc, s->kc, s->vc, B, N, c->text_len, H, dim / H);
    pp_lin_forward(P, b->ca_o, s->yca, s->oc, BN);
    copy_rows(s->xb, s->xa, (size_t)BN * dim);
    pp_gated_residual_forward(s->xb, s->yca, NULL, B, N, dim, 0);
}

/* xout += gate * FFN(LN-modulate(xin)) over B videos of N tokens; mod: [B,6,dim] */
static void ffn_rows(const pp_dit *m, const float *P, const pp_dit_block *b, layer_acts *s, const float *mod,
                     const float *xin, float *xout, int B, int N) {
    const pp_dit_config *c = &m->cfg;
    int dim = c->dim, ms = 6 * dim;
    pp_ln_modulate_forward(s->h2, s->mean2, s->rstd2, xin, mod + 3 * dim, mod + 4 * dim, B, N, dim, ms, c->eps);
    if (s->g1 == s->f1) { /* inference: the pre-activation is not kept */
        pp_lin_forward_gelu(P, b->ffn0, s->g1, s->h2, B * N);
    } else {
        pp_lin_forward(P, b->ffn0, s->f1, s->h2, B * N);
        pp_gelu_forward(s->g1, s->f1, (size_t)B * N * c->ffn_dim);
    }
    pp_lin_forward(P, b->ffn2, s->yffn, s->g1, B * N);
    pp_gated_residual_forward(xout, s->yffn, mod + 5 * dim, B, N, dim, ms);
}

/* All tokens at once, or (inference) each video's tokens s->ffn_rows at a time. */
static void ffn_forward(const pp_dit *m, const float *P, pp_dit_acts *a, const pp_dit_block *b,
                        layer_acts *s, float *xout) {
    int B = a->B, N = a->N, dim = m->cfg.dim, rows = s->ffn_rows;
    copy_rows(xout, s->xb, (size_t)B * N * dim);
    if (rows >= B * N) {
        ffn_rows(m, P, b, s, s->mod, s->xb, xout, B, N);
        return;
    }
    for (int i = 0; i < B; i++)
        for (int n0 = 0; n0 < N; n0 += rows) {
            size_t off = ((size_t)i * N + n0) * dim;
            ffn_rows(m, P, b, s, s->mod + (size_t)i * 6 * dim, s->xb + off, xout + off, 1,
                     N - n0 < rows ? N - n0 : rows);
        }
}

void pp_dit_block_forward(const pp_dit *m, const float *P, const pp_dit_block *b, pp_dit_acts *a,
                          pp_block_acts *s, const float *xin, float *xout) {
    size_t six = 6 * (size_t)m->cfg.dim;
    for (int i = 0; i < a->B; i++) /* mod = modulation [1,6,dim] + e0 [B,6,dim] */
        for (size_t j = 0; j < six; j++) s->mod[i * six + j] = P[b->modulation + j] + a->e0[i * six + j];
    self_attn_forward(m, P, a, b, s, xin);
    cross_attn_forward(m, P, a, b, s);
    ffn_forward(m, P, a, b, s, xout);
}

void pp_dit_embed_forward(const pp_dit *m, const float *P, pp_dit_acts *a, const float *x, const float *t,
                          const float *ctx) {
    const pp_dit_config *c = &m->cfg;
    int B = a->B, BL = B * c->text_len, dim = c->dim;
    a->ctx = ctx;
    pp_patchify(a->tok_in, x, B, c->in_dim, a->F, a->H, a->W, c->patch[0], c->patch[1], c->patch[2]);
    pp_lin_forward(P, m->patch, pp_dit_stream(a, 0), a->tok_in, B * a->N);
    if (c->frame_emb > 0) { /* stream [b, n] += frame_embedding [frame of token n] */
        float *h = pp_dit_stream(a, 0);
        int per = a->rope.gh * a->rope.gw;
        for (size_t r = 0; r < (size_t)B * a->N; r++)
            pp_add_inplace(h + r * dim, P + m->frame_emb + (size_t)(r % a->N / per) * dim, (size_t)dim);
    }
    pp_timestep_embedding(a->sinus, t, B, c->freq_dim);
    pp_lin_forward(P, m->time0, a->te0, a->sinus, B);
    pp_silu_forward(a->ts0, a->te0, (size_t)B * dim);
    pp_lin_forward(P, m->time2, a->e, a->ts0, B);
    pp_silu_forward(a->se, a->e, (size_t)B * dim);
    pp_lin_forward(P, m->tproj, a->e0, a->se, B);
    pp_lin_forward(P, m->text0, a->c0, ctx, BL);
    pp_gelu_forward(a->c1, a->c0, (size_t)BL * dim);
    pp_lin_forward(P, m->text2, a->cemb, a->c1, BL);
}

void pp_dit_head_forward(const pp_dit *m, const float *P, pp_dit_acts *a, float *out) {
    const pp_dit_config *c = &m->cfg;
    int B = a->B, N = a->N, dim = c->dim;
    for (int i = 0; i < B; i++) /* head.modulation [1,2,dim] + e [B,1,dim] */
        for (int j = 0; j < 2 * dim; j++)
            a->hmod[(size_t)i * 2 * dim + j] = P[m->head_mod + j] + a->e[(size_t)i * dim + j % dim];
    pp_ln_modulate_forward(a->hn, a->hmean, a->hrstd, pp_dit_stream(a, c->layers), a->hmod, a->hmod + dim,
                           B, N, dim, 2 * dim, c->eps);
    pp_lin_forward(P, m->head, a->otok, a->hn, B * N);
    pp_unpatchify(out, a->otok, B, c->out_dim, a->F, a->H, a->W, c->patch[0], c->patch[1], c->patch[2]);
}

static void drop_lins(const pp_dit *m, const pp_lin *const *l, int n) {
    for (int i = 0; i < n; i++) pp_lin_drop(*l[i], m->lent);
}

static void drop_block(const pp_dit *m, const pp_dit_block *b) {
    const pp_lin *l[] = {&b->sa_q, &b->sa_k, &b->sa_v, &b->sa_o, &b->ca_q, &b->ca_k, &b->ca_v, &b->ca_o, &b->ffn0, &b->ffn2};
    drop_lins(m, l, (int)(sizeof l / sizeof *l));
}

void pp_dit_forward(const pp_dit *m, const float *P, pp_dit_acts *a, const float *x, const float *t,
                    const float *ctx, float *out) {
    int drop = !a->train && m->lent.base; /* training's backward reads the weights again */
    pp_dit_embed_forward(m, P, a, x, t, ctx);
    if (drop) drop_lins(m, (const pp_lin *const[]){&m->patch, &m->text0, &m->text2, &m->time0, &m->time2, &m->tproj}, 6);
    for (int l = 0; l < m->cfg.layers; l++) {
        pp_dit_block_forward(m, P, &m->blocks[l], a, &a->L[a->train ? l : 0], pp_dit_stream(a, l),
                             pp_dit_stream(a, l + 1));
        if (drop) drop_block(m, &m->blocks[l]);
    }
    pp_dit_head_forward(m, P, a, out);
    if (drop) pp_lin_drop(m->head, m->lent);
}

/* ------------------------------------------------------------------ backward */

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof(float)); }

/* a parameter's gradient, or NULL when no gradients are wanted (G NULL) */
static float *gview(float *G, size_t off) { return G ? G + off : NULL; }

/* dx: in = d(loss)/d(block output), out = d(loss)/d(xb) (residual + LN path) */
static void ffn_backward(const pp_dit *m, const float *P, float *G, pp_dit_acts *a,
                         const pp_dit_block *b, layer_acts *s, float *dx) {
    const pp_dit_config *c = &m->cfg;
    int B = a->B, N = a->N, BN = B * N, dim = c->dim, ms = 6 * dim;
    size_t nd = (size_t)BN * dim, nf = (size_t)BN * c->ffn_dim;
    zero(a->gy, nd);
    pp_gated_residual_backward(a->gy, a->dmod + 5 * dim, dx, s->yffn, s->mod + 5 * dim, B, N, dim, ms);
    zero(a->gf, nf);
    pp_lin_backward(P, G, b->ffn2, a->gf, a->gy, s->g1, BN);
    zero(a->gf2, nf);
    pp_gelu_backward(a->gf2, a->gf, s->f1, nf);
    zero(a->gh, nd);
    pp_lin_backward(P, G, b->ffn0, a->gh, a->gf2, s->h2, BN);
    pp_ln_modulate_backward(dx, a->dmod + 3 * dim, a->dmod + 4 * dim, a->gh, s->xb, s->mean2,
                            s->rstd2, s->mod + 4 * dim, B, N, dim, ms);
}

/* dx: in = d/d(xb), out = d/d(xa) */
static void cross_attn_backward(const pp_dit *m, const float *P, float *G, pp_dit_acts *a,
                                const pp_dit_block *b, layer_acts *s, float *dx) {
    const pp_dit_config *c = &m->cfg;
    int B = a->B, N = a->N, BN = B * N, L = c->text_len, BL = B * L, dim = c->dim, H = c->heads;
    size_t nd = (size_t)BN * dim, ld = (size_t)BL * dim;
    zero(a->go, nd);
    pp_lin_backward(P, G, b->ca_o, a->go, dx, s->oc, BN);
    zero(a->gq, nd), zero(a->gk, ld), zero(a->gv, ld);
    pp_attention_backward(a->gq, a->gk, a->gv, a->go, s->qc, s->kc, s->vc, s->oc, s->lsec, B, N, L, H, dim / H);
    zero(a->gq2, nd);
    pp_rmsnorm_backward(a->gq2, gview(G, b->ca_norm_q), a->gq, s->qclin, s->rqc, P + b->ca_norm_q, BN, dim);
    zero(a->gh, nd);
    pp_lin_backward(P, G, b->ca_q, a->gh, a->gq2, s->h3, BN);
    zero(a->gk2, ld);
    pp_rmsnorm_backward(a->gk2, gview(G, b->ca_norm_k), a->gk, s->kclin, s->rkc, P + b->ca_norm_k, BL, dim);
    pp_lin_backward(P, G, b->ca_k, a->gcemb, a->gk2, a->cemb, BL);
    pp_lin_backward(P, G, b->ca_v, a->gcemb, a->gv, a->cemb, BL);
    pp_layernorm_backward(dx, gview(G, b->norm3_w), gview(G, b->norm3_b), a->gh, s->xa, s->mean3, s->rstd3,
                          P + b->norm3_w, BN, dim);
}

/* dx: in = d/d(xa), out = d/d(block input) */
static void self_attn_backward(const pp_dit *m, const float *P, float *G, pp_dit_acts *a,
                               const pp_dit_block *b, layer_acts *s, const float *xin, float *dx) {
    const pp_dit_config *c = &m->cfg;
    int B = a->B, N = a->N, BN = B * N, dim = c->dim, H = c->heads, ms = 6 * dim;
    size_t nd = (size_t)BN * dim;
    zero(a->gy, nd);
    pp_gated_residual_backward(a->gy, a->dmod + 2 * dim, dx, s->ysa, s->mod + 2 * dim, B, N, dim, ms);
    zero(a->go, nd);
    pp_lin_backward(P, G, b->sa_o, a->go, a->gy, s->o, BN);
    zero(a->gq, nd), zero(a->gk, nd), zero(a->gv, nd);
    pp_attention_backward(a->gq, a->gk, a->gv, a->go, s->q, s->k, s->v, s->o, s->lse, B, N, N, H, dim / H);
    pp_rope_backward(a->gq, a->gq, &a->rope, B, H);
    pp_rope_backward(a->gk, a->gk, &a->rope, B, H);
    zero(a->gq2, nd), zero(a->gk2, nd);
    pp_rmsnorm_backward(a->gq2, gview(G, b->sa_norm_q), a->gq, s->qlin, s->rq, P + b->sa_norm_q, BN, dim);
    pp_rmsnorm_backward(a->gk2, gview(G, b->sa_norm_k), a->gk, s->klin, s->rk, P + b->sa_norm_k, BN, dim);
    zero(a->gh, nd);
    pp_lin_backward(P, G, b->sa_q, a->gh, a->gq2, s->h1, BN);
    pp_lin_backward(P, G, b->sa_k, a->gh, a->gk2, s->h1, BN);
    pp_lin_backward(P, G, b->sa_v, a->gh, a->gv, s->h1, BN);
    pp_ln_modulate_backward(dx, a->dmod, a->dmod + dim, a->gh, xin, s->mean1, s->rstd1, s->mod + dim,
                            B, N, dim, ms);
}

void pp_dit_block_backward(const pp_dit *m, const float *P, float *G, const pp_dit_block *b,
                           pp_dit_acts *a, pp_block_acts *s, const float *xin, float *dx) {
    size_t six = 6 * (size_t)m->cfg.dim;
    zero(a->dmod, (size_t)a->B * six);
    ffn_backward(m, P, G, a, b, s, dx);
    cross_attn_backward(m, P, G, a, b, s, dx);
    self_attn_backward(m, P, G, a, b, s, xin, dx);
    for (int i = 0; i < a->B; i++) /* d modulation = sum over the batch; d e0 per sample */
        for (size_t j = 0; j < six; j++) {
            if (G) G[b->modulation + j] += a->dmod[i * six + j];
            a->ge0[i * six + j] += a->dmod[i * six + j];
        }
}

void pp_dit_head_backward(const pp_dit *m, const float *P, float *G, pp_dit_acts *a, const float *dout, float *dh) {
    const pp_dit_config *c = &m->cfg;
    int B = a->B, N = a->N, dim = c->dim;
    zero(a->gotok, (size_t)B * N * m->head.out);
    pp_unpatchify_backward(a->gotok, dout, B, c->out_dim, a->F, a->H, a->W, c->patch[0], c->patch[1], c->patch[2]);
    zero(a->gh, (size_t)B * N * dim);
    pp_lin_backward(P, G, m->head, a->gh, a->gotok, a->hn, B * N);
    zero(dh, (size_t)B * N * dim);
    zero(a->ghmod, (size_t)B * 2 * dim);
    pp_ln_modulate_backward(dh, a->ghmod, a->ghmod + dim, a->gh, pp_dit_stream(a, c->layers), a->hmean,
                            a->hrstd, a->hmod + dim, B, N, dim, 2 * dim);
    zero(a->ge, (size_t)B * dim);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < 2 * dim; j++) {
            float g = a->ghmod[(size_t)i * 2 * dim + j];
            if (G) G[m->head_mod + j] += g;
            a->ge[(size_t)i * dim + j % dim] += g;
        }
}

void pp_dit_embed_backward(const pp_dit *m, const float *P, float *G, pp_dit_acts *a, const float *dh0,
                           float *dctx) {
    const pp_dit_config *c = &m->cfg;
    int B = a->B, BL = B * c->text_len, dim = c->dim;
    pp_lin_backward(P, G, m->patch, NULL, dh0, a->tok_in, B * a->N);
    if (c->frame_emb > 0 && G) { /* d frame_embedding [f] += sum of dh0 over the tokens of frame f, in order */
        int per = a->rope.gh * a->rope.gw;
        for (size_t r = 0; r < (size_t)B * a->N; r++)
            pp_add_inplace(G + m->frame_emb + (size_t)(r % a->N / per) * dim, dh0 + r * dim, (size_t)dim);
    }
    /* text: ctx -> text_embedding.0 -> GELU -> text_embedding.2 */
    zero(a->gc1, (size_t)BL * dim);
    pp_lin_backward(P, G, m->text2, a->gc1, a->gcemb, a->c1, BL);
    zero(a->gc0, (size_t)BL * dim);
    pp_gelu_backward(a->gc0, a->gc1, a->c0, (size_t)BL * dim);
    pp_lin_backward(P, G, m->text0, dctx, a->gc0, a->ctx, BL);
    /* time: sinus -> time_embedding.0 -> SiLU -> .2 = e -> SiLU -> time_projection.1 = e0 */
    zero(a->gse, (size_t)B * dim);
    pp_lin_backward(P, G, m->tproj, a->gse, a->ge0, a->se, B);
    pp_silu_backward(a->ge, a->gse, a->e, (size_t)B * dim);
    zero(a->gts0, (size_t)B * dim);
    pp_lin_backward(P, G, m->time2, a->gts0, a->ge, a->ts0, B);
    zero(a->gte0, (size_t)B * dim);
    pp_silu_backward(a->gte0, a->gts0, a->te0, (size_t)B * dim);
    pp_lin_backward(P, G, m->time0, NULL, a->gte0, a->sinus, B);
}

static void require_train(const pp_dit_acts *a) {
    if (!a->train) pp_fatal("internal error: a backward needs activations made with train=1");
}

void pp_dit_backward_begin(const pp_dit *m, pp_dit_acts *a) {
    require_train(a);
    zero(a->ge0, (size_t)a->B * 6 * m->cfg.dim);
    zero(a->gcemb, (size_t)a->B * m->cfg.text_len * m->cfg.dim);
}

void pp_dit_backward(const pp_dit *m, const float *P, float *G, pp_dit_acts *a, const float *dout,
                     float *dctx) {
    pp_dit_backward_begin(m, a);
    pp_dit_head_backward(m, P, G, a, dout, a->dx);
    for (int l = m->cfg.layers - 1; l >= 0; l--)
        pp_dit_block_backward(m, P, G, &m->blocks[l], a, &a->L[l], pp_dit_stream(a, l), a->dx);
    pp_dit_embed_backward(m, P, G, a, a->dx, dctx);
}

/* ------------------------------------------------------------------ sampler adapter */

int pp_dit_velocity(void *runner, const float *xin, const float *t, const void *const *ctx, int B, float *v) {
    pp_dit_runner *r = runner;
    size_t row = (size_t)r->m->cfg.text_len * r->m->cfg.text_dim;
    if (!r->acts || r->acts->B != B) {
        pp_dit_runner_free(r);
        if (!(r->acts = pp_dit_acts_new(r->m, B, r->F, r->H, r->W, 0))) return -1;
        r->ctx = pp_alloc_floats((size_t)B * row);
    }
    for (int b = 0; b < B; b++) memcpy(r->ctx + b * row, ctx[b], row * sizeof(float));
    pp_dit_forward(r->m, r->params, r->acts, xin, t, r->ctx, v);
    return 0;
}

void pp_dit_runner_free(pp_dit_runner *r) {
    pp_dit_acts_free(r->acts);
    pp_free_aligned(r->ctx);
    r->acts = NULL, r->ctx = NULL;
}
