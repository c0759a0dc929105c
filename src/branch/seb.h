/* seb.h - the Semantic Expert Block (SEB) of ProPhy's physical branch, video level.
 *
 *   rho_s = softmax(Linear(hidden,E) (SiLU (Linear(text_dim,hidden) (pooled))))   [B,E]
 *   X'[b] = X[b] + sum_e rho_s[b,e] * resample(B_e)                               [B,N,C]
 *
 * - pooled [B,text_dim] is the caller's mean of the text context over non-pad tokens.
 * - The E basis maps are stored at a reference token grid (gf0,gh0,gw0), layout
 *   [E, gf0*gh0*gw0, C] with tokens in (f,h,w) row-major order. For another grid
 *   (gf,gh,gw) they are resampled trilinearly with align_corners=false (PyTorch's
 *   F.interpolate(mode="trilinear", align_corners=False) on the [E,C,F,H,W] view).
 * - Soft routing: normalised weights, no top-k (the paper: top-k collapsed).
 *
 * Parameters (offsets into the flat buffer; params, grads and moments share it):
 *   branch.seb.basis            [E, gf0*gh0*gw0, C]
 *   branch.seb.router.0.weight  [hidden, text_dim]   .0.bias [hidden]
 *   branch.seb.router.2.weight  [E, hidden]          .2.bias [E]
 * (".0"/".2" are the Linear layers of an nn.Sequential(Linear, SiLU, Linear).) */
#ifndef PP_BRANCH_SEB_H
#define PP_BRANCH_SEB_H
#include <stddef.h>
#include "nn/params.h"
#include "base/rng.h"

typedef struct {
    int E;             /* E_s, number of semantic experts (basis maps) */
    int C;             /* hidden channels of the video tokens */
    int text_dim;      /* width of the pooled text embedding */
    int hidden;        /* router hidden width */
    int gf0, gh0, gw0; /* reference token grid of the stored basis maps */
} pp_seb_cfg;

typedef struct {
    pp_seb_cfg cfg;
    size_t basis, r0w, r0b, r2w, r2b; /* offsets in floats */
} pp_seb;

/* What the forward saves for the backward, carved from one arena that grows on
 * demand; zero-initialise the struct, free with pp_seb_acts_free. */
typedef struct {
    int B, N, gf, gh, gw;  /* shapes of the last forward */
    int resampled;         /* 1: grid != reference, basis_r holds the resampled maps */
    float *h_pre, *h;      /* [B,hidden] router pre-activation and SiLU output */
    float *logits, *rho;   /* [B,E] */
    float *basis_r;        /* [E,N,C] (only when resampled) */
    float *dh_pre, *dh;    /* backward scratch [B,hidden] */
    float *drho, *dlogits; /* backward scratch [B,E] */
    float *dbasis_r;       /* backward scratch [E,N,C] (only when resampled) */
    float *mem;
    size_t cap;
} pp_seb_acts;

/* Declare the tensors; returns 0, or -1 (pp_lasterr) on a bad config. */
int pp_seb_declare(pp_seb *m, pp_params *t, const pp_seb_cfg *cfg);
/* basis ~ N(0, 0.02^2) (ours); Linear layers: PyTorch's default U(+-1/sqrt(fan_in)). */
void pp_seb_init(const pp_seb *m, float *P, pp_rng *rng);

/* out, x [B,N,C] with N = gf*gh*gw (out == x allowed); pooled [B,text_dim]. */
void pp_seb_forward(const pp_seb *m, const float *P, pp_seb_acts *a, float *out, const float *x,
                    const float *pooled, int B, int gf, int gh, int gw);
/* Accumulates: dx += dout; dpooled += ...; G (param grads, same layout as P) += ...
 * drho_s [B,E] is an extra gradient w.r.t. rho_s from the coarse loss (NULL: none).
 * dx, dpooled, G may be NULL. Uses the acts of the matching forward. */
void pp_seb_backward(const pp_seb *m, const float *P, float *G, pp_seb_acts *a, float *dx,
                     float *dpooled, const float *dout, const float *drho_s, const float *pooled);
void pp_seb_acts_free(pp_seb_acts *a);

/* Trilinear resampling, align_corners=false (PyTorch's source index
 * s = (d + 0.5) * in/out - 0.5, clamped at 0; the upper neighbour clamped at in-1).
 * src [E, sf*sh*sw, C] -> dst [E, df*dh*dw, C]. Forward writes; backward accumulates. */
void pp_trilinear_forward(float *dst, const float *src, int E, int C, int sf, int sh, int sw, int df,
                          int dh, int dw);
void pp_trilinear_backward(float *dsrc, const float *ddst, int E, int C, int sf, int sh, int sw,
                           int df, int dh, int dw);
#endif
