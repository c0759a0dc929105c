/* prophy_sample.h - text-to-video (and video prediction) with a ProPhy model, and
 * what its experts did while sampling (the routing maps).
 *
 *   prompt --tokenizer--> ids [L] --(model)--> Euler + shift + CFG sampling
 *   (pp_flow_sample over pp_prophy_velocity) --> video [3,F,H,W] in [-1,1]
 *
 * Routing (mode reb/full): every sampling step's conditional pass yields rho_r
 * [N,E_r]; the result keeps, averaged over the steps, the per-token category map
 * P_r = fine-align head(rho_r) [17,N] and the top refinement expert of each token
 * (argmax of the averaged rho_r). Mode seb/full also keeps rho_s [E_s] of the
 * prompt and its mapping by the coarse head to the 17 categories. */
#ifndef PP_PROPHY_SAMPLE_H
#define PP_PROPHY_SAMPLE_H
#include <stdint.h>
#include "base/categories.h"
#include "prophy/model.h"
#include "text/tokenizer.h"
#include "wan/vae_file.h"

typedef struct {
    int F, H, W;           /* video size in pixels; 0 = the model's training size */
    int steps;             /* Euler steps (20) */
    float cfg;             /* classifier-free guidance scale (5; <= 1 = off) */
    float shift;           /* Wan's sigma shift (3) */
    uint64_t seed;         /* noise seed */
    int cond_frames;       /* K >= 1: frames 0..K-1 of `first` are given (video prediction) */
    const float *first;    /* [3,F,H,W] in [-1,1], read when cond_frames > 0 */
    int routes;            /* 1: keep the routing maps (needs a branch with a REB or SEB) */
    const pp_vae_model *vae; /* a latent model's VAE (its checksum must be the model's) */
    void (*progress)(void *user, int step, int steps); /* may be NULL */
    void *user;
} pp_gen_config;

/* Defaults: model size, 20 steps, cfg 5, shift 3, seed 42, no first frames. */
pp_gen_config pp_gen_defaults(void);
/* The guidance scale a model samples with when the user names none: 3 for a latent
 * model, 5 for a pixel one (the better of the two on each's held-out benchmark:
 * docs/LATENT.md, docs/RESULTS.md). */
float pp_gen_default_cfg(const pp_prophy *m);

typedef struct {
    int F, H, W;
    float *video;          /* [3,F,H,W] in [-1,1]; given frames copied in unchanged */
    pp_tok_report rep;     /* what the tokenizer saw (unknown words, truncation) */
    /* routing (cfg.routes); NULL / 0 when the model has no such part */
    int gf, gh, gw, N;     /* token grid, N = gf*gh*gw */
    int latent;            /* the model diffused latents: token frame f covers latent frames
                              f*pt.., latent frame j pixel frame 0 (j = 0) or 4j-3..4j */
    int pt;                /* the patch's frames */
    int E_s, E_r;
    float *cat_maps;       /* [17,N] fine-align head's category map, mean over steps */
    int *top_expert;       /* [N] argmax of the step-averaged rho_r */
    float *rho_r;          /* [N,E_r] step-averaged */
    float *rho_s;          /* [E_s] semantic router weights of the prompt */
    float *coarse;         /* [17] coarse head applied to rho_s */
    double t_encode, t_sample, t_decode; /* seconds: tokenize + set up (+ encode given frames),
                                            sampling, decoding latents */
} pp_gen_result;

/* The pixel size of the video c asks for (0 fields: the model's training video). */
void pp_gen_video_size(const pp_prophy *m, const pp_gen_config *c, int *F, int *H, int *W);

/* A latent model's VAE from path (which must be the model's: its checksum);
 * nothing for a pixel model (*loaded = 0). */
int pp_gen_load_vae(const pp_prophy *m, const char *path, pp_vae_model *v, int *loaded);

/* The token frame that pixel frame f of a result falls in; the token row and
 * column of pixel (y, x) are y * gh / H and x * gw / W. */
int pp_gen_token_frame(const pp_gen_result *r, int f);

/* Validates the sizes (divisible by the patch), cond_frames < F, the prompt
 * (an empty prompt is an error; unknown words and truncation are reported in
 * r->rep, not errors), then samples. -1 + pp_seterr on error (r left empty). */
int pp_prophy_generate(const pp_prophy *m, const float *P, const char *prompt, const pp_gen_config *c,
                       pp_gen_result *r);
void pp_gen_result_free(pp_gen_result *r);

/* The checks pp_prophy_generate does first (sizes, steps, first frames, prompt),
 * without sampling, so that a caller can report errors before printing anything.
 * ids [m->cfg.text.ctx] (may be NULL) and rep (may be NULL) receive the encoding. */
int pp_gen_check(const pp_prophy *m, const char *prompt, const pp_gen_config *c, int *ids,
                 pp_tok_report *rep);
#endif
