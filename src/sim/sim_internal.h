/* sim_internal.h - shared pieces of the simulator's implementation: the run
 * context, drawing primitives (render.c), phenomenon modules (sim_*.c) and
 * prompt phrases (prompt.c). Not part of the public API. */
#ifndef PP_SIM_INTERNAL_H
#define PP_SIM_INTERNAL_H
#include <math.h>
#include "base/common.h"
#include "base/rng.h"
#include "sim.h"

typedef struct { float x0, x1, y0, y1; } sim_rect; /* world units */

typedef struct pp_sim_ctx {
    pp_sim_out *out;
    const pp_sim_params *p;
    pp_rng rng;        /* scene randomness (independent of the parameter stream) */
    pp_rng prng;       /* prompt wording */
    int F, H, W;
    float T;           /* duration (F-1)*dt, s */
    float *img;        /* [H][W][3] current frame, 0..255 */
    int frame;         /* frame being drawn */
    float ppu_x, ppu_y; /* pixels per world unit */
    char clause[2][160]; /* prompt clauses written by modules (composites use both) */
    sim_rect obj_region[PP_SIM_MAX_OBJ]; /* each object's region: visible/inside refer to it */
    int nclause;
} pp_sim_ctx;

/* ---- context helpers (sim.c) ---- */
double pp_sim_p(pp_sim_ctx *c, const char *name); /* parameter value (0 if absent) */
/* Record a derived value (start position, direction...) in out->params. */
void pp_sim_derived(pp_sim_ctx *c, const char *name, double v);
float pp_sim_unif(pp_sim_ctx *c, float lo, float hi); /* scene rng */
int pp_sim_add_object(pp_sim_ctx *c, const char *name, const char *kind, const uint8_t rgb[3]);
void pp_sim_object_region(pp_sim_ctx *c, int obj, sim_rect r); /* default: the whole world */
pp_sim_state *pp_sim_state_at(pp_sim_ctx *c, int f);
void pp_sim_add_region(pp_sim_ctx *c, int cat, sim_rect r);
float pp_sim_frame_t(int f); /* = f * dt */
/* A prompt clause (lowercase, no final period). */
void pp_sim_clause(pp_sim_ctx *c, const char *text);

/* ---- drawing (render.c): all in world units, into c->img and c->out->maps[.][c->frame] ---- */
void pp_sim_draw_clear(pp_sim_ctx *c, const float rgb[3]);
/* Fill the axis-aligned rect (anti-aliased edges) with colour. */
void pp_sim_draw_rect(pp_sim_ctx *c, sim_rect r, const float rgb[3], float alpha);
/* Ellipse centred (x,y) with semi-axes rx, ry: colour blended by coverage*alpha; the
 * coverage (times map_w) is max-ed into map channel cat (cat < 0: none). */
void pp_sim_draw_ellipse(pp_sim_ctx *c, float x, float y, float rx, float ry, const float rgb[3],
                  float alpha, int cat, float map_w);
/* Rounded rect (corner radius rad) the same way. */
void pp_sim_draw_rrect(pp_sim_ctx *c, sim_rect r, float rad, const float rgb[3], float alpha, int cat,
                float map_w);
/* Map only: the capsule from (x0,y0) to (x1,y1) of radius r, value w * coverage. */
void pp_sim_map_capsule(pp_sim_ctx *c, int cat, float x0, float y0, float x1, float y1, float r, float w);
/* Map only: a soft blob, w inside radius, falling linearly to 0 at 1.5 * radius. */
void pp_sim_map_blob(pp_sim_ctx *c, int cat, float x, float y, float radius, float w);
/* A scalar field on a grid [ny][nx] over rect (cell centres), sampled bilinearly
 * at each pixel inside rect: fn maps the value to (rgb, alpha); the map gets
 * map_w * alpha (or the field clamped, see render.c). */
typedef void (*field_color_fn)(float v, float v2, float rgb[3], float *alpha);
void pp_sim_draw_field(pp_sim_ctx *c, sim_rect r, int nx, int ny, const float *field, const float *field2,
                field_color_fn fn, int cat, float map_w);
