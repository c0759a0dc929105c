/* sim.h - the physics world: deterministic simulator + renderer of labelled videos.
 *
 * A scene (uniform_motion, parabola, collision, bounce, smoke, ...) is simulated in
 * a 10x10-unit world (origin bottom-left, y up, dt = 0.1 s per frame) and rendered
 * to an 8-bit RGB video. Each run also yields its labels:
 *   - the prompt (templates with synonyms, colours, directions, speeds in words);
 *   - the 17-dim category vector (src/physics.h order);
 *   - soft phenomenon maps [17][F][H][W] in [0,1] and a background map [F][H][W]
 *     (bg = 1 - max_c maps[c]);
 *   - the per-frame physical state of each tracked object (and a fluid summary);
 *   - the scene parameters and split, and the spec JSON (docs/SPEC.md).
 * Everything is a pure function of (scene, seed, split, frames, H, W, params).
 *
 * Default size for CPU training: 32x32 pixels, 16 frames (PP_SIM_DEF_*). */
#ifndef PP_SIM_H
#define PP_SIM_H
#include <stdint.h>
#include <cjson/cJSON.h>
#include "base/categories.h"
#include "io/video.h"

#define PP_SIM_DEF_W 32
#define PP_SIM_DEF_H 32
#define PP_SIM_DEF_FRAMES 16
#define PP_SIM_MAX_SIZE 1024   /* max width or height, pixels */
#define PP_SIM_MAX_FRAMES 256
#define PP_SIM_MAX_OBJ 8
#define PP_SIM_MAX_PARAMS 20
#define PP_SIM_MAX_REGIONS 4
#define PP_SIM_PROMPT_MAX 256

#define PP_SIM_WORLD 10.0f      /* world width = height, units */
#define PP_SIM_DT 0.1f          /* seconds per frame */

enum { PP_SPLIT_ID = 0, PP_SPLIT_OOD = 1 };

/* One scene parameter: its validity range (outside = impossible, an error) and the
 * ranges sampled for the in-distribution and out-of-distribution splits. The OOD
 * set is the union of up to two intervals (lo == hi == 0 for an unused one); a
 * parameter with no OOD intervals samples its ID range in both splits. */
typedef struct {
    const char *name;   /* e.g. "r", "v", "restitution" */
    const char *unit;   /* "units", "units/s", "" */
    double valid_lo, valid_hi;
    double id_lo, id_hi;
    double ood[2][2];
} pp_sim_param_def;

/* Concrete parameter values of one run: the scene's declared parameters in order,
 * then derived values the simulator chose (start position, direction, ...). */
typedef struct {
    int n;
    const char *name[PP_SIM_MAX_PARAMS];
    double value[PP_SIM_MAX_PARAMS];
} pp_sim_params;

/* A tracked object (docs/SPEC.md `objects`). kind: "ball", "block", "plume",
 * "liquid", "ice", "particles". color: the exact rendered RGB. */
typedef struct {
    const char *name, *kind;
    uint8_t color[3];
} pp_sim_object;

/* Per-frame state of one object, world units (s, units/s). visible: some part is
 * in frame; inside: the whole object is in frame (parsers trust only these).
 * For a deforming ball rx, ry are the ellipse semi-axes (= r otherwise). */
typedef struct {
    float x, y, vx, vy, r;
    float rx, ry;
    int visible, inside;
} pp_sim_obj_state;

/* Fluid summary (smoke, flame, liquid, melt water, explosion cloud): density mass,
 * centroid, top edge (highest y where the density exceeds a small threshold) and
 * spread (standard deviation of x over the mass), world units. */
typedef struct {
    float mass, cx, cy, top, spread;
} pp_sim_fluid_state;

typedef struct {
    float t;
    pp_sim_obj_state obj[PP_SIM_MAX_OBJ];
    int has_fluid;
    pp_sim_fluid_state fluid;
} pp_sim_state;

/* A composite's phenomenon region (docs/SPEC.md `regions`), world units. */
typedef struct {
    int category;
    float x0, x1, y0, y1;
} pp_sim_region;

struct pp_sim_ctx; /* internal (sim_internal.h) */

typedef struct pp_sim_scene {
    const char *name;
    const char *summary;                 /* one line, for --list -v and docs */
    int ncat;
    int cats[4];                         /* PP_CAT_* present in every run */
    int nparam;
    pp_sim_param_def params[PP_SIM_MAX_PARAMS];
    float gravity;                       /* units/s^2, positive = down */
    int (*run)(struct pp_sim_ctx *ctx);  /* internal */
} pp_sim_scene;

