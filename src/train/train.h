/* train.h - what every trainer shares (the ProPhy model, the VAE): the settings,
 * the optimiser state, one guarded optimiser step, checkpoints that resume exactly,
 * and the run loop with its live progress line, CSV log and loss-curve PNG.
 *
 * A trainer embeds a pp_train_state and gives the loop two hooks:
 *   step(self, terms) - one batch: forward, losses (terms), backward, then
 *                       pp_train_apply() for the optimiser step;
 *   save(self, path)  - a checkpoint: the model's tensors and config, plus
 *                       pp_train_write_state() (AdamW moments, EMA, counters, RNG).
 *
 * Exact resume: the checkpoint holds the weights, both AdamW moments, the EMA,
 * the step counters and the trainer's RNG words, and every random draw of a
 * trainer comes from that RNG, so a run killed and resumed produces the same
 * bytes as one never interrupted (same machine, BLAS kernel and thread count). */
#ifndef PP_TRAIN_TRAIN_H
#define PP_TRAIN_TRAIN_H
#include <cjson/cJSON.h>
#include <stdint.h>
#include "base/rng.h"
#include "io/safetensors.h"
#include "nn/optim.h"
#include "nn/params.h"

typedef struct {
    int batch;
    long steps;            /* total optimiser steps to reach */
    uint64_t seed;
    pp_adamw_config opt;
    long ckpt_every;       /* steps; 0 = only at the end */
    const char *ckpt_path; /* NULL: no checkpoints */
    const char *log_path;  /* CSV: step, the terms, grad_norm, lr, samples_per_s; NULL: none */
    const char *plot_path; /* loss-curve PNG rewritten at each checkpoint (needs log_path); NULL: none */
    double time_limit;     /* seconds; stop (and checkpoint) when exceeded; 0 = none */
    int max_skips;         /* this many non-finite steps in a row stop the run with an error */
    int quiet;             /* no live progress line */
} pp_train_config;

/* batch 8, 1000 steps, seed 1, AdamW defaults with lr 1e-3 and warmup 50, stop after 5 skips */
pp_train_config pp_train_defaults(void);

typedef struct {
    pp_train_config cfg;
    pp_adamw opt;
    pp_rng rng;
    long step;          /* steps taken, skipped ones included */
    int skips_in_a_row; /* consecutive skipped steps */
    double last_norm;   /* gradient norm of the last step, before clipping */
} pp_train_state;

/* A fresh state: RNG seeded from cfg->seed, AdamW over n parameters (EMA from params). */
void pp_train_state_init(pp_train_state *s, const pp_train_config *cfg, size_t n, const float *params);
void pp_train_state_free(pp_train_state *s);

/* The optimiser step after a backward: skipped (weights untouched, a warning on
 * stderr) when the loss or the gradient is not finite. Returns 0 applied, 1 skipped. */
int pp_train_apply(pp_train_state *s, const pp_params *t, float *params, float *grads, double loss);

/* The weights to ship: the EMA when enabled, else params. */
const float *pp_train_final_weights(const pp_train_state *s, const float *params);

/* Checkpoint part of the state: tensors optim.m, optim.v (and optim.ema), metadata
 * "prophy.train" (counters, RNG words, settings, plus the fields of `extra`,
 * consumed, may be NULL). */
int pp_train_write_state(const pp_train_state *s, pp_st_writer *w, cJSON *extra);
/* Restores it from a checkpoint into a state made by pp_train_state_init (the
 * same parameter count). The moments and the EMA must be finite: a non-finite one
 * is an error naming the tensor. -1 + error naming the file otherwise. */
int pp_train_read_state(pp_train_state *s, const pp_st_file *f);
/* The counters and RNG words of a "prophy.train" JSON (pp_train_write_state's) into
 * s; -1 + error naming path and the field when malformed: step, opt_step (and
 * skipped, 0 when absent) integers in [0, 2^53) with opt_step, skipped <= step; rng
 * 4 words of exactly 16 hex digits, not all zero; rng_spare "0:" or "1:" and the 8
 * hex digits of a finite float. s is untouched on error. */
int pp_train_state_parse(pp_train_state *s, const char *json, const char *path);
/* The "prophy.train" metadata of a checkpoint, parsed (NULL + error when missing). */
cJSON *pp_train_state_meta(const pp_st_file *f);

/* ---- the loop */
#define PP_TRAIN_MAX_TERMS 8
typedef struct {
    int n;                                /* term 0 is the weighted total, logged as "loss" */
    const char *name[PP_TRAIN_MAX_TERMS]; /* CSV column names */
    double value[PP_TRAIN_MAX_TERMS];     /* NaN total: the step was skipped */
    unsigned shown;                       /* bit i: term i is on the progress line */
} pp_train_terms;

typedef struct {
    void *self;
    pp_train_state *state;
    pp_train_terms terms; /* the names, their count and which are shown; values unused */
    /* one step: fills terms->value (the NaN preset of a term means "not computed");
     * 0, or -1 + error (the run stops) */
    int (*step)(void *self, pp_train_terms *terms);
    int (*save)(void *self, const char *path);      /* a checkpoint; 0 or -1 + error */
} pp_train_hooks;

/* Runs to cfg.steps (or the time limit): progress, log (a resumed run appends;
 * a new log gets its header), checkpoints at the cadence, at the time limit and at
 * the end, the plot after each checkpoint. Errors: a hook's, a log write that
 * fails, or cfg.max_skips skipped steps in a row. */
int pp_train_run(const pp_train_hooks *h);
#endif
