/* sim_fluid.c - smoke and flame: 2D stable fluids (Stam 1999) with buoyancy.
 *
 * Collocated grid of cell size 1/3 unit over the module's region: velocity
 * (u, v), smoke density d and temperature T. Each substep (0.05 s): inject at the
 * source, add buoyancy (fy = b * T) and a relaxation towards the wind, project to zero
 * divergence (Gauss-Seidel pressure solve; walls left, right and bottom, open top),
 * then advect all fields semi-Lagrangian (bilinear back-trace).
 * Smoke: d is drawn as grey with alpha 1 - exp(-2.5 d). Flame: T cools at a
 * constant rate and drives the colour (orange -> yellow -> white). */
#include <stdlib.h>
#include <string.h>
#include "sim/sim_internal.h"

#define CELL (1.0f / 3.0f)
#define SUBSTEPS 2
#define PRESSURE_ITERS 20

struct sim_fluid {
    int flame, nx, ny, obj;
    sim_rect reg;
    float *u, *v, *d, *T, *tmp, *tmp2, *p, *div; /* [ny][nx] */
    float *d_frames, *T_frames;                   /* [F][ny][nx] */
    float src_x, src_y, src_r;
    float buoy, emit, wind, cool;
};

static inline size_t ix(const sim_fluid *s, int i, int j) { return (size_t)j * s->nx + i; }

sim_fluid *pp_sim_fluid_setup(pp_sim_ctx *c, sim_rect reg, int flame) {
    sim_fluid *s = pp_calloc(1, sizeof *s);
    s->flame = flame;
    s->reg = reg;
    s->nx = (int)lrintf((reg.x1 - reg.x0) / CELL);
    s->ny = (int)lrintf((reg.y1 - reg.y0) / CELL);
    s->reg.x1 = reg.x0 + (float)s->nx * CELL; /* whole cells */
    s->reg.y1 = reg.y0 + (float)s->ny * CELL;
    size_t n = (size_t)s->nx * s->ny;
    float **fields[] = {&s->u, &s->v, &s->d, &s->T, &s->tmp, &s->tmp2, &s->p, &s->div};
    for (int k = 0; k < 8; k++) *fields[k] = pp_calloc(n, sizeof(float));
    s->d_frames = pp_calloc(n * (size_t)c->F, sizeof(float));
    s->T_frames = pp_calloc(n * (size_t)c->F, sizeof(float));
    float w = reg.x1 - reg.x0;
    if (flame) {
        s->src_x = reg.x0 + w * pp_sim_unif(c, 0.4f, 0.6f);
        s->src_y = reg.y0 + 1.35f; /* above the log, which stays visible */
        s->src_r = 0.65f;
        s->emit = (float)pp_sim_p(c, "heat");
        s->cool = (float)pp_sim_p(c, "cooling");
        s->buoy = (float)pp_sim_p(c, "flame_buoyancy");
        s->wind = (float)pp_sim_p(c, "flame_wind");
        static const uint8_t fire_rgb[3] = {255, 180, 40};
        s->obj = pp_sim_add_object(c, "flame", "plume", fire_rgb);
        pp_sim_object_region(c, s->obj, reg);
        const char *kv[] = {"strength", s->emit > 1.7f ? pp_sim_word(c, "fire_strength_high")
                                        : s->emit < 1.2f ? pp_sim_word(c, "fire_strength_low") : "",
                            NULL};
        pp_sim_say(c, "tpl_flame", kv);
    } else {
        s->src_x = reg.x0 + w * (float)pp_sim_p(c, "source_x");
        s->src_y = reg.y0 + 0.8f;
        s->src_r = 0.7f;
        s->emit = (float)pp_sim_p(c, "emission");
        s->cool = 0.3f;
        s->buoy = (float)pp_sim_p(c, "buoyancy");
        s->wind = (float)pp_sim_p(c, "wind");
        static const uint8_t smoke_rgb[3] = {110, 110, 115};
        s->obj = pp_sim_add_object(c, "smoke", "plume", smoke_rgb);
        pp_sim_object_region(c, s->obj, reg);
        const char *kv[] = {"drift", pp_sim_word(c, s->wind > 0.3f ? "smoke_drift_right"
                                           : s->wind < -0.3f ? "smoke_drift_left" : "smoke_drift_none"),
                            NULL};
        pp_sim_say(c, "tpl_smoke", kv);
    }
    pp_sim_derived(c, flame ? "flame_x" : "smoke_x", s->src_x);
    return s;
}

