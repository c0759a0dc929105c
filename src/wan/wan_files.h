/* wan_files.h - Wan2.1's text-to-video DiT from the files users have, and where
 * each part of a Wan2.1 model sits in the three folder layouts (docs/WAN.md).
 *
 * DiT files (safetensors, one file or shards with a "*.safetensors.index.json"):
 *  - Wan's own key names (Wan-AI/Wan2.1-T2V-1.3B's diffusion_pytorch_model*.safetensors,
 *    the names dit.h uses), possibly under a common prefix: ComfyUI's repackaged
 *    wan2.1_t2v_1.3B_bf16.safetensors, or "model.diffusion_model." checkpoints;
 *  - diffusers' names (WanTransformer3DModel, the transformer/ folder of
 *    Wan-AI/Wan2.1-T2V-1.3B-Diffusers), mapped to Wan's (pp_wan_diffusers_name).
 * The config comes from a config.json (Wan's keys: dim, num_heads, ... or
 * diffusers': num_attention_heads, attention_head_dim, ...), else from the file's
 * metadata "config" (Wan's keys), else from the tensor shapes (heads = dim / 128,
 * Wan's head width). Every tensor is checked against the config by name and
 * shape; a tensor of an image-to-video model or of no Wan2.1 DiT is refused, each
 * error one line naming the file and the tensor.
 *
 * Weights: with PP_WAN_INFER the Linear weights stay where they are in the mapped
 * file when BF16, F16 or aligned F32 (pp_dit_init_external: the block code is the
 * F32 code, the GEMMs convert panel by panel), and only the small tensors
 * (biases, norms, modulations) are converted into P; forward only. With
 * PP_WAN_F32 every tensor is converted into P under pp_dit_init's layout (what
 * training and the ProPhy branch need). */
#ifndef PP_WAN_FILES_H
#define PP_WAN_FILES_H
#include "io/safetensors.h"
#include "nn/params.h"
#include "wan/dit.h"

typedef enum { PP_WAN_INFER = 0, PP_WAN_F32 = 1 } pp_wan_mode;
typedef enum { PP_WAN_NAMES_WAN = 0, PP_WAN_NAMES_DIFFUSERS = 1 } pp_wan_names;

typedef struct {
    pp_dit dit;
    pp_params table;     /* the layout of P */
    pp_params weights;   /* PP_WAN_INFER: the Linear weights' names and shapes (not allocated) */
    float *P;            /* table.total floats */
    pp_wan_mode mode;
    pp_wan_names names;  /* the file's key names */
    char prefix[128];    /* common prefix of the file's DiT keys ("" or e.g. "model.diffusion_model.") */
    char config_from[64]; /* "config.json", "metadata" or "tensor shapes" */
    pp_dtype wdtype;     /* dtype of the file's Linear weights (of the first when mixed) */
    size_t lent_bytes;   /* bytes of weights read in place from the file */
    pp_st_file f;        /* open while weights point into it */
    float **own;         /* F32 copies of Linear weights the file could not lend (misaligned F32, F64) */
    int nown;
} pp_wan_dit;

/* Opens a DiT. path: a safetensors file or a shard index (*.json); config_path: a
 * config.json (Wan's or diffusers'), or NULL. On failure -1, one error line, and
 * *w empty. */
int pp_wan_dit_open(pp_wan_dit *w, const char *path, const char *config_path, pp_wan_mode mode);
void pp_wan_dit_close(pp_wan_dit *w);
/* The config as pp_wan_dit_open finds it, from the header alone; with check, also
 * every tensor's name, shape and dtype (each error as pp_wan_dit_open's), still
 * without reading a weight: what can be known before a long run. */
int pp_wan_dit_peek(const char *path, const char *config_path, pp_dit_config *c, int check);
/* "dim 1536, 12 heads, 30 layers, ffn 8960, in 16, out 16, text 4096 x 512, freq 256, patch 1,2,2" */
void pp_wan_dit_config_str(const pp_dit_config *c, char *buf, size_t size);

/* A DiT config from the text of a config.json (Wan's or diffusers' keys); where
 * names it in errors. Fields a file does not give take Wan2.1-T2V's values
 * (patch 1,2,2, text_dim 4096, text_len 512, freq_dim 256, eps 1e-6). */
int pp_wan_dit_config_parse(pp_dit_config *c, const char *json, const char *where);

/* diffusers' name of a Wan DiT key ("blocks.3.ffn.0.weight" ->
 * "blocks.3.ffn.net.0.proj.weight"); 0, or -1 if it has none. */
int pp_wan_diffusers_name(const char *wan, char *out, size_t size);

/* ---- where the parts are: one path per part, or why there is none */
typedef enum { PP_WAN_LAYOUT_NONE = 0, PP_WAN_LAYOUT_DIFFUSERS, PP_WAN_LAYOUT_WAN, PP_WAN_LAYOUT_COMFYUI } pp_wan_layout;

typedef struct {
    char path[4096]; /* "" when not found */
    char why[512];   /* when not found: what was looked for, and what to pass instead */
} pp_wan_part;

typedef struct {
    pp_wan_layout layout;
    pp_wan_part dit, dit_config, t5, tokenizer, vae, vae_config;
} pp_wan_paths;

const char *pp_wan_layout_name(pp_wan_layout l); /* "diffusers", "Wan", "ComfyUI", "files" */

/* Looks at a folder: diffusers' (model_index.json or transformer/), Wan's
 * (config.json beside diffusion_pytorch_model*.safetensors) or ComfyUI's models
 * folder (diffusion_models/, text_encoders/ or clip/, vae/). Fills every part it
 * finds; a part it lacks gets its `why`. -1 + error only when dir is no such
 * folder at all. */
int pp_wan_find(pp_wan_paths *p, const char *dir);
/* Sets a part to a file the user named (it must be a readable regular file). */
int pp_wan_set_part(pp_wan_part *part, const char *path);
/* 0 when the DiT, the text encoder, the tokenizer and the VAE are all found;
 * else -1 and the first missing part's reason. */
int pp_wan_paths_check(const pp_wan_paths *p);
#endif
