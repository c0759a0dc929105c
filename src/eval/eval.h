/* eval.h - the evaluator: how far a video is from physical law.
 *
 * Input: an RGB video and its scene spec (docs/SPEC.md). Output: a report with
 *   - measured values (named numbers; NaN = not applicable),
 *   - rule checks {name, value, tolerance, pass} (docs/EVAL.md lists each and its
 *     tolerance), pc_pass = all checks pass,
 *   - semantic-adherence detectors per category named by the spec, sa_pass,
 *   - with cond_frames = K > 0 (the PhyWorld protocol: frames >= K are predictions)
 *     the ground-truth comparisons: velocity_error (mean |v - v_true|, units/s),
 *     radius drift, collision momentum/energy error, plume rise speed and mass drift,
 *     motion-mask IoU (Physics-IQ spatial and spatiotemporal).
 * Everything is in world units (10x10 world, y up, dt = 0.1 s by default). */
#ifndef PP_EVAL_H
#define PP_EVAL_H
#include <stdint.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include "base/categories.h"
#include "io/video.h"

#define PP_EVAL_MAX_OBJ 8
#define PP_EVAL_MAX_PARAMS 16
#define PP_EVAL_MAX_REGIONS 4
#define PP_EVAL_MAX_CHECKS 48
#define PP_EVAL_MAX_MEASURES 48
#define PP_EVAL_MAX_SA 8

/* ---- the spec (docs/SPEC.md), parsed and type-checked ---- */
typedef struct {
    float x, y, vx, vy, r;
    int visible, inside; /* inside defaults to visible when absent */
} pp_eval_ostate;

typedef struct {
    float mass, cx, cy, top;
} pp_eval_fluid;

typedef struct {
    char format[32], scene[64], split[8], prompt[512];
    long long seed;
    float cats[PP_NCAT];
    float world_w, world_h, dt, gravity;
    int y_up;
    int frames, height, width; /* video size */
    float fps;
    int nparam;
    char pname[PP_EVAL_MAX_PARAMS][32];
    double pval[PP_EVAL_MAX_PARAMS];
    int nobj;
    char oname[PP_EVAL_MAX_OBJ][32], okind[PP_EVAL_MAX_OBJ][16];
    uint8_t ocolor[PP_EVAL_MAX_OBJ][3];
    int nstates;          /* 0 when the spec carries no ground truth */
    pp_eval_ostate *st;   /* [nstates][nobj] */
    int has_fluid;
    pp_eval_fluid *fluid; /* [nstates] when has_fluid */
    int nregion;
    int rcat[PP_EVAL_MAX_REGIONS];
    float rx0[PP_EVAL_MAX_REGIONS], rx1[PP_EVAL_MAX_REGIONS];
} pp_eval_spec;

/* Parse and type-check. Unknown fields are ignored; a known field of the wrong
 * type or out of range is an error naming it, and so is a spec the evaluator
 * cannot judge:
 *   scene        a scene of `prophy sim --list`;  split "id", "ood" or absent
 *   seed         an integer in [0, 2^53)
 *   categories   exactly 17 numbers in [0, 1]
 *   world        width, height in (0, 1e6], dt in (0, 100], gravity in [-1e6, 1e6]
 *   video        frames [1, 100000], height, width [1, 16384] (integers), fps [0.001, 1000]
 *   params       at most 16 numeric entries, names shorter than 32 bytes
 *   objects      at most 8, kind ball/block/plume/liquid/ice/particles, color [r,g,b]
 *   states       none, or one per frame, each with one entry per object; every
 *                number within [-1e6, 1e6]
 *   regions      at most 4, category one of the 17, x0 < x1 within [-1e6, 1e6] */
