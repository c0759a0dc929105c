/* wan_branch.c - ProPhy's Physical Branch on a Wan2.1 backbone (see wan_branch.h).
 * Built from the same parts as the assembled model (prophy/forward.c): the
 * backbone's stages (pp_dit_embed/block/head), SEB, REB, alignment heads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/linear_half.h"
#include "nn/ops.h"
#include "prophy/wan_branch.h"

static int has_seb(const pp_wan_branch_config *c) { return pp_branch_has_seb(c->mode); }
static int has_reb(const pp_wan_branch_config *c) { return pp_branch_has_reb(c->mode); }
static int n_pb(const pp_wan_branch_config *c) { return pp_branch_n_pb(c->mode, c->branch.M); }

/* ------------------------------------------------------------------ config, layout */

void pp_wan_branch_config_default(pp_wan_branch_config *c, const pp_dit_config *dit, int gf0, int gh0, int gw0) {
    memset(c, 0, sizeof *c);
    c->dit = *dit;
    c->mode = PP_BRANCH_FULL;
    c->branch = pp_branch_defaults();
    if (c->branch.M > dit->layers) c->branch.M = dit->layers;
    c->branch.gf0 = gf0, c->branch.gh0 = gh0, c->branch.gw0 = gw0;
}

int pp_wan_branch_parse_blocks(pp_wan_branch_config *c, const char *list) {
    int n = 0;
    const char *s = list;
    memset(c->src, 0, sizeof c->src);
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v >= c->dit.layers || (n && v <= c->src[n - 1]) || n == PP_WB_MAX_PB)
            PP_FAIL("Physical Blocks '%s': block numbers in [0, %d), increasing, at most %d", list, c->dit.layers,
                    PP_WB_MAX_PB);
        c->src[n++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) PP_FAIL("Physical Blocks '%s': comma-separated block numbers expected", list);
    }
    if (!n) PP_FAIL("Physical Blocks '%s': no block number", list);
    c->branch.M = n;
    return 0;
}

static int config_check(pp_wan_branch_config *c) {
    if (pp_dit_config_check(&c->dit)) return -1;
    if ((unsigned)c->mode > PP_BRANCH_FULL) PP_FAIL("branch mode %d is unknown", (int)c->mode);
    int M = n_pb(c);
    if (c->mode == PP_BRANCH_NONE) return 0;
    if (M < 1 || M > c->dit.layers || M > PP_WB_MAX_PB)
        PP_FAIL("Physical Blocks: M = %d must be in [1, %d]", M, c->dit.layers < PP_WB_MAX_PB ? c->dit.layers : PP_WB_MAX_PB);
    int any = 0;
    for (int j = 0; j < M; j++) any |= c->src[j] != 0;
    for (int j = 0; j < M && !any; j++) c->src[j] = j;
    for (int j = 0; j < M; j++)
        if (c->src[j] < 0 || c->src[j] >= c->dit.layers || (j && c->src[j] <= c->src[j - 1]))
            PP_FAIL("Physical Block %d copies block %d: sources must increase within [0, %d)", j, c->src[j], c->dit.layers);
    const pp_branch_cfg *b = &c->branch;
    if (b->E_s < 1 || b->E_s > 1024 || b->E_r < 1 || b->E_r > 1024 || b->top_k < 1 || b->top_k > b->E_r ||
        b->fine_hidden < 1 || b->fine_hidden > 65536 || b->gf0 < 1 || b->gh0 < 1 || b->gw0 < 1 || b->gf0 > 4096 ||
        b->gh0 > 4096 || b->gw0 > 4096)
        PP_FAIL("branch: E_s %d, E_r %d, top_k %d, fine_hidden %d, grid %dx%dx%d out of bounds", b->E_s, b->E_r, b->top_k,
                b->fine_hidden, b->gf0, b->gh0, b->gw0);
    if ((size_t)b->E_s * b->gf0 * b->gh0 * b->gw0 * c->dit.dim > ((size_t)1 << 32))
        PP_FAIL("branch: %d basis maps of %dx%dx%d tokens x %d channels are too many floats", b->E_s, b->gf0, b->gh0,
                b->gw0, c->dit.dim);
    return 0;
}

