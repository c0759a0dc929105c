/* speed.h - the speed rigs behind `prophy bench`: one training step and one
 * sampling forward of the backbone alone or of the whole ProPhy model, on random
 * data of a given shape, timed as medians. The peers are bench/bench_torch.py
 * (the same sizes; for the branch: text encoder 2 layers / 2 heads, M = 2,
 * E_s = E_r = 8, top-2). */
#ifndef PP_BENCHMARK_SPEED_H
#define PP_BENCHMARK_SPEED_H
#include <stddef.h>
#include "wan/dit.h"

typedef struct {
    pp_dit_config c;
    int frames, size, batch, iters, warmup;
    const char *branch; /* NULL: the backbone alone; none|seb|reb|full: the whole ProPhy model */
    int stage2;         /* branch rigs: backbone and text encoder frozen, as stage 2 trains */
} pp_speed_args;

typedef struct {
    double train_s, forward_s;  /* medians of one training step (forward, backward, AdamW) and one forward */
    double flops_forward;       /* forward FLOPs per sample (the formula the peers share) */
    size_t params;
    int M;                      /* Physical Blocks (branch rigs) */
    const char *branch;         /* "none", ..., or NULL for the backbone rig */
} pp_speed_result;

/* Runs the rig a->branch names; -1 + pp_seterr on a bad shape or mode. */
int pp_speed_run(const pp_speed_args *a, pp_speed_result *r);
double pp_speed_median(double *v, int n); /* sorts v */
#endif
