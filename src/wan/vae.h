/* vae.h - Wan2.1's causal video VAE (Wan's wan/modules/vae.py; diffusers'
 * AutoencoderKLWan): parameters under Wan's original keys, chunked streaming
 * encode and decode with the causal feature cache, and a training step
 * (forward and backward of encoder and decoder). docs/VAE.md has the details.
 *
 * Data flow (L = nlevels, D = dim, dims = D * dim_mult):
 *   video [3,T,H,W] in [-1,1] --encoder.conv1--> downsamples (num_res_blocks
 *   ResidualBlocks per level, then a Resample down: 2D, or 3D with time_conv where
 *   temporal_down[i]) --middle (res, attention, res)--> head (RMS_norm, SiLU,
 *   conv -> 2 z_dim) --conv1 (1x1x1)--> mu | logvar  [z_dim, t, H/2^(L-1), W/2^(L-1)]
 *   z = (mu - mean) / std is the normalised latent the diffusion model sees.
 *   Decode: z*std + mean --conv2 (1x1x1)--> decoder.conv1 --> middle -->
 *   upsamples (num_res_blocks+1 ResidualBlocks per level, then a Resample up that
 *   halves the channels) --> head --> [3,T,H,W], clamped to [-1, 1].
 *
 * Frame counts: the encoder consumes 1 frame, then chunks of 4, so a video has
 * 1+4k frames (1, 5, 9, ..., 33, ...); any other count is refused with an error
 * naming it. Each temporal downsample halves the frames after the first: with
 * nt of them (at most 2) the latent has 1 + k*4/2^nt frames (Wan: 1+k). Height
 * and width must be multiples of 2^(L-1) (Wan: 8).
 *
 * Layouts: whole videos and latents are channel-first [C,T,H,W] (PyTorch's
 * per-video layout, the DiT's input); the streaming calls take and give frames,
 * each [C,H,W] contiguous, consecutive frames one after another. Internally
 * every activation is frame-major [T,C,H,W] (see nn/conv.h).
 *
 * Chunking: encode runs the encoder on frame 0, then on frames 1-4, 5-8, ...;
 * decode runs the decoder on one latent frame at a time. Each causal conv keeps
 * the last 2 frames of its input stream (the "feature cache", CACHE_T = 2), so a
 * chunked pass computes exactly what one pass over the whole clip computes, and
 * memory does not depend on the length (a few frames of activations).
 * The first chunk is special in the resamplers, as in the reference: a 3D
 * downsampler passes the first frame through without time_conv (later frames see
 * it through the cache); a 3D upsampler passes the first latent frame through,
 * and runs time_conv (then interleaves its two halves into two frames) on the
 * stream of the later frames alone, zero-padded in front. */
#ifndef PP_VAE_H
#define PP_VAE_H
#include <stddef.h>
#include "base/rng.h"
#include "nn/params.h"

#define PP_VAE_MAX_LEVELS 6
#define PP_VAE_MAX_Z 64
/* The most parameters a config may describe (pp_vae_config_read refuses more): 2^30,
 * 4 GiB of F32 weights, 8x Wan2.1's 127 M. The per-field bounds alone (dim 1024,
 * 4096 channels, 6 levels, 8 residual blocks) allow configs of ~10^11. */
#define PP_VAE_MAX_PARAMS ((size_t)1 << 30)

typedef struct {
    int dim, z_dim, num_res_blocks, nlevels;
    int dim_mult[PP_VAE_MAX_LEVELS];
    int temporal_down[PP_VAE_MAX_LEVELS - 1]; /* Wan's temperal_downsample (level i -> i+1) */
    /* latent normalisation z = (mu - mean) / std, per channel; part of the config,
     * not of the weights file (Wan keeps them in code) */
    float latent_mean[PP_VAE_MAX_Z], latent_std[PP_VAE_MAX_Z];
} pp_vae_config;

/* Wan2.1: dim 96, z 16, [1,2,4,4], 2 res blocks, [false,true,true], Wan's mean/std. */
void pp_vae_config_wan21(pp_vae_config *c);
/* The physics world's VAE: dim 16, z 16, [1,2,4,4], 2 res blocks, [false,true,true]
 * (Wan's topology at 1/6 of the width: 4x8x8 compression, 16 latent channels),
 * latent mean 0 and std 1 until set from data. docs/VAE.md explains the choice. */