static int branch_declare(pp_wan_branch *m) {
    return pp_branch_parts_declare(&m->br, &m->table, m->cfg.mode, &m->cfg.branch, &m->cfg.dit);
}

int pp_wan_branch_create(pp_wan_branch *m, const pp_wan_branch_config *cfg) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    /* the branch first: its tensors are floats [0, trainable) of the layout */
    if (config_check(&m->cfg) || branch_declare(m)) {
        pp_wan_branch_free(m);
        return -1;
    }
    m->trainable = m->table.total;
    if (m->cfg.in_place ? pp_dit_init_external(&m->dit, &m->cfg.dit, &m->table, &m->bweights)
                        : pp_dit_init(&m->dit, &m->cfg.dit, &m->table)) {
        pp_wan_branch_free(m);
        return -1;
    }
    char what[96];
    snprintf(what, sizeof what, "a Wan backbone and branch of %.1f M parameters", m->table.total / 1e6);
    if (pp_mem_check(pp_mul_size(m->table.total, sizeof(float)), what)) {
        pp_wan_branch_free(m);
        return -1;
    }
    m->params = pp_zalloc_floats(m->table.total);
    return 0;
}

void pp_wan_branch_free(pp_wan_branch *m) {
    pp_dit_free(&m->dit);
    pp_branch_parts_free(&m->br);
    pp_params_free(&m->table);
    pp_params_free(&m->bweights);
    pp_free_aligned(m->params);
    memset(m, 0, sizeof *m);
}

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* the branch's own parts, once the backbone and the PBs have their values */
static void init_branch(pp_wan_branch *m, uint64_t seed) {
    pp_rng r;
    pp_rng_seed(&r, seed);
    pp_branch_parts_init(&m->br, m->params, &r);
}

int pp_wan_branch_attach_dit(pp_wan_branch *m, const pp_wan_dit *w, uint64_t seed) {
    if (!m->cfg.in_place) {
        if (w->mode != PP_WAN_F32) PP_FAIL("a branch model with its own F32 backbone attaches to a DiT opened in F32");
        return pp_wan_branch_attach(m, &w->table, w->P, seed);
    }
    if (w->mode != PP_WAN_INFER) PP_FAIL("a branch model reading its backbone in place attaches to a DiT opened in place");
    float *P = m->params;
    for (int i = 0; i < m->table.n; i++) { /* the backbone's small tensors, by name */
        pp_param *d = &m->table.p[i];
        if (starts(d->name, "branch.")) continue;
        const pp_param *s = pp_params_find(&w->table, d->name);
        if (!s || s->ndim != d->ndim || memcmp(s->shape, d->shape, sizeof(int64_t) * (size_t)d->ndim))
            PP_FAIL("the backbone lacks tensor '%s' (or has another shape): not the DiT of this config", d->name);
        memcpy(P + d->offset, w->P + s->offset, d->numel * sizeof(float));
        d->frozen = 1;
    }
    int nl = PP_DIT_LINEARS(m->cfg.dit.layers);
    if (w->dit.cfg.layers != m->cfg.dit.layers || w->weights.n != nl || m->bweights.n != nl)
        PP_FAIL("the backbone has %d layers; the branch model's config says %d", w->dit.cfg.layers, m->cfg.dit.layers);
    pp_lin **mine = pp_malloc(sizeof *mine * (size_t)nl), **theirs = pp_malloc(sizeof *theirs * (size_t)nl);
    pp_dit_linears(&m->dit, mine, nl);
    pp_dit_linears((pp_dit *)&w->dit, theirs, nl);
    for (int i = 0; i < nl; i++) mine[i]->xw = theirs[i]->xw, mine[i]->xdtype = theirs[i]->xdtype;
    const pp_wan_branch_config *c = &m->cfg;
    for (int j = 0; j < n_pb(c); j++) { /* PB j <- block src[j]: F32 copies of its Linear weights */
        char pre[32], name[PP_NAME_MAX];
        snprintf(pre, sizeof pre, "branch.pb.%d.", j);
        for (int i = 0; i < m->table.n; i++) {
            const pp_param *d = &m->table.p[i];
            if (!starts(d->name, pre)) continue;
            snprintf(name, sizeof name, "blocks.%d.%s", c->src[j], d->name + strlen(pre));
            const pp_param *s = pp_params_find(&m->table, name);
            if (s) {
                memcpy(P + d->offset, P + s->offset, d->numel * sizeof(float));
                continue;
            }
            int k = 0;
            while (k < nl && strcmp(m->bweights.p[k].name, name)) k++;
            if (k == nl) pp_fatal("internal error: no backbone tensor '%s'", name);
            const pp_lin *l = mine[k];
            if (l->xdtype == PP_F32) memcpy(P + d->offset, l->xw, d->numel * sizeof(float));
            else pp_half_to_f32(P + d->offset, l->xw, d->numel, l->xdtype == PP_F16 ? PP_HALF_F16 : PP_HALF_BF16);
        }
    }
    free(mine), free(theirs);
    init_branch(m, seed);
    return 0;
}

