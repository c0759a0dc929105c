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
#include "train/trainer.h"

typedef struct {
    pp_train_config base;  /* batch, steps, seed, AdamW, s sampling, text dropout, first
                              frames, checkpoints, CSV log, time limit, quiet */
    int freeze_backbone;   /* stage 2: backbone frozen */
    int freeze_text;       /* stage 2: text encoder frozen */
    const char *plot_path; /* loss-curve PNG rewritten at each checkpoint; NULL = none */
} pp_prophy_train_config;

pp_prophy_train_config pp_prophy_train_defaults(void);

typedef struct pp_prophy_trainer pp_prophy_trainer;
/* Takes the model with its weights already set (stage 1: pp_prophy_init_weights;
 * stage 2: the stage-1 weights copied and the branch attached). Not owned. */
pp_prophy_trainer *pp_prophy_trainer_new(pp_prophy *m, const pp_prophy_train_config *c, pp_phys_source *src);
/* Loads `ckpt` into m (created from its config) and the trainer state; the
 * frozen set comes from the checkpoint. NULL + error (m left freed) on failure. */
pp_prophy_trainer *pp_prophy_trainer_resume(pp_prophy *m, const char *ckpt, const pp_prophy_train_config *c,
                                            pp_phys_source *src);
void pp_prophy_trainer_free(pp_prophy_trainer *t);
/* One optimiser step; L receives the terms (total NaN when skipped). -1 on a data error. */
int pp_prophy_trainer_step(pp_prophy_trainer *t, pp_prophy_losses *L);
int pp_prophy_trainer_run(pp_prophy_trainer *t);
int pp_prophy_trainer_save_checkpoint(pp_prophy_trainer *t, const char *path);
long pp_prophy_trainer_steps_done(const pp_prophy_trainer *t);
const float *pp_prophy_trainer_final_weights(const pp_prophy_trainer *t);

/* Draws a loss-curve PNG from a trainer CSV log (columns step, loss, diff, ...):
 * the total and the diffusion loss, smoothed, log-scaled y. */
int pp_plot_loss_csv(const char *csv_path, const char *png_path);
#endif
