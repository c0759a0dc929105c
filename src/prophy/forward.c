/* prophy_forward.c - forward, losses and backward of the assembled ProPhy model
 * (data flow in prophy_model.h), token targets and the sampler adapter. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/ops.h"
#include "prophy/model.h"

struct pp_prophy_acts {
    int B, F, H, W, N, train, npb;
    size_t TC;               /* T*C floats of one stream */
    pp_dit_acts *dit;
    pp_text_acts text;
    pp_block_acts **pbs;     /* [npb] (train) or NULL (the backbone's shared set) */
    float *z;                /* branch streams: [npb+1] (train) or [2] x [T,C] */
    float *tmp, *r;          /* [T,C]: an injection's output; the REB's output */
    float *pooled, *dpooled; /* [B,text_dim] */
    pp_seb_acts seb;
    pp_reb_acts reb;
    float *dS, *dZ, *dr;     /* backward: [T,C] */
    float *dctx;             /* [B,L,text_dim] */
    float *pred, *dpred;     /* [B,out,F,H,W] */
    float *drho_s, *drho_r;  /* [B,E_s], [T,E_r] */
};

/* ------------------------------------------------------------------ activations */

static void alloc_backward(const pp_prophy *m, pp_prophy_acts *a) {
    const pp_prophy_config *c = &m->cfg;
    size_t T = (size_t)a->B * a->N;
    a->dS = pp_zalloc_floats(a->TC), a->dZ = pp_zalloc_floats(a->TC), a->dr = pp_zalloc_floats(a->TC);
    a->dctx = pp_zalloc_floats((size_t)a->B * c->text.ctx * c->text.dim);
    a->dpooled = pp_zalloc_floats((size_t)a->B * c->text.dim);
    a->dpred = pp_zalloc_floats((size_t)a->B * c->base.dit.out_dim * a->F * a->H * a->W);
    a->drho_s = pp_zalloc_floats((size_t)a->B * (c->branch.E_s > 0 ? c->branch.E_s : 1));
    a->drho_r = pp_zalloc_floats(T * (c->branch.E_r > 0 ? c->branch.E_r : 1));
}

size_t pp_prophy_acts_bytes_for(const pp_prophy *m, int B, int F, int H, int W, int train) {
    const pp_prophy_config *c = &m->cfg;
    const pp_dit_config *d = &c->base.dit;
    size_t dit = pp_dit_acts_bytes_for(&m->dit, B, F, H, W, train);
    if (dit == SIZE_MAX) return SIZE_MAX;
    size_t N = (size_t)(F / d->patch[0]) * (H / d->patch[1]) * (W / d->patch[2]);
    size_t nblocks = train ? (size_t)pp_prophy_n_pb(c) : 0; /* the backbone's are in dit */
    size_t block = pp_block_acts_bytes_for(&m->dit, B, (int)N);
    size_t TC = (size_t)B * N * d->dim, vox = (size_t)F * H * W;
    size_t streams = (train ? (size_t)pp_prophy_n_pb(c) + 1 : 2) + 2 + (train ? 3 : 0); /* z, tmp, r, dS, dZ, dr */
    size_t floats = streams * TC + (size_t)(train ? 2 : 1) * B * d->out_dim * vox; /* pred, dpred */
    if (pp_prophy_has_seb(c)) floats += 3 * TC;                                  /* the SEB's maps */
    if (pp_prophy_has_reb(c)) floats += (size_t)(2 + c->branch.top_k) * TC;      /* the REB's experts */
    return dit + pp_mul_size(nblocks, block) + floats * sizeof(float);
}

