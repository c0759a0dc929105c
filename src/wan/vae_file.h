/* vae_file.h - a VAE as a file: its config (metadata "vae_config", the JSON that
 * pp_vae_save writes, diffusers' AutoencoderKLWan names for the fields), its
 * parameter table and its weights, in one struct. A file without that metadata
 * (Wan's own wan_2.1_vae.safetensors) is read as Wan2.1's config. */
#ifndef PP_WAN_VAE_FILE_H
#define PP_WAN_VAE_FILE_H
#include <stdint.h>
#include "io/safetensors.h"
#include "wan/vae.h"

typedef struct {
    pp_vae m;
    pp_params table;
    float *params; /* table.total floats */
} pp_vae_model;

/* Declares every tensor of cfg (zero weights). */
int pp_vae_model_create(pp_vae_model *v, const pp_vae_config *cfg);
/* Reads the config, checks and loads every tensor: one error line naming the file
 * and the field or tensor. */
int pp_vae_model_open(pp_vae_model *v, const char *path);
/* Loads every tensor of a created model from path (any F32/F16/BF16 layout
 * pp_vae_load reads) and refuses non-finite values; frees v on failure. */
int pp_vae_model_load_weights(pp_vae_model *v, const char *path);
void pp_vae_model_free(pp_vae_model *v);
/* Adds the tensors (as dtype: F32, F16 or BF16) and the config ("vae_config") to a
 * writer: pp_vae_save's content, and a checkpoint's model part. */
int pp_vae_add_to_writer(const pp_vae *m, const pp_params *t, const float *P, pp_st_writer *w, int dtype);
/* Which latent space a latent dataset and a latent model belong to: a 64-bit FNV-1a
 * over the bytes of what makes the latents, i.e. the encoder side's weights
 * (encoder.*, conv1.*, in table order) and the latent mean and std. A decoder
 * fine-tune (vae train --decoder-only) keeps it. */
uint64_t pp_vae_checksum(const pp_vae_model *v);
/* The same hash over every weight: what files written before 2026-12-02 hold. */
uint64_t pp_vae_checksum_whole(const pp_vae_model *v);
/* 1 when sum is either of the two: the latents of a model or dataset that names sum
 * are v's. */
int pp_vae_checksum_matches(const pp_vae_model *v, uint64_t sum);
/* The config in a file's metadata (or Wan2.1's when there is none). */
int pp_vae_config_read(pp_vae_config *c, const char *json, const char *where);
#endif
