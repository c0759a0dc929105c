/* flow.h - rectified flow matching (Wan2.1's objective) and its Euler sampler.
 *
 * Training: x_t = (1 - s) x0 + s eps, the model sees t = 1000 s and predicts the
 * velocity eps - x0; loss = MSE. First-frame conditioning (Wan's image-to-video
 * recipe) adds in_dim - out_dim extra channels: the clean first K frames (zeros
 * elsewhere) and a mask channel that is 1 on those frames.
 * Sampling: sigmas = linspace(1, 0, steps+1) shifted by
 * sigma' = shift*sigma / (1 + (shift-1)*sigma); x <- x + (sigma_{i+1} - sigma_i) v,
 * with classifier-free guidance v = v_u + cfg (v_c - v_u), the unconditional pass
 * using an all-zero text context (for the full ProPhy model, whose context is its
 * text encoder's output, the runner reads the zero row as the empty prompt). */
#ifndef PP_FLOW_H
#define PP_FLOW_H
#include <stddef.h>
#include "base/rng.h"

typedef enum { PP_S_LOGIT_NORMAL = 0, PP_S_UNIFORM = 1 } pp_s_dist;

/* Draws s in (0,1): logit-normal (mean 0, std 1), or uniform then shifted by `shift`
 * (shift = 1: plain uniform). */
float pp_flow_draw_s(pp_rng *r, pp_s_dist dist, float shift);

/* Builds the model input [B, C + Cc, vox] from x0, eps [B, C, vox], s [B] and the
 * conditioning channels cond [B, Cc, vox] (may be NULL when Cc = 0), and the
 * target eps - x0 [B, C, vox]. vox = F*H*W. */
void pp_flow_make_batch(float *xin, float *target, const float *x0, const float *eps, const float *s,
                        const float *cond, int B, int C, int Cc, size_t vox);

/* Conditioning channels for first-frame prediction: cond [B, C+1, F, H*W] holds
 * video's first k frames (zeros after) and a mask channel (1 on frames < k).
 * video [B, C, F, H*W]. k = 0 gives all zeros (text-to-video). */
void pp_flow_make_cond(float *cond, const float *video, int B, int C, int F, size_t hw, int k);

/* sig[0..steps]: the shifted schedule from 1 to 0. */
void pp_flow_sigmas(float *sig, int steps, float shift);

/* A model's velocity prediction: v [B, out, vox] from xin [B, in, vox], t [B], ctx [B, L, Dt]. */
typedef void (*pp_velocity_fn)(void *model, const float *xin, const float *t, const float *ctx, int B,
                               float *v);

typedef struct {
    int steps;
    float shift, cfg; /* cfg <= 1: a single conditional pass, no guidance */
    void (*progress)(void *user, int step, int steps);
    void *user;
} pp_sample_config;

/* Euler sampling in place: x [B, C, vox] holds the starting noise and receives the
 * sample. cond [B, Cc, vox] or NULL; ctx [B, L*Dt] the text contexts. The model is
 * called once per step on a batch of 2B (conditional + unconditional) when cfg > 1. */
void pp_flow_sample(pp_velocity_fn fn, void *model, const pp_sample_config *sc, float *x,
                    const float *cond, const float *ctx, int B, int C, int Cc, size_t vox,
                    size_t ctx_floats);
#endif
