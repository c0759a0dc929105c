/* vae_train.h - training the physics world's video VAE (wan/vae.h) on the
 * shared loop (train/train.h): progress line, CSV log and plot, atomic
 * checkpoints, exact resume.
 *
 * One step (B crops): draw B examples from a source (a dataset, or the simulator
 * at its size), cut from each a random crop of crop[0] frames (1+4k) x crop[1] x
 * crop[2] pixels (multiples of 8; the convolutions are translation-equivariant,
 * so the VAE trains small and runs big), at a random time and place, flipped
 * left-right half the time, and redrawn (up to 8 times) when it holds almost
 * nothing (pixel std below min_std: white background); then pp_vae_train_step on
 * each crop (L1 + MSE + edge + KL, reparameterised z), gradients averaged, AdamW.
 * With color_aug each crop's colour channels are permuted and their signs flipped
 * at random: the background is then one of 8 colours, not always white, so "draw
 * white everywhere" stops being a good answer that ignores the latent (the physics
 * world is ~95 % white background, and from scratch a VAE otherwise sits there).
 * Every draw comes from the trainer's RNG, so a resumed run is exact.
 *
 * With decoder_only the encoder side is frozen and only the decoder side learns.
 *
 * At the end, the latent normalisation (mean and std of mu per channel) is set
 * from whole videos of the source, so the diffusion model sees ~unit latents. */
#ifndef PP_PROPHY_VAE_TRAIN_H
#define PP_PROPHY_VAE_TRAIN_H
#include "prophy/data.h"
#include "train/train.h"
#include "wan/vae_file.h"

typedef struct {
    pp_train_config base;  /* batch = crops per step, steps, AdamW, checkpoints, log, plot, time limit */
    pp_vae_loss_cfg loss;  /* L1 1, MSE 1, edge 0.5, KL 1e-6, sampled z */
    int crop[3];           /* frames, height, width: 9, 64, 64 */
    float min_std;         /* 0.05 */
    int color_aug;         /* 1: each crop's channels permuted and sign-flipped at random (48 ways); 0 */
    int decoder_only;      /* 1: the encoder and conv1 are frozen, so the latents (and the latent
                            * normalisation) stay those of the starting VAE: a model trained on
                            * its latents still matches (pp_vae_checksum); stored in checkpoints */
} pp_vae_train_config;

pp_vae_train_config pp_vae_train_defaults(void);

typedef struct pp_vae_trainer pp_vae_trainer;
/* v has its weights set (pp_vae_init_weights); not owned, nor is src (video_only). */
pp_vae_trainer *pp_vae_trainer_new(pp_vae_model *v, const pp_vae_train_config *c, pp_phys_source *src);
/* Loads the checkpoint into v (created from its config) and the trainer state. */
pp_vae_trainer *pp_vae_trainer_resume(pp_vae_model *v, const char *ckpt, const pp_vae_train_config *c,
                                      pp_phys_source *src);
void pp_vae_trainer_free(pp_vae_trainer *t);
int pp_vae_trainer_step(pp_vae_trainer *t, pp_vae_losses *L);
int pp_vae_trainer_run(pp_vae_trainer *t);
int pp_vae_trainer_save_checkpoint(pp_vae_trainer *t, const char *path);
long pp_vae_trainer_steps_done(const pp_vae_trainer *t);
int pp_vae_trainer_decoder_only(const pp_vae_trainer *t); /* as trained (a resume: the checkpoint's) */
const float *pp_vae_trainer_final_weights(const pp_vae_trainer *t);

/* Sets v's latent mean and std (per channel, over every latent position) from n
 * whole videos of src (indices 0..n-1), encoded with params. */
int pp_vae_set_latent_stats(pp_vae_model *v, const float *params, pp_phys_source *src, int n);
#endif
