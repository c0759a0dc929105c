/* rng.c - xoshiro256** seeded by splitmix64; normals by Box-Muller. */
#include <stddef.h>
#include <math.h>
#include "base/rng.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void pp_rng_seed(pp_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0.0f;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t pp_rng_u64(pp_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float pp_rng_uniform(pp_rng *r) { return (float)(pp_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

double pp_rng_uniform_d(pp_rng *r) { return (double)(pp_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

float pp_rng_normal(pp_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = pp_rng_uniform_d(r), u2 = pp_rng_uniform_d(r);
    if (u1 < 1e-300) u1 = 1e-300;
    double mag = sqrt(-2.0 * log(u1));
    r->spare = (float)(mag * sin(2.0 * M_PI * u2));
    r->has_spare = 1;
    return (float)(mag * cos(2.0 * M_PI * u2));
}

void pp_rng_fill_normal(pp_rng *r, float *x, size_t n, float std) {
    for (size_t i = 0; i < n; i++) x[i] = std * pp_rng_normal(r);
}

uint32_t pp_rng_below(pp_rng *r, uint32_t n) { return (uint32_t)(((pp_rng_u64(r) >> 32) * (uint64_t)n) >> 32); }
