/* config.h - the backbone part of a model's config: the DiT's shape, the video
 * size it was trained at, first-frame conditioning and the world of its data. It
 * is the base of the ProPhy model's config (prophy/model.h) and is stored with it
 * as JSON in the model file's metadata "prophy.config". */
#ifndef PP_PROPHY_CONFIG_H
#define PP_PROPHY_CONFIG_H
#include <cjson/cJSON.h>
#include "wan/dit.h"

typedef struct {
    pp_dit_config dit;
    int frames, height, width; /* the video size the model was trained at (defaults) */
    float fps;
    int cond;                  /* 1: in_dim = 2*out_dim + 1 (first-frame conditioning channels) */
    char world[32];            /* the data it was trained on: "physics" */
} pp_model_config;

#define PP_MODEL_MAX_SIZE 4096 /* frames, height, width */

/* Makes the config consistent (in_dim from cond) and validates it. */
int pp_model_config_check(pp_model_config *c);
cJSON *pp_model_config_to_json(const pp_model_config *c);
int pp_model_config_from_json(pp_model_config *c, const char *json, const char *where);
/* An integer field of a JSON object (a cJSON *), refused unless it is an integer in
 * int's range (bounds proper are each config's); the error names where and k. */
int pp_json_int(const void *obj, const char *k, const char *where, int *out);
#endif