/* Bilinear sample of q at world-relative grid coordinates (cell centres at i + 0.5). */
static float sample(const sim_fluid *s, const float *q, float gx, float gy) {
    gx = pp_sim_clampf(gx - 0.5f, 0, (float)s->nx - 1.001f);
    gy = pp_sim_clampf(gy - 0.5f, 0, (float)s->ny - 1.001f);
    int i = (int)gx, j = (int)gy;
    float fx = gx - (float)i, fy = gy - (float)j;
    const float *r0 = q + ix(s, 0, j), *r1 = r0 + s->nx;
    return (1 - fy) * ((1 - fx) * r0[i] + fx * r0[i + 1]) + fy * ((1 - fx) * r1[i] + fx * r1[i + 1]);
}

static void advect(sim_fluid *s, const float *q, float *out, float dt) {
    float k = dt / CELL;
    for (int j = 0; j < s->ny; j++)
        for (int i = 0; i < s->nx; i++) {
            size_t id = ix(s, i, j);
            out[id] = sample(s, q, (float)i + 0.5f - k * s->u[id], (float)j + 0.5f - k * s->v[id]);
        }
}

static void walls(sim_fluid *s) {
    for (int j = 0; j < s->ny; j++) s->u[ix(s, 0, j)] = s->u[ix(s, s->nx - 1, j)] = 0;
    for (int i = 0; i < s->nx; i++) s->v[ix(s, i, 0)] = 0;
}

/* Make (u, v) divergence free: solve lap p = div (p = 0 above the top, Neumann elsewhere). */
static void project(sim_fluid *s) {
    int nx = s->nx, ny = s->ny;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            float ur = i + 1 < nx ? s->u[ix(s, i + 1, j)] : 0, ul = i > 0 ? s->u[ix(s, i - 1, j)] : 0;
            float vt = j + 1 < ny ? s->v[ix(s, i, j + 1)] : s->v[ix(s, i, j)];
            float vb = j > 0 ? s->v[ix(s, i, j - 1)] : 0;
            s->div[ix(s, i, j)] = 0.5f * (ur - ul + vt - vb) * CELL;
            s->p[ix(s, i, j)] = 0;
        }
    for (int it = 0; it < PRESSURE_ITERS; it++)
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx; i++) {
                float sum = 0;
                int cnt = 0;
                if (i > 0) sum += s->p[ix(s, i - 1, j)], cnt++;
                if (i + 1 < nx) sum += s->p[ix(s, i + 1, j)], cnt++;
                if (j > 0) sum += s->p[ix(s, i, j - 1)], cnt++;
                if (j + 1 < ny) sum += s->p[ix(s, i, j + 1)];
                cnt++; /* the top neighbour is p = 0 (open) when out of range */
                s->p[ix(s, i, j)] = (sum - s->div[ix(s, i, j)]) / (float)cnt;
            }
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            float pr = i + 1 < nx ? s->p[ix(s, i + 1, j)] : s->p[ix(s, i, j)];
            float pl = i > 0 ? s->p[ix(s, i - 1, j)] : s->p[ix(s, i, j)];
            float pt = j + 1 < ny ? s->p[ix(s, i, j + 1)] : 0;
            float pb = j > 0 ? s->p[ix(s, i, j - 1)] : s->p[ix(s, i, j)];
            s->u[ix(s, i, j)] -= 0.5f * (pr - pl) / CELL;
            s->v[ix(s, i, j)] -= 0.5f * (pt - pb) / CELL;
        }
    walls(s);
}

static void substep(pp_sim_ctx *c, sim_fluid *s, float dt) {
    float kick = 0.6f * (pp_rng_uniform(&c->rng) - 0.5f); /* source turbulence */
    for (int j = 0; j < s->ny; j++)
        for (int i = 0; i < s->nx; i++) {
            size_t id = ix(s, i, j);
            float x = s->reg.x0 + ((float)i + 0.5f) * CELL, y = s->reg.y0 + ((float)j + 0.5f) * CELL;
            float dx = x - s->src_x, dy = y - s->src_y, r2 = (dx * dx + dy * dy) / (s->src_r * s->src_r);
            if (r2 < 1) { /* the source holds its temperature and density */
                float w = 1 - r2;
                s->T[id] = fmaxf(s->T[id], (s->flame ? 1.5f * s->emit : 1.0f) * w);
                if (!s->flame) s->d[id] = fmaxf(s->d[id], s->emit * w);
                s->u[id] += kick * w;
            }
            s->v[id] += dt * s->buoy * s->T[id];
            s->u[id] += dt * 0.6f * (s->wind - s->u[id]) * pp_sim_clampf(s->T[id] + s->d[id], 0, 1);
        }
    walls(s);
    project(s);
    advect(s, s->u, s->tmp, dt);
    advect(s, s->v, s->tmp2, dt);
    float *t = s->u;
    s->u = s->tmp, s->tmp = t;
    t = s->v, s->v = s->tmp2, s->tmp2 = t;
    walls(s);
    advect(s, s->d, s->tmp, dt);
    t = s->d, s->d = s->tmp, s->tmp = t;
    advect(s, s->T, s->tmp, dt);
    size_t n = (size_t)s->nx * s->ny;
    for (size_t i = 0; i < n; i++) s->T[i] = fmaxf(s->tmp[i] - dt * s->cool * (s->flame ? 1.0f : s->tmp[i]), 0);
}

