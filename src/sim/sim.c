/* sim.c - the scene table, parameters, the run driver and the labels around it. */
#include <stdlib.h>
#include <string.h>
#include "sim/sim_internal.h"

/* ---------------------------------------------------------------- scenes */

static int run_uniform(pp_sim_ctx *c);
static int run_parabola(pp_sim_ctx *c);
static int run_collision(pp_sim_ctx *c);
static int run_bounce(pp_sim_ctx *c);
static int run_smoke(pp_sim_ctx *c);
static int run_flame(pp_sim_ctx *c);
static int run_liquid(pp_sim_ctx *c);
static int run_melting(pp_sim_ctx *c);
static int run_explosion(pp_sim_ctx *c);
static int run_reflection(pp_sim_ctx *c);
static int run_deformation(pp_sim_ctx *c);
static int run_bounce_smoke(pp_sim_ctx *c);
static int run_collision_flame(pp_sim_ctx *c);
static int run_melting_explosion(pp_sim_ctx *c);

/* PhyWorld (Kang et al. 2024) ranges: radius ID [0.7,1.4], OOD [0.3,0.6] u [1.5,2.0];
 * speed ID [1,4], OOD [0,0.8] u [4.5,6.0]. */
#define P_R {"r", "units", 0.05, 3.0, 0.7, 1.4, {{0.3, 0.6}, {1.5, 2.0}}}
#define P_V {"v", "units/s", 0.0, 20.0, 1.0, 4.0, {{0.0, 0.8}, {4.5, 6.0}}}
#define P_R1 {"r1", "units", 0.05, 3.0, 0.7, 1.4, {{0.3, 0.6}, {1.5, 2.0}}}
#define P_R2 {"r2", "units", 0.05, 3.0, 0.7, 1.4, {{0.3, 0.6}, {1.5, 2.0}}}
#define P_V1 {"v1", "units/s", 0.0, 20.0, 1.0, 4.0, {{0.0, 0.8}, {4.5, 6.0}}}
#define P_V2 {"v2", "units/s", 0.0, 20.0, 0.0, 2.0, {{2.5, 4.0}, {0, 0}}}
/* small balls for composites (half-width regions) */
#define P_SR1 {"r1", "units", 0.05, 2.0, 0.55, 0.8, {{0.35, 0.5}, {0.85, 1.0}}}
#define P_SR2 {"r2", "units", 0.05, 2.0, 0.55, 0.8, {{0.35, 0.5}, {0.85, 1.0}}}
#define P_SV1 {"v1", "units/s", 0.0, 20.0, 0.8, 2.5, {{0.0, 0.6}, {3.0, 4.0}}}
#define P_SV2 {"v2", "units/s", 0.0, 20.0, 0.0, 1.2, {{1.5, 2.5}, {0, 0}}}
#define P_BR {"r", "units", 0.05, 2.0, 0.4, 0.8, {{0.28, 0.36}, {0.9, 1.2}}}
#define P_BH {"h", "units", 0.0, 8.0, 3.0, 6.0, {{1.5, 2.5}, {6.5, 7.5}}}
#define P_BE {"restitution", "", 0.0, 0.999, 0.6, 0.85, {{0.3, 0.5}, {0.9, 0.97}}}
#define P_BVX {"vx", "units/s", -10.0, 10.0, -1.5, 1.5, {{0, 0}, {0, 0}}}
#define P_SMOKE                                                               \
    {"buoyancy", "units/s^2", 0.0, 60.0, 15.0, 25.0, {{8.0, 11.0}, {28.0, 35.0}}}, \
    {"emission", "1/s", 0.01, 10.0, 1.0, 2.0, {{0.4, 0.7}, {2.5, 3.5}}},     \
    {"wind", "units/s", -3.0, 3.0, -0.4, 0.4, {{-1.0, -0.6}, {0.6, 1.0}}},   \
    {"source_x", "", 0.0, 1.0, 0.35, 0.65, {{0, 0}, {0, 0}}}
