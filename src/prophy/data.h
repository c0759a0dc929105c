/* prophy_data.h - training examples for ProPhy from the physics world: a video,
 * its prompt, its 17 category labels and its phenomenon / background maps, drawn
 * from a dataset directory (src/sim/dataset.h) or straight from the simulator.
 *
 * The maps the token targets Q_r come from (docs/BRANCH.md, "Token targets"):
 *   - the simulator's exact maps (default);
 *   - external maps (--maps DIR), e.g. a VLM's attention maps made offline: file
 *     DIR/<index>.maps for dataset sample <index> (8 digits, e.g. 00000042.maps), in
 *     the evaluator's map format "prophy-maps C F H W\n" + C*F*H*W little-endian
 *     float32 with C = 18: channels 0..16 the phenomenon maps in src/physics.h's
 *     category order, channel 17 the background map. Any F,H,W: resampled to the
 *     video grid (nearest frame, bilinear in space). A missing or malformed file is
 *     an error naming it (never silently the simulator's maps);
 *   - either one degraded by --label-noise (blur, noise, shift) to study what
 *     imperfect, VLM-like maps cost.
 * Every draw is a pure function of the caller's RNG, so training resumes exactly. */
#ifndef PP_PROPHY_DATA_H
#define PP_PROPHY_DATA_H
#include <stddef.h>
#include <stdint.h>
#include "base/categories.h"
#include "base/rng.h"

/* Degradation of the maps (all 0 = none). */
typedef struct {
    float blur;   /* box-blur radius in pixels (spatial, per frame), rounded */
    float noise;  /* std of additive Gaussian noise, then clamped to [0,1] */
    float shift;  /* max spatial shift in pixels: each video's maps move by a random
                     integer offset in [-shift, shift]^2 (edges clamped) */
} pp_label_noise;

/* Parses "blur=R,noise=S,shift=P" (any subset, any order) or "0"/"none" (no noise).
 * -1 + one error line naming the bad part. */
int pp_label_noise_parse(const char *s, pp_label_noise *n);
/* Degrades maps [17,F,H,W] and recomputes bg [F,H,W] = 1 - max_c maps. */
void pp_label_noise_apply(const pp_label_noise *n, pp_rng *r, float *maps, float *bg, int F, int H, int W);

/* The same on a latent dataset's token targets ql [t,h,w,17] (phenomenon minus
 * background, averaged over each latent pixel's s x s footprint, in [-1,1]): the
 * shift and the blur radius, in video pixels, are rounded to whole latent pixels,
 * the noise is added to every value, then clamped to [-1,1]. */
void pp_label_noise_apply_latent(const pp_label_noise *n, pp_rng *r, float *ql, int t, int h, int w, int s);

/* Reads one external-maps file and resamples it to [17,F,H,W] + [F,H,W]. */
int pp_external_maps_load(const char *path, int F, int H, int W, float *maps, float *bg);

typedef struct {
    const char *data_dir;  /* dataset directory, or NULL: the simulator, ID split */
    const char *maps_dir;  /* external maps (needs data_dir), or NULL */
    pp_label_noise noise;
    uint64_t seed;         /* simulator stream: sample i = scene i % nscenes, seed
                              pp_dataset_sample_seed(seed, i) (like a dataset) */
    int frames, height, width; /* the simulator's video size (a dataset has its own) */
    int video_only;        /* 1: examples carry the video alone (maps and bg are zeros):
                              what a VAE trains on, without the maps' cost */
} pp_phys_source_cfg;

/* One example; buffers owned by the source, valid until the next draw. */
typedef struct {
    int64_t index;         /* sample index in the dataset / stream */
    int scene;             /* scene index (pp_sim_scene_at) */
    const char *prompt;
    float cats[PP_NCAT];   /* 0/1 labels */
    const float *video;    /* [3,F,H,W] in [-1,1] (pixel sources) */
    const float *maps;     /* [17,F,H,W] in [0,1] (after noise) */
    const float *bg;       /* [F,H,W] */
    const float *z, *zc3, *ql; /* latent sources (prophy/latents.h): [C,t,h,w], [C,2,h,w], [t,h,w,17] */
} pp_phys_example;

typedef struct pp_phys_source pp_phys_source;
/* A data_dir holding latents.json is a latent dataset: its examples carry latents
 * (z, zc3, ql) instead of pixels; external maps need pixels, label noise degrades ql. */
pp_phys_source *pp_phys_source_open(const pp_phys_source_cfg *c); /* NULL + pp_seterr */
/* 1 for a latent source, with its latent grid [C,t,h,w] and the VAE's checksum. */
int pp_phys_source_latent(const pp_phys_source *s, int *C, int *t, int *h, int *w, uint64_t *vae_checksum);
void pp_phys_source_close(pp_phys_source *s);
/* Video size of every example (the pixel video a latent source encodes). */
void pp_phys_source_size(const pp_phys_source *s, int *F, int *H, int *W);
/* Dataset size (INT64_MAX for the simulator stream). */
int64_t pp_phys_source_count(const pp_phys_source *s);
/* Draws example idx = uniform in [0, count) from r (the simulator stream draws
 * from [0, 2^40)), loads it, applies the label noise from r. -1 + error. */
int pp_phys_source_draw(pp_phys_source *s, pp_rng *r, pp_phys_example *ex);
/* Loads a given index (no noise applied, r unused). */
int pp_phys_source_get(pp_phys_source *s, int64_t idx, pp_phys_example *ex);
#endif
