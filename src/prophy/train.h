/* prophy_train.h - training the whole ProPhy model on the physics world, the way
 * the paper does it (docs/BRANCH.md, "Training"):
 *
 *   stage 1: backbone + text encoder from scratch (mode none), flow matching on
 *            videos of the physics world, mixing text-only samples with samples
 *            whose first 1..K frames are given (the analogue of a pre-trained Wan);
 *   stage 2: the branch (seb | reb | full) attached to the stage-1 weights and
 *            trained with L_diff + w_c L_coarse + w_f L_fine_align + w_b L_balance,
 *            the backbone and text encoder frozen (default). Mode none continues
 *            the backbone alone: the baseline at equal compute.
 *
 * One step (B videos; ids [B,L]; T = B*N tokens):
 *   draw B examples (pp_phys_source) -> video [B,3,F,H,W], prompt, labels q [B,17],
 *   maps -> Q_r [B,N,17] (pp_prophy_token_targets); text dropout -> empty ids;
 *   s ~ p(s), eps ~ N(0,1), first-frame cond; pp_prophy_step -> losses + G; AdamW.
 *
 * Checkpoints (atomic) hold the weights, AdamW moments, EMA, the counters, the RNG
 * words and which tensors are frozen: --resume continues a killed run exactly. */
#ifndef PP_PROPHY_TRAIN_H
#define PP_PROPHY_TRAIN_H
#include "prophy/data.h"
#include "prophy/model.h"
#include "train/train.h"
#include "wan/flow.h"

typedef struct {
    pp_train_config base;  /* batch, steps, seed, AdamW, checkpoints, CSV log, plot, time limit */
    pp_s_dist s_dist;      /* flow-matching noise levels s: logit-normal or shifted uniform */
    float s_shift;         /* for PP_S_UNIFORM */
    float p_drop_text;     /* probability of the empty prompt (for CFG) */
    float p_first_frames;  /* probability that a sample gets 1..max_cond_frames clean first frames */
    int max_cond_frames;
    int freeze_backbone;   /* stage 2: backbone frozen */
    int freeze_text;       /* stage 2: text encoder frozen */
    float fg_weight;       /* k >= 0: the diffusion loss weighs each voxel by 1 + k f, f in [0,1] the
                              fraction of it the phenomenon maps cover (latents: from the token
                              targets, (max_c ql + 1) / 2; pixels: 1 - bg), normalised by the
                              batch's mean weight; 0 = the plain MSE. Stored in checkpoints:
                              a resumed run keeps its own */
} pp_prophy_train_config;

/* pp_train_defaults, logit-normal s, 10 % empty prompts, half the samples with 1..3 given frames */
pp_prophy_train_config pp_prophy_train_defaults(void);

typedef struct pp_prophy_trainer pp_prophy_trainer;
/* Takes the model with its weights already set (stage 1: pp_prophy_init_weights;
 * stage 2: the stage-1 weights copied and the branch attached). Not owned. */
/* The data is what the model diffuses: pixels of its training size, or latents of
 * its grid made with its VAE; -1 + error naming the difference. */
int pp_prophy_check_source(const pp_prophy *m, const pp_phys_source *src);
pp_prophy_trainer *pp_prophy_trainer_new(pp_prophy *m, const pp_prophy_train_config *c, pp_phys_source *src);
/* Loads `ckpt` into m (created from its config) and the trainer state; the
 * frozen set comes from the checkpoint. NULL + error (m left freed) on failure. */
pp_prophy_trainer *pp_prophy_trainer_resume(pp_prophy *m, const char *ckpt, const pp_prophy_train_config *c,
                                            pp_phys_source *src);
void pp_prophy_trainer_free(pp_prophy_trainer *t);
/* One optimiser step; L receives the terms (total NaN when skipped). -1 on a data error. */
int pp_prophy_trainer_step(pp_prophy_trainer *t, pp_prophy_losses *L);
/* Runs to the configured steps (train.h's loop: progress, log, checkpoints, plot). */
int pp_prophy_trainer_run(pp_prophy_trainer *t);
int pp_prophy_trainer_save_checkpoint(pp_prophy_trainer *t, const char *path);
long pp_prophy_trainer_steps_done(const pp_prophy_trainer *t);
const float *pp_prophy_trainer_final_weights(const pp_prophy_trainer *t);
#endif