#define PP_EVAL_MAX_WORLD 1e6
#define PP_EVAL_MAX_DT 100.0
int pp_eval_spec_from_json(const cJSON *j, pp_eval_spec *s);
int pp_eval_spec_parse(const char *text, pp_eval_spec *s);
int pp_eval_spec_load(const char *path, pp_eval_spec *s);
void pp_eval_spec_free(pp_eval_spec *s);
double pp_eval_spec_param(const pp_eval_spec *s, const char *name); /* NaN if absent */
/* The spec's video size must match the video's (frames, height, width). */
int pp_eval_spec_check_video(const pp_eval_spec *s, const pp_video *v);

/* ---- parsing objects out of frames ---- */
typedef struct {
    int found;          /* enough pixels of the colour */
    int border;         /* the mask touches the frame edge (partly outside) */
    float x, y, r;      /* world units: centroid, radius = sqrt(area / pi) */
    float area_px;
} pp_eval_obs;

typedef enum { PP_PARSE_SOFT = 0, PP_PARSE_THRESHOLD = 1 } pp_eval_parser;

/* Pixel class of colour c: every channel on the same side of 127 as c's channel
 * (for red (255,0,0): R > 127, G <= 127, B <= 127 - PhyWorld's rule). */
int pp_eval_color_match(const uint8_t *px, const uint8_t c[3]);
/* Parse object colour c in frame f, columns [col0, col1). */
void pp_eval_parse_object(const pp_video *v, const pp_eval_spec *s, int f, const uint8_t c[3],
                          int col0, int col1, pp_eval_parser mode, pp_eval_obs *o);

/* ---- the report ---- */
typedef struct {
    char name[48];
    double value, tolerance;
    int pass;
} pp_eval_check;

typedef struct {
    char name[40];
    double value;
} pp_eval_measure;

typedef struct {
    int cond_frames;               /* K (0 = unconditioned only) */
    pp_eval_parser parser;
    const float *maps;             /* optional per-token maps [ncat][F'][H'][W'] (see loc) */
    int map_cats, map_f, map_h, map_w;
} pp_eval_opts;

typedef struct {
    int nchecks;
    pp_eval_check checks[PP_EVAL_MAX_CHECKS];
    int nmeasures;
    pp_eval_measure measures[PP_EVAL_MAX_MEASURES];
    int nsa;
    pp_eval_check sa[PP_EVAL_MAX_SA]; /* one detector per named category */
    int pc_pass, sa_pass;
    int cond_frames;
    double velocity_error;         /* NaN when not applicable */
} pp_eval_report;

int pp_eval_run(const pp_video *v, const pp_eval_spec *s, const pp_eval_opts *o, pp_eval_report *r);
double pp_eval_measure_get(const pp_eval_report *r, const char *name); /* NaN if absent */
const pp_eval_check *pp_eval_check_get(const pp_eval_report *r, const char *name);
cJSON *pp_eval_report_json(const pp_eval_report *r, const pp_eval_spec *s);
void pp_eval_report_print(const pp_eval_report *r, const pp_eval_spec *s, FILE *f);

/* ---- localisation ---- */
/* IoU of a soft map m [F'][H'][W'] against the ground-truth map g [F][H][W] after
 * resampling m to g's grid (nearest in time, bilinear in space); both binarised at
 * thr. Returns NaN when both are empty. */
double pp_eval_map_iou(const float *m, int mf, int mh, int mw, const float *g, int f, int h, int w,
                       float thr);

/* ---- corruptions (sensitivity tests) ---- */
typedef enum {
    PP_CORRUPT_FLIP_V, PP_CORRUPT_TIME_REVERSE, PP_CORRUPT_TELEPORT, PP_CORRUPT_FREEZE,
    PP_CORRUPT_GROW, PP_CORRUPT_BOUNCE_HIGHER, PP_CORRUPT_LOSE_BALL, PP_CORRUPT_N
} pp_eval_corruption;
extern const char *const pp_eval_corruption_names[PP_CORRUPT_N];
/* Corrupt v in place (s describes it). -1 when the corruption does not apply. */
int pp_eval_corrupt(pp_video *v, const pp_eval_spec *s, pp_eval_corruption c, uint64_t seed);
#endif
