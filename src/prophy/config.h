/* config.h - the backbone part of a model's config: the DiT's shape, the video
 * size it was trained at, first-frame conditioning and the world of its data. It
 * is the base of the ProPhy model's config (prophy/model.h) and is stored with it
 * as JSON in the model file's metadata "prophy.config". */
#ifndef PP_PROPHY_CONFIG_H
#define PP_PROPHY_CONFIG_H
#include <cjson/cJSON.h>
#include <stdint.h>
#include "wan/dit.h"

/* First-frame conditioning channels: none, pixel frames (the given frames and a
 * mask channel: in_dim = 2 out + 1), or latent frames (Wan2.1's image-to-video
 * layout: the given frames' latents and 4 mask channels per latent frame, in_dim
 * = 2 out + 4; prophy/latents.h). */
enum { PP_COND_NONE = 0, PP_COND_PIXEL = 1, PP_COND_LATENT = 2 };

typedef struct {
    pp_dit_config dit;
    int frames, height, width; /* the grid the DiT was trained at: pixels, or latents when latent */
    float fps;
    int cond;                  /* PP_COND_* */
    char world[32];            /* the data it was trained on: "physics" */
    /* a latent model diffuses a VAE's latents (out_dim = its z_dim) */
    int latent;                /* 1: the grid above is latent; 0: pixels */
    uint64_t vae_checksum;     /* the VAE it must decode with (pp_vae_checksum) */
    int vframes, vheight, vwidth; /* the pixel video that grid encodes */
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