int pp_wan_branch_attach(pp_wan_branch *m, const pp_params *src, const float *Ps, uint64_t seed) {
    if (m->cfg.in_place) PP_FAIL("a branch model reading its backbone in place attaches with pp_wan_branch_attach_dit");
    float *P = m->params;
    for (int i = 0; i < m->table.n; i++) { /* the backbone, by name */
        pp_param *d = &m->table.p[i];
        if (starts(d->name, "branch.")) continue;
        const pp_param *s = pp_params_find(src, d->name);
        if (!s || s->ndim != d->ndim || memcmp(s->shape, d->shape, sizeof(int64_t) * (size_t)d->ndim))
            PP_FAIL("the backbone lacks tensor '%s' (or has another shape): not the DiT of this config", d->name);
        memcpy(P + d->offset, Ps + s->offset, d->numel * sizeof(float));
        d->frozen = 1;
    }
    const pp_wan_branch_config *c = &m->cfg;
    for (int j = 0; j < n_pb(c); j++) { /* PB j <- block src[j] */
        char pre[32], name[PP_NAME_MAX];
        snprintf(pre, sizeof pre, "branch.pb.%d.", j);
        for (int i = 0; i < m->table.n; i++) {
            const pp_param *d = &m->table.p[i];
            if (!starts(d->name, pre)) continue;
            snprintf(name, sizeof name, "blocks.%d.%s", c->src[j], d->name + strlen(pre));
            const pp_param *s = pp_params_find(&m->table, name);
            memcpy(P + d->offset, P + s->offset, d->numel * sizeof(float));
        }
    }
    init_branch(m, seed);
    return 0;
}

/* ------------------------------------------------------------------ activations */

struct pp_wan_branch_acts {
    int B, F, H, W, N, train, npb;
    size_t TC;
    pp_dit_acts *dit;
    pp_block_acts **pbs;    /* [npb] (train) */
    float *z, *tmp, *r;     /* branch streams [npb+1] (train) or [2] x [T,C]; an injection; the REB's output */
    float *pooled, *dpooled; /* [B,text_dim] */
    pp_seb_acts seb;
    pp_reb_acts reb;
    float *dS, *dZ, *dr;
    float *pred, *dpred;
    float *drho_s, *drho_r;
};