#define P_FLAME                                                               \
    {"heat", "1/s", 0.01, 10.0, 1.0, 2.0, {{0.5, 0.8}, {2.5, 3.0}}},         \
    {"cooling", "1/s", 0.0, 20.0, 1.0, 1.6, {{0.5, 0.8}, {2.0, 2.5}}},       \
    {"flame_buoyancy", "units/s^2", 0.0, 60.0, 12.0, 18.0, {{7.0, 10.0}, {20.0, 24.0}}}, \
    {"flame_wind", "units/s", -3.0, 3.0, -0.3, 0.3, {{-0.8, -0.5}, {0.5, 0.8}}}
#define P_EXPL                                                                \
    {"energy", "units/s", 0.0, 30.0, 3.0, 5.0, {{1.5, 2.5}, {6.0, 8.0}}},    \
    {"drag", "1/s", 0.0, 20.0, 1.0, 2.0, {{0.3, 0.7}, {2.5, 3.5}}}
#define P_MELT                                                                \
    {"size", "units", 0.1, 6.0, 2.0, 3.0, {{1.2, 1.7}, {3.3, 4.0}}},         \
    {"melt_rate", "1/s", 0.0, 10.0, 0.4, 0.6, {{0.15, 0.3}, {0.7, 0.9}}}

static const pp_sim_scene g_scenes[] = {
    {"uniform_motion", "PhyWorld: a red ball moving at constant velocity", 1, {PP_CAT_RIGID_BODY},
     2, {P_R, P_V}, 0.0f, run_uniform},
    {"parabola", "PhyWorld: a red ball thrown horizontally, gravity 2.5 units/s^2", 1,
     {PP_CAT_RIGID_BODY}, 2, {P_R, P_V}, 2.5f, run_parabola},
    {"collision", "PhyWorld: red and blue balls in an elastic head-on collision, mass ~ r^2", 2,
     {PP_CAT_COLLISION, PP_CAT_RIGID_BODY}, 4, {P_R1, P_R2, P_V1, P_V2}, 0.0f, run_collision},
    {"bounce", "a ball bouncing on a floor with restitution e < 1", 1, {PP_CAT_ELASTIC}, 4,
     {P_BR, P_BH, P_BE, P_BVX}, 9.8f, run_bounce},
    {"smoke", "smoke rising: 2D stable fluids with buoyancy", 1, {PP_CAT_GAS}, 4, {P_SMOKE}, 0.0f,
     run_smoke},
    {"flame", "a flame: buoyant hot plume, temperature drives colour", 1, {PP_CAT_COMBUSTION}, 4,
     {P_FLAME}, 0.0f, run_flame},
    {"liquid", "water pouring from a spout and pooling on the floor (particles)", 1,
     {PP_CAT_LIQUID}, 2,
     {{"flow", "1/s", 1.0, 200.0, 25.0, 40.0, {{12.0, 18.0}, {45.0, 55.0}}},
      {"pour_vx", "units/s", -5.0, 5.0, 0.5, 1.5, {{0.0, 0.3}, {2.0, 2.5}}}},
     9.8f, run_liquid},
    {"melting", "an ice block shrinking into a spreading puddle", 1, {PP_CAT_MELTING}, 2, {P_MELT},
     0.0f, run_melting},
    {"explosion", "a burst of hot particles with drag and gravity", 1, {PP_CAT_EXPLOSION}, 2,
     {P_EXPL}, 2.5f, run_explosion},
    {"reflection", "a ball moving above a mirror-like floor", 2,
     {PP_CAT_REFLECTION, PP_CAT_RIGID_BODY}, 3,
     {{"r", "units", 0.05, 2.0, 0.5, 1.0, {{0.3, 0.45}, {1.1, 1.3}}}, P_V,
      {"gap", "units", 0.0, 5.0, 0.5, 2.0, {{0.1, 0.3}, {2.5, 3.0}}}},
     0.0f, run_reflection},
    {"deformation", "a soft ball squashing on impact with the floor", 1, {PP_CAT_DEFORMATION}, 4,
     {{"r", "units", 0.1, 2.0, 0.7, 1.1, {{0.4, 0.6}, {1.2, 1.4}}},
      {"h", "units", 0.0, 7.0, 1.5, 3.0, {{0.8, 1.2}, {3.5, 4.5}}},
      {"stiffness", "1/s", 1.0, 100.0, 18.0, 26.0, {{12.0, 15.0}, {28.0, 34.0}}},
      {"damping", "", 0.0, 2.0, 0.05, 0.2, {{0.0, 0.03}, {0.3, 0.4}}}},
     9.8f, run_deformation},
    {"bounce_smoke", "composite: a ball bouncing on the left, smoke rising on the right", 2,
     {PP_CAT_ELASTIC, PP_CAT_GAS}, 8, {P_BR, P_BH, P_BE, P_BVX, P_SMOKE}, 9.8f, run_bounce_smoke},
    {"collision_flame", "composite: two balls colliding on the left, a flame on the right", 3,
     {PP_CAT_COLLISION, PP_CAT_RIGID_BODY, PP_CAT_COMBUSTION}, 8,
     {P_SR1, P_SR2, P_SV1, P_SV2, P_FLAME}, 0.0f, run_collision_flame},
    {"melting_explosion", "composite: ice melting on the left, an explosion on the right", 2,
     {PP_CAT_MELTING, PP_CAT_EXPLOSION}, 4, {P_MELT, P_EXPL}, 2.5f, run_melting_explosion},
};
#define NSCENES (int)(sizeof g_scenes / sizeof g_scenes[0])