pp_prophy_acts *pp_prophy_acts_new(const pp_prophy *m, int B, int F, int H, int W, int train) {
    const pp_prophy_config *c = &m->cfg;
    char what[128];
    snprintf(what, sizeof what, "%s %d video%s of %d frames of %dx%d", train ? "training on" : "sampling", B,
             B == 1 ? "" : "s", F, W, H);
    if (pp_mem_check(pp_prophy_acts_bytes_for(m, B, F, H, W, train), what)) return NULL;
    pp_dit_acts *d = pp_dit_acts_new(&m->dit, B, F, H, W, train);
    if (!d) return NULL;
    pp_prophy_acts *a = pp_calloc(1, sizeof *a);
    a->dit = d, a->B = B, a->F = F, a->H = H, a->W = W, a->train = train;
    a->N = pp_dit_acts_tokens(d);
    a->npb = pp_prophy_n_pb(c);
    a->TC = (size_t)B * a->N * c->base.dit.dim;
    pp_text_acts_alloc(&a->text, &c->text, B);
    if (train && a->npb) {
        a->pbs = pp_calloc((size_t)a->npb, sizeof *a->pbs);
        for (int j = 0; j < a->npb; j++) a->pbs[j] = pp_block_acts_new(&m->dit, d);
    }
    a->z = pp_zalloc_floats((size_t)(train ? a->npb + 1 : 2) * a->TC);
    a->tmp = pp_zalloc_floats(a->TC), a->r = pp_zalloc_floats(a->TC);
    a->pooled = pp_zalloc_floats((size_t)B * c->text.dim);
    a->pred = pp_zalloc_floats((size_t)B * c->base.dit.out_dim * F * H * W);
    if (train) alloc_backward(m, a);
    return a;
}

void pp_prophy_acts_free(pp_prophy_acts *a) {
    if (!a) return;
    pp_dit_acts_free(a->dit);
    pp_text_acts_free(&a->text);
    for (int j = 0; a->pbs && j < a->npb; j++) pp_block_acts_free(a->pbs[j]);
    free(a->pbs);
    pp_seb_acts_free(&a->seb);
    pp_reb_acts_free(&a->reb);
    float *bufs[] = {a->z, a->tmp, a->r, a->pooled, a->dpooled, a->dS, a->dZ, a->dr,
                     a->dctx, a->pred, a->dpred, a->drho_s, a->drho_r};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(a);
}

const float *pp_prophy_acts_ctx(const pp_prophy_acts *a) { return a->text.out; }
const float *pp_prophy_acts_rho_s(const pp_prophy_acts *a) { return a->seb.mem ? a->seb.rho : NULL; }
const float *pp_prophy_acts_rho_r(const pp_prophy_acts *a) { return a->reb.mem ? a->reb.rho : NULL; }
const int *pp_prophy_acts_sel(const pp_prophy_acts *a) { return a->reb.imem ? a->reb.sel : NULL; }

static float *S(const pp_prophy_acts *a, int l) { return pp_dit_stream(a->dit, l); }
static float *Z(const pp_prophy_acts *a, int j) { return a->z + (size_t)(a->train ? j : j % 2) * a->TC; }
/* the backbone's blocks run on the backbone's own activations; the Physical Blocks
 * on theirs when training, on the backbone's shared set when sampling */
static pp_block_acts *bb_acts(const pp_prophy_acts *a, int l) { return pp_dit_block_acts(a->dit, l); }
static pp_block_acts *pb_acts(const pp_prophy_acts *a, int j) {
    return a->train ? a->pbs[j] : pp_dit_block_acts(a->dit, 0);
}

/* ------------------------------------------------------------------ forward */

/* pooled[b] = mean of ctx[b,t] over the positions t whose id is not <pad> (0 if none) */
static void pool_forward(float *pooled, const float *ctx, const int *ids, int B, int L, int d) {
    for (int b = 0; b < B; b++) {
        float *p = pooled + (size_t)b * d;
        memset(p, 0, (size_t)d * sizeof(float));
        int n = 0;
        for (int t = 0; t < L; t++) {
            if (ids[b * L + t] == PP_TOK_PAD) continue;
            const float *x = ctx + ((size_t)b * L + t) * d;
            for (int i = 0; i < d; i++) p[i] += x[i];
            n++;
        }
        if (n)
            for (int i = 0; i < d; i++) p[i] /= (float)n;
    }
}

