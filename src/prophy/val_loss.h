/* val_loss.h - a model's flow-matching loss on held-out data at fixed noise levels.
 *
 * Training logs the loss at the noise levels its own distribution draws, so two
 * recipes that draw s differently (logit-normal, shifted uniform, a mix) log losses
 * that cannot be compared. This measures every model the same way: for each of the
 * first `count` samples x0 of a dataset (pixels or latents, what the model diffuses)
 * and each level s_k,
 *     x_t = (1 - s_k) x0 + s_k eps,   loss_k = mean over samples of |v(x_t) - (eps - x0)|^2
 * with the sample's prompt, no given frames, and eps drawn from (seed, sample index):
 * the same noise for every model and every level. Low levels are where the last
 * sampling steps clean the picture; high ones are where the prompt decides. */
#ifndef PP_PROPHY_VAL_LOSS_H
#define PP_PROPHY_VAL_LOSS_H
#include <stdint.h>
#include "prophy/data.h"
#include "prophy/model.h"

#define PP_VAL_MAX_LEVELS 32

typedef struct {
    float levels[PP_VAL_MAX_LEVELS]; /* noise levels s in (0, 1) */
    int n_levels;
    int count;                       /* the first `count` samples (at most the dataset's) */
    int batch;                       /* samples per forward */
    uint64_t seed;                   /* the noise */
} pp_val_loss_cfg;

/* Levels 0.05 0.1 0.2 0.3 0.5 0.7 0.9, 64 samples, batch 8, seed 0. */
pp_val_loss_cfg pp_val_loss_defaults(void);
/* loss [c->n_levels] as above; *used receives the samples measured. -1 + error for
 * data the model does not diffuse, a bad level or an unreadable sample. */
int pp_prophy_val_loss(const pp_prophy *m, const float *P, pp_phys_source *src, const pp_val_loss_cfg *c,
                       double *loss, int *used);
#endif