void pp_vae_config_small(pp_vae_config *c);
/* Any config: the given sizes, temporal_down all false, mean 0, std 1. */
void pp_vae_config_make(pp_vae_config *c, int dim, int z_dim, int nlevels, const int *dim_mult,
                        int num_res_blocks, const int *temporal_down);
/* The bounds of each field (as pp_vae_init needs them); latent mean finite, std
 * finite and > 0. */
int pp_vae_config_check(const pp_vae_config *c);

/* ---- the model: a list of units (causal conv, residual block, attention,
 * resampler, head) for the encoder and one for the decoder */
typedef struct pp_vae_unit pp_vae_unit;
typedef struct {
    pp_vae_config cfg;
    int nenc, ndec;
    pp_vae_unit *enc, *dec;
    int nt;        /* temporal downsamples (0..2) */
    int sdown;     /* spatial factor 2^(nlevels-1) */
} pp_vae;

/* Validates the config and declares every tensor in `table` under Wan's keys and
 * shapes (conv weights [out,in,kt,kh,kw], Conv2d [out,in,kh,kw], gammas [C,1,1,1]
 * or [C,1,1] for the attention's norm). */
int pp_vae_init(pp_vae *m, const pp_vae_config *cfg, pp_params *table);
void pp_vae_free(pp_vae *m);
/* Random init: convs uniform(+-1/sqrt(fan_in)) with zero bias (PyTorch's default
 * bound for the weights), gammas 1, the attention's proj zero (as Wan), and the
 * log-variance half of conv1's bias -6, so that training from scratch does not
 * start by decoding z = mu + 1 * noise. */
void pp_vae_init_weights(const pp_vae *m, float *params, pp_rng *rng);
/* Zeroes the two older time taps of every causal 3x3x3 convolution (and, when
 * time_convs, sets the resamplers' time convolutions to their identity init): the
 * VAE then reads each frame alone except in its resamplers. A VAE trained on single
 * frames (whose older taps and time convolutions get no gradient) is saved so, and a
 * video run started from it begins as a per-frame video VAE instead of on random taps. */
void pp_vae_init_per_frame(const pp_vae *m, float *params, int time_convs);
/* 1 for a tensor of the encoder side (encoder.*, conv1.*): what makes the latents */
int pp_vae_encoder_side(const char *name);
/* Forward FLOPs of encoding / decoding one video of T frames at H x W. */
double pp_vae_encode_flops(const pp_vae *m, int T, int H, int W);
double pp_vae_decode_flops(const pp_vae *m, int T, int H, int W);

/* diffusers' name of a Wan key ("decoder.upsamples.4.shortcut.weight" ->
 * "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"); 0, or -1 if it has none. */
int pp_vae_diffusers_name(const pp_vae *m, const char *wan, char *out, size_t size);
/* Loads every tensor of the table from a safetensors file (F32, F16 or BF16),
 * by Wan's key or else diffusers' name for it. Errors name the file and the
 * tensor: "FILE: missing tensor 'decoder.head.2.weight' (diffusers:
 * 'decoder.conv_out.weight')", "FILE: tensor 'x' has shape [4,8], the model expects [4,16]".
 * params NULL: only checks every tensor's name, shape and float dtype. */
int pp_vae_load(const pp_vae *m, const pp_params *table, float *params, const char *path);
/* Writes the parameters under Wan's keys (F32, F16 or BF16 as given), atomically;
 * the config is stored as JSON in the metadata key "vae_config". */
int pp_vae_save(const pp_vae *m, const pp_params *table, const float *params, const char *path,
                int dtype);

/* ---- size rules: 0, or -1 with an error naming the count or the size */
int pp_vae_check_video(const pp_vae *m, int T, int H, int W);
int pp_vae_check_latent(const pp_vae *m, int C, int t, int h, int w);
int pp_vae_latent_frames(const pp_vae *m, int T); /* 1 + (T-1)*2^nt/4 for T = 1+4k */
int pp_vae_video_frames(const pp_vae *m, int t); /* 1 + (t-1)*2^nt */

/* ---- streaming encoder: push frame 0 alone, then 4 frames at a time; each push
 * writes the latent frames it completes (1 for the first, 4/2^nt after). */
typedef struct pp_vae_enc pp_vae_enc;
pp_vae_enc *pp_vae_enc_new(const pp_vae *m, const float *params, int H, int W);
/* frames: n frames [3,H,W]; z: room for the latent frames [z_dim, h, w], the
 * normalised mu; logvar (may be NULL): the same for the raw log-variance. */