/* dctx[b,t] += dpooled[b] / n_b at the non-pad positions */
static void pool_backward(float *dctx, const float *dpooled, const int *ids, int B, int L, int d) {
    for (int b = 0; b < B; b++) {
        int n = 0;
        for (int t = 0; t < L; t++) n += ids[b * L + t] != PP_TOK_PAD;
        for (int t = 0; t < L && n; t++) {
            if (ids[b * L + t] == PP_TOK_PAD) continue;
            float *g = dctx + ((size_t)b * L + t) * d;
            for (int i = 0; i < d; i++) g[i] += dpooled[(size_t)b * d + i] / (float)n;
        }
    }
}

/* Z_0 = SEB(S_0, pooled) or a copy of S_0 */
static void branch_input_forward(const pp_prophy *m, const float *P, pp_prophy_acts *a) {
    const pp_prophy_config *c = &m->cfg;
    if (!pp_prophy_has_seb(c)) {
        memcpy(Z(a, 0), S(a, 0), a->TC * sizeof(float));
        return;
    }
    int gf, gh, gw;
    pp_dit_acts_grid(a->dit, &gf, &gh, &gw);
    pool_forward(a->pooled, a->text.out, a->text.ids, a->B, c->text.ctx, c->text.dim);
    pp_seb_forward(&m->br.seb, P, &a->seb, Z(a, 0), S(a, 0), a->pooled, a->B, gf, gh, gw);
}

/* PB j: Z_j -> Z_{j+1}; S_{j+1} += inject_j(Z_{j+1}); after the last PB the REB */
static void pb_forward(const pp_prophy *m, const float *P, pp_prophy_acts *a, int j) {
    int T = a->B * a->N;
    pp_dit_block_forward(&m->dit, P, &m->br.pb[j], a->dit, pb_acts(a, j), Z(a, j), Z(a, j + 1));
    pp_lin_forward(P, m->br.inject[j], a->tmp, Z(a, j + 1), T);
    pp_add_inplace(S(a, j + 1), a->tmp, a->TC);
    if (j == a->npb - 1 && pp_prophy_has_reb(&m->cfg)) {
        pp_reb_forward(&m->br.reb, P, &a->reb, a->r, Z(a, j + 1), T);
        pp_lin_forward(P, m->br.reb_inject, a->tmp, a->r, T);
        pp_add_inplace(S(a, j + 1), a->tmp, a->TC);
    }
}

int pp_prophy_forward(const pp_prophy *m, const float *P, pp_prophy_acts *a, const float *x,
                      const float *t, const int *ids, float *out) {
    if (pp_text_encoder_forward(&m->te, P, ids, a->B, NULL, &a->text)) return -1;
    pp_dit_embed_forward(&m->dit, P, a->dit, x, t, a->text.out);
    if (a->npb) branch_input_forward(m, P, a);
    for (int j = 0; j < m->cfg.base.dit.layers; j++) {
        pp_dit_block_forward(&m->dit, P, &m->dit.blocks[j], a->dit, bb_acts(a, j), S(a, j), S(a, j + 1));
        if (j < a->npb) pb_forward(m, P, a, j);
    }
    pp_dit_head_forward(&m->dit, P, a->dit, out);
    return 0;
}

/* ------------------------------------------------------------------ backward */

/* a->dS = d/d(S_{j+1}) (after the injections); a->dZ = d/d(Z_{j+1}) from later PBs.
 * Leaves a->dZ = d/d(Z_j). */
static void pb_backward(const pp_prophy *m, const float *P, float *G, pp_prophy_acts *a, int j,
                        const float *drho_r) {
    int T = a->B * a->N;
    if (j == a->npb - 1 && pp_prophy_has_reb(&m->cfg)) {
        memset(a->dr, 0, a->TC * sizeof(float));
        pp_lin_backward(P, G, m->br.reb_inject, a->dr, a->dS, a->r, T);
        pp_reb_backward(&m->br.reb, P, G, &a->reb, a->dZ, a->dr, drho_r, Z(a, j + 1));
    }
    pp_lin_backward(P, G, m->br.inject[j], a->dZ, a->dS, Z(a, j + 1), T);
    pp_dit_block_backward(&m->dit, P, G, &m->br.pb[j], a->dit, pb_acts(a, j), Z(a, j), a->dZ);
}

