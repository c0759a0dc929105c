/* dataset.h - labelled simulator samples on disk: a sharded writer and a streaming,
 * random-access loader (format: docs/DATASET.md).
 *
 * A dataset directory holds shard-NNNNN.ppds files and manifest.json (written last,
 * atomically: a directory without it is not a dataset). Sample i uses scene
 * scenes[i % nscenes] and seed pp_dataset_sample_seed(seed, i), so any sample can be
 * regenerated exactly with `prophy sim`. */
#ifndef PP_DATASET_H
#define PP_DATASET_H
#include <stdint.h>
#include "sim/sim.h"

#define PP_DATASET_SHARD 256 /* samples per shard (default) */

typedef struct {
    int64_t count;
    int split;                 /* PP_SPLIT_ID / PP_SPLIT_OOD */
    uint64_t seed;
    int frames, height, width;
    int nscenes;
    int scenes[64];            /* scene indices (pp_sim_scene_at) */
    int shard_size;            /* 0: PP_DATASET_SHARD */
    int threads;               /* 0: OpenMP default */
    int verbose;               /* progress on stderr */
} pp_dataset_cfg;

/* Defaults: every scene, 16 frames of 32x32, split id, seed 0. */
void pp_dataset_cfg_default(pp_dataset_cfg *cfg);
uint64_t pp_dataset_sample_seed(uint64_t seed, int64_t i);
/* Write cfg->count samples into dir (created if needed). -1 with pp_seterr on error. */
int pp_dataset_write(const char *dir, const pp_dataset_cfg *cfg, double *seconds);

/* One sample. Buffers are owned by the sample and reused by later loads into it. */
typedef struct {
    int frames, height, width;
    int scene;                 /* scene index */
    uint64_t seed;
    int split;
    uint32_t map_mask;         /* bit c: channel c has a (non-zero) stored map */
    float cats[PP_NCAT];
    uint8_t *video;            /* [F][H][W][3] */
    uint8_t *maps;             /* [PP_NCAT][F][H][W], value = round(255 * map) */
    char *prompt;              /* NUL-terminated */
    char *spec_json;           /* NUL-terminated, docs/SPEC.md */
    size_t cap_video, cap_maps, cap_prompt, cap_spec;
} pp_sample;

typedef struct pp_dataset pp_dataset;

pp_dataset *pp_dataset_open(const char *dir); /* NULL + pp_seterr on error */
int64_t pp_dataset_count(const pp_dataset *ds);
/* Random access (thread-safe for distinct samples). */
int pp_dataset_get(const pp_dataset *ds, int64_t idx, pp_sample *s);
/* Streaming: 1 = a sample was loaded, 0 = end, -1 = error. */
int pp_dataset_next(pp_dataset *ds, pp_sample *s);
void pp_dataset_rewind(pp_dataset *ds);
void pp_dataset_close(pp_dataset *ds);
void pp_sample_free(pp_sample *s);
/* Background map [F][H][W] in [0,1] = 1 - max_c maps / 255. */
void pp_sample_background(const pp_sample *s, float *bg);
#endif
