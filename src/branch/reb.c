/* reb.c - the Refinement Expert Block; see reb.h. */
#include <stdlib.h>
#include <string.h>
#include "branch/branch_util.h"
#include "branch/reb.h"
#include "base/common.h"
#include "nn/ops.h"

/* ---------------------------------------------------------------- parameters */

int pp_reb_declare(pp_reb *m, pp_params *t, const pp_reb_cfg *c) {
    if (c->E < 1 || c->E > PP_REB_MAX_EXPERTS || c->C < 1 || c->top_k < 1 || c->top_k > c->E)
        PP_FAIL("REB config: need 1 <= E_r (%d) <= %d, C (%d) >= 1, 1 <= top_k (%d) <= E_r", c->E,
                PP_REB_MAX_EXPERTS, c->C, c->top_k);
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->rw = pp_params_addf(t, 2, c->E, c->C, 0, 0, 0, "branch.reb.router.weight");
    m->rb = pp_params_addf(t, 1, c->E, 0, 0, 0, 0, "branch.reb.router.bias");
    for (int i = 0; i < c->E; i++) {
        m->ew[i] = pp_params_addf(t, 2, c->C, c->C, 0, 0, 0, "branch.reb.experts.%d.weight", i);
        m->eb[i] = pp_params_addf(t, 1, c->C, 0, 0, 0, 0, "branch.reb.experts.%d.bias", i);
    }
    return 0;
}

void pp_reb_init(const pp_reb *m, float *P, pp_rng *rng) {
    const pp_reb_cfg *c = &m->cfg;
    pp_branch_init_linear(P + m->rw, P + m->rb, c->E, c->C, rng);
    for (int i = 0; i < c->E; i++) pp_branch_init_linear(P + m->ew[i], P + m->eb[i], c->C, c->C, rng);
}

/* ---------------------------------------------------------------- activations */

static void acts_layout(pp_reb_acts *a, const pp_reb_cfg *c, int T) {
    size_t te = (size_t)T * c->E, tk = (size_t)T * c->top_k, tkc = tk * c->C;
    size_t need = 4 * pp_branch_r16(te) + 2 * pp_branch_r16(tk) + 4 * pp_branch_r16(tkc);
    pp_branch_reserve(&a->mem, &a->cap, need);
    float *cur = a->mem;
    a->logits = pp_branch_take(&cur, te);
    a->rho = pp_branch_take(&cur, te);
    a->drho = pp_branch_take(&cur, te);
    a->dlogits = pp_branch_take(&cur, te);
    a->gate = pp_branch_take(&cur, tk);
    a->dgate = pp_branch_take(&cur, tk);
    a->xg = pp_branch_take(&cur, tkc);
    a->yg = pp_branch_take(&cur, tkc);
    a->dyg = pp_branch_take(&cur, tkc);
    a->dxg = pp_branch_take(&cur, tkc);
    size_t ineed = 3 * tk + 2 * (size_t)c->E + 1;
    if (ineed > a->icap || !a->imem) {
        free(a->imem);
        a->imem = pp_malloc(ineed * sizeof(int));
        a->icap = ineed;
    }
    a->sel = a->imem;
    a->pos = a->sel + tk;
    a->tok = a->pos + tk;
    a->count = a->tok + tk;
    a->start = a->count + c->E;
    a->T = T;
}

void pp_reb_acts_free(pp_reb_acts *a) {
    pp_free_aligned(a->mem);
    free(a->imem);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- routing */

void pp_topk_row(int *sel, const float *p, int E, int k) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int i = 0; i < j; i++) taken |= sel[i] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e; /* strict: lower index wins ties */
        }
        sel[j] = best;
    }
}

/* sel, gate [T,k] from rho [T,E] */
static void select_experts(const pp_reb_cfg *c, pp_reb_acts *a, int T) {
    int E = c->E, k = c->top_k;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        int *s = a->sel + (size_t)t * k;
        const float *r = a->rho + (size_t)t * E;
        float *g = a->gate + (size_t)t * k;
        pp_topk_row(s, r, E, k);
        float sum = 0.0f;
        for (int j = 0; j < k; j++) sum += r[s[j]];
        for (int j = 0; j < k; j++) g[j] = c->renorm ? r[s[j]] / sum : r[s[j]];
    }
}

/* counting sort of the T*k slots by expert, tokens in increasing order within an expert */
static void group_slots(const pp_reb_cfg *c, pp_reb_acts *a, int T) {
    int E = c->E, k = c->top_k;
    memset(a->count, 0, sizeof(int) * (size_t)E);
    for (size_t s = 0; s < (size_t)T * k; s++) a->count[a->sel[s]]++;
    a->start[0] = 0;
    for (int e = 0; e < E; e++) a->start[e + 1] = a->start[e] + a->count[e];
    int fill[PP_REB_MAX_EXPERTS] = {0};
    for (int t = 0; t < T; t++)
        for (int j = 0; j < k; j++) {
            int e = a->sel[(size_t)t * k + j], r = a->start[e] + fill[e]++;
            a->pos[(size_t)t * k + j] = r;
            a->tok[r] = t;
        }
}

