/* branch_util.h - small helpers shared by the branch's layers (internal). */
#ifndef PP_BRANCH_UTIL_H
#define PP_BRANCH_UTIL_H
#include <math.h>
#include <stddef.h>
#include "base/common.h"
#include "base/rng.h"

/* PyTorch's nn.Linear default init: W [out,in] and b [out] ~ U(-1/sqrt(in), 1/sqrt(in)). */
static inline void pp_branch_init_linear(float *W, float *b, int out, int in, pp_rng *rng) {
    float bound = 1.0f / sqrtf((float)in);
    for (size_t i = 0; i < (size_t)out * in; i++) W[i] = (2.0f * pp_rng_uniform(rng) - 1.0f) * bound;
    if (b)
        for (int i = 0; i < out; i++) b[i] = (2.0f * pp_rng_uniform(rng) - 1.0f) * bound;
}

/* Grow an aligned float buffer to hold n floats (contents are not kept). */
static inline void pp_branch_reserve(float **buf, size_t *cap, size_t n) {
    if (n <= *cap && *buf) return;
    pp_free_aligned(*buf);
    *buf = pp_alloc_floats(n ? n : 1);
    *cap = n;
}

/* Arena carving: sizes rounded up to 16 floats keep every piece 64-byte aligned. */
static inline size_t pp_branch_r16(size_t n) { return (n + 15) & ~(size_t)15; }
static inline float *pp_branch_take(float **cur, size_t n) {
    float *p = *cur;
    *cur += pp_branch_r16(n);
    return p;
}

/* A tensor view of a flat buffer, or NULL when the buffer is NULL. */
static inline float *pp_branch_view(float *buf, size_t off) { return buf ? buf + off : NULL; }
#endif
