/* align.h - the branch's auxiliary losses: coarse (SEB), fine alignment and load
 * balance (REB). Each returns the UNWEIGHTED loss and accumulates gradients scaled
 * by `dloss` (dL_total/dL_this: pass the loss weight when L_total = L_diff +
 * w_c L_coarse + w_f L_fine_align + w_b L_balance, branch.h). Gradient pointers
 * (G = param grads in P's layout, drho_*) may be NULL.
 *
 * Parameters:
 *   branch.align.coarse.weight  [17, E_s]       .bias [17]
 *   branch.align.fine.0.weight  [hidden, E_r]   .0.bias [hidden]
 *   branch.align.fine.2.weight  [17, hidden]    .2.bias [17]
 * (fine = nn.Sequential(Linear, GELU(tanh), Linear)). */
#ifndef PP_BRANCH_ALIGN_H
#define PP_BRANCH_ALIGN_H
#include <stddef.h>
#include "nn/params.h"
#include "base/categories.h"
#include "base/rng.h"

/* Cosine similarity a.b / (max(|a|,eps) * max(|b|,eps)), as torch.cosine_similarity:
 * a zero vector has cosine 0 with everything. */
#define PP_COS_EPS 1e-8

typedef struct {
    int E_s, E_r;       /* router widths of the SEB and the REB */
    int fine_hidden;    /* hidden width of the fine-align MLP */
    int coarse_squared; /* 0: sum |P - Q| (paper, default); 1: sum (P - Q)^2 */
    int fine_sum;       /* 0: mean over the masked entries (default, ours); 1: sum (paper) */
    int coarse, fine;   /* which heads exist: coarse with an SEB, fine with a REB */
} pp_align_cfg;

typedef struct {
    pp_align_cfg cfg;
    size_t cw, cb, f0w, f0b, f2w, f2b;
} pp_align;

/* Declares the heads cfg->coarse / cfg->fine ask for (coarse first). */
int pp_align_declare(pp_align *m, pp_params *t, const pp_align_cfg *cfg);
/* Linear layers: PyTorch's default U(+-1/sqrt(fan_in)) (ours); each call draws
 * only for its own head, so callers fix the RNG order. */
void pp_align_init_coarse(const pp_align *m, float *P, pp_rng *rng);
void pp_align_init_fine(const pp_align *m, float *P, pp_rng *rng);

/* ---- L_coarse (relative). q_hat = Linear(E_s,17)(rho_s) [B,17];
 * P_ij = cos(q_hat_i, q_hat_j), Q_ij = cos(q_i, q_j) for the label vectors q [B,17];
 * L = sum_{i<j} |P_ij - Q_ij| (or squared). B = 1 gives 0. Backward into the
 * linear map (G) and drho_s [B,E_s]. */
float pp_coarse_loss(const pp_align *m, const float *P, float *G, float *drho_s, const float *rho_s,
                     const float *q, int B, float dloss);
void pp_coarse_predict(const pp_align *m, const float *P, float *q_hat, const float *rho_s, int B);

/* ---- L_fine_align. P_r = MLP(rho_r) [T,17], T = B*N; target Q [B,N,17]
 * (phenomenon map - background map at token resolution, built by the caller);
 * labels [B,17] (category c is present when labels[b,c] > 0.5).
 * mask[t,c] = present(b(t), c) && Q[t,c] > 0; L = sum_mask (P_r - Q)^2, divided by
 * the number of masked entries unless cfg.fine_sum; no masked entry gives 0. */
float pp_fine_align_loss(const pp_align *m, const float *P, float *G, float *drho_r,
                         const float *rho_r, const float *Q, const float *labels, int B, int N,
                         float dloss);
/* mask [B*N*17] (1 = counted); returns the number of masked entries */
size_t pp_fine_mask(unsigned char *mask, const float *Q, const float *labels, int B, int N);
/* P_r [T,17] = MLP(rho_r [T,E_r]) */
void pp_fine_predict(const pp_align *m, const float *P, float *P_r, const float *rho_r, int T);

/* ---- L_balance (Switch Transformer): L = E * sum_i f_i * p_i over the E experts,
 * f_i = share of the T*k top-k slots routed to expert i (sel [T,k], no gradient),
 * p_i = mean over tokens of rho[t,i] (rho [T,E]). Uniform router probabilities
 * give exactly 1 (the balanced optimum); routing collapsed onto one expert gives up
 * to E. Backward: drho[t,i] += dloss * E * f_i / T. */
float pp_balance_loss(float *drho, const float *rho, const int *sel, int T, int E, int k,
                      float dloss);
#endif
