/* flow.c - see flow.h */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "wan/flow.h"

float pp_flow_draw_s(pp_rng *r, pp_s_dist dist, float shift) {
    float s;
    if (dist == PP_S_MIX) dist = pp_rng_uniform(r) < 0.5f ? PP_S_LOGIT_NORMAL : PP_S_UNIFORM;
    if (dist == PP_S_LOGIT_NORMAL) {
        s = 1.0f / (1.0f + expf(-pp_rng_normal(r)));
    } else {
        float u = pp_rng_uniform(r);
        s = shift * u / (1.0f + (shift - 1.0f) * u);
    }
    /* keep away from the exact ends, where the target is degenerate */
    if (s < 1e-4f) s = 1e-4f;
    if (s > 1.0f - 1e-4f) s = 1.0f - 1e-4f;
    return s;
}

void pp_flow_make_batch(float *xin, float *target, const float *x0, const float *eps, const float *s,
                        const float *cond, int B, int C, int Cc, size_t vox) {
    size_t n = (size_t)C * vox, nc = (size_t)Cc * vox;
    for (int b = 0; b < B; b++) {
        const float *x = x0 + b * n, *e = eps + b * n;
        float *in = xin + b * (n + nc), *tg = target + b * n, sb = s[b];
        for (size_t i = 0; i < n; i++) {
            in[i] = (1.0f - sb) * x[i] + sb * e[i];
            tg[i] = e[i] - x[i];
        }
        if (Cc) memcpy(in + n, cond + b * nc, nc * sizeof(float));
    }
}

void pp_flow_make_cond(float *cond, const float *video, int B, int C, int F, size_t hw, int k) {
    size_t fr = (size_t)F * hw;
    memset(cond, 0, (size_t)B * (C + 1) * fr * sizeof(float));
    if (k <= 0) return;
    if (k > F) k = F;
    for (int b = 0; b < B; b++) {
        float *cb = cond + (size_t)b * (C + 1) * fr;
        for (int c = 0; c < C; c++)
            memcpy(cb + c * fr, video + ((size_t)b * C + c) * fr, (size_t)k * hw * sizeof(float));
        for (size_t i = 0; i < (size_t)k * hw; i++) cb[C * fr + i] = 1.0f;
    }
}

void pp_flow_sigmas(float *sig, int steps, float shift) {
    for (int i = 0; i <= steps; i++) {
        float s = 1.0f - (float)i / (float)steps;
        sig[i] = shift * s / (1.0f + (shift - 1.0f) * s);
    }
}

int pp_flow_sample(pp_velocity_fn fn, void *model, const pp_sample_config *sc, float *x, const float *cond,
                   const void *const *ctx, const void *const *uncond, int B, int C, int Cc, size_t vox) {
    int guided = sc->cfg > 1.0f, B2 = guided ? 2 * B : B;
    if (guided && !uncond) PP_FAIL("guidance (cfg %.2f) needs the unconditional contexts", sc->cfg);
    size_t n = (size_t)C * vox, nc = (size_t)Cc * vox;
    float *sig = pp_malloc((size_t)(sc->steps + 1) * sizeof(float));
    float *xin = pp_alloc_floats((size_t)B2 * (n + nc));
    float *v = pp_alloc_floats((size_t)B2 * n);
    float *t = pp_malloc((size_t)B2 * sizeof(float));
    const void **rows = pp_malloc((size_t)B2 * sizeof *rows); /* [cond contexts; uncond contexts] */
    for (int b = 0; b < B2; b++) rows[b] = b < B ? ctx[b] : uncond[b - B];
    pp_flow_sigmas(sig, sc->steps, sc->shift);
    int rc = 0;
    for (int i = 0; i < sc->steps && !rc; i++) {
        for (int b = 0; b < B2; b++) {
            float *in = xin + (size_t)b * (n + nc);
            memcpy(in, x + (size_t)(b % B) * n, n * sizeof(float));
            if (Cc) memcpy(in + n, cond + (size_t)(b % B) * nc, nc * sizeof(float));
            t[b] = 1000.0f * sig[i];
        }
        if ((rc = fn(model, xin, t, rows, B2, v))) break;
        float dt = sig[i + 1] - sig[i], g = sc->cfg;
        for (int b = 0; b < B; b++) {
            float *xb = x + (size_t)b * n;
            const float *vc = v + (size_t)b * n, *vu = v + (size_t)(b + B) * n;
            for (size_t j = 0; j < n; j++) xb[j] += dt * (guided ? vu[j] + g * (vc[j] - vu[j]) : vc[j]);
        }
        if (sc->progress) sc->progress(sc->user, i + 1, sc->steps);
    }
    free(sig), free(t), free(rows);
    pp_free_aligned(xin), pp_free_aligned(v);
    return rc;
}
