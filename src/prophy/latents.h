/* latents.h - the physics world in a VAE's latent space: the dataset the latent
 * ProPhy model trains on, and the latent form of first-frame conditioning.
 *
 * A latent dataset directory holds latents-NNNNN.safetensors shards and
 * latents.json (written last, atomically). Sample i is scene scenes[i % n] with
 * seed pp_dataset_sample_seed(seed, i), like a pixel dataset (sim/dataset.h), so
 * `prophy sim` regenerates its video. Per sample a shard holds:
 *   z    [C, t, h, w]  F16  the video's latent (the VAE's normalised mu);
 *   zc3  [C, 2, h, w]  F16  the latent of its first 3 frames alone (frames 3 and 4
 *                           zeroed, 5 frames encoded): first-frame conditioning
 *                           with PhyWorld's 3 given frames;
 *   ql   [t, h, w, 17] F16  the token targets at latent resolution: phenomenon map
 *                           minus background map, averaged over each latent
 *                           pixel's footprint (pixel frame 0 for latent frame 0,
 *                           pixel frames 4j-3 .. 4j for latent frame j >= 1; an
 *                           8x8 pixel square at the VAE's 8x);
 *   cats [17]          F32  the category labels;
 * and in the metadata "samples" the prompts, scenes and seeds. latents.json names
 * the VAE (its config and a checksum of its weights): a model trained on these
 * latents decodes with that VAE only.
 *
 * Latent first-frame conditioning (Wan2.1's image-to-video layout): for K given
 * pixel frames the conditioning channels are [C latent channels, 4 mask channels]
 * per latent frame: the latent of the given frames alone (zero-padded to the
 * next 1+4k frames and encoded) in the latent frames that hold a given frame,
 * zeros after; and mask channel i of latent frame j = 1 when its pixel frame
 * (0 for j = 0, 4j-3+i for j >= 1) is given. K = 1 is the first frame (its latent
 * is z's first frame, the VAE being causal); K = 3 uses zc3. */
#ifndef PP_PROPHY_LATENTS_H
#define PP_PROPHY_LATENTS_H
#include <stdint.h>
#include "base/categories.h"
#include "sim/dataset.h"
#include "wan/vae_file.h"

#define PP_LATENT_MASK 4 /* mask channels per latent frame (pixel frames per latent frame) */

/* Writes cfg->count samples (cfg's video size, scenes, split, seed) encoded with v. */
int pp_latents_write(const char *dir, const pp_dataset_cfg *cfg, const pp_vae_model *v, double *seconds);

typedef struct pp_latents pp_latents;
pp_latents *pp_latents_open(const char *dir); /* NULL + pp_seterr */
void pp_latents_close(pp_latents *L);
int64_t pp_latents_count(const pp_latents *L);
/* The latent grid [C, t, h, w] and the pixel video it encodes [F, H, W]. */
void pp_latents_size(const pp_latents *L, int *C, int *t, int *h, int *w, int *F, int *H, int *W);
/* The checksum of the VAE that made the latents (pp_vae_checksum). */
uint64_t pp_latents_vae_checksum(const pp_latents *L);

typedef struct {
    int scene;
    uint64_t seed;
    const char *prompt;       /* owned by the dataset */
    float cats[PP_NCAT];
    float *z, *zc3, *ql;      /* [C,t,h,w], [C,2,h,w], [t,h,w,17]: owned by the sample */
} pp_latent_sample;

/* The prompt of sample i (owned by the dataset; NULL when i is out of range). */
const char *pp_latents_prompt(const pp_latents *L, int64_t i);
/* Loads sample i into s (buffers allocated on first use; thread-safe for distinct s). */
int pp_latents_get(const pp_latents *L, int64_t i, pp_latent_sample *s);
void pp_latent_sample_free(pp_latent_sample *s);

/* ---- conditioning */

/* The pixel frame of mask channel i in latent frame j. */
static inline int pp_latent_pixel_frame(int j, int i) { return j == 0 ? 0 : 4 * j - 3 + i; }
/* cond [C + 4, t, h, w] for K given pixel frames (0 = none) from the given frames'
 * latent zk [C, tk, h, w] (its first tk latent frames; may be NULL when K = 0). */
void pp_latent_make_cond(float *cond, const float *zk, int tk, int K, int C, int t, int h, int w);
/* The number of latent frames that hold one of K given pixel frames: 1 + ceil((K-1)/4). */
static inline int pp_latent_given_frames(int K) { return K <= 0 ? 0 : 1 + (K - 1 + 3) / 4; }
/* The latent of K given frames alone: video [3, F, H, W] -> zk [C, given, h, w]
 * (the first K frames, zero-padded to 1+4k frames, encoded). */
int pp_latent_encode_given(const pp_vae_model *v, const float *video, int F, int H, int W, int K, float *zk);

/* Token targets Q [N, 17] of one sample from ql [t,h,w,17]: the mean over each
 * token's patch (pt, ph, pw) of the latent grid, tokens in (f,h,w) order. */
void pp_latent_token_targets(float *Q, const float *ql, int t, int h, int w, int pt, int ph, int pw);
#endif
