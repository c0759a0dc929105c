/* branch.h - the physical branch's configuration, and the one place its defaults
 * live. The branch's layers are the SEB (seb.h), the Physical Blocks (backbone-
 * shaped blocks, wan/dit.h), the REB (reb.h) and the alignment heads (align.h);
 * the assembled model (prophy/model.h) declares them from this config.
 *
 * Typical training step (T = B*N video tokens, C channels):
 *   pp_seb_forward(&seb, P, &sa, z0, s0, pooled, B, gf, gh, gw);     z0 [B,N,C]
 *   ... Physical Blocks on z0 -> h [T,C] ...
 *   pp_reb_forward(&reb, P, &ra, r, h, T);                          r  [T,C]
 *   zero drho_s [B,E_s], drho_r [T,E_r]
 *   Lc = pp_coarse_loss(&align, P, G, drho_s, sa.rho, q, B, w_coarse);
 *   Lf = pp_fine_align_loss(&align, P, G, drho_r, ra.rho, Qr, q, B, N, w_fine_align);
 *   Lb = pp_balance_loss(drho_r, ra.rho, ra.sel, T, E_r, k, w_balance);
 *   ... backward of the injections -> dr ...
 *   pp_reb_backward(&reb, P, G, &ra, dh, dr, drho_r, h);
 *   ... backward of the Physical Blocks -> dz0 ...
 *   pp_seb_backward(&seb, P, G, &sa, ds0, dpooled, dz0, drho_s, pooled); */
#ifndef PP_BRANCH_BRANCH_H
#define PP_BRANCH_BRANCH_H
#include "branch/align.h"
#include "branch/reb.h"
#include "branch/seb.h"

/* Which parts of the branch a model has: none (the backbone alone), the SEB's
 * stage only, the REB's stage only, or both (the paper's full ProPhy). */
typedef enum { PP_BRANCH_NONE = 0, PP_BRANCH_SEB, PP_BRANCH_REB, PP_BRANCH_FULL } pp_branch_mode;
static inline int pp_branch_has_seb(pp_branch_mode m) { return m == PP_BRANCH_SEB || m == PP_BRANCH_FULL; }
static inline int pp_branch_has_reb(pp_branch_mode m) { return m == PP_BRANCH_REB || m == PP_BRANCH_FULL; }
/* Physical Blocks of a model of mode m whose branch config asks for M: none has none */
static inline int pp_branch_n_pb(pp_branch_mode m, int M) { return m == PP_BRANCH_NONE ? 0 : M; }

typedef struct {
    int M;                 /* Physical Blocks: copies of the backbone's first M blocks */
    int E_s, seb_hidden;   /* semantic experts; router hidden width (0: the token width) */
    int gf0, gh0, gw0;     /* reference token grid of the basis maps (0: the training grid) */
    int E_r, top_k;        /* refinement experts, experts per token */
    int reb_renorm;        /* renormalise the top-k weights (0 = the paper) */
    int fine_hidden;       /* fine-align MLP hidden width */
    int coarse_squared;    /* 0: sum |P - Q| (the paper); 1: squared */
    int fine_sum;          /* 0: mean over the masked entries (ours); 1: sum (the paper) */
    float w_coarse, w_fine_align, w_balance; /* loss weights (the paper's) */
} pp_branch_cfg;

/* The defaults (the sizes are ours, the paper gives none): M = 2, E_s = 8,
 * seb_hidden = the token width, E_r = 8, top-2, fine_hidden = 64, no
 * renormalisation, L1 coarse loss, mean fine-align loss; loss weights
 * 0.1 / 0.02 / 0.01 (the paper's, the same for both of its backbones). */
static inline pp_branch_cfg pp_branch_defaults(void) {
    return (pp_branch_cfg){.M = 2, .E_s = 8, .E_r = 8, .top_k = 2, .fine_hidden = 64,
                           .w_coarse = 0.1f, .w_fine_align = 0.02f, .w_balance = 0.01f};
}
#endif