int pp_sim_nscenes(void) { return NSCENES; }
const pp_sim_scene *pp_sim_scene_at(int i) { return i >= 0 && i < NSCENES ? &g_scenes[i] : NULL; }
int pp_sim_scene_index(const pp_sim_scene *s) { return (int)(s - g_scenes); }

const pp_sim_scene *pp_sim_find(const char *name) {
    for (int i = 0; i < NSCENES; i++)
        if (!strcmp(g_scenes[i].name, name)) return &g_scenes[i];
    pp_seterr("unknown scene '%s' (see 'prophy sim --list')", name ? name : "");
    return NULL;
}

/* ------------------------------------------------------------ parameters */

static const uint64_t SEED_PARAMS = 0x70726f7068790001ULL, SEED_SCENE = 0x70726f7068790002ULL,
                      SEED_PROMPT = 0x70726f7068790003ULL;

static double sample_def(const pp_sim_param_def *d, int split, pp_rng *r) {
    double u = pp_rng_uniform_d(r);
    double w0 = d->ood[0][1] - d->ood[0][0], w1 = d->ood[1][1] - d->ood[1][0];
    int has_ood = (d->ood[0][0] != 0 || d->ood[0][1] != 0);
    if (split != PP_SPLIT_OOD || !has_ood) return d->id_lo + u * (d->id_hi - d->id_lo);
    if (w1 <= 0) return d->ood[0][0] + u * w0;
    double v = u * (w0 + w1); /* uniform over the union, by length */
    return v < w0 ? d->ood[0][0] + v : d->ood[1][0] + (v - w0);
}

void pp_sim_params_sample(const pp_sim_scene *s, uint64_t seed, int split, pp_sim_params *p) {
    pp_rng r;
    pp_rng_seed(&r, seed ^ SEED_PARAMS);
    memset(p, 0, sizeof *p);
    for (int i = 0; i < s->nparam; i++) {
        p->name[i] = s->params[i].name;
        p->value[i] = sample_def(&s->params[i], split, &r);
    }
    p->n = s->nparam;
}

int pp_sim_params_set(const pp_sim_scene *s, pp_sim_params *p, const char *name, double v) {
    for (int i = 0; i < s->nparam; i++) {
        const pp_sim_param_def *d = &s->params[i];
        if (strcmp(d->name, name)) continue;
        if (!(v >= d->valid_lo && v <= d->valid_hi))
            PP_FAIL("parameter %s = %g is impossible for scene %s (valid range [%g, %g])", name, v,
                    s->name, d->valid_lo, d->valid_hi);
        p->value[i] = v;
        return 0;
    }
    PP_FAIL("scene %s has no parameter '%s'", s->name, name);
}

double pp_sim_param(const pp_sim_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->name[i], name)) return p->value[i];
    return NAN;
}