/* ---------------------------------------------------------------- forward */

void pp_reb_forward(const pp_reb *m, const float *P, pp_reb_acts *a, float *out, const float *x,
                    int T) {
    const pp_reb_cfg *c = &m->cfg;
    int C = c->C, k = c->top_k;
    acts_layout(a, c, T);
    pp_linear_forward(a->logits, x, P + m->rw, P + m->rb, T, C, c->E);
    pp_softmax_forward(a->rho, a->logits, T, c->E);
    select_experts(c, a, T);
    group_slots(c, a, T);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < T * k; r++)
        memcpy(a->xg + (size_t)r * C, x + (size_t)a->tok[r] * C, sizeof(float) * C);
    for (int e = 0; e < c->E; e++) {
        if (!a->count[e]) continue;
        size_t o = (size_t)a->start[e] * C;
        pp_linear_forward(a->yg + o, a->xg + o, P + m->ew[e], P + m->eb[e], a->count[e], C, C);
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * C;
        memset(o, 0, sizeof(float) * C);
        for (int j = 0; j < k; j++) {
            float g = a->gate[(size_t)t * k + j];
            const float *y = a->yg + (size_t)a->pos[(size_t)t * k + j] * C;
            for (int ch = 0; ch < C; ch++) o[ch] += g * y[ch];
        }
    }
}

/* ---------------------------------------------------------------- backward */

/* dgate[t,j] = <dout[t], y(t,j)>, dyg(t,j) = gate[t,j] * dout[t] (writes both) */
static void combine_backward(const pp_reb_cfg *c, pp_reb_acts *a, const float *dout) {
    int C = c->C, k = c->top_k;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < a->T; t++) {
        const float *g = dout + (size_t)t * C;
        for (int j = 0; j < k; j++) {
            size_t s = (size_t)t * k + j, r = (size_t)a->pos[s];
            const float *y = a->yg + r * C;
            float *dy = a->dyg + r * C;
            double acc = 0.0;
            for (int ch = 0; ch < C; ch++) {
                acc += (double)g[ch] * y[ch];
                dy[ch] = a->gate[s] * g[ch];
            }
            a->dgate[s] = (float)acc;
        }
    }
}

/* drho[t,sel] += d gate / d rho (the selection is constant) */
static void gate_backward(const pp_reb_cfg *c, pp_reb_acts *a) {
    int E = c->E, k = c->top_k;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < a->T; t++) {
        const int *s = a->sel + (size_t)t * k;
        const float *dg = a->dgate + (size_t)t * k, *r = a->rho + (size_t)t * E;
        float *dr = a->drho + (size_t)t * E;
        if (!c->renorm) {
            for (int j = 0; j < k; j++) dr[s[j]] += dg[j];
            continue;
        }
        /* g_j = r_j / S: dr_m = dg_m / S - sum_j dg_j r_j / S^2 for m in the selection */
        float S = 0.0f, dot = 0.0f;
        for (int j = 0; j < k; j++) S += r[s[j]], dot += dg[j] * r[s[j]];
        for (int j = 0; j < k; j++) dr[s[j]] += dg[j] / S - dot / (S * S);
    }
}

void pp_reb_backward(const pp_reb *m, const float *P, float *G, pp_reb_acts *a, float *dx,
                     const float *dout, const float *drho, const float *x) {
    const pp_reb_cfg *c = &m->cfg;
    int C = c->C, k = c->top_k, T = a->T, E = c->E;
    combine_backward(c, a, dout);
    memset(a->dxg, 0, sizeof(float) * (size_t)T * k * C);
    for (int e = 0; e < E; e++) {
        if (!a->count[e]) continue;
        size_t o = (size_t)a->start[e] * C;
        pp_linear_backward(dx ? a->dxg + o : NULL, pp_branch_view(G, m->ew[e]),
                           pp_branch_view(G, m->eb[e]), a->dyg + o, a->xg + o, P + m->ew[e],
                           a->count[e], C, C);
    }
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < k; j++) {
                const float *g = a->dxg + (size_t)a->pos[(size_t)t * k + j] * C;
                float *d = dx + (size_t)t * C;
                for (int ch = 0; ch < C; ch++) d[ch] += g[ch];
            }
    }
    if (drho) memcpy(a->drho, drho, sizeof(float) * (size_t)T * E);
    else memset(a->drho, 0, sizeof(float) * (size_t)T * E);
    gate_backward(c, a);
    memset(a->dlogits, 0, sizeof(float) * (size_t)T * E);
    pp_softmax_backward(a->dlogits, a->drho, a->rho, T, E);
    pp_linear_backward(dx, pp_branch_view(G, m->rw), pp_branch_view(G, m->rb), a->dlogits, x,
                       P + m->rw, T, C, E);
}
