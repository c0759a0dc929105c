/* train.h - the flow-matching trainer: batches from a data source, the model's
 * forward/backward, AdamW, logging, and atomic checkpoints that resume exactly.
 *
 * Exact resume: the checkpoint holds the weights, both AdamW moments, the EMA, the
 * step counters and the trainer's RNG words; the data source draws from that RNG
 * (or keeps its own cursor in the checkpoint), so a run killed and resumed
 * produces the same bytes as one that was never interrupted (same thread count). */
#ifndef PP_TRAIN_H
#define PP_TRAIN_H
#include "wan/flow.h"
#include "prophy/config.h"
#include "nn/optim.h"
#include "base/rng.h"

/* Fills B training videos [B,3,F,H,W] in [-1,1] and their text contexts [B,L,D]. */
typedef struct {
    void *self;
    int (*next)(void *self, pp_rng *r, int B, int F, int H, int W, float *video, float *ctx, int L, int D);
} pp_data_source;

typedef struct {
    int batch;
    long steps;            /* total optimiser steps to reach */
    uint64_t seed;
    pp_adamw_config opt;
    pp_s_dist s_dist;
    float s_shift;         /* for PP_S_UNIFORM */
    float p_drop_text;     /* probability of an all-zero context (for CFG) */
    float p_first_frames;  /* cond models: probability that a sample gets first frames */
    int max_cond_frames;   /* cond models: k drawn in [1, max] */
    long ckpt_every;       /* steps; 0 = only at the end */
    const char *ckpt_path; /* NULL: no checkpoints */
    const char *log_path;  /* CSV: step,loss,grad_norm,lr,samples_per_s; NULL: none */
    double time_limit;     /* seconds; stop (and checkpoint) when exceeded; 0 = none */
    int quiet;             /* no live progress line */
} pp_train_config;

pp_train_config pp_train_defaults(void);

typedef struct pp_trainer pp_trainer;
/* A fresh run: weights initialised from cfg->seed. Takes `model` (not owned). */
pp_trainer *pp_trainer_new(pp_model *model, const pp_train_config *cfg, pp_data_source data);
/* Resume from a checkpoint into `model` (created from the checkpoint's config).
 * On failure returns NULL and leaves `model` freed. */
pp_trainer *pp_trainer_resume(pp_model *model, const char *ckpt, const pp_train_config *cfg,
                              pp_data_source data);
void pp_trainer_free(pp_trainer *t);
/* One optimiser step; returns the loss (NaN if the step was skipped). */
float pp_trainer_step(pp_trainer *t);
/* Runs to cfg.steps (or the time limit), with progress, log and checkpoints. */
int pp_trainer_run(pp_trainer *t);
int pp_trainer_save_checkpoint(pp_trainer *t, const char *path);
long pp_trainer_steps_done(const pp_trainer *t);
/* The weights to ship: the EMA when enabled, else the raw weights. */
const float *pp_trainer_final_weights(const pp_trainer *t);

/* ---- shared by every trainer's checkpoints (the ProPhy trainer too) */
/* The "prophy.train" metadata JSON (malloc'd): step counters, the RNG words, the
 * batch/lr/ema settings, plus the fields of `extra` (consumed; may be NULL). */
char *pp_train_state_json(const pp_rng *r, long step, const pp_adamw *o, const pp_train_config *c, cJSON *extra);
/* Restores what pp_train_state_json wrote; -1 + error naming path and the field when
 * malformed: step, opt_step (and skipped, 0 when absent) integers in [0, 2^53) with
 * opt_step, skipped <= step; rng 4 words of exactly 16 hex digits, not all zero;
 * rng_spare "0:" or "1:" and 8 hex digits of a finite float. */
int pp_train_state_parse(const char *json, const char *path, pp_rng *r, long *step, pp_adamw *o);
/* optim.m, optim.v (and optim.ema) tensors; the EMA starts from params when absent. */
int pp_train_add_optim(pp_st_writer *w, const pp_adamw *o);
int pp_train_load_optim(const pp_st_file *f, pp_adamw *o, const float *params);
#endif