int pp_sim_param_in_split(const pp_sim_param_def *d, double v, int split) {
    int has_ood = (d->ood[0][0] != 0 || d->ood[0][1] != 0);
    if (split != PP_SPLIT_OOD || !has_ood) return v >= d->id_lo && v <= d->id_hi;
    for (int k = 0; k < 2; k++)
        if (d->ood[k][1] > d->ood[k][0] && v >= d->ood[k][0] && v <= d->ood[k][1]) return 1;
    return 0;
}

/* --------------------------------------------------------- context helpers */

double pp_sim_p(pp_sim_ctx *c, const char *name) {
    double v = pp_sim_param(c->p, name);
    return isnan(v) ? 0.0 : v;
}

void pp_sim_derived(pp_sim_ctx *c, const char *name, double v) {
    pp_sim_params *p = &c->out->params;
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->name[i], name)) {
            p->value[i] = v;
            return;
        }
    if (p->n == PP_SIM_MAX_PARAMS) return;
    p->name[p->n] = name;
    p->value[p->n++] = v;
}

float pp_sim_unif(pp_sim_ctx *c, float lo, float hi) { return lo + (hi - lo) * pp_rng_uniform(&c->rng); }

int pp_sim_add_object(pp_sim_ctx *c, const char *name, const char *kind, const uint8_t rgb[3]) {
    pp_sim_out *o = c->out;
    if (o->nobj == PP_SIM_MAX_OBJ) return PP_SIM_MAX_OBJ - 1;
    pp_sim_object *ob = &o->objects[o->nobj];
    ob->name = name;
    ob->kind = kind;
    memcpy(ob->color, rgb, 3);
    c->obj_region[o->nobj] = (sim_rect){0, PP_SIM_WORLD, 0, PP_SIM_WORLD};
    return o->nobj++;
}

void pp_sim_object_region(pp_sim_ctx *c, int obj, sim_rect r) {
    if (obj >= 0 && obj < PP_SIM_MAX_OBJ) c->obj_region[obj] = r;
}

pp_sim_state *pp_sim_state_at(pp_sim_ctx *c, int f) { return &c->out->states[f]; }

void pp_sim_add_region(pp_sim_ctx *c, int cat, sim_rect r) {
    pp_sim_out *o = c->out;
    if (o->nregion == PP_SIM_MAX_REGIONS) return;
    o->regions[o->nregion++] = (pp_sim_region){cat, r.x0, r.x1, r.y0, r.y1};
}

float pp_sim_frame_t(int f) { return (float)f * PP_SIM_DT; }

void pp_sim_clause(pp_sim_ctx *c, const char *text) {
    if (c->nclause == 2) return;
    snprintf(c->clause[c->nclause++], sizeof c->clause[0], "%s", text);
}

/* ------------------------------------------------------------- the runs */

static const float WHITE[3] = {255, 255, 255};
static const sim_rect FULL = {0, 10, 0, 10}, LEFT = {0, 5, 0, 10}, RIGHT = {5, 10, 0, 10};

/* Frame loop shared by all scenes: up to three modules of each kind. */
typedef struct {
    sim_balls *balls[2];
    sim_fluid *fluid[2];
    sim_misc *misc[2];
} sim_mods;

static void finish_frame(pp_sim_ctx *c, int f) {
    uint8_t *dst = pp_video_frame(&c->out->video, f);
    size_t n = (size_t)c->H * c->W * 3;
    for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)(pp_sim_clampf(c->img[i], 0, 255) + 0.5f);
}

static int render_all(pp_sim_ctx *c, sim_mods *m) {
    for (int k = 0; k < 2; k++) {
        if (m->balls[k]) pp_sim_balls_simulate(c, m->balls[k]);
        if (m->fluid[k]) pp_sim_fluid_simulate(c, m->fluid[k]);
        if (m->misc[k]) pp_sim_misc_simulate(c, m->misc[k]);
    }
    for (int f = 0; f < c->F; f++) {
        c->frame = f;
        pp_sim_draw_clear(c, WHITE);
        for (int k = 0; k < 2; k++) {
            if (m->misc[k]) pp_sim_misc_draw(c, m->misc[k], f);
            if (m->fluid[k]) pp_sim_fluid_draw(c, m->fluid[k], f);
            if (m->balls[k]) pp_sim_balls_draw(c, m->balls[k], f);
        }
        finish_frame(c, f);
    }
    for (int k = 0; k < 2; k++) {
        if (m->balls[k]) pp_sim_balls_free(m->balls[k]);
        if (m->fluid[k]) pp_sim_fluid_free(m->fluid[k]);
        if (m->misc[k]) pp_sim_misc_free(m->misc[k]);
    }
    return 0;
}