pp_wan_branch_acts *pp_wan_branch_acts_new(const pp_wan_branch *m, int B, int F, int H, int W, int train) {
    const pp_wan_branch_config *c = &m->cfg;
    const pp_dit_config *d = &c->dit;
    size_t dit = pp_dit_acts_bytes_for(&m->dit, B, F, H, W, train);
    if (dit == SIZE_MAX) return NULL; /* the size error is set */
    size_t N = (size_t)(F / d->patch[0]) * (H / d->patch[1]) * (W / d->patch[2]), TC = (size_t)B * N * d->dim;
    int npb = n_pb(c);
    size_t streams = (size_t)(train ? npb + 1 : 2) + 2 + (train ? 3 : 0);
    size_t floats = streams * TC + (size_t)(train ? 2 : 1) * B * d->out_dim * F * H * W;
    if (has_seb(c)) floats += 3 * TC;
    if (has_reb(c)) floats += (size_t)(2 + c->branch.top_k) * TC;
    size_t bytes = dit + (train ? (size_t)npb * pp_block_acts_bytes_for(&m->dit, B, (int)N) : 0) + floats * sizeof(float);
    char what[128];
    snprintf(what, sizeof what, "%s %d video%s of %d frames of %dx%d (backbone and branch)", train ? "training on" : "running",
             B, B == 1 ? "" : "s", F, W, H);
    if (pp_mem_check(bytes, what)) return NULL;
    pp_dit_acts *da = pp_dit_acts_new(&m->dit, B, F, H, W, train);
    if (!da) return NULL;
    pp_wan_branch_acts *a = pp_calloc(1, sizeof *a);
    a->dit = da, a->B = B, a->F = F, a->H = H, a->W = W, a->train = train, a->npb = npb;
    a->N = pp_dit_acts_tokens(da);
    a->TC = (size_t)B * a->N * d->dim;
    if (train && npb) {
        a->pbs = pp_calloc((size_t)npb, sizeof *a->pbs);
        for (int j = 0; j < npb; j++) a->pbs[j] = pp_block_acts_new(&m->dit, da);
    }
    a->z = pp_zalloc_floats((size_t)(train ? npb + 1 : 2) * a->TC);
    a->tmp = pp_zalloc_floats(a->TC), a->r = pp_zalloc_floats(a->TC);
    a->pooled = pp_zalloc_floats((size_t)B * d->text_dim);
    a->pred = pp_zalloc_floats((size_t)B * d->out_dim * F * H * W);
    if (train) {
        a->dS = pp_zalloc_floats(a->TC), a->dZ = pp_zalloc_floats(a->TC), a->dr = pp_zalloc_floats(a->TC);
        a->dpooled = pp_zalloc_floats((size_t)B * d->text_dim);
        a->dpred = pp_zalloc_floats((size_t)B * d->out_dim * F * H * W);
        a->drho_s = pp_zalloc_floats((size_t)B * c->branch.E_s);
        a->drho_r = pp_zalloc_floats((size_t)B * a->N * c->branch.E_r);
    }
    return a;
}

void pp_wan_branch_acts_free(pp_wan_branch_acts *a) {
    if (!a) return;
    pp_dit_acts_free(a->dit);
    for (int j = 0; a->pbs && j < a->npb; j++) pp_block_acts_free(a->pbs[j]);
    free(a->pbs);
    pp_seb_acts_free(&a->seb);
    pp_reb_acts_free(&a->reb);
    float *bufs[] = {a->z, a->tmp, a->r, a->pooled, a->dpooled, a->dS, a->dZ, a->dr, a->pred, a->dpred, a->drho_s, a->drho_r};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(a);
}

const float *pp_wan_branch_acts_rho_r(const pp_wan_branch_acts *a) { return a->reb.mem ? a->reb.rho : NULL; }
const int *pp_wan_branch_acts_sel(const pp_wan_branch_acts *a) { return a->reb.imem ? a->reb.sel : NULL; }

static float *S(const pp_wan_branch_acts *a, int l) { return pp_dit_stream(a->dit, l); }
static float *Z(const pp_wan_branch_acts *a, int j) { return a->z + (size_t)(a->train ? j : j % 2) * a->TC; }
static pp_block_acts *pb_acts(const pp_wan_branch_acts *a, int j) {
    return a->train ? a->pbs[j] : pp_dit_block_acts(a->dit, 0);
}

/* ------------------------------------------------------------------ forward */