float pp_sim_clampf(float x, float lo, float hi);

/* ---- modules ---- */
/* Ball systems (sim_balls.c): rigid balls with gravity, optional floor and walls,
 * exact event-driven elastic collisions. */
typedef struct {
    int n;                  /* balls */
    int obj[2];             /* object indices */
    double x[2], y[2], vx[2], vy[2], r[2], m[2];
    float col[2][3];
    int resting[2];
    double g;               /* gravity, units/s^2 down */
    int has_floor;
    double floor_y, e;      /* floor height, restitution */
    int has_walls;
    double wx0, wx1;        /* wall x positions */
    int mirror;             /* draw a reflection below mirror_y */
    double mirror_y;
    int cat_motion, cat_event; /* map channels: motion footprint, contact events */
    int nev;
    float ev_t[64], ev_x[64], ev_y[64], ev_r[64];
    float (*traj)[2][4];    /* [F][ball] = x, y, vx, vy */
    sim_rect region;
} sim_balls;

void pp_sim_balls_setup_uniform(pp_sim_ctx *c, sim_balls *b, sim_rect reg);
void pp_sim_balls_setup_parabola(pp_sim_ctx *c, sim_balls *b, sim_rect reg);
void pp_sim_balls_setup_collision(pp_sim_ctx *c, sim_balls *b, sim_rect reg);
void pp_sim_balls_setup_bounce(pp_sim_ctx *c, sim_balls *b, sim_rect reg);
void pp_sim_balls_setup_reflection(pp_sim_ctx *c, sim_balls *b, sim_rect reg);
void pp_sim_balls_simulate(pp_sim_ctx *c, sim_balls *b);
void pp_sim_balls_draw(pp_sim_ctx *c, sim_balls *b, int f);
void pp_sim_balls_free(sim_balls *b);

/* Grid fluids (sim_fluid.c): stable fluids with buoyancy: smoke or flame. */
typedef struct sim_fluid sim_fluid;
sim_fluid *pp_sim_fluid_setup(pp_sim_ctx *c, sim_rect reg, int flame);
void pp_sim_fluid_simulate(pp_sim_ctx *c, sim_fluid *s);
void pp_sim_fluid_draw(pp_sim_ctx *c, sim_fluid *s, int f);
void pp_sim_fluid_free(sim_fluid *s);

/* Other phenomena (sim_misc.c). Each keeps its per-frame data internally. */
typedef struct sim_misc sim_misc;
sim_misc *pp_sim_liquid_setup(pp_sim_ctx *c, sim_rect reg);
sim_misc *pp_sim_melting_setup(pp_sim_ctx *c, sim_rect reg);
sim_misc *pp_sim_explosion_setup(pp_sim_ctx *c, sim_rect reg);
sim_misc *pp_sim_deform_setup(pp_sim_ctx *c, sim_rect reg);
void pp_sim_misc_simulate(pp_sim_ctx *c, sim_misc *m);
void pp_sim_misc_draw(pp_sim_ctx *c, sim_misc *m, int f);
void pp_sim_misc_free(sim_misc *m);

/* ---- prompt phrases (prompt.c) ---- */
/* A random phrase from a named word list (see prompt.c's table); "" if unknown. */
const char *pp_sim_word(pp_sim_ctx *c, const char *list);
/* Speed in words for a speed in units/s. */
const char *pp_sim_word_speed(pp_sim_ctx *c, double v);
/* Colour name of a palette colour index. */
const char *pp_sim_word_color(int idx);
/* Add a prompt clause from a random template of list tpl: each {slot} is filled
 * from kv (NULL-terminated key, value pairs) or else from the word list named slot. */
void pp_sim_say(pp_sim_ctx *c, const char *tpl, const char *const *kv);
/* Build out->prompt from the clauses (composites join two). */
void pp_sim_prompt_finish(pp_sim_ctx *c);

/* Ball palette (pure channels so colour-threshold parsers work). */
enum { PAL_RED, PAL_BLUE, PAL_GREEN, PAL_PURPLE, PAL_N };
extern const uint8_t pp_sim_palette[PAL_N][3];
#endif