#define BALL_SCENE(fn, setup, reg)                                 \
    static int fn(pp_sim_ctx *c) {                                 \
        sim_balls b;                                               \
        setup(c, &b, reg);                                         \
        sim_mods m = {{&b, NULL}, {NULL, NULL}, {NULL, NULL}};     \
        return render_all(c, &m);                                  \
    }
BALL_SCENE(run_uniform, pp_sim_balls_setup_uniform, FULL)
BALL_SCENE(run_parabola, pp_sim_balls_setup_parabola, FULL)
BALL_SCENE(run_collision, pp_sim_balls_setup_collision, FULL)
BALL_SCENE(run_bounce, pp_sim_balls_setup_bounce, FULL)
BALL_SCENE(run_reflection, pp_sim_balls_setup_reflection, FULL)

static int run_fluid(pp_sim_ctx *c, int flame) {
    sim_mods m = {{NULL, NULL}, {pp_sim_fluid_setup(c, FULL, flame), NULL}, {NULL, NULL}};
    return render_all(c, &m);
}
static int run_smoke(pp_sim_ctx *c) { return run_fluid(c, 0); }
static int run_flame(pp_sim_ctx *c) { return run_fluid(c, 1); }

#define MISC_SCENE(fn, setup)                                              \
    static int fn(pp_sim_ctx *c) {                                         \
        sim_mods m = {{NULL, NULL}, {NULL, NULL}, {setup(c, FULL), NULL}}; \
        return render_all(c, &m);                                          \
    }
MISC_SCENE(run_liquid, pp_sim_liquid_setup)
MISC_SCENE(run_melting, pp_sim_melting_setup)
MISC_SCENE(run_explosion, pp_sim_explosion_setup)
MISC_SCENE(run_deformation, pp_sim_deform_setup)

static int run_bounce_smoke(pp_sim_ctx *c) {
    sim_balls b;
    pp_sim_balls_setup_bounce(c, &b, LEFT);
    sim_mods m = {{&b, NULL}, {pp_sim_fluid_setup(c, RIGHT, 0), NULL}, {NULL, NULL}};
    pp_sim_add_region(c, PP_CAT_ELASTIC, LEFT);
    pp_sim_add_region(c, PP_CAT_GAS, RIGHT);
    return render_all(c, &m);
}

static int run_collision_flame(pp_sim_ctx *c) {
    const sim_rect l = {0, 6.5f, 0, 10}, r = {6.5f, 10, 0, 10};
    sim_balls b;
    pp_sim_balls_setup_collision(c, &b, l);
    sim_mods m = {{&b, NULL}, {pp_sim_fluid_setup(c, r, 1), NULL}, {NULL, NULL}};
    pp_sim_add_region(c, PP_CAT_COLLISION, l);
    pp_sim_add_region(c, PP_CAT_RIGID_BODY, l);
    pp_sim_add_region(c, PP_CAT_COMBUSTION, r);
    return render_all(c, &m);
}

static int run_melting_explosion(pp_sim_ctx *c) {
    sim_mods m = {{NULL, NULL}, {NULL, NULL}, {pp_sim_melting_setup(c, LEFT), pp_sim_explosion_setup(c, RIGHT)}};
    pp_sim_add_region(c, PP_CAT_MELTING, LEFT);
    pp_sim_add_region(c, PP_CAT_EXPLOSION, RIGHT);
    return render_all(c, &m);
}

/* ----------------------------------------------------------- the driver */

