/* branch_parts.h - the Physical Branch's tensors beside a DiT backbone of width
 * dim, declared and initialised once for both assemblies (pp_prophy, model.h,
 * and pp_wan_branch, wan_branch.h). Names in the layout:
 *   branch.seb.*                 Semantic Experts              (seb, full)
 *   branch.pb.J.*                Physical Block J, J < M: a backbone-shaped DiT block
 *   branch.inject.J.{weight,bias}  [dim, dim], zero at attach: PB J's output into the stream
 *   branch.reb.*                 Refinement Experts            (reb, full)
 *   branch.reb_inject.{weight,bias} [dim, dim], zero at attach: the REB's output into the stream
 *   branch.align.coarse.*        the coarse head (with the SEB); branch.align.fine.* (with the REB)
 * Mode none declares nothing. */
#ifndef PP_PROPHY_BRANCH_PARTS_H
#define PP_PROPHY_BRANCH_PARTS_H
#include "base/rng.h"
#include "branch/branch.h"
#include "nn/linear.h"
#include "nn/params.h"
#include "wan/dit.h"

typedef struct {
    pp_seb seb;        /* declared when pp_branch_has_seb */
    pp_reb reb;        /* declared when pp_branch_has_reb */
    pp_align align;    /* coarse part with the SEB, fine part with the REB */
    pp_dit_block *pb;  /* [M] Physical Blocks (owned array) */
    pp_lin *inject;    /* [M] (owned array) */
    pp_lin reb_inject;
    pp_branch_mode mode; /* what was declared */
    int M;               /* Physical Blocks (0 for mode none) */
} pp_branch_parts;

/* Declares the parts of `mode` in t, in the order above. e->seb_hidden 0 means dim. */
int pp_branch_parts_declare(pp_branch_parts *b, pp_params *t, pp_branch_mode mode, const pp_branch_cfg *e,
                            const pp_dit_config *d);
/* Stage 2's start: injections zero, the SEB, REB and heads from their inits. The
 * Physical Blocks are left to the caller, which copies backbone blocks into them. */
void pp_branch_parts_init(const pp_branch_parts *b, float *P, pp_rng *rng);
void pp_branch_parts_free(pp_branch_parts *b);
#endif
