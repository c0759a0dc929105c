/* stages.h - the paper's two training stages as model constructions, the one
 * place the command and the tests make them:
 *
 *   stage 1: text encoder + backbone from scratch (branch mode none by default,
 *            the analogue of a pre-trained Wan), the simulator's vocabulary,
 *            Wan's initialisation;
 *   stage 2: a stage-1 model's weights with the branch attached: Physical Blocks
 *            copied from the backbone's first M blocks, zero-initialised
 *            injections, fresh SEB, REB and alignment heads. Order matters: the
 *            stage-1 weights are copied first, then the blocks are copied from them.
 *
 * What a stage trains (which tensors are frozen) is the trainer's business
 * (prophy/train.h: freeze_backbone, freeze_text). */
#ifndef PP_PROPHY_STAGES_H
#define PP_PROPHY_STAGES_H
#include <stdint.h>
#include "prophy/model.h"

typedef struct {
    pp_branch_mode mode;
    pp_branch_cfg branch; /* sizes and loss weights (branch.h's defaults) */
    int text_layers;      /* stage 1: text encoder layers (2) */
} pp_stage_opts;

/* mode none for stage 1, full for stage 2; pp_branch_defaults(); 2 text layers */
pp_stage_opts pp_stage_defaults(int stage);

/* A fresh model of the backbone shape `base`, weights initialised from seed. */
int pp_prophy_stage1(pp_prophy *m, const pp_model_config *base, const pp_stage_opts *o, uint64_t seed);
/* The stage-1 model s1 with o's branch attached, its random parts from seed. */
int pp_prophy_stage2(pp_prophy *m, const pp_prophy *s1, const pp_stage_opts *o, uint64_t seed);
#endif