static void pool(float *pooled, const float *ctx, const int *lens, int B, int L, int d) {
    for (int b = 0; b < B; b++) {
        float *p = pooled + (size_t)b * d;
        memset(p, 0, (size_t)d * sizeof(float));
        int n = lens[b] < L ? lens[b] : L;
        for (int t = 0; t < n; t++) pp_add_inplace(p, ctx + ((size_t)b * L + t) * d, (size_t)d);
        for (int i = 0; n && i < d; i++) p[i] /= (float)n;
    }
}

/* PB j beside block l: Z_j -> Z_{j+1}; S_{l+1} += inject_j(Z_{j+1}) (+ the REB after the last) */
static void pb_forward(const pp_wan_branch *m, const float *P, pp_wan_branch_acts *a, int j, int l) {
    int T = a->B * a->N;
    pp_dit_block_forward(&m->dit, P, &m->br.pb[j], a->dit, pb_acts(a, j), Z(a, j), Z(a, j + 1));
    pp_lin_forward(P, m->br.inject[j], a->tmp, Z(a, j + 1), T);
    pp_add_inplace(S(a, l + 1), a->tmp, a->TC);
    if (j == a->npb - 1 && has_reb(&m->cfg)) {
        pp_reb_forward(&m->br.reb, P, &a->reb, a->r, Z(a, j + 1), T);
        pp_lin_forward(P, m->br.reb_inject, a->tmp, a->r, T);
        pp_add_inplace(S(a, l + 1), a->tmp, a->TC);
    }
}

int pp_wan_branch_forward(const pp_wan_branch *m, const float *P, pp_wan_branch_acts *a, const float *x,
                          const float *t, const float *ctx, const int *lens, float *out) {
    const pp_wan_branch_config *c = &m->cfg;
    for (int b = 0; b < a->B; b++)
        if (lens[b] < 0 || lens[b] > c->dit.text_len)
            PP_FAIL("text length %d of sample %d is outside [0, %d]", lens[b], b, c->dit.text_len);
    pp_dit_embed_forward(&m->dit, P, a->dit, x, t, ctx);
    if (a->npb) {
        if (has_seb(c)) {
            int gf, gh, gw;
            pp_dit_acts_grid(a->dit, &gf, &gh, &gw);
            pool(a->pooled, ctx, lens, a->B, c->dit.text_len, c->dit.text_dim);
            pp_seb_forward(&m->br.seb, P, &a->seb, Z(a, 0), S(a, 0), a->pooled, a->B, gf, gh, gw);
        } else {
            memcpy(Z(a, 0), S(a, 0), a->TC * sizeof(float));
        }
    }
    for (int l = 0, j = 0; l < c->dit.layers; l++) {
        pp_dit_block_forward(&m->dit, P, &m->dit.blocks[l], a->dit, pp_dit_block_acts(a->dit, l), S(a, l), S(a, l + 1));
        if (j < a->npb && l == c->src[j]) pb_forward(m, P, a, j++, l);
    }
    pp_dit_head_forward(&m->dit, P, a->dit, out);
    return 0;
}

/* ------------------------------------------------------------------ backward */

/* 1 when every backbone tensor is frozen */
static int backbone_frozen(const pp_wan_branch *m) {
    for (int i = 0; i < m->table.n; i++)
        if (!starts(m->table.p[i].name, "branch.") && !m->table.p[i].frozen) return 0;
    return 1;
}

/* a->dS = d/d(S_{l+1}) (after the injections), a->dZ = d/d(Z_{j+1}) from later PBs;
 * leaves a->dZ = d/d(Z_j) */
static void pb_backward(const pp_wan_branch *m, const float *P, float *G, pp_wan_branch_acts *a, int j,
                        const float *drho_r) {
    int T = a->B * a->N;
    if (j == a->npb - 1 && has_reb(&m->cfg)) {
        memset(a->dr, 0, a->TC * sizeof(float));
        pp_lin_backward(P, G, m->br.reb_inject, a->dr, a->dS, a->r, T);
        pp_reb_backward(&m->br.reb, P, G, &a->reb, a->dZ, a->dr, drho_r, Z(a, j + 1));
    }
    pp_lin_backward(P, G, m->br.inject[j], a->dZ, a->dS, Z(a, j + 1), T);
    pp_dit_block_backward(&m->dit, P, G, &m->br.pb[j], a->dit, pb_acts(a, j), Z(a, j), a->dZ);
}

