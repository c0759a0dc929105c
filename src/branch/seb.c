/* seb.c - the Semantic Expert Block; see seb.h. */
#include <stdlib.h>
#include <string.h>
#include "branch/branch_util.h"
#include "branch/seb.h"
#include "base/common.h"
#include "nn/ops.h"

/* ---------------------------------------------------------------- trilinear resampling */

/* One axis of linear interpolation: dst index d reads src[i0]*w0 + src[i1]*w1. */
typedef struct {
    int i0, i1;
    float w0, w1;
} lin_tap;

/* align_corners=false: s = (d + 0.5) * in/out - 0.5, clamped to >= 0 (PyTorch). */
static void axis_taps(lin_tap *t, int in, int out) {
    float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        float s = scale * ((float)d + 0.5f) - 0.5f;
        if (s < 0.0f) s = 0.0f;
        int i0 = (int)s;
        if (i0 > in - 1) i0 = in - 1;
        float l = s - (float)i0;
        t[d].i0 = i0;
        t[d].i1 = i0 < in - 1 ? i0 + 1 : i0;
        t[d].w1 = l;
        t[d].w0 = 1.0f - l;
    }
}

/* The 8 source tokens and weights of destination token (f,h,w). */
static void corners(const lin_tap *tf, const lin_tap *th, const lin_tap *tw, int f, int h, int w,
                    int sh, int sw, size_t idx[8], float wt[8]) {
    int fi[2] = {tf[f].i0, tf[f].i1}, hi[2] = {th[h].i0, th[h].i1}, wi[2] = {tw[w].i0, tw[w].i1};
    float fw[2] = {tf[f].w0, tf[f].w1}, hw[2] = {th[h].w0, th[h].w1}, ww[2] = {tw[w].w0, tw[w].w1};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++) {
                idx[4 * a + 2 * b + c] = ((size_t)fi[a] * sh + hi[b]) * sw + wi[c];
                wt[4 * a + 2 * b + c] = fw[a] * hw[b] * ww[c];
            }
}

typedef struct {
    lin_tap *f, *h, *w;
} taps3;

static taps3 taps_build(int sf, int sh, int sw, int df, int dh, int dw) {
    taps3 t = {pp_malloc(sizeof(lin_tap) * (size_t)df), pp_malloc(sizeof(lin_tap) * (size_t)dh),
               pp_malloc(sizeof(lin_tap) * (size_t)dw)};
    axis_taps(t.f, sf, df);
    axis_taps(t.h, sh, dh);
    axis_taps(t.w, sw, dw);
    return t;
}

static void taps_free(taps3 *t) {
    free(t->f);
    free(t->h);
    free(t->w);
}

/* src [E, sf*sh*sw, C] -> dst [E, df*dh*dw, C]; writes */
void pp_trilinear_forward(float *dst, const float *src, int E, int C, int sf, int sh, int sw, int df,
                          int dh, int dw) {
    taps3 t = taps_build(sf, sh, sw, df, dh, dw);
    size_t Ns = (size_t)sf * sh * sw, Nd = (size_t)df * dh * dw;
#pragma omp parallel for schedule(static)
    for (size_t en = 0; en < (size_t)E * Nd; en++) {
        size_t e = en / Nd, n = en % Nd, idx[8];
        float wt[8];
        int f = (int)(n / ((size_t)dh * dw)), h = (int)(n / dw % dh), w = (int)(n % dw);
        corners(t.f, t.h, t.w, f, h, w, sh, sw, idx, wt);
        float *o = dst + en * C;
        const float *s0 = src + e * Ns * C;
        for (int c = 0; c < C; c++) {
            float acc = 0.0f;
            for (int k = 0; k < 8; k++) acc += wt[k] * s0[idx[k] * C + c];
            o[c] = acc;
        }
    }
    taps_free(&t);
}

#define RS_CHUNK 64 /* channels per backward work item */

/* dsrc [E, sf*sh*sw, C] += adjoint of the forward applied to ddst [E, df*dh*dw, C].
 * Work items are (expert, channel chunk) pairs, each scattering only into its own
 * slice, so the result does not depend on the thread count. */
void pp_trilinear_backward(float *dsrc, const float *ddst, int E, int C, int sf, int sh, int sw,
                           int df, int dh, int dw) {
    taps3 t = taps_build(sf, sh, sw, df, dh, dw);
    size_t Ns = (size_t)sf * sh * sw, Nd = (size_t)df * dh * dw;
    int nch = (C + RS_CHUNK - 1) / RS_CHUNK;
#pragma omp parallel for schedule(static)
    for (int item = 0; item < E * nch; item++) {
        int e = item / nch, c0 = (item % nch) * RS_CHUNK;
        int c1 = c0 + RS_CHUNK < C ? c0 + RS_CHUNK : C;
        float *ds = dsrc + (size_t)e * Ns * C;
        for (size_t n = 0; n < Nd; n++) {
            size_t idx[8];
            float wt[8];
            int f = (int)(n / ((size_t)dh * dw)), h = (int)(n / dw % dh), w = (int)(n % dw);
            corners(t.f, t.h, t.w, f, h, w, sh, sw, idx, wt);
            const float *g = ddst + ((size_t)e * Nd + n) * C;
            for (int k = 0; k < 8; k++)
                for (int c = c0; c < c1; c++) ds[idx[k] * C + c] += wt[k] * g[c];
        }
    }
    taps_free(&t);
}