int pp_sim_check_size(int frames, int height, int width) {
    if (frames < 1 || frames > PP_SIM_MAX_FRAMES)
        PP_FAIL("frames must be in [1, %d], got %d", PP_SIM_MAX_FRAMES, frames);
    if (height < 8 || height > PP_SIM_MAX_SIZE || width < 8 || width > PP_SIM_MAX_SIZE)
        PP_FAIL("size %dx%d is out of range (width and height in [8, %d])", width, height,
                PP_SIM_MAX_SIZE);
    if ((double)frames * height * width > (double)(1 << 23))
        PP_FAIL("video too large: %d frames of %dx%d exceeds %d pixel-frames", frames, width,
                height, 1 << 23);
    return 0;
}

int pp_sim_run(const pp_sim_scene *s, uint64_t seed, int split, int frames, int height, int width,
               pp_sim_out *out) {
    pp_sim_params p;
    pp_sim_params_sample(s, seed, split, &p);
    return pp_sim_run_params(s, &p, seed, split, frames, height, width, out);
}

static void compute_background(pp_sim_out *o) {
    size_t n = (size_t)o->frames * o->height * o->width;
    for (size_t i = 0; i < n; i++) {
        float m = 0;
        for (int k = 0; k < PP_NCAT; k++) m = fmaxf(m, o->maps[(size_t)k * n + i]);
        o->bg[i] = 1.0f - pp_sim_clampf(m, 0, 1);
    }
}

/* States: visible / inside flags from the positions, relative to each object's
 * region (the whole world, or its half of a composite). */
static void finish_states(pp_sim_ctx *c) {
    pp_sim_out *o = c->out;
    for (int f = 0; f < o->frames; f++)
        for (int k = 0; k < o->nobj; k++) {
            pp_sim_obj_state *st = &o->states[f].obj[k];
            const sim_rect g = c->obj_region[k];
            float rx = st->rx > 0 ? st->rx : st->r, ry = st->ry > 0 ? st->ry : st->r;
            st->rx = rx;
            st->ry = ry;
            if (!st->visible) continue; /* a module hid it on purpose */
            st->visible = st->x + rx > g.x0 && st->x - rx < g.x1 && st->y + ry > g.y0 && st->y - ry < g.y1;
            st->inside = st->x - rx >= g.x0 && st->x + rx <= g.x1 && st->y - ry >= g.y0 && st->y + ry <= g.y1;
        }
}

int pp_sim_run_params(const pp_sim_scene *s, const pp_sim_params *p, uint64_t seed, int split,
                      int frames, int height, int width, pp_sim_out *out) {
    memset(out, 0, sizeof *out);
    if (pp_sim_check_size(frames, height, width)) return -1;
    out->scene = s;
    out->seed = seed;
    out->split = split;
    out->frames = frames;
    out->height = height;
    out->width = width;
    out->params = *p;
    size_t n = (size_t)frames * height * width;
    char what[96];
    snprintf(what, sizeof what, "simulating %d frames of %dx%d", frames, width, height);
    if (pp_mem_check(n * (3 + (PP_NCAT + 1) * sizeof(float)) + (size_t)height * width * 12, what)) return -1;
    if (pp_video_alloc(&out->video, frames, height, width, 1.0f / PP_SIM_DT)) return -1;
    out->maps = pp_calloc(n * PP_NCAT, sizeof(float));
    out->bg = pp_malloc(n * sizeof(float));
    out->states = pp_calloc((size_t)frames, sizeof(pp_sim_state));
    for (int k = 0; k < s->ncat; k++) out->cats[s->cats[k]] = 1.0f;

    pp_sim_ctx c = {.out = out, .p = p, .F = frames, .H = height, .W = width};
    c.T = (float)(frames - 1) * PP_SIM_DT;
    c.ppu_x = (float)width / PP_SIM_WORLD;
    c.ppu_y = (float)height / PP_SIM_WORLD;
    pp_rng_seed(&c.rng, seed ^ SEED_SCENE);
    pp_rng_seed(&c.prng, seed ^ SEED_PROMPT);
    c.img = pp_malloc((size_t)height * width * 3 * sizeof(float));
    for (int f = 0; f < frames; f++) pp_sim_state_at(&c, f)->t = pp_sim_frame_t(f);
    int rc = s->run(&c);
    free(c.img);
    if (rc) {
        pp_sim_free(out);
        return -1;
    }
    finish_states(&c);
    compute_background(out);
    pp_sim_prompt_finish(&c);
    out->spec = pp_sim_spec_json(out);
    return 0;
}

