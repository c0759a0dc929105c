/* model.h - a prophy model as a file: its config, its parameter table and its
 * weights, saved as one safetensors file whose tensors carry Wan2.1's key names
 * and whose "__metadata__" holds the config as JSON ("prophy.config").
 *
 * Training checkpoints are the same file plus the optimiser moments
 * ("optim.m", "optim.v", flat over the parameter layout), the EMA ("optim.ema")
 * and the exact trainer state (metadata "prophy.train": step, RNG words, ...). */
#ifndef PP_MODEL_H
#define PP_MODEL_H
#include <cjson/cJSON.h>
#include "wan/dit.h"
#include "nn/params.h"
#include "io/safetensors.h"

typedef struct {
    pp_dit_config dit;
    int frames, height, width; /* the video size the model was trained at (defaults) */
    float fps;
    int cond;                  /* 1: in_dim = 2*out_dim + 1 (first-frame conditioning channels) */
    char world[32];            /* the data it was trained on: "square", "physics", ... */
} pp_model_config;

typedef struct {
    pp_model_config cfg;
    pp_params table;
    pp_dit dit;
    float *params; /* table.total floats */
} pp_model;

/* Bounds of the config fields a model file may hold ("prophy.config"); the reader
 * refuses anything outside them, naming the file and the field, before any cast
 * (they match the command line's bounds for the model shape):
 *   dim [1, 8192]     ffn_dim [1, 65536]   heads [1, 256]     layers [1, 256]
 *   out_dim [1, 256]  in_dim = out_dim, or 2 out_dim + 1 with cond
 *   text_dim [1, 16384]  text_len [1, 4096]  freq_dim [2, 4096] (even)
 *   patch 3 x [1, 64]  frames [1, 1024]  height, width [1, 4096]  fps [0, 1000]
 *   eps [0, 1], rope_theta [1, 1e9] (then > 0 and > 1)   cond 0 or 1
 * Integers must be integral. The loaders also refuse a config whose weights the
 * file cannot hold (at 2 bytes per weight). */
#define PP_MODEL_MAX_DIM 8192
#define PP_MODEL_MAX_FFN 65536
#define PP_MODEL_MAX_HEADS 256
#define PP_MODEL_MAX_LAYERS 256
#define PP_MODEL_MAX_OUT_DIM 256
#define PP_MODEL_MAX_TEXT_DIM 16384
#define PP_MODEL_MAX_TEXT_LEN 4096
#define PP_MODEL_MAX_FREQ_DIM 4096
#define PP_MODEL_MAX_PATCH 64
#define PP_MODEL_MAX_FRAMES 1024
#define PP_MODEL_MAX_SIDE 4096

/* Makes the config consistent (in_dim from cond) and validates it. */
int pp_model_config_check(pp_model_config *c);
cJSON *pp_model_config_to_json(const pp_model_config *c);
int pp_model_config_from_json(pp_model_config *c, const char *json, const char *where);

/* Shared by every model file: a JSON object as a metadata string, and a parameter
 * table's tensors (from `params`) written to / loaded from a file, checked by name
 * and shape. */
int pp_st_set_meta_json(pp_st_writer *w, const char *key, const cJSON *j);
int pp_params_write(const pp_params *t, const float *params, pp_st_writer *w, pp_dtype as);
int pp_params_read(const pp_params *t, float *params, const pp_st_file *f);

int pp_model_create(pp_model *m, const pp_model_config *cfg); /* zero weights */
void pp_model_free(pp_model *m);
/* Adds the config and every parameter (from `params`, e.g. the EMA copy, or
 * m->params when NULL) to a writer. */
int pp_model_add_to_writer(const pp_model *m, pp_st_writer *w, const float *params, pp_dtype as);
/* Saves weights only (atomic). */
int pp_model_save(const pp_model *m, const char *path, const float *params, pp_dtype as);
/* Opens a model file: reads its config, checks every tensor against it (missing,
 * misshapen, non-float: one clear error), loads the weights. */
int pp_model_load(pp_model *m, const char *path);
/* Loads the weights of an already opened file into an existing model. */
int pp_model_load_weights(pp_model *m, const pp_st_file *f);
#endif
