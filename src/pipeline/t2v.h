/* t2v.h - Wan2.1 text-to-video end to end, on a user's files (docs/WAN.md):
 *
 *   prompt, negative --clean whitespace, SentencePiece (EOS, pad to 512)--> ids
 *          --umT5 on the true length, zero rows to 512--> ctx, uctx [512, 4096]
 *   noise [z, 1+(F-1)/4, H/8, W/8] (seeded, or a file)
 *          --steps x (DiT(x, t, ctx), DiT(x, t, uctx); v = vu + g (vc - vu);
 *                     UniPC or Euler step, wan/scheduler.h)--> latent
 *          --streaming VAE decode--> video [3, F, H, W] in [-1, 1]
 *
 * The parts are loaded one after another and released when done (the encoder's
 * mapped 11 GB before the DiT, the DiT before the VAE), so the peak is the
 * largest part, not their sum. With keep_half the encoder's and the DiT's
 * half-precision weights are read in place from the mapped files, and each
 * pass gives a layer's pages back once the layer has run (unless keep_resident),
 * so the process holds about one layer of weights, not the file. */
#ifndef PP_PIPELINE_T2V_H
#define PP_PIPELINE_T2V_H
#include <stdint.h>
#include "text/spm.h"
#include "text/umt5.h"
#include "wan/scheduler.h"
#include "wan/vae_file.h"
#include "wan/wan_files.h"

/* Wan2.1's default negative prompt (wan/configs/shared_config.py,
 * sample_neg_prompt), used when none is given; diffusers' WanPipeline uses "". */
extern const char *const pp_wan_default_negative;

typedef struct {
    const char *prompt;
    const char *negative;      /* NULL: pp_wan_default_negative */
    int width, height, frames; /* 832, 480, 81 */
    int steps;                 /* 50 */
    float cfg, shift;          /* 5, 5 (cfg <= 1: the conditional pass alone) */
    pp_sched_kind sampler;     /* PP_SCHED_UNIPC */
    pp_sigmas_kind sigmas;     /* PP_SIGMAS_DEFAULT (UniPC: diffusers' schedule) */
    int order;                 /* UniPC's order (2) */
    uint64_t seed;             /* noise seed (xoshiro256**, N(0,1) in the latent's layout) */
    const char *noise_path;    /* or the noise from a safetensors file: its tensor "noise" ("latent",
                                  "latents", or its one float tensor), [z,t,h,w] or [1,z,t,h,w] */
    int keep_half;             /* 1: half-precision weights stay in the mapped files */
    int keep_resident;         /* 1: weights read in place stay resident between passes (the whole file in
                                  the RSS); 0: each layer's pages go back to the page cache after it runs */
    int compute_bf16;          /* 1: the encoder's and the DiT's BF16 linear layers and attention in BF16
                                  arithmetic (nn/amx.h: AMX tiles where the CPU has them); the VAE in F32 */
    void (*progress)(void *user, int step, int steps);
    void (*note)(void *user, const char *line); /* one line per stage, and warnings */
    void *user;
} pp_t2v_opts;

pp_t2v_opts pp_t2v_defaults(void);

typedef struct {
    double t_text_load, t_encode, t_dit_load, t_sample, t_vae_load, t_decode;
    int len, neg_len;             /* tokens (EOS included) */
    int truncated, neg_truncated; /* 1: longer than text_len, cut */
    int z, t, h, w;               /* the latent's shape */
    double peak_rss_mb;
} pp_t2v_report;

/* Clean (Wan's whitespace_clean), tokenize (EOS, pad) and encode one text:
 * ctx [text_len, dim], rows past *len zero. *total = the untruncated token count
 * (> text_len when cut). */
int pp_t2v_encode(const pp_spm *tok, const pp_umt5 *t5, const char *text, int text_len, float *ctx, int *len,
                  int *total);

/* A VAE from a file: with config_path (diffusers' vae/config.json: base_dim,
 * z_dim, dim_mult, ...) its config, else the file's metadata or Wan2.1's. */
int pp_t2v_vae_open(pp_vae_model *v, const char *path, const char *config_path);

/* The sampling loop alone: x [z,t,h,w] holds the noise and receives the latent.
 * ctx, uctx [text_len, text_dim] (uctx unused when cfg <= 1). */
int pp_t2v_sample(const pp_wan_dit *dit, const float *ctx, const float *uctx, float *x, int t, int h, int w,
                  const pp_t2v_opts *o);

/* What can be known before the long work, without reading a weight: the parts
 * are found, the sizes valid; every tensor of the DiT has its name, shape and
 * dtype; the encoder's width is the DiT's text width, the tokenizer fits its
 * vocabulary; the VAE's tensors fit its config, its latent the DiT's channels;
 * the noise file has the latent's shape. 0, or -1 and one error line naming the
 * file and the tensor. *dit (may be NULL) receives the DiT's config. */
int pp_t2v_check(const pp_wan_paths *p, const pp_t2v_opts *o, pp_dit_config *dit);

/* Everything (pp_t2v_check first): *video [3, frames, height, width] in [-1, 1] (caller frees with
 * pp_free_aligned), *latent (may be NULL) the final latent [z,t,h,w]. */
int pp_t2v_run(const pp_wan_paths *paths, const pp_t2v_opts *o, float **video, float **latent, pp_t2v_report *r);
#endif
