/* stages.c - see stages.h */
#include <string.h>
#include "base/common.h"
#include "prophy/stages.h"
#include "sim/sim.h"

pp_stage_opts pp_stage_defaults(int stage) {
    return (pp_stage_opts){.mode = stage == 1 ? PP_BRANCH_NONE : PP_BRANCH_FULL, .branch = pp_branch_defaults(),
                           .text_layers = 2};
}

static int check_blocks(const pp_stage_opts *o, int layers) {
    if (o->mode != PP_BRANCH_NONE && o->branch.M > layers)
        PP_FAIL("%d Physical Blocks are more than the backbone's %d layers", o->branch.M, layers);
    return 0;
}

int pp_prophy_stage1(pp_prophy *m, const pp_model_config *base, const pp_stage_opts *o, uint64_t seed) {
    if (check_blocks(o, base->dit.layers)) return -1;
    const char *const *words;
    int nw = pp_sim_vocab(&words);
    pp_vocab v;
    if (pp_vocab_build(&v, words, nw)) return -1;
    pp_prophy_config c;
    pp_prophy_config_default(&c, base, v.n);
    c.text.layers = o->text_layers;
    c.mode = o->mode, c.branch = o->branch;
    int rc = pp_prophy_config_check(&c) || pp_prophy_create(m, &c, &v) ? -1 : 0;
    pp_vocab_free(&v);
    if (rc) return -1;
    pp_rng r;
    pp_rng_seed(&r, seed);
    pp_prophy_init_weights(m, m->params, &r);
    return 0;
}

int pp_prophy_stage2(pp_prophy *m, const pp_prophy *s1, const pp_stage_opts *o, uint64_t seed) {
    if (check_blocks(o, s1->cfg.base.dit.layers)) return -1;
    pp_prophy_config c = s1->cfg;
    c.mode = o->mode, c.branch = o->branch;
    if (pp_prophy_config_check(&c) || pp_prophy_create(m, &c, &s1->vocab)) return -1;
    pp_rng r;
    pp_rng_seed(&r, seed);
    pp_prophy_init_weights(m, m->params, &r); /* every tensor gets a value, then: */
    if (pp_prophy_copy_weights(m, m->params, s1, s1->params, NULL)) {
        pp_prophy_free(m);
        return -1;
    }
    pp_prophy_attach_branch(m, m->params, &r); /* the blocks are copied from the stage-1 weights */
    return 0;
}
