/* align.c - coarse, fine-align and balance losses; see align.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "branch/align.h"
#include "branch/branch_util.h"
#include "base/common.h"
#include "nn/ops.h"

/* ---------------------------------------------------------------- parameters */

int pp_align_declare(pp_align *m, pp_params *t, const pp_align_cfg *c) {
    if (c->E_s < 1 || c->E_r < 1 || c->fine_hidden < 1)
        PP_FAIL("align config: E_s=%d E_r=%d fine_hidden=%d must all be >= 1", c->E_s, c->E_r,
                c->fine_hidden);
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    if (c->coarse) {
        m->cw = pp_params_addf(t, 2, PP_NCAT, c->E_s, 0, 0, 0, "branch.align.coarse.weight");
        m->cb = pp_params_addf(t, 1, PP_NCAT, 0, 0, 0, 0, "branch.align.coarse.bias");
    }
    if (c->fine) {
        m->f0w = pp_params_addf(t, 2, c->fine_hidden, c->E_r, 0, 0, 0, "branch.align.fine.0.weight");
        m->f0b = pp_params_addf(t, 1, c->fine_hidden, 0, 0, 0, 0, "branch.align.fine.0.bias");
        m->f2w = pp_params_addf(t, 2, PP_NCAT, c->fine_hidden, 0, 0, 0, "branch.align.fine.2.weight");
        m->f2b = pp_params_addf(t, 1, PP_NCAT, 0, 0, 0, 0, "branch.align.fine.2.bias");
    }
    return 0;
}

void pp_align_init_coarse(const pp_align *m, float *P, pp_rng *rng) {
    if (m->cfg.coarse) pp_branch_init_linear(P + m->cw, P + m->cb, PP_NCAT, m->cfg.E_s, rng);
}

void pp_align_init_fine(const pp_align *m, float *P, pp_rng *rng) {
    const pp_align_cfg *c = &m->cfg;
    if (!c->fine) return;
    pp_branch_init_linear(P + m->f0w, P + m->f0b, c->fine_hidden, c->E_r, rng);
    pp_branch_init_linear(P + m->f2w, P + m->f2b, PP_NCAT, c->fine_hidden, rng);
}

/* ---------------------------------------------------------------- L_coarse */

static double norm17(const double *a) {
    double s = 0.0;
    for (int c = 0; c < PP_NCAT; c++) s += a[c] * a[c];
    return sqrt(s);
}

/* cos(a,b) with the eps clamp of PP_COS_EPS; na, nb are |a|, |b| */
static double cos17(const double *a, const double *b, double na, double nb) {
    double d = 0.0;
    for (int c = 0; c < PP_NCAT; c++) d += a[c] * b[c];
    return d / (fmax(na, PP_COS_EPS) * fmax(nb, PP_COS_EPS));
}

/* da += g * dcos(a,b)/da = g * (b / (na' nb') - [na > eps] cos * a / na^2) */
static void cos17_backward(double *da, double g, const double *a, const double *b, double na,
                           double nb, double cs) {
    double inv = 1.0 / (fmax(na, PP_COS_EPS) * fmax(nb, PP_COS_EPS));
    double ka = na > PP_COS_EPS ? cs / (na * na) : 0.0;
    for (int c = 0; c < PP_NCAT; c++) da[c] += g * (b[c] * inv - ka * a[c]);
}

void pp_coarse_predict(const pp_align *m, const float *P, float *q_hat, const float *rho_s, int B) {
    pp_linear_forward(q_hat, rho_s, P + m->cw, P + m->cb, B, m->cfg.E_s, PP_NCAT);
}

/* L and dL/dq_hat (in double) for the mapped weights qh [B,17] and labels q [B,17] */
static double coarse_core(double *dqh, const double *qh, const double *q, int B, int squared) {
    double loss = 0.0, nh[B], nq[B];
    for (int i = 0; i < B; i++) nh[i] = norm17(qh + i * PP_NCAT), nq[i] = norm17(q + i * PP_NCAT);
    for (int i = 0; i < B; i++)
        for (int j = i + 1; j < B; j++) {
            const double *hi = qh + i * PP_NCAT, *hj = qh + j * PP_NCAT;
            double Pij = cos17(hi, hj, nh[i], nh[j]);
            double Qij = cos17(q + i * PP_NCAT, q + j * PP_NCAT, nq[i], nq[j]), d = Pij - Qij;
            loss += squared ? d * d : fabs(d);
            double g = squared ? 2.0 * d : (double)((d > 0) - (d < 0));
            cos17_backward(dqh + i * PP_NCAT, g, hi, hj, nh[i], nh[j], Pij);
            cos17_backward(dqh + j * PP_NCAT, g, hj, hi, nh[j], nh[i], Pij);
        }
    return loss;
}

float pp_coarse_loss(const pp_align *m, const float *P, float *G, float *drho_s, const float *rho_s,
                     const float *q, int B, float dloss) {
    if (B < 2) return 0.0f;
    size_t n = (size_t)B * PP_NCAT;
    float *qh = pp_alloc_floats(2 * n), *dqh = qh + n;
    double *qhd = pp_calloc(3 * n, sizeof(double)), *qd = qhd + n, *dqhd = qd + n;
    pp_coarse_predict(m, P, qh, rho_s, B);
    for (size_t i = 0; i < n; i++) qhd[i] = qh[i], qd[i] = q[i];
    double loss = coarse_core(dqhd, qhd, qd, B, m->cfg.coarse_squared);
    for (size_t i = 0; i < n; i++) dqh[i] = (float)(dqhd[i] * dloss);
    pp_linear_backward(drho_s, pp_branch_view(G, m->cw), pp_branch_view(G, m->cb), dqh, rho_s,
                       P + m->cw, B, m->cfg.E_s, PP_NCAT);
    free(qhd);
    pp_free_aligned(qh);
    return (float)loss;
}

