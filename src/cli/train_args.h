/* train_args.h - the parsed flags of `prophy train` (cmd_train.c), run by
 * train_physics.c. */
#ifndef PP_CLI_TRAIN_ARGS_H
#define PP_CLI_TRAIN_ARGS_H
#include "prophy/config.h"
#include "prophy/data.h"
#include "prophy/model.h"
#include "prophy/train.h"

typedef struct {
    pp_model_config mc;          /* backbone shape and training video size */
    pp_prophy_train_config tc;   /* tc.base: the common trainer settings */
    const char *out, *resume, *world;
    char ckpt[1024], plot[1024];
    int threads;
    const char *data, *maps, *init, *branch;
    pp_label_noise noise;
    pp_branch_mode mode;         /* from --branch */
    pp_branch_cfg branch_cfg;    /* --pb, --semantic-experts, ..., the loss weights */
    int train_backbone, text_layers;
    int set[4];                  /* given flags: [0] model shape, [1] video size, [2] text shape, [3] patch */
} train_args;

int train_physics(train_args *a);
#endif