/* ---------------------------------------------------------------- parameters */

int pp_seb_declare(pp_seb *m, pp_params *t, const pp_seb_cfg *c) {
    if (c->E < 1 || c->C < 1 || c->text_dim < 1 || c->hidden < 1 || c->gf0 < 1 || c->gh0 < 1 ||
        c->gw0 < 1)
        PP_FAIL("SEB config: E_s=%d C=%d text_dim=%d hidden=%d grid=%dx%dx%d must all be >= 1",
                c->E, c->C, c->text_dim, c->hidden, c->gf0, c->gh0, c->gw0);
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    int64_t n0 = (int64_t)c->gf0 * c->gh0 * c->gw0;
    m->basis = pp_params_addf(t, 3, c->E, n0, c->C, 0, 0, "branch.seb.basis");
    m->r0w = pp_params_addf(t, 2, c->hidden, c->text_dim, 0, 0, 0, "branch.seb.router.0.weight");
    m->r0b = pp_params_addf(t, 1, c->hidden, 0, 0, 0, 0, "branch.seb.router.0.bias");
    m->r2w = pp_params_addf(t, 2, c->E, c->hidden, 0, 0, 0, "branch.seb.router.2.weight");
    m->r2b = pp_params_addf(t, 1, c->E, 0, 0, 0, 0, "branch.seb.router.2.bias");
    return 0;
}

void pp_seb_init(const pp_seb *m, float *P, pp_rng *rng) {
    const pp_seb_cfg *c = &m->cfg;
    size_t nb = (size_t)c->E * c->gf0 * c->gh0 * c->gw0 * c->C;
    pp_rng_fill_normal(rng, P + m->basis, nb, 0.02f);
    pp_branch_init_linear(P + m->r0w, P + m->r0b, c->hidden, c->text_dim, rng);
    pp_branch_init_linear(P + m->r2w, P + m->r2b, c->E, c->hidden, rng);
}

/* ---------------------------------------------------------------- activations */

static void acts_layout(pp_seb_acts *a, const pp_seb_cfg *c, int B, size_t nbr) {
    size_t bh = (size_t)B * c->hidden, be = (size_t)B * c->E;
    size_t need = 4 * pp_branch_r16(bh) + 4 * pp_branch_r16(be) + 2 * pp_branch_r16(nbr);
    pp_branch_reserve(&a->mem, &a->cap, need);
    float *cur = a->mem;
    a->h_pre = pp_branch_take(&cur, bh);
    a->h = pp_branch_take(&cur, bh);
    a->dh_pre = pp_branch_take(&cur, bh);
    a->dh = pp_branch_take(&cur, bh);
    a->logits = pp_branch_take(&cur, be);
    a->rho = pp_branch_take(&cur, be);
    a->drho = pp_branch_take(&cur, be);
    a->dlogits = pp_branch_take(&cur, be);
    a->basis_r = nbr ? pp_branch_take(&cur, nbr) : NULL;
    a->dbasis_r = nbr ? pp_branch_take(&cur, nbr) : NULL;
}

void pp_seb_acts_free(pp_seb_acts *a) {
    pp_free_aligned(a->mem);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- forward / backward */

/* out[b,j] = x[b,j] + sum_e rho[b,e] * maps[e,j]; x,out [B,NC]; rho [B,E]; maps [E,NC] */
static void mix_forward(float *out, const float *x, const float *rho, const float *maps, int B,
                        int E, size_t NC) {
    for (int b = 0; b < B; b++) {
        const float *r = rho + (size_t)b * E;
        const float *xb = x + (size_t)b * NC;
        float *ob = out + (size_t)b * NC;
#pragma omp parallel for schedule(static)
        for (size_t j = 0; j < NC; j++) {
            float acc = xb[j];
            for (int e = 0; e < E; e++) acc += r[e] * maps[(size_t)e * NC + j];
            ob[j] = acc;
        }
    }
}

/* drho[b,e] = <dout[b], maps[e]> (writes, double accumulation) */
static void mix_backward_rho(float *drho, const float *dout, const float *maps, int B, int E,
                             size_t NC) {
#pragma omp parallel for schedule(static)
    for (int be = 0; be < B * E; be++) {
        const float *g = dout + (size_t)(be / E) * NC, *mp = maps + (size_t)(be % E) * NC;
        double acc = 0.0;
        for (size_t j = 0; j < NC; j++) acc += (double)g[j] * mp[j];
        drho[be] = (float)acc;
    }
}

/* dmaps[e,j] += sum_b rho[b,e] * dout[b,j] */
static void mix_backward_maps(float *dmaps, const float *dout, const float *rho, int B, int E,
                              size_t NC) {
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < NC; j++)
        for (int e = 0; e < E; e++) {
            float acc = 0.0f;
            for (int b = 0; b < B; b++) acc += rho[(size_t)b * E + e] * dout[(size_t)b * NC + j];
            dmaps[(size_t)e * NC + j] += acc;
        }
}