static void summarise(pp_sim_ctx *c, sim_fluid *s, int f) {
    const float *q = s->flame ? s->T : s->d;
    double m = 0, mx = 0, my = 0, mxx = 0;
    float top = s->reg.y0;
    for (int j = 0; j < s->ny; j++)
        for (int i = 0; i < s->nx; i++) {
            float v = q[ix(s, i, j)];
            float x = s->reg.x0 + ((float)i + 0.5f) * CELL, y = s->reg.y0 + ((float)j + 0.5f) * CELL;
            m += v, mx += v * x, my += v * y, mxx += (double)v * x * x;
            if (v > 0.1f && y + 0.5f * CELL > top) top = y + 0.5f * CELL;
        }
    pp_sim_state *st = pp_sim_state_at(c, f);
    pp_sim_obj_state *o = &st->obj[s->obj];
    st->has_fluid = 1;
    st->fluid.mass = (float)(m * CELL * CELL);
    st->fluid.cx = m > 0 ? (float)(mx / m) : s->src_x;
    st->fluid.cy = m > 0 ? (float)(my / m) : s->src_y;
    st->fluid.top = top;
    st->fluid.spread = m > 0 ? (float)sqrt(fmax(mxx / m - (mx / m) * (mx / m), 0)) : 0;
    o->x = st->fluid.cx, o->y = st->fluid.cy;
    o->r = sqrtf(st->fluid.mass / (float)M_PI);
    o->visible = m > 0;
    if (f > 0) { /* plume velocity: centroid finite difference */
        pp_sim_obj_state *p = &pp_sim_state_at(c, f - 1)->obj[s->obj];
        o->vx = (o->x - p->x) / PP_SIM_DT, o->vy = (o->y - p->y) / PP_SIM_DT;
    }
}

void pp_sim_fluid_simulate(pp_sim_ctx *c, sim_fluid *s) {
    float dt = PP_SIM_DT / SUBSTEPS;
    int warm = s->flame ? 10 : 6; /* the plume exists at frame 0 */
    for (int k = 0; k < warm; k++) substep(c, s, dt);
    size_t n = (size_t)s->nx * s->ny;
    for (int f = 0; f < c->F; f++) {
        if (f > 0)
            for (int k = 0; k < SUBSTEPS; k++) substep(c, s, dt);
        memcpy(s->d_frames + (size_t)f * n, s->d, n * sizeof(float));
        memcpy(s->T_frames + (size_t)f * n, s->T, n * sizeof(float));
        summarise(c, s, f);
    }
}

static void smoke_color(float d, float T, float rgb[3], float *a) {
    (void)T;
    rgb[0] = 110, rgb[1] = 110, rgb[2] = 115;
    *a = d > 0 ? 1.0f - expf(-2.5f * d) : 0;
}

static void flame_color(float T, float unused, float rgb[3], float *a) {
    (void)unused;
    float t = pp_sim_clampf(T, 0, 1.5f) / 1.5f; /* orange -> yellow -> near white; G stays > 127 */
    rgb[0] = 255;
    rgb[1] = 140 + 110 * pp_sim_clampf(2 * t, 0, 1);
    rgb[2] = 20 + 200 * pp_sim_clampf(2 * t - 1, 0, 1);
    *a = pp_sim_clampf(2.5f * T, 0, 1);
}

void pp_sim_fluid_draw(pp_sim_ctx *c, sim_fluid *s, int f) {
    size_t n = (size_t)s->nx * s->ny;
    if (s->flame) {
        static const float LOG[3] = {100, 70, 45};
        sim_rect log = {s->src_x - 0.9f, s->src_x + 0.9f, s->reg.y0 + 0.2f, s->reg.y0 + 0.7f};
        pp_sim_draw_rrect(c, log, 0.15f, LOG, 1, -1, 0);
        pp_sim_draw_field(c, s->reg, s->nx, s->ny, s->T_frames + (size_t)f * n, NULL, flame_color,
                   PP_CAT_COMBUSTION, 1.2f);
    } else {
        pp_sim_draw_field(c, s->reg, s->nx, s->ny, s->d_frames + (size_t)f * n, NULL, smoke_color,
                   PP_CAT_GAS, 1.5f);
    }
}

void pp_sim_fluid_free(sim_fluid *s) {
    if (!s) return;
    float *fields[] = {s->u, s->v, s->d, s->T, s->tmp, s->tmp2, s->p, s->div, s->d_frames, s->T_frames};
    for (int k = 0; k < 10; k++) free(fields[k]);
    free(s);
}