/* The result of one run. Free with pp_sim_free. */
typedef struct {
    const pp_sim_scene *scene;
    uint64_t seed;
    int split;
    int frames, height, width;
    pp_video video;                      /* [F][H][W][3] uint8 */
    char prompt[PP_SIM_PROMPT_MAX];
    float cats[PP_NCAT];                 /* 0/1 */
    float *maps;                         /* [PP_NCAT][F][H][W] soft, in [0,1] */
    float *bg;                           /* [F][H][W] = 1 - max_c maps */
    int nobj;
    pp_sim_object objects[PP_SIM_MAX_OBJ];
    pp_sim_state *states;                /* [F] */
    pp_sim_params params;
    int nregion;
    pp_sim_region regions[PP_SIM_MAX_REGIONS];
    cJSON *spec;                         /* docs/SPEC.md; owned, freed by pp_sim_free */
} pp_sim_out;

/* ---- scenes ---- */
int pp_sim_nscenes(void);
const pp_sim_scene *pp_sim_scene_at(int i);
/* NULL (and pp_seterr) for an unknown name. */
const pp_sim_scene *pp_sim_find(const char *name);
int pp_sim_scene_index(const pp_sim_scene *s);

/* ---- parameters ---- */
/* Sample every parameter from its split's range, deterministically from seed. */
void pp_sim_params_sample(const pp_sim_scene *s, uint64_t seed, int split, pp_sim_params *p);
/* Override one value; -1 (pp_seterr) for an unknown name or an impossible value. */
int pp_sim_params_set(const pp_sim_scene *s, pp_sim_params *p, const char *name, double v);
/* The value of a parameter (NAN when absent). */
double pp_sim_param(const pp_sim_params *p, const char *name);
/* Does value v of parameter def lie in the given split's range? */
int pp_sim_param_in_split(const pp_sim_param_def *d, double v, int split);

/* ---- running ---- */
/* Validate sizes (frames in [1,256], H,W in [8,1024]); -1 with pp_seterr if not. */
int pp_sim_check_size(int frames, int height, int width);
/* Simulate with parameters sampled from (seed, split). */
int pp_sim_run(const pp_sim_scene *s, uint64_t seed, int split, int frames, int height,
               int width, pp_sim_out *out);
/* Simulate with explicit parameters (from pp_sim_params_sample + overrides). */
int pp_sim_run_params(const pp_sim_scene *s, const pp_sim_params *p, uint64_t seed, int split,
                      int frames, int height, int width, pp_sim_out *out);
void pp_sim_free(pp_sim_out *out);

/* The spec JSON (docs/SPEC.md) of a run, as a new object (caller deletes).
 * pp_sim_run already stores one in out->spec. */
cJSON *pp_sim_spec_json(const pp_sim_out *out);

/* ---- labels ---- */
/* Category colour used by overlays (RGB). */
void pp_sim_cat_color(int cat, uint8_t rgb[3]);
/* Overlay of the phenomenon maps on the video: dst gets the same size as out->video
 * (allocated here), each pixel blended towards its strongest category's colour. */
int pp_sim_overlay(const pp_sim_out *out, pp_video *dst);

/* ---- prompts ---- */
/* Every word the prompt templates can produce, sorted, unique, lowercase; prompts
 * are these words separated by single spaces, with ',' and '.' attached to the
 * preceding word. Returns the count; *words points to static storage. */
int pp_sim_vocab(const char *const **words);

/* The scene a prompt asks for (keyword rules derived from the templates) and the
 * evaluation spec (docs/SPEC.md) of a video generated from it at the given size:
 * no `states`, "source": "generated", objects and colours as the prompt says them,
 * the rest from a simulator run with seed (src/sim/prompt_parse.c). *spec is new
 * (caller deletes). -1 + pp_seterr when no scene matches or the size is bad. */
#define PP_HAVE_SPEC_FOR_PROMPT 1
int pp_sim_spec_for_prompt(const char *prompt, uint64_t seed, int frames, int height, int width,
                           cJSON **spec);
/* The classification alone (no simulator run): the scene, or NULL + pp_seterr. */
const pp_sim_scene *pp_sim_scene_for_prompt(const char *prompt);
#endif
