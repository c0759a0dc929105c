/* heldout.h - the held-out benchmark of a ProPhy model (`prophy eval -m MODEL
 * --heldout N`, docs/EVAL.md "Held-out benchmark").
 *
 * For every scene and split: N examples with seeds from a stream training never
 * uses (pp_dataset_sample_seed(S ^ PP_HELDOUT_SALT, i * nscenes + scene)), skipping
 * those whose exact prompt is in the training dataset. Each example is simulated
 * at the model's training video size (a latent model's: the pixel video its
 * latents encode), then
 *   (a) text-to-video from the prompt -> unconditioned eval with the prompt's spec
 *       (pp_sim_spec_for_prompt: no states) -> pc_pass, sa_pass, joint = both;
 *   (b) video prediction from the first K simulated frames -> conditioned eval with
 *       the simulator's spec -> velocity_error (NaN when not applicable);
 *   (c) models with a REB: IoU of (b)'s routing category maps (normalised by their
 *       max over tokens, > 0.5) with the simulator's maps (map - bg > 0), mean over
 *       the example's labelled categories.
 * Aggregated per split x group (single: the 11 one-phenomenon scenes; composite:
 * bounce_smoke, collision_flame, melting_explosion) and per split x scene. */
#ifndef PP_HELDOUT_H
#define PP_HELDOUT_H
#include <stdint.h>
#include <stdio.h>
#include "prophy/model.h"
#include "wan/vae_file.h"

#define PP_HELDOUT_SALT 0x9e3779b97f4a7c15ULL
#define PP_HELDOUT_MAX_SCENES 32

typedef struct {
    int n;                   /* examples per scene and split, >= 1 */
    int splits;              /* bit (1 << PP_SPLIT_ID) | (1 << PP_SPLIT_OOD) */
    uint64_t seed;           /* S (0) */
    int cond_frames;         /* K for video prediction (3) */
    int steps;               /* sampler steps (20) */
    float cfg;               /* guidance scale (5) */
    const char *exclude_dir; /* training dataset whose prompts are skipped, or NULL */
    FILE *jsonl;             /* one JSON line per example, or NULL */
    int progress;            /* one updating progress line on stderr */
    const pp_vae_model *vae; /* a latent model's VAE */
} pp_heldout_cfg;

typedef struct {
    int n, pc, sa, joint;
    int nvel;
    double vel_sum;          /* over finite velocity errors */
    int niou;
    double iou_sum;          /* over finite per-example IoUs */
    double iou0_sum;         /* the all-tokens map's IoU of the same examples (chance level) */
    int niou_sim;
    double iou_sim_sum;      /* the router's IoU on the simulator's own videos */
} pp_heldout_tally;

typedef struct {
    int has_reb;
    int splits;
    int skipped;             /* drawn examples whose prompt is in the training data */
    pp_heldout_tally group[2][2];                      /* [split][0 single, 1 composite] */
    pp_heldout_tally scene[2][PP_HELDOUT_MAX_SCENES];  /* [split][scene index] */
} pp_heldout_result;

void pp_heldout_cfg_default(pp_heldout_cfg *c);
/* Runs the benchmark with model m (weights P). -1 + pp_seterr on error. */
int pp_heldout_run(const pp_prophy *m, const float *P, const pp_heldout_cfg *c, pp_heldout_result *r);
/* Markdown: the split x group table, then the split x scene table; each rate
 * with its 95 % Wilson score interval in brackets. */
void pp_heldout_table(const pp_heldout_result *r, FILE *f);
/* The 95 % Wilson score interval [lo, hi] of k successes in n > 0 trials. */
void pp_wilson95(int k, int n, double *lo, double *hi);
/* Is the scene a composite (group 1)? */
int pp_heldout_is_composite(const char *scene);
#endif