/* d/d(Z_0) and d/d(S_0) -> a->dS (= d/d(S_0) in total), dpooled, SEB params */
static void branch_input_backward(const pp_prophy *m, const float *P, float *G, pp_prophy_acts *a,
                                  const float *drho_s) {
    if (!pp_prophy_has_seb(&m->cfg)) {
        pp_add_inplace(a->dS, a->dZ, a->TC);
        return;
    }
    pp_seb_backward(&m->br.seb, P, G, &a->seb, a->dS, a->dpooled, a->dZ, drho_s, a->pooled);
}

/* 1 when every tensor of the part is frozen: the backbone (neither branch nor
 * text encoder) or the text encoder */
static int part_frozen(const pp_prophy *m, int text) {
    for (int i = 0; i < m->table.n; i++) {
        const pp_param *p = &m->table.p[i];
        int is_text = !strncmp(p->name, "text_encoder.", 13), is_branch = !strncmp(p->name, "branch.", 7);
        if (!p->frozen && (text ? is_text : !is_text && !is_branch)) return 0;
    }
    return 1;
}

void pp_prophy_backward(const pp_prophy *m, const float *P, float *G, pp_prophy_acts *a,
                        const float *dout, const float *drho_s, const float *drho_r) {
    const pp_prophy_config *c = &m->cfg;
    int L = c->text.ctx, d = c->text.dim;
    /* a frozen part gets no weight gradients (stage 2 spends nothing on them);
     * the gradient still flows through it to what trains */
    int text_frozen = part_frozen(m, 1);
    float *Gbb = part_frozen(m, 0) ? NULL : G;
    pp_dit_backward_begin(&m->dit, a->dit);
    pp_dit_head_backward(&m->dit, P, Gbb, a->dit, dout, a->dS);
    memset(a->dZ, 0, a->TC * sizeof(float));
    memset(a->dpooled, 0, (size_t)a->B * d * sizeof(float));
    for (int j = c->base.dit.layers - 1; j >= 0; j--) {
        if (j < a->npb) pb_backward(m, P, G, a, j, drho_r);
        pp_dit_block_backward(&m->dit, P, Gbb, &m->dit.blocks[j], a->dit, bb_acts(a, j), S(a, j), a->dS);
    }
    if (a->npb) branch_input_backward(m, P, G, a, drho_s);
    if (!Gbb && text_frozen) return; /* nothing below the blocks trains */
    memset(a->dctx, 0, (size_t)a->B * L * d * sizeof(float));
    pp_dit_embed_backward(&m->dit, P, Gbb, a->dit, a->dS, text_frozen ? NULL : a->dctx);
    if (text_frozen) return;
    if (a->npb && pp_prophy_has_seb(c)) pool_backward(a->dctx, a->dpooled, a->text.ids, a->B, L, d);
    pp_text_encoder_backward(&m->te, P, G, a->dctx, &a->text);
}

/* ------------------------------------------------------------------ losses */

/* The auxiliary losses of the mode: values into L, router gradients into a->drho_*. */
static void aux_losses(const pp_prophy *m, const float *P, float *G, pp_prophy_acts *a,
                       const pp_prophy_batch *b, pp_prophy_losses *L) {
    const pp_prophy_config *c = &m->cfg;
    int B = a->B, T = B * a->N;
    if (G) {
        memset(a->drho_s, 0, (size_t)B * c->branch.E_s * sizeof(float));
        memset(a->drho_r, 0, (size_t)T * c->branch.E_r * sizeof(float));
    }
    if (pp_prophy_has_seb(c) && b->labels)
        L->coarse = pp_coarse_loss(&m->br.align, P, G, G ? a->drho_s : NULL, a->seb.rho, b->labels, B,
                                   c->branch.w_coarse);
    if (!pp_prophy_has_reb(c)) return;
    if (b->labels && b->Qr)
        L->fine_align = pp_fine_align_loss(&m->br.align, P, G, G ? a->drho_r : NULL, a->reb.rho, b->Qr,
                                           b->labels, B, a->N, c->branch.w_fine_align);
    L->balance = pp_balance_loss(G ? a->drho_r : NULL, a->reb.rho, a->reb.sel, T, c->branch.E_r,
                                 c->branch.top_k, c->branch.w_balance);
}

