/* optim.h - AdamW (decoupled weight decay, PyTorch's update) with global-norm
 * gradient clipping, linear warmup, optional EMA of the weights, and detection of
 * non-finite gradients (the step is skipped and reported, never applied). */
#ifndef PP_OPTIM_H
#define PP_OPTIM_H
#include <stddef.h>
#include "nn/params.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    float clip_norm; /* <= 0: no clipping */
    int warmup;      /* steps of linear warmup from lr/warmup to lr */
    long decay_steps; /* > 0: after the warmup, a cosine from lr down to lr/10 at this step, then lr/10 */
    float ema_decay; /* 0: no EMA */
    int ema_warmup;  /* 1: the decay of update t (t = 0, 1, ...) is min(ema_decay, (1 + t) / (10 + t)),
                        diffusers' EMAModel default, so that a short run's average forgets the
                        initial weights; 0: ema_decay from the first update (the average starts at
                        the initial weights, whose share after t updates is ema_decay^t) */
} pp_adamw_config;

typedef struct {
    pp_adamw_config cfg;
    size_t n;       /* floats, = table->total */
    float *m, *v;   /* moments, same layout as the parameters */
    float *ema;     /* EMA of the parameters, or NULL */
    long step;      /* optimiser steps taken (skipped ones not counted) */
    long skipped;   /* steps skipped for a non-finite gradient */
} pp_adamw;

pp_adamw_config pp_adamw_defaults(void);
/* 0, or -1 and one error line for a schedule that makes no sense (a decay that
 * ends before the warmup does, so it would never apply). */
int pp_adamw_config_check(const pp_adamw_config *c);
void pp_adamw_init(pp_adamw *o, const pp_adamw_config *cfg, size_t n, const float *params);
void pp_adamw_free(pp_adamw *o);
float pp_adamw_lr(const pp_adamw *o); /* learning rate of the next step (warmup and decay applied) */
/* Global L2 norm of the gradient, accumulated in double; NaN/inf if any entry is. */
double pp_grad_norm(const float *g, size_t n);
/* One step over the tensors that are not frozen (the gradient norm is theirs).
 * Clips, then updates params; weight decay only on tensors with decay=1.
 * Returns 0 if applied, 1 if skipped because the gradient was not finite.
 * *norm_out (may be NULL) receives the norm before clipping. */
int pp_adamw_step(pp_adamw *o, const pp_params *t, float *params, float *grads, double *norm_out);
#endif
