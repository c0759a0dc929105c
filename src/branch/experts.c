/* experts.c - config and declaration of the branch's own layers; see experts.h. */
#include <string.h>
#include "branch/experts.h"

void pp_experts_cfg_default(pp_experts_cfg *c, int C, int text_dim, int gf0, int gh0, int gw0) {
    memset(c, 0, sizeof *c);
    c->C = C, c->text_dim = text_dim;
    c->E_s = 8, c->seb_hidden = C;
    c->gf0 = gf0, c->gh0 = gh0, c->gw0 = gw0;
    c->E_r = 8, c->top_k = 2;
    c->fine_hidden = 64;
}

int pp_experts_declare(pp_experts *m, pp_params *t, const pp_experts_cfg *c) {
    pp_seb_cfg sc = {.E = c->E_s, .C = c->C, .text_dim = c->text_dim, .hidden = c->seb_hidden,
                     .gf0 = c->gf0, .gh0 = c->gh0, .gw0 = c->gw0};
    pp_reb_cfg rc = {.E = c->E_r, .C = c->C, .top_k = c->top_k, .renorm = c->reb_renorm};
    pp_align_cfg ac = {.E_s = c->E_s, .E_r = c->E_r, .fine_hidden = c->fine_hidden,
                       .coarse_squared = c->coarse_squared, .fine_sum = c->fine_sum};
    if (pp_seb_declare(&m->seb, t, &sc) || pp_reb_declare(&m->reb, t, &rc) ||
        pp_align_declare(&m->align, t, &ac))
        return -1;
    return 0;
}

void pp_experts_init(const pp_experts *m, float *P, pp_rng *rng) {
    pp_seb_init(&m->seb, P, rng);
    pp_reb_init(&m->reb, P, rng);
    pp_align_init(&m->align, P, rng);
}