void pp_sim_free(pp_sim_out *out) {
    pp_video_free(&out->video);
    free(out->maps);
    free(out->bg);
    free(out->states);
    if (out->spec) cJSON_Delete(out->spec);
    memset(out, 0, sizeof *out);
}

/* ------------------------------------------------------------ spec JSON */

static cJSON *num_array(const float *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

/* Round to 6 significant digits so specs stay small and stable. */
static double r6(double v) {
    char b[32];
    snprintf(b, sizeof b, "%.6g", v);
    return atof(b);
}

static cJSON *state_json(const pp_sim_out *o, int f) {
    const pp_sim_state *st = &o->states[f];
    cJSON *j = cJSON_CreateObject(), *objs = cJSON_AddArrayToObject(j, "objects");
    cJSON_AddNumberToObject(j, "t", r6(st->t));
    for (int k = 0; k < o->nobj; k++) {
        const pp_sim_obj_state *s = &st->obj[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "x", r6(s->x));
        cJSON_AddNumberToObject(e, "y", r6(s->y));
        cJSON_AddNumberToObject(e, "vx", r6(s->vx));
        cJSON_AddNumberToObject(e, "vy", r6(s->vy));
        cJSON_AddNumberToObject(e, "r", r6(s->r));
        cJSON_AddNumberToObject(e, "rx", r6(s->rx));
        cJSON_AddNumberToObject(e, "ry", r6(s->ry));
        cJSON_AddBoolToObject(e, "visible", s->visible);
        cJSON_AddBoolToObject(e, "inside", s->inside);
        cJSON_AddItemToArray(objs, e);
    }
    if (st->has_fluid) {
        cJSON *fl = cJSON_AddObjectToObject(j, "fluid");
        cJSON_AddNumberToObject(fl, "mass", r6(st->fluid.mass));
        cJSON_AddNumberToObject(fl, "cx", r6(st->fluid.cx));
        cJSON_AddNumberToObject(fl, "cy", r6(st->fluid.cy));
        cJSON_AddNumberToObject(fl, "top", r6(st->fluid.top));
        cJSON_AddNumberToObject(fl, "spread", r6(st->fluid.spread));
    }
    return j;
}

static void add_params_json(cJSON *j, const pp_sim_out *o) {
    cJSON *p = cJSON_AddObjectToObject(j, "params");
    for (int i = 0; i < o->params.n; i++)
        cJSON_AddNumberToObject(p, o->params.name[i], o->params.value[i]); /* exact: re-simulable */
    cJSON *ranges = cJSON_AddObjectToObject(j, "param_ranges");
    const pp_sim_scene *s = o->scene;
    for (int i = 0; i < s->nparam; i++) {
        const pp_sim_param_def *d = &s->params[i];
        cJSON *e = cJSON_AddObjectToObject(ranges, d->name);
        cJSON_AddStringToObject(e, "unit", d->unit);
        float id[2] = {(float)d->id_lo, (float)d->id_hi};
        cJSON_AddItemToObject(e, "id", num_array(id, 2));
        cJSON *ood = cJSON_AddArrayToObject(e, "ood");
        for (int k = 0; k < 2; k++)
            if (d->ood[k][1] > d->ood[k][0]) {
                float iv[2] = {(float)d->ood[k][0], (float)d->ood[k][1]};
                cJSON_AddItemToArray(ood, num_array(iv, 2));
            }
    }
}

cJSON *pp_sim_spec_json(const pp_sim_out *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "prophy-spec-1");
    cJSON_AddStringToObject(j, "scene", o->scene->name);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddStringToObject(j, "split", o->split == PP_SPLIT_OOD ? "ood" : "id");
    cJSON_AddStringToObject(j, "prompt", o->prompt);
    cJSON_AddItemToObject(j, "categories", num_array(o->cats, PP_NCAT));
    cJSON *names = cJSON_AddArrayToObject(j, "category_names");
    for (int k = 0; k < PP_NCAT; k++)
        if (o->cats[k] > 0) cJSON_AddItemToArray(names, cJSON_CreateString(pp_cat_names[k]));
    cJSON *w = cJSON_AddObjectToObject(j, "world");
    cJSON_AddNumberToObject(w, "width", PP_SIM_WORLD);
    cJSON_AddNumberToObject(w, "height", PP_SIM_WORLD);
    cJSON_AddNumberToObject(w, "dt", r6(PP_SIM_DT));
    cJSON_AddNumberToObject(w, "gravity", r6(o->scene->gravity));
    cJSON_AddBoolToObject(w, "y_up", 1);
    cJSON *v = cJSON_AddObjectToObject(j, "video");
    cJSON_AddNumberToObject(v, "frames", o->frames);
    cJSON_AddNumberToObject(v, "height", o->height);
    cJSON_AddNumberToObject(v, "width", o->width);
    cJSON_AddNumberToObject(v, "fps", r6(1.0 / PP_SIM_DT));
    add_params_json(j, o);
    cJSON *objs = cJSON_AddArrayToObject(j, "objects");
    for (int k = 0; k < o->nobj; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", o->objects[k].name);
        cJSON_AddStringToObject(e, "kind", o->objects[k].kind);
        float rgb[3] = {o->objects[k].color[0], o->objects[k].color[1], o->objects[k].color[2]};
        cJSON_AddItemToObject(e, "color", num_array(rgb, 3));
        cJSON_AddItemToArray(objs, e);
    }
    cJSON *states = cJSON_AddArrayToObject(j, "states");
    for (int f = 0; f < o->frames; f++) cJSON_AddItemToArray(states, state_json(o, f));
    cJSON *regs = cJSON_AddArrayToObject(j, "regions");
    for (int k = 0; k < o->nregion; k++) {
        const pp_sim_region *r = &o->regions[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "category", pp_cat_names[r->category]);
        cJSON_AddNumberToObject(e, "x0", r6(r->x0));
        cJSON_AddNumberToObject(e, "x1", r6(r->x1));
        cJSON_AddNumberToObject(e, "y0", r6(r->y0));
        cJSON_AddNumberToObject(e, "y1", r6(r->y1));
        cJSON_AddItemToArray(regs, e);
    }
    return j;
}

