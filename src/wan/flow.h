/* flow.h - rectified flow matching (Wan2.1's objective) and its Euler sampler.
 *
 * Training: x_t = (1 - s) x0 + s eps, the model sees t = 1000 s and predicts the
 * velocity eps - x0; loss = MSE. First-frame conditioning (Wan's image-to-video
 * recipe) adds in_dim - out_dim extra channels: the clean first K frames (zeros
 * elsewhere) and a mask channel that is 1 on those frames.
 * Sampling: sigmas = linspace(1, 0, steps+1) shifted by
 * sigma' = shift*sigma / (1 + (shift-1)*sigma); x <- x + (sigma_{i+1} - sigma_i) v,
 * with classifier-free guidance v = v_u + cfg (v_c - v_u). The caller gives the
 * conditional and the unconditional context of each sample explicitly (Wan: the
 * prompt's and the negative prompt's embeddings; ProPhy: the prompt's and the empty
 * prompt's token ids); the sampler only passes them through to the model. */
#ifndef PP_FLOW_H
#define PP_FLOW_H
#include <stddef.h>
#include "base/rng.h"

typedef enum { PP_S_LOGIT_NORMAL = 0, PP_S_UNIFORM = 1, PP_S_MIX = 2 } pp_s_dist;

/* Draws s in (0,1): logit-normal (mean 0, std 1, Wan's; most draws near 0.5), or
 * uniform then shifted by `shift` (shift = 1: plain uniform; > 1 favours high noise
 * like the sampler's schedule), or a mix: each draw one of the two, half and half
 * (both the low noise levels, where speckle is removed, and the high ones, where
 * the prompt decides, get trained). */
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

/* A model's velocity prediction: v [B, out, vox] from xin [B, in, vox] and t [B],
 * row b conditioned on ctx[b], a context of the model's own type (a float [L, D]
 * embedding for the DiT, int [L] token ids for ProPhy). 0, or -1 + error. */
typedef int (*pp_velocity_fn)(void *model, const float *xin, const float *t, const void *const *ctx, int B,
                              float *v);

typedef struct {
    int steps;
    float shift, cfg; /* cfg <= 1: a single conditional pass, no guidance */
    void (*progress)(void *user, int step, int steps);
    void *user;
} pp_sample_config;

/* Euler sampling in place: x [B, C, vox] holds the starting noise and receives the
 * sample. cond [B, Cc, vox] (first-frame channels) or NULL; ctx[b] and uncond[b]
 * the conditional and unconditional contexts of sample b (uncond may be NULL when
 * cfg <= 1). With guidance the model is called once per step on a batch of 2B:
 * rows 0..B-1 conditional, B..2B-1 unconditional. 0, or the model's -1 + error. */
int pp_flow_sample(pp_velocity_fn fn, void *model, const pp_sample_config *sc, float *x, const float *cond,
                   const void *const *ctx, const void *const *uncond, int B, int C, int Cc, size_t vox);
#endif
