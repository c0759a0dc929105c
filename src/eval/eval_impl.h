/* eval_impl.h - internals shared by the files of src/eval (not a public API). */
#ifndef PP_EVAL_IMPL_H
#define PP_EVAL_IMPL_H
#include <stddef.h>
#include "eval/eval.h"
#include "sim/sim.h"

#define EV_MAX_SEG 8

typedef struct {
    int nseg, npts[EV_MAX_SEG];
    double t0[EV_MAX_SEG], p[EV_MAX_SEG], v[EV_MAX_SEG];
    double a, max_res;
} ev_fit;

int pp_ev_solve(double *A, double *b, int n);
int pp_ev_joint_fit(const double *t, const double *p, const int *seg, int n, int nseg, int accel, ev_fit *fit);
double pp_ev_fit_eval(const ev_fit *f, int s, double t);
double pp_ev_fit_vel(const ev_fit *f, int s, double t);
double pp_ev_slope(const double *x, const double *y, int n);

/* Per-frame summary of a fluid-like object (checks_fluid.c). */
typedef struct {
    double mass, cx, cy, top, bottom, spread;
    double pool_w; /* width of the lowest 0.6 units of the mass */
} ev_fluid_frame;

/* Everything one evaluation works on. */
typedef struct {
    const pp_video *v;
    const pp_eval_spec *s;
    const pp_eval_opts *o;
    pp_eval_report *r;
    float upx;                       /* world units per pixel (mean of x and y) */
    int col0[PP_EVAL_MAX_OBJ], col1[PP_EVAL_MAX_OBJ];
    pp_eval_obs *obs[PP_EVAL_MAX_OBJ]; /* [F] per object of kind ball/block (else NULL) */
    ev_fluid_frame *ff[PP_EVAL_MAX_OBJ]; /* [F] per plume/liquid/ice/particles object (else NULL) */
} ev_ctx;

/* Report helpers (eval.c). */
void pp_ev_check(pp_eval_report *r, const char *name, double value, double tol, int pass);
void pp_ev_measure(pp_eval_report *r, const char *name, double value);
void pp_ev_sa(pp_eval_report *r, const char *name, double value, double tol, int pass);

/* Pixel <-> world (parse.c). */
float pp_ev_world_x(const pp_eval_spec *s, int W, float col);
float pp_ev_world_y(const pp_eval_spec *s, int H, float row);
float pp_ev_col(const pp_eval_spec *s, int W, float x);
float pp_ev_row(const pp_eval_spec *s, int H, float y);
/* Background colour of frame f: the most common colour (4-bit bins, averaged). */
void pp_ev_frame_bg(const pp_video *v, int f, int col0, int col1, float bg[3]);
int pp_ev_obj_is_rigid(const pp_eval_spec *s, int i); /* kind ball or block */
/* World x range of object i's composite region (the whole width without regions). */
void pp_ev_obj_region(const pp_eval_spec *s, int i, float *x0, float *x1);

/* Checks (checks_ball.c, checks_fluid.c), semantic detectors (sa.c), ground truth (cond.c). */
void pp_ev_checks_balls(ev_ctx *c);
void pp_ev_checks_fluid(ev_ctx *c);
void pp_ev_semantic(ev_ctx *c);
void pp_ev_conditioned(ev_ctx *c);
void pp_ev_motion_iou(ev_ctx *c);   /* loc.c */
void pp_ev_localisation(ev_ctx *c); /* loc.c */
int pp_ev_resim(const pp_eval_spec *s, pp_sim_out *out); /* loc.c */
int pp_ev_has_cat(const pp_eval_spec *s, int cat);
int pp_ev_is_flame(const pp_eval_spec *s, int i);
int pp_ev_is_fluid_kind(const pp_eval_spec *s, int i); /* plume, liquid, ice, particles */
/* Density of object i at pixel p over background bg (checks_fluid.c). */
double pp_ev_density(const pp_eval_spec *s, int i, const uint8_t *p, const float bg[3]);
void pp_ev_fluid_features(const ev_ctx *c, int i, int f, ev_fluid_frame *ff);
/* Features of object i in every frame (ice measured as a block where it is one). */
void pp_ev_fluid_track(const ev_ctx *c, int i, ev_fluid_frame *ff);
#endif