/* ------------------------------------------------------------- overlays */

static const uint8_t g_cat_rgb[PP_NCAT][3] = {
    {255, 0, 255}, {0, 200, 255}, {0, 220, 0},   {0, 90, 255},  {150, 90, 255}, {255, 150, 0},
    {0, 255, 200}, {120, 200, 255}, {200, 200, 0}, {100, 100, 255}, {255, 60, 0},  {255, 200, 0},
    {180, 0, 255}, {0, 160, 160}, {255, 120, 200}, {160, 255, 120}, {255, 255, 120},
};

void pp_sim_cat_color(int cat, uint8_t rgb[3]) { memcpy(rgb, g_cat_rgb[cat], 3); }

int pp_sim_overlay(const pp_sim_out *o, pp_video *dst) {
    if (pp_video_alloc(dst, o->frames, o->height, o->width, o->video.fps)) return -1;
    size_t n = (size_t)o->frames * o->height * o->width;
    for (size_t i = 0; i < n; i++) {
        int best = -1;
        float m = 0;
        for (int k = 0; k < PP_NCAT; k++) {
            float v = o->maps[(size_t)k * n + i];
            if (v > m) {
                m = v;
                best = k;
            }
        }
        const uint8_t *src = o->video.rgb + 3 * i;
        for (int ch = 0; ch < 3; ch++) {
            float gray = 0.5f * src[ch] + 64.0f; /* faded video under the labels */
            float v = best < 0 ? gray : (1 - 0.75f * m) * gray + 0.75f * m * g_cat_rgb[best][ch];
            dst->rgb[3 * i + ch] = (uint8_t)(pp_sim_clampf(v, 0, 255) + 0.5f);
        }
    }
    return 0;
}