/* ---------------------------------------------------------------- L_fine_align */

size_t pp_fine_mask(unsigned char *mask, const float *Q, const float *labels, int B, int N) {
    size_t count = 0;
    for (int b = 0; b < B; b++)
        for (size_t n = 0; n < (size_t)N; n++)
            for (int c = 0; c < PP_NCAT; c++) {
                size_t i = ((size_t)b * N + n) * PP_NCAT + c;
                mask[i] = labels[b * PP_NCAT + c] > 0.5f && Q[i] > 0.0f;
                count += mask[i];
            }
    return count;
}

/* hidden pre-activation hp [T,h], activation ha [T,h], output out [T,17] */
static void fine_mlp_forward(const pp_align *m, const float *P, float *hp, float *ha, float *out,
                             const float *rho_r, int T) {
    const pp_align_cfg *c = &m->cfg;
    pp_linear_forward(hp, rho_r, P + m->f0w, P + m->f0b, T, c->E_r, c->fine_hidden);
    pp_gelu_forward(ha, hp, (size_t)T * c->fine_hidden);
    pp_linear_forward(out, ha, P + m->f2w, P + m->f2b, T, c->fine_hidden, PP_NCAT);
}

void pp_fine_predict(const pp_align *m, const float *P, float *P_r, const float *rho_r, int T) {
    size_t th = (size_t)T * m->cfg.fine_hidden;
    float *hp = pp_alloc_floats(2 * th);
    fine_mlp_forward(m, P, hp, hp + th, P_r, rho_r, T);
    pp_free_aligned(hp);
}

/* dout [T,17] -> MLP params and drho_r; hp, ha from the forward */
static void fine_mlp_backward(const pp_align *m, const float *P, float *G, float *drho_r,
                              const float *dout, const float *hp, const float *ha,
                              const float *rho_r, int T) {
    const pp_align_cfg *c = &m->cfg;
    size_t th = (size_t)T * c->fine_hidden;
    float *dha = pp_zalloc_floats(2 * th), *dhp = dha + th;
    pp_linear_backward(dha, pp_branch_view(G, m->f2w), pp_branch_view(G, m->f2b), dout, ha,
                       P + m->f2w, T, c->fine_hidden, PP_NCAT);
    pp_gelu_backward(dhp, dha, hp, th);
    pp_linear_backward(drho_r, pp_branch_view(G, m->f0w), pp_branch_view(G, m->f0b), dhp, rho_r,
                       P + m->f0w, T, c->E_r, c->fine_hidden);
    pp_free_aligned(dha);
}

float pp_fine_align_loss(const pp_align *m, const float *P, float *G, float *drho_r,
                         const float *rho_r, const float *Q, const float *labels, int B, int N,
                         float dloss) {
    int T = B * N;
    size_t th = (size_t)T * m->cfg.fine_hidden, tc = (size_t)T * PP_NCAT;
    unsigned char *mask = pp_malloc(tc);
    size_t count = pp_fine_mask(mask, Q, labels, B, N);
    if (!count) {
        free(mask);
        return 0.0f;
    }
    float *hp = pp_alloc_floats(2 * th + 2 * tc), *ha = hp + th, *pr = ha + th, *dpr = pr + tc;
    fine_mlp_forward(m, P, hp, ha, pr, rho_r, T);
    double norm = m->cfg.fine_sum ? 1.0 : 1.0 / (double)count, loss = 0.0;
    for (size_t i = 0; i < tc; i++) {
        double d = mask[i] ? (double)pr[i] - Q[i] : 0.0;
        loss += d * d;
        dpr[i] = (float)(2.0 * d * norm * dloss);
    }
    if (G || drho_r) fine_mlp_backward(m, P, G, drho_r, dpr, hp, ha, rho_r, T);
    pp_free_aligned(hp);
    free(mask);
    return (float)(loss * norm);
}

/* ---------------------------------------------------------------- L_balance */

float pp_balance_loss(float *drho, const float *rho, const int *sel, int T, int E, int k,
                      float dloss) {
    if (T < 1) return 0.0f;
    double f[E], p[E], loss = 0.0;
    for (int e = 0; e < E; e++) f[e] = 0.0, p[e] = 0.0;
    for (size_t s = 0; s < (size_t)T * k; s++) f[sel[s]] += 1.0;
    for (size_t t = 0; t < (size_t)T; t++)
        for (int e = 0; e < E; e++) p[e] += rho[t * E + e];
    for (int e = 0; e < E; e++) {
        f[e] /= (double)T * k;
        p[e] /= (double)T;
        loss += E * f[e] * p[e];
    }
    if (drho) {
        float g[E];
        for (int e = 0; e < E; e++) g[e] = (float)(dloss * E * f[e] / T);
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++)
            for (int e = 0; e < E; e++) drho[(size_t)t * E + e] += g[e];
    }
    return (float)loss;
}