static void backward(const pp_wan_branch *m, const float *P, float *G, pp_wan_branch_acts *a, const float *dout,
                     const float *drho_s, const float *drho_r) {
    const pp_wan_branch_config *c = &m->cfg;
    float *Gbb = backbone_frozen(m) || c->in_place ? NULL : G; /* weights outside P are never trained */
    pp_dit_backward_begin(&m->dit, a->dit);
    pp_dit_head_backward(&m->dit, P, Gbb, a->dit, dout, a->dS);
    memset(a->dZ, 0, a->TC * sizeof(float));
    for (int l = c->dit.layers - 1, j = a->npb - 1; l >= 0; l--) {
        if (j >= 0 && l == c->src[j]) pb_backward(m, P, G, a, j--, drho_r);
        pp_dit_block_backward(&m->dit, P, Gbb, &m->dit.blocks[l], a->dit, pp_dit_block_acts(a->dit, l), S(a, l), a->dS);
    }
    if (a->npb) {
        if (has_seb(c)) {
            memset(a->dpooled, 0, (size_t)a->B * c->dit.text_dim * sizeof(float));
            pp_seb_backward(&m->br.seb, P, G, &a->seb, a->dS, a->dpooled, a->dZ, drho_s, a->pooled);
        } else {
            pp_add_inplace(a->dS, a->dZ, a->TC);
        }
    }
    /* the context is an input (umT5 is not trained): below the blocks only the backbone's own tensors */
    if (Gbb) pp_dit_embed_backward(&m->dit, P, Gbb, a->dit, a->dS, NULL);
}

int pp_wan_branch_step(const pp_wan_branch *m, const float *P, float *G, pp_wan_branch_acts *a,
                       const pp_wan_branch_batch *b, float *pred, pp_prophy_losses *L) {
    const pp_wan_branch_config *c = &m->cfg;
    if (G && !a->train) PP_FAIL("internal error: a backward needs activations made with train=1");
    float *out = pred ? pred : a->pred;
    memset(L, 0, sizeof *L);
    if (pp_wan_branch_forward(m, P, a, b->x, b->t, b->ctx, b->lens, out)) return -1;
    size_t n = (size_t)a->B * c->dit.out_dim * a->F * a->H * a->W;
    L->diff = pp_mse_forward(out, b->target, n);
    int T = a->B * a->N, seb = a->npb && has_seb(c) && b->labels, reb = a->npb && has_reb(c);
    if (G && a->npb) {
        memset(a->drho_s, 0, (size_t)a->B * c->branch.E_s * sizeof(float));
        memset(a->drho_r, 0, (size_t)T * c->branch.E_r * sizeof(float));
    }
    if (seb)
        L->coarse = pp_coarse_loss(&m->br.align, P, G, G ? a->drho_s : NULL, a->seb.rho, b->labels, a->B, c->branch.w_coarse);
    if (reb) {
        if (b->labels && b->Qr)
            L->fine_align = pp_fine_align_loss(&m->br.align, P, G, G ? a->drho_r : NULL, a->reb.rho, b->Qr, b->labels, a->B,
                                               a->N, c->branch.w_fine_align);
        L->balance = pp_balance_loss(G ? a->drho_r : NULL, a->reb.rho, a->reb.sel, T, c->branch.E_r, c->branch.top_k,
                                     c->branch.w_balance);
    }
    L->total = L->diff + c->branch.w_coarse * L->coarse + c->branch.w_fine_align * L->fine_align +
               c->branch.w_balance * L->balance;
    if (!G) return 0;
    pp_mse_backward(a->dpred, out, b->target, n, 1.0f);
    backward(m, P, G, a, a->dpred, seb ? a->drho_s : NULL, reb ? a->drho_r : NULL);
    return 0;
}