/* rho_s [B,E] from pooled [B,text_dim]; saves h_pre, h, logits, rho */
static void router_forward(const pp_seb *m, const float *P, pp_seb_acts *a, const float *pooled,
                           int B) {
    const pp_seb_cfg *c = &m->cfg;
    pp_linear_forward(a->h_pre, pooled, P + m->r0w, P + m->r0b, B, c->text_dim, c->hidden);
    pp_silu_forward(a->h, a->h_pre, (size_t)B * c->hidden);
    pp_linear_forward(a->logits, a->h, P + m->r2w, P + m->r2b, B, c->hidden, c->E);
    pp_softmax_forward(a->rho, a->logits, B, c->E);
}

void pp_seb_forward(const pp_seb *m, const float *P, pp_seb_acts *a, float *out, const float *x,
                    const float *pooled, int B, int gf, int gh, int gw) {
    const pp_seb_cfg *c = &m->cfg;
    int N = gf * gh * gw;
    int rs = gf != c->gf0 || gh != c->gh0 || gw != c->gw0;
    acts_layout(a, c, B, rs ? (size_t)c->E * N * c->C : 0);
    a->B = B, a->N = N, a->gf = gf, a->gh = gh, a->gw = gw, a->resampled = rs;
    router_forward(m, P, a, pooled, B);
    const float *maps = P + m->basis;
    if (rs) {
        pp_trilinear_forward(a->basis_r, maps, c->E, c->C, c->gf0, c->gh0, c->gw0, gf, gh, gw);
        maps = a->basis_r;
    }
    mix_forward(out, x, a->rho, maps, B, c->E, (size_t)N * c->C);
}

/* d(rho) -> router params and dpooled */
static void router_backward(const pp_seb *m, const float *P, float *G, pp_seb_acts *a,
                            float *dpooled, const float *pooled) {
    const pp_seb_cfg *c = &m->cfg;
    int B = a->B;
    memset(a->dlogits, 0, sizeof(float) * (size_t)B * c->E);
    pp_softmax_backward(a->dlogits, a->drho, a->rho, B, c->E);
    memset(a->dh, 0, sizeof(float) * (size_t)B * c->hidden);
    pp_linear_backward(a->dh, pp_branch_view(G, m->r2w), pp_branch_view(G, m->r2b), a->dlogits,
                       a->h, P + m->r2w, B, c->hidden, c->E);
    memset(a->dh_pre, 0, sizeof(float) * (size_t)B * c->hidden);
    pp_silu_backward(a->dh_pre, a->dh, a->h_pre, (size_t)B * c->hidden);
    pp_linear_backward(dpooled, pp_branch_view(G, m->r0w), pp_branch_view(G, m->r0b), a->dh_pre,
                       pooled, P + m->r0w, B, c->text_dim, c->hidden);
}

void pp_seb_backward(const pp_seb *m, const float *P, float *G, pp_seb_acts *a, float *dx,
                     float *dpooled, const float *dout, const float *drho_s, const float *pooled) {
    const pp_seb_cfg *c = &m->cfg;
    int B = a->B, E = c->E;
    size_t NC = (size_t)a->N * c->C;
    if (dx) pp_add_inplace(dx, dout, (size_t)B * NC);
    const float *maps = a->resampled ? a->basis_r : P + m->basis;
    mix_backward_rho(a->drho, dout, maps, B, E, NC);
    if (drho_s) pp_add_inplace(a->drho, drho_s, (size_t)B * E);
    if (G && a->resampled) {
        memset(a->dbasis_r, 0, sizeof(float) * E * NC);
        mix_backward_maps(a->dbasis_r, dout, a->rho, B, E, NC);
        pp_trilinear_backward(G + m->basis, a->dbasis_r, E, c->C, c->gf0, c->gh0, c->gw0, a->gf,
                              a->gh, a->gw);
    } else if (G) {
        mix_backward_maps(G + m->basis, dout, a->rho, B, E, NC);
    }
    router_backward(m, P, G, a, dpooled, pooled);
}