int pp_vae_enc_push(pp_vae_enc *e, const float *frames, int n, float *z, float *logvar, int *nout);
void pp_vae_enc_free(pp_vae_enc *e);

/* ---- streaming decoder: push one latent frame [z_dim, h, w] (normalised) at a
 * time; each push writes 1 (first) or 2^nt pixel frames [3, H, W] in [-1,1]. */
typedef struct pp_vae_dec pp_vae_dec;
pp_vae_dec *pp_vae_dec_new(const pp_vae *m, const float *params, int h, int w);
int pp_vae_dec_push(pp_vae_dec *d, const float *z, float *frames, int *nout);
void pp_vae_dec_free(pp_vae_dec *d);
/* Bytes held by a streaming state now, and the most it held (caches + the
 * largest chunk's activations). */
size_t pp_vae_dec_peak_bytes(const pp_vae_dec *d);
size_t pp_vae_enc_peak_bytes(const pp_vae_enc *e);

/* Frees the scratch the convolutions keep per thread between calls (prepared
 * frames, packed weights: no fresh pages for every call). Streaming states and
 * the whole-video calls release it when they end; a training loop
 * (pp_vae_train_step keeps it from one step to the next) calls this when done. */
void pp_vae_release_buffers(void);

/* ---- whole videos, chunked as above: video [3,T,H,W] -> z [z_dim,t,h,w]
 * (normalised mu; logvar raw, may be NULL), and back (clamped). C is the
 * latent's channel count, checked against z_dim. */
int pp_vae_encode(const pp_vae *m, const float *params, const float *video, int T, int H, int W,
                  float *z, float *logvar);
int pp_vae_decode(const pp_vae *m, const float *params, const float *z, int C, int t, int h, int w,
                  float *video);

/* ---- training: one pass over a whole clip at once. A causal conv over the clip
 * with its 2 zero frames in front computes what the chunked passes compute, so
 * this forward equals pp_vae_encode/decode (before the clamp). */
typedef struct {
    float w_l1, w_mse;  /* reconstruction: mean |rec - x|, mean (rec - x)^2 */
    float w_edge;       /* mean |dx rec - dx x| + mean |dy rec - dy x| (neighbour differences) */
    float w_kl;         /* mean over latent elements of 0.5 (mu^2 + e^lv - 1 - lv) */
    float w_fg;         /* L1 and MSE weigh a pixel 1 + w_fg where the target is not background
                         * (any channel below PP_VAE_FG_LEVEL, i.e. not near white, or within
                         * one pixel of such a pixel in its frame); 0: every pixel weighs 1 */
    int sample;         /* 1: z = mu + e^(lv/2) eps; 0: z = mu */
    int frozen_encoder; /* 1: no gradient into the encoder and conv1 (their activations are not
                         * kept and their backward is skipped: a decoder fine-tune, which keeps
                         * the latent space); not with dvideo */
} pp_vae_loss_cfg;
#define PP_VAE_FG_LEVEL 0.8f /* in [-1, 1]: white is 1 */

/* loss: the weighted objective; l1, mse: plain means over pixels (wl1, wmse: weighed
 * as the loss weighs them, equal to l1, mse when w_fg is 0) */
typedef struct { float loss, l1, mse, edge, kl, wl1, wmse; } pp_vae_losses;

/* video [3,T,H,W] (T = 1+4k, H and W multiples of 2^(L-1)). eps [z_dim,t,h,w]
 * gives the noise of the sample (NULL: drawn from rng, which may then not be
 * NULL). rec (may be NULL) receives the unclamped reconstruction [3,T,H,W].
 * Accumulates d(loss)/d(params) into grads and, when dvideo is not NULL,
 * d(loss)/d(video) into it (through the encoder and as the target). */
int pp_vae_train_step(const pp_vae *m, const float *params, float *grads, const float *video, int T,
                      int H, int W, const pp_vae_loss_cfg *lc, const float *eps, pp_rng *rng,
                      pp_vae_losses *out, float *rec, float *dvideo);
/* The training forward alone: enc = conv1's output [2 z_dim, t, h, w] (mu | logvar,
 * raw), rec = decoder(z) [3,T,H,W] unclamped, with z [z_dim,t,h,w] raw (not
 * normalised); either output may be NULL to skip that half. For tests. */
int pp_vae_forward_whole(const pp_vae *m, const float *params, const float *video, int T, int H,
                         int W, float *enc, const float *z, float *rec);
#endif
