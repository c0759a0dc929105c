/* rng.h - deterministic, serialisable random numbers (xoshiro256** + Box-Muller).
 * The whole state is 4 x u64 plus a cached normal, so checkpoints store it exactly. */
#ifndef PP_RNG_H
#define PP_RNG_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
    int has_spare;   /* Box-Muller produces normals in pairs */
    float spare;
} pp_rng;

void pp_rng_seed(pp_rng *r, uint64_t seed);
uint64_t pp_rng_u64(pp_rng *r);
float pp_rng_uniform(pp_rng *r);            /* [0, 1) with 24 random bits */
double pp_rng_uniform_d(pp_rng *r);         /* [0, 1) with 53 random bits */
float pp_rng_normal(pp_rng *r);             /* N(0, 1) */
void pp_rng_fill_normal(pp_rng *r, float *x, size_t n, float std);
uint32_t pp_rng_below(pp_rng *r, uint32_t n); /* uniform integer in [0, n) */
#endif
