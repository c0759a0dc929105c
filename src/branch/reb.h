/* reb.h - the Refinement Expert Block (REB) of ProPhy's physical branch, token level.
 *
 * For every token x [C] (T = B*N tokens, rows of x [T,C]):
 *   rho_r = softmax(Linear(C, E)(x))                                    [T,E]
 *   S     = top-k of rho_r (descending; ties -> lower expert index)     k indices
 *   g_i   = rho_r[i]                 (renorm = 0, the paper, default)
 *         = rho_r[i] / sum_{j in S} rho_r[j]   (renorm = 1, ours, optional)
 *   x'    = sum_{i in S} g_i * expert_i(x),  expert_i = Linear(C, C) with bias
 * No residual: x' is what the branch injects into the backbone.
 *
 * The router gets its gradient through the selected g_i (softmax backward over all
 * E); the selection itself is piecewise constant and carries none. Tokens are
 * grouped by expert (gather -> one GEMM per expert -> scatter), so the expert cost
 * is k GEMMs' worth of work, not T*k matvecs.
 *
 * Parameters:
 *   branch.reb.router.weight      [E, C]   .bias [E]
 *   branch.reb.experts.{i}.weight [C, C]   .bias [C]     i = 0..E-1 */
#ifndef PP_BRANCH_REB_H
#define PP_BRANCH_REB_H
#include <stddef.h>
#include "nn/params.h"
#include "base/rng.h"

#define PP_REB_MAX_EXPERTS 64

typedef struct {
    int E;      /* E_r, number of refinement experts */
    int C;      /* token channels */
    int top_k;  /* experts per token, 1 <= top_k <= E */
    int renorm; /* 1: renormalise the selected weights to sum 1 (default 0, the paper) */
} pp_reb_cfg;

typedef struct {
    pp_reb_cfg cfg;
    size_t rw, rb;                                             /* router */
    size_t ew[PP_REB_MAX_EXPERTS], eb[PP_REB_MAX_EXPERTS];     /* experts */
} pp_reb;

/* Forward state (zero-initialise; grows on demand; pp_reb_acts_free). Slot (t,j) is
 * the j-th choice of token t; row pos[t*k+j] of the grouped buffers holds it. */
typedef struct {
    int T;
    float *logits, *rho;   /* [T,E] */
    int *sel;              /* [T,k] selected experts, by descending rho */
    float *gate;           /* [T,k] mixing weights g */
    int *pos;              /* [T,k] row of slot (t,j) in the grouped buffers */
    int *tok;              /* [T*k] token of each grouped row */
    int *count, *start;    /* [E] rows per expert, [E+1] first row per expert */
    float *xg, *yg;        /* [T*k, C] gathered inputs and expert outputs, grouped */
    float *dyg, *dxg;      /* backward scratch [T*k, C] */
    float *dgate;          /* backward scratch [T,k] */
    float *drho, *dlogits; /* backward scratch [T,E] */
    float *mem;
    int *imem;
    size_t cap, icap;
} pp_reb_acts;

/* Declare the tensors; returns 0, or -1 (pp_lasterr) on a bad config. */
int pp_reb_declare(pp_reb *m, pp_params *t, const pp_reb_cfg *cfg);
/* All Linear layers: PyTorch's default U(+-1/sqrt(fan_in)) (ours). */
void pp_reb_init(const pp_reb *m, float *P, pp_rng *rng);

/* x, out [T,C] (out != x). Saves rho, the selection and the grouped buffers. */
void pp_reb_forward(const pp_reb *m, const float *P, pp_reb_acts *a, float *out, const float *x,
                    int T);
/* Accumulates dx [T,C] and G (param grads, P's layout); any may be NULL.
 * drho [T,E]: extra gradient w.r.t. rho_r from the fine-align and balance losses
 * (NULL: none). x is the forward's input. */
void pp_reb_backward(const pp_reb *m, const float *P, float *G, pp_reb_acts *a, float *dx,
                     const float *dout, const float *drho, const float *x);
void pp_reb_acts_free(pp_reb_acts *a);

/* Top-k of one row p [E]: sel [k] in descending order, ties to the lower index. */
void pp_topk_row(int *sel, const float *p, int E, int k);
#endif