int pp_prophy_step(const pp_prophy *m, const float *P, float *G, pp_prophy_acts *a,
                   const pp_prophy_batch *b, float *pred, pp_prophy_losses *L) {
    const pp_prophy_config *c = &m->cfg;
    if (G && !a->train) PP_FAIL("internal error: a backward needs activations made with train=1");
    float *out = pred ? pred : a->pred;
    memset(L, 0, sizeof *L);
    if (pp_prophy_forward(m, P, a, b->x, b->t, b->ids, out)) return -1;
    int C = c->base.dit.out_dim;
    size_t vox = (size_t)a->F * a->H * a->W, n = (size_t)a->B * C * vox;
    L->diff = b->wvox ? pp_wmse_forward(out, b->target, b->wvox, a->B, C, vox) : pp_mse_forward(out, b->target, n);
    if (a->npb) aux_losses(m, P, G, a, b, L);
    L->total = L->diff + c->branch.w_coarse * L->coarse + c->branch.w_fine_align * L->fine_align +
               c->branch.w_balance * L->balance;
    if (!G) return 0;
    if (b->wvox) pp_wmse_backward(a->dpred, out, b->target, b->wvox, a->B, C, vox, 1.0f);
    else pp_mse_backward(a->dpred, out, b->target, n, 1.0f);
    int seb = a->npb && pp_prophy_has_seb(c) && b->labels, reb = a->npb && pp_prophy_has_reb(c);
    pp_prophy_backward(m, P, G, a, a->dpred, seb ? a->drho_s : NULL, reb ? a->drho_r : NULL);
    return 0;
}

/* ------------------------------------------------------------------ token targets */

void pp_prophy_token_targets(float *Q, const float *maps, const float *bg, int B, int F, int H,
                             int W, int pt, int ph, int pw) {
    int gf = F / pt, gh = H / ph, gw = W / pw, N = gf * gh * gw;
    size_t vox = (size_t)F * H * W;
    float inv = 1.0f / (float)(pt * ph * pw);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            int f0 = n / (gh * gw) * pt, h0 = n / gw % gh * ph, w0 = n % gw * pw;
            for (int c = 0; c < PP_NCAT; c++) {
                const float *mp = maps + ((size_t)b * PP_NCAT + c) * vox;
                const float *bp = bg ? bg + (size_t)b * vox : NULL;
                double acc = 0.0;
                for (int f = f0; f < f0 + pt; f++)
                    for (int h = h0; h < h0 + ph; h++)
                        for (int w = w0; w < w0 + pw; w++) {
                            size_t i = ((size_t)f * H + h) * W + w;
                            acc += (double)mp[i] - (bp ? bp[i] : 0.0f);
                        }
                Q[((size_t)b * N + n) * PP_NCAT + c] = (float)acc * inv;
            }
        }
}

void pp_prophy_empty_ids(int *ids, int L) {
    for (int i = 0; i < L; i++) ids[i] = PP_TOK_PAD;
    if (L > 0) ids[0] = PP_TOK_EOS;
}

/* ------------------------------------------------------------------ sampler adapter */

int pp_prophy_velocity(void *runner, const float *xin, const float *t, const void *const *ctx, int B, float *v) {
    pp_prophy_runner *r = runner;
    int L = r->m->cfg.text.ctx;
    if (!r->acts || r->acts->B != B) {
        pp_prophy_runner_free(r);
        if (!(r->acts = pp_prophy_acts_new(r->m, B, r->F, r->H, r->W, 0))) return -1;
        r->ids = pp_malloc((size_t)B * L * sizeof(int));
    }
    for (int b = 0; b < B; b++) memcpy(r->ids + (size_t)b * L, ctx[b], (size_t)L * sizeof(int));
    return pp_prophy_forward(r->m, r->params, r->acts, xin, t, r->ids, v);
}

void pp_prophy_runner_free(pp_prophy_runner *r) {
    pp_prophy_acts_free(r->acts);
    free(r->ids);
    r->acts = NULL, r->ids = NULL;
}
