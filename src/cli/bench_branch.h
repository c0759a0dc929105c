/* bench_branch.h - `prophy bench --branch MODE`: the whole ProPhy model (text
 * encoder + backbone + physical branch, all four losses) timed like the backbone. */
#ifndef PP_CLI_BENCH_BRANCH_H
#define PP_CLI_BENCH_BRANCH_H
#include "dit.h"

typedef struct {
    pp_dit_config c;
    int frames, size, batch, iters, warmup;
    const char *mode; /* none, seb, reb, full */
} pp_bench_branch_args;

/* Prints one JSON line; returns the exit status. */
int bench_branch(const pp_bench_branch_args *a, double (*median)(double *, int));
#endif
