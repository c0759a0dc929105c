/* experts.h - the physical branch's own layers in one place: the SEB, the REB and
 * the alignment heads, one config, one declaration into a pp_params table.
 * (The Physical Blocks and the injections are declared by the branch's caller.)
 *
 * Typical training step (T = B*N video tokens, C channels):
 *   pp_seb_forward(&m.seb, P, &sa, x1, x0, pooled, B, gf, gh, gw);   x1 [B,N,C]
 *   ... Physical Blocks on x1 -> h [T,C] ...
 *   pp_reb_forward(&m.reb, P, &ra, r, h, T);                          r  [T,C]
 *   zero drho_s [B,E_s], drho_r [T,E_r]
 *   Lc = pp_coarse_loss(&m.align, P, G, drho_s, sa.rho, q, B, PP_LOSS_W_COARSE);
 *   Lf = pp_fine_align_loss(&m.align, P, G, drho_r, ra.rho, Qr, q, B, N, PP_LOSS_W_FINE_ALIGN);
 *   Lb = pp_balance_loss(drho_r, ra.rho, ra.sel, T, E_r, k, PP_LOSS_W_BALANCE);
 *   ... backward of the injections -> dr ...
 *   pp_reb_backward(&m.reb, P, G, &ra, dh, dr, drho_r, h);
 *   ... backward of the Physical Blocks -> dx1 ...
 *   pp_seb_backward(&m.seb, P, G, &sa, dx0, dpooled, dx1, drho_s, pooled); */
#ifndef PP_BRANCH_EXPERTS_H
#define PP_BRANCH_EXPERTS_H
#include "branch/align.h"
#include "branch/reb.h"
#include "branch/seb.h"

typedef struct {
    int C, text_dim;       /* token channels, pooled text width */
    int E_s, seb_hidden;   /* semantic experts, router hidden width */
    int gf0, gh0, gw0;     /* reference token grid of the basis maps */
    int E_r, top_k;        /* refinement experts, experts per token */
    int reb_renorm;        /* renormalise the top-k weights (default 0 = paper) */
    int fine_hidden;       /* fine-align MLP hidden width */
    int coarse_squared;    /* 0: L1 (default, paper); 1: squared */
    int fine_sum;          /* 0: mean over masked entries (default); 1: sum (paper) */
} pp_experts_cfg;

typedef struct {
    pp_seb seb;
    pp_reb reb;
    pp_align align;
} pp_experts;

/* Defaults (ours, the paper gives no sizes): E_s = 8, seb_hidden = C, E_r = 8,
 * top_k = 2, fine_hidden = 64, no renormalisation, L1 coarse, mean fine-align. */
void pp_experts_cfg_default(pp_experts_cfg *c, int C, int text_dim, int gf0, int gh0, int gw0);
/* Declares SEB, then REB, then align tensors; 0, or -1 with pp_lasterr. */
int pp_experts_declare(pp_experts *m, pp_params *t, const pp_experts_cfg *c);
void pp_experts_init(const pp_experts *m, float *P, pp_rng *rng);
#endif
