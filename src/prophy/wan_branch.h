/* wan_branch.h - ProPhy's Physical Branch attached to a Wan2.1 backbone (a DiT
 * loaded from a user's files, wan/wan_files.h), its text context from outside:
 * umT5's rows [B, text_len, text_dim], trimmed to each prompt's true length and
 * zero-padded (what pipeline/t2v.h's pp_t2v_encode writes), with the lengths.
 *
 * The assembled model of prophy/model.h with two differences: no text encoder
 * of its own (the context is an input), and Physical Blocks copied from any
 * backbone blocks, each running beside its source:
 *
 *   embed(x, t, ctx) -> S_0 [T,C]
 *   pooled[b] = mean of ctx[b, 0..lens[b])  (0 when lens[b] = 0)
 *   Z_0 = SEB(S_0, pooled)  (seb, full)  |  S_0  (reb)
 *   for l = 0..layers-1:
 *     S_{l+1} = block_l(S_l)
 *     if l == src[j]:  Z_{j+1} = PB_j(Z_j)                 PB_j = copy of block src[j]
 *                      S_{l+1} += inject_j(Z_{j+1})        inject_j = Linear(C,C), zero-init
 *                      if j == M-1 (reb, full): S_{l+1} += reb_inject(REB(Z_M))
 *   out = head(S_layers)
 *
 * src = 0, 1, ..., M-1 (the default, the paper's "first M blocks") is exactly
 * prophy/model.h's data flow. Untrained (injections zero), the model is the
 * backbone bit for bit. The backbone's tensors keep Wan's names (so the branch
 * attaches to any Wan DiT file); the branch's are "branch.*" as in model.h, and
 * come first in the layout.
 * Training: the backbone frozen (pp_wan_branch_attach freezes it), the branch
 * trained by the same losses as pp_prophy_step; a frozen backbone gets no
 * weight gradients, only the gradient that flows through it. */
#ifndef PP_PROPHY_WAN_BRANCH_H
#define PP_PROPHY_WAN_BRANCH_H
#include <stdint.h>
#include "branch/branch.h"
#include "prophy/branch_parts.h"
#include "nn/linear.h"
#include "nn/params.h"
#include "prophy/model.h"
#include "wan/dit.h"
#include "wan/wan_files.h"

#define PP_WB_MAX_PB 64

typedef struct {
    pp_dit_config dit;     /* the backbone's */
    pp_branch_mode mode;   /* seb, reb or full (none: the backbone alone) */
    pp_branch_cfg branch;  /* M, experts, loss weights; gf0, gh0, gw0: the SEB's reference token grid */
    int src[PP_WB_MAX_PB]; /* PB j copies (and sits beside) backbone block src[j], increasing;
                              all zero: 0, 1, ..., M-1 */
    int in_place;          /* 1: the backbone's Linear weights stay where a pp_wan_dit opened with
                              PP_WAN_INFER has them (BF16 in its mapped file): the forward and the
                              gradient through the frozen backbone read them there, only the
                              small tensors and the branch are in `params` (pp_wan_branch_attach_dit) */
} pp_wan_branch_config;

typedef struct {
    pp_wan_branch_config cfg;
    pp_params table; /* branch.*, then the backbone's tensors (Wan's names; in_place: its small ones) */
    pp_params bweights; /* in_place: the backbone's Linear weights' names and shapes (not allocated) */
    pp_dit dit;
    pp_branch_parts br;    /* the branch's tensors (branch_parts.h) */
    float *params;    /* table.total floats */
    size_t trainable; /* the branch's tensors come first: floats [0, trainable) of the layout. With
                         the backbone frozen, gradients and AdamW's moments (no EMA) of this many
                         floats cover everything that trains: a real-size backbone needs none */
} pp_wan_branch;

/* Defaults around a backbone: mode full, pp_branch_defaults() (M = 2), the SEB's
 * reference grid gf0 x gh0 x gw0 (a latent's token grid, e.g. 5 x 16 x 16 for
 * 17 frames at 256 x 256). */
void pp_wan_branch_config_default(pp_wan_branch_config *c, const pp_dit_config *dit, int gf0, int gh0, int gw0);
/* "0,5,9" -> src, M. Each in [0, layers), increasing. */
int pp_wan_branch_parse_blocks(pp_wan_branch_config *c, const char *list);
/* Validates (fills src when all zero) and declares every tensor (zero weights). */
int pp_wan_branch_create(pp_wan_branch *m, const pp_wan_branch_config *c);
void pp_wan_branch_free(pp_wan_branch *m);
/* The backbone from a Wan DiT's F32 tensors (table src / Psrc, e.g. a
 * pp_wan_dit opened with PP_WAN_F32): every backbone tensor copied by name and
 * shape (-1 + error naming the first missing one); then the branch attached:
 * PB j <- block src[j], injections zero, SEB, REB and alignment heads
 * initialised from seed; and the backbone frozen. */
int pp_wan_branch_attach(pp_wan_branch *m, const pp_params *src, const float *Psrc, uint64_t seed);
/* The same from an open Wan DiT: PP_WAN_F32 for a model made with in_place = 0
 * (the tensors are copied, w may then be closed); PP_WAN_INFER for in_place = 1
 * (the small tensors are copied, the Linear weights are borrowed: w must stay
 * open while m is used; the Physical Blocks get F32 copies of their sources). */
int pp_wan_branch_attach_dit(pp_wan_branch *m, const pp_wan_dit *w, uint64_t seed);

typedef struct pp_wan_branch_acts pp_wan_branch_acts;
pp_wan_branch_acts *pp_wan_branch_acts_new(const pp_wan_branch *m, int B, int F, int H, int W, int train);
void pp_wan_branch_acts_free(pp_wan_branch_acts *a);
const float *pp_wan_branch_acts_rho_r(const pp_wan_branch_acts *a); /* [T,E_r] or NULL */
const int *pp_wan_branch_acts_sel(const pp_wan_branch_acts *a);     /* [T,top_k] or NULL */

/* out [B,out,F,H,W] = model(x [B,in,F,H,W], t [B], ctx [B,text_len,text_dim], lens [B]). */
int pp_wan_branch_forward(const pp_wan_branch *m, const float *P, pp_wan_branch_acts *a, const float *x,
                          const float *t, const float *ctx, const int *lens, float *out);

typedef struct {
    const float *x, *t;   /* [B,in,F,H,W] x_t (T2V: no conditioning channels), [B] 1000 s */
    const float *ctx;     /* [B,text_len,text_dim] */
    const int *lens;      /* [B] */
    const float *target;  /* [B,out,F,H,W] eps - x0 */
    const float *labels;  /* [B,17] or NULL */
    const float *Qr;      /* [B,N,17] or NULL */
} pp_wan_branch_batch;

/* Forward, the losses of the mode (pp_prophy_step's), and with G the backward
 * accumulated into G (the branch's tensors; the backbone's too when it is not
 * frozen). pred (may be NULL) receives the prediction. */
int pp_wan_branch_step(const pp_wan_branch *m, const float *P, float *G, pp_wan_branch_acts *a,
                       const pp_wan_branch_batch *b, float *pred, pp_prophy_losses *L);
#endif
