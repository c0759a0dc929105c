/* branch_parts.c - the Physical Branch's tensors beside a backbone (branch_parts.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "prophy/branch_parts.h"
#include "base/common.h"

int pp_branch_parts_declare(pp_branch_parts *b, pp_params *t, pp_branch_mode mode, const pp_branch_cfg *e,
                            const pp_dit_config *d) {
    memset(b, 0, sizeof *b);
    b->mode = mode;
    b->M = pp_branch_n_pb(mode, e->M);
    if (pp_branch_has_seb(mode)) {
        pp_seb_cfg sc = {.E = e->E_s, .C = d->dim, .text_dim = d->text_dim,
                         .hidden = e->seb_hidden > 0 ? e->seb_hidden : d->dim, .gf0 = e->gf0, .gh0 = e->gh0,
                         .gw0 = e->gw0};
        if (pp_seb_declare(&b->seb, t, &sc)) return -1;
    }
    int M = b->M;
    b->pb = pp_calloc((size_t)(M ? M : 1), sizeof *b->pb);
    b->inject = pp_calloc((size_t)(M ? M : 1), sizeof *b->inject);
    for (int j = 0; j < M; j++) {
        char name[48];
        snprintf(name, sizeof name, "branch.pb.%d", j);
        pp_dit_block_declare(&b->pb[j], t, name, d->dim, d->ffn_dim);
        snprintf(name, sizeof name, "branch.inject.%d", j);
        b->inject[j] = pp_lin_declare(t, name, d->dim, d->dim);
    }
    if (pp_branch_has_reb(mode)) {
        pp_reb_cfg rc = {.E = e->E_r, .C = d->dim, .top_k = e->top_k, .renorm = e->reb_renorm};
        if (pp_reb_declare(&b->reb, t, &rc)) return -1;
        b->reb_inject = pp_lin_declare(t, "branch.reb_inject", d->dim, d->dim);
    }
    if (mode == PP_BRANCH_NONE) return 0;
    pp_align_cfg ac = {.E_s = e->E_s, .E_r = e->E_r, .fine_hidden = e->fine_hidden,
                       .coarse_squared = e->coarse_squared, .fine_sum = e->fine_sum,
                       .coarse = pp_branch_has_seb(mode), .fine = pp_branch_has_reb(mode)};
    return pp_align_declare(&b->align, t, &ac);
}

void pp_branch_parts_init(const pp_branch_parts *b, float *P, pp_rng *rng) {
    for (int j = 0; j < b->M; j++) pp_lin_zero(P, b->inject[j]);
    if (pp_branch_has_seb(b->mode)) {
        pp_seb_init(&b->seb, P, rng);
        pp_align_init_coarse(&b->align, P, rng);
    }
    if (pp_branch_has_reb(b->mode)) {
        pp_reb_init(&b->reb, P, rng);
        pp_lin_zero(P, b->reb_inject);
        pp_align_init_fine(&b->align, P, rng);
    }
}

void pp_branch_parts_free(pp_branch_parts *b) {
    free(b->pb);
    free(b->inject);
    memset(b, 0, sizeof *b);
}
