/* sim_balls.c - rigid balls: uniform motion, parabola, collision, bounce, reflection.
 *
 * Integration is exact and event driven: between events each ball follows
 * x(t) = x + vx t, y(t) = y + vy t - g t^2 / 2. Events (floor contact, wall
 * contact, ball-ball contact) are solved in closed form and resolved in time
 * order, so a bounce with restitution e < 1 never gains energy and a collision
 * conserves momentum and kinetic energy to rounding. Two balls share the same
 * gravity, so their relative motion is linear and their contact time is the root
 * of a quadratic. Masses are proportional to r^2 (PhyWorld). */
#include <stdlib.h>
#include <string.h>
#include "sim/sim_internal.h"

#define MAX_EVENTS_PER_STEP 256
#define REST_SPEED 0.6 /* units/s: a bounce slower than this (apex < 0.02 units) comes to rest */

enum { EV_NONE, EV_FLOOR, EV_WALL, EV_BALLS };

static void ball_init(pp_sim_ctx *c, sim_balls *b, int k, const char *name, const uint8_t rgb[3],
                      double x, double y, double vx, double vy, double r) {
    b->obj[k] = pp_sim_add_object(c, name, "ball", rgb);
    pp_sim_object_region(c, b->obj[k], b->region);
    b->x[k] = x;
    b->y[k] = y;
    b->vx[k] = vx;
    b->vy[k] = vy;
    b->r[k] = r;
    b->m[k] = r * r;
    for (int ch = 0; ch < 3; ch++) b->col[k][ch] = rgb[ch];
    b->resting[k] = 0;
}

static void balls_base(pp_sim_ctx *c, sim_balls *b, sim_rect reg, int cat_motion, int cat_event) {
    memset(b, 0, sizeof *b);
    b->region = reg;
    b->cat_motion = cat_motion;
    b->cat_event = cat_event;
    b->traj = pp_calloc((size_t)c->F, sizeof *b->traj);
}

/* Start x so that a horizontal path of length L (direction dir) stays in the region
 * when it fits, else a path centred on the region. */
static double start_x(pp_sim_ctx *c, sim_rect reg, double r, double L, int dir) {
    double lo = reg.x0 + r, hi = reg.x1 - r - L, x;
    x = hi >= lo ? pp_sim_unif(c, (float)lo, (float)hi) : 0.5 * (reg.x0 + reg.x1) - 0.5 * L;
    return dir > 0 ? x : reg.x0 + reg.x1 - x;
}

static int pick_dir(pp_sim_ctx *c) { return pp_rng_uniform(&c->rng) < 0.5f ? -1 : 1; }

static const char *dir_words(pp_sim_ctx *c, int dir) { return pp_sim_word(c, dir > 0 ? "dir_right" : "dir_left"); }

void pp_sim_balls_setup_uniform(pp_sim_ctx *c, sim_balls *b, sim_rect reg) {
    balls_base(c, b, reg, PP_CAT_RIGID_BODY, -1);
    double r = pp_sim_p(c, "r"), v = pp_sim_p(c, "v");
    int dir = pick_dir(c);
    double y = pp_sim_unif(c, (float)fmin(reg.y0 + r + 0.5, 5), (float)fmax(reg.y1 - r - 0.5, 5));
    double x = start_x(c, reg, r, v * c->T, dir);
    ball_init(c, b, 0, "ball", pp_sim_palette[PAL_RED], x, y, dir * v, 0, r);
    b->n = 1;
    pp_sim_derived(c, "x0", x);
    pp_sim_derived(c, "y0", y);
    pp_sim_derived(c, "dir", dir);
    const char *kv[] = {"color", pp_sim_word_color(PAL_RED), "dir", dir_words(c, dir), "speed", pp_sim_word_speed(c, v),
                        NULL};
    pp_sim_say(c, "tpl_uniform", kv);
}

void pp_sim_balls_setup_parabola(pp_sim_ctx *c, sim_balls *b, sim_rect reg) {
    balls_base(c, b, reg, PP_CAT_RIGID_BODY, -1);
    double r = pp_sim_p(c, "r"), v = pp_sim_p(c, "v");
    int dir = pick_dir(c);
    double y = pp_sim_unif(c, (float)fmin(7.0, reg.y1 - r - 0.3), (float)fmax(reg.y1 - r - 0.3, 7.0));
    double x = start_x(c, reg, r, v * c->T, dir);
    ball_init(c, b, 0, "ball", pp_sim_palette[PAL_RED], x, y, dir * v, 0, r);
    b->n = 1;
    b->g = c->out->scene->gravity;
    pp_sim_derived(c, "x0", x);
    pp_sim_derived(c, "y0", y);
    pp_sim_derived(c, "dir", dir);
    const char *kv[] = {"color", pp_sim_word_color(PAL_RED), "dir", dir_words(c, dir), "speed", pp_sim_word_speed(c, v),
                        NULL};
    pp_sim_say(c, "tpl_parabola", kv);
}

/* Feasible contact points xc for contact time tc: both balls inside the region at
 * t = 0 and t = T (motion is linear in between, so inside throughout). u1, u2 are
 * the velocities after the (1D, elastic) contact. Returns the interval [lo, hi]. */
static void contact_window(sim_rect reg, double T, double tc, const double r[2], const double v[2],
                           const double u[2], double *lo, double *hi) {
    double a = reg.x0 + 0.3, b = reg.x1 - 0.3; /* a margin of about a pixel at 32 px */
    /* red centre = xc - r1 + vel * (t - tc); blue centre = xc + r2 + vel * (t - tc) */
    double off[2] = {-r[0], r[1]};
    *lo = -INFINITY, *hi = INFINITY;
    for (int k = 0; k < 2; k++) {
        double p0 = off[k] - v[k] * tc, p1 = off[k] + u[k] * (T - tc); /* position minus xc */
        *lo = fmax(*lo, fmax(a + r[k] - p0, a + r[k] - p1));
        *hi = fmin(*hi, fmin(b - r[k] - p0, b - r[k] - p1));
    }
}

void pp_sim_balls_setup_collision(pp_sim_ctx *c, sim_balls *b, sim_rect reg) {
    balls_base(c, b, reg, PP_CAT_RIGID_BODY, PP_CAT_COLLISION);
    double r1 = pp_sim_p(c, "r1"), r2 = pp_sim_p(c, "r2"), v1 = pp_sim_p(c, "v1"), v2 = pp_sim_p(c, "v2");
    double m1 = r1 * r1, m2 = r2 * r2, T = c->T;
    double r[2] = {r1, r2}, v[2] = {v1, -v2};
    double u[2] = {((m1 - m2) * v1 - 2 * m2 * v2) / (m1 + m2), ((m1 - m2) * v2 + 2 * m1 * v1) / (m1 + m2)};
    double y = pp_sim_unif(c, 4.0f, 6.0f), jitter = pp_rng_uniform_d(&c->rng);
    /* the contact time nearest 0.45 T that keeps both balls in the region all along */
    double tc = 0.45 * T, xc = 0.5 * (reg.x0 + reg.x1), best = INFINITY;
    for (int k = 0; k <= 40; k++) {
        double t = T * (0.15 + 0.6 * k / 40.0), lo, hi;
        contact_window(reg, T, t, r, v, u, &lo, &hi);
        if (hi < lo || fabs(t - 0.45 * T) >= best) continue;
        best = fabs(t - 0.45 * T), tc = t;
        double mid = 0.5 * (lo + hi), half = 0.25 * (hi - lo);
        xc = mid + (2 * jitter - 1) * fmin(half, 0.5);
    }
    if (best == INFINITY) { /* cannot stay inside: contact mid-region, both balls start inside if possible */
        xc = 0.5 * (reg.x0 + reg.x1) + (2 * jitter - 1) * 0.5;
        tc = 0.45 * T;
        if (v1 > 1e-6) tc = fmin(tc, (xc - 2 * r1 - reg.x0) / v1);
        if (v2 > 1e-6) tc = fmin(tc, (reg.x1 - xc - 2 * r2) / v2);
        tc = fmax(tc, 0.25 * T);
    }
    ball_init(c, b, 0, "red_ball", pp_sim_palette[PAL_RED], xc - r1 - v1 * tc, y, v1, 0, r1);
    ball_init(c, b, 1, "blue_ball", pp_sim_palette[PAL_BLUE], xc + r2 + v2 * tc, y, -v2, 0, r2);
    b->n = 2;
    pp_sim_derived(c, "y0", y);
    pp_sim_derived(c, "t_contact", tc);
    pp_sim_derived(c, "x_contact", xc);
    const char *kv[] = {"speed1", pp_sim_word_speed(c, v1), "blue_motion",
                        pp_sim_word(c, v2 < 0.3 ? "blue_still" : "blue_moving"), NULL};
    pp_sim_say(c, "tpl_collision", kv);
}

void pp_sim_balls_setup_bounce(pp_sim_ctx *c, sim_balls *b, sim_rect reg) {
    balls_base(c, b, reg, PP_CAT_ELASTIC, PP_CAT_ELASTIC);
    double r = pp_sim_p(c, "r"), h = pp_sim_p(c, "h"), vx = pp_sim_p(c, "vx");
    int col = (int)pp_rng_below(&c->rng, PAL_N);
    b->g = c->out->scene->gravity;
    b->has_floor = 1;
    b->floor_y = reg.y0 + 1.0;
    b->e = pp_sim_p(c, "restitution");
    b->has_walls = 1;
    b->wx0 = reg.x0;
    b->wx1 = reg.x1;
    double y = fmin(b->floor_y + r + h, reg.y1 - r);
    double x = pp_sim_unif(c, (float)(reg.x0 + r + 0.3), (float)(reg.x1 - r - 0.3));
    ball_init(c, b, 0, "ball", pp_sim_palette[col], x, y, vx, 0, r);
    b->n = 1;
    pp_sim_derived(c, "x0", x);
    pp_sim_derived(c, "y0", y);
    pp_sim_derived(c, "floor_y", b->floor_y);
    pp_sim_derived(c, "color", col);
    const char *kv[] = {"color", pp_sim_word_color(col), "dir",
                        fabs(vx) < 0.5 ? "" : dir_words(c, vx > 0 ? 1 : -1), "lose",
                        pp_sim_word(c, b->e > 0.85 ? "bounce_high" : "bounce_low"), NULL};
    pp_sim_say(c, "tpl_bounce", kv);
}

void pp_sim_balls_setup_reflection(pp_sim_ctx *c, sim_balls *b, sim_rect reg) {
    balls_base(c, b, reg, PP_CAT_RIGID_BODY, -1);
    double r = pp_sim_p(c, "r"), v = pp_sim_p(c, "v"), gap = pp_sim_p(c, "gap");
    int dir = pick_dir(c), col = (int)pp_rng_below(&c->rng, PAL_N);
    b->mirror = 1;
    b->mirror_y = reg.y0 + 3.0;
    double y = fmin(b->mirror_y + gap + r, reg.y1 - r);
    double x = start_x(c, reg, r, v * c->T, dir);
    ball_init(c, b, 0, "ball", pp_sim_palette[col], x, y, dir * v, 0, r);
    b->n = 1;
    pp_sim_derived(c, "x0", x);
    pp_sim_derived(c, "y0", y);
    pp_sim_derived(c, "dir", dir);
    pp_sim_derived(c, "mirror_y", b->mirror_y);
    pp_sim_derived(c, "color", col);
    const char *kv[] = {"color", pp_sim_word_color(col), "dir", dir_words(c, dir), "speed", pp_sim_word_speed(c, v),
                        NULL};
    pp_sim_say(c, "tpl_reflection", kv);
}

/* ------------------------------------------------------------- events */

/* Time until ball k touches the floor, or INFINITY. */
static double t_floor(const sim_balls *b, int k) {
    if (!b->has_floor || b->resting[k]) return INFINITY;
    double h = b->y[k] - b->floor_y - b->r[k], vy = b->vy[k];
    if (b->g > 0) {
        double disc = vy * vy + 2 * b->g * h;
        if (disc < 0) return INFINITY;
        double t = (vy + sqrt(disc)) / b->g;
        return t > 1e-12 ? t : INFINITY;
    }
    return vy < 0 && h >= 0 ? h / -vy : INFINITY;
}

static double t_wall(const sim_balls *b, int k) {
    if (!b->has_walls) return INFINITY;
    if (b->vx[k] > 0) return fmax((b->wx1 - b->r[k] - b->x[k]) / b->vx[k], 0);
    if (b->vx[k] < 0) return fmax((b->wx0 + b->r[k] - b->x[k]) / b->vx[k], 0);
    return INFINITY;
}

/* Time until the two balls touch while approaching, or INFINITY. */
static double t_balls(const sim_balls *b) {
    if (b->n < 2) return INFINITY;
    double dx = b->x[1] - b->x[0], dy = b->y[1] - b->y[0];
    double wx = b->vx[1] - b->vx[0], wy = b->vy[1] - b->vy[0];
    if (b->resting[0] || b->resting[1]) wy = 0; /* not used by the shipped scenes */
    double R = b->r[0] + b->r[1], dw = dx * wx + dy * wy, ww = wx * wx + wy * wy;
    if (dw >= 0 || ww <= 0) return INFINITY;
    double disc = dw * dw - ww * (dx * dx + dy * dy - R * R);
    if (disc < 0) return INFINITY;
    double t = (-dw - sqrt(disc)) / ww;
    return t > 0 ? t : 0;
}

static void drift(sim_balls *b, double t) {
    for (int k = 0; k < b->n; k++) {
        b->x[k] += b->vx[k] * t;
        if (b->resting[k]) continue;
        b->y[k] += b->vy[k] * t - 0.5 * b->g * t * t;
        b->vy[k] -= b->g * t;
    }
}

static void record_event(sim_balls *b, double t, double x, double y, double r) {
    if (b->nev == 64) return;
    b->ev_t[b->nev] = (float)t;
    b->ev_x[b->nev] = (float)x;
    b->ev_y[b->nev] = (float)y;
    b->ev_r[b->nev++] = (float)r;
}

static void resolve_balls(sim_balls *b, double t) {
    double dx = b->x[1] - b->x[0], dy = b->y[1] - b->y[0], d = sqrt(dx * dx + dy * dy);
    double nx = d > 0 ? dx / d : 1, ny = d > 0 ? dy / d : 0;
    double rel = (b->vx[0] - b->vx[1]) * nx + (b->vy[0] - b->vy[1]) * ny; /* > 0: approaching */
    double m0 = b->m[0], m1 = b->m[1], j0 = 2 * m1 / (m0 + m1) * rel, j1 = 2 * m0 / (m0 + m1) * rel;
    b->vx[0] -= j0 * nx;
    b->vy[0] -= j0 * ny;
    b->vx[1] += j1 * nx;
    b->vy[1] += j1 * ny;
    record_event(b, t, b->x[0] + b->r[0] * nx, b->y[0] + b->r[0] * ny, 0.5 * (b->r[0] + b->r[1]));
}

/* Advance exactly by dt from time t0, resolving every event on the way. */
static void advance(sim_balls *b, double t0, double dt) {
    double left = dt;
    for (int it = 0; it < MAX_EVENTS_PER_STEP && left > 0; it++) {
        double te = left;
        int type = EV_NONE, who = 0;
        for (int k = 0; k < b->n; k++) {
            double tf = t_floor(b, k), tw = t_wall(b, k);
            if (tf < te) te = tf, type = EV_FLOOR, who = k;
            if (tw < te) te = tw, type = EV_WALL, who = k;
        }
        double tb = t_balls(b);
        if (tb < te) te = tb, type = EV_BALLS;
        drift(b, te);
        left -= te;
        double t = t0 + dt - left;
        if (type == EV_FLOOR) {
            b->y[who] = b->floor_y + b->r[who];
            b->vy[who] = -b->e * b->vy[who];
            if (b->vy[who] < REST_SPEED) b->vy[who] = 0, b->resting[who] = 1;
            record_event(b, t, b->x[who], b->floor_y, b->r[who]);
        } else if (type == EV_WALL) {
            b->vx[who] = -b->vx[who];
            record_event(b, t, b->vx[who] < 0 ? b->wx1 : b->wx0, b->y[who], b->r[who]);
        } else if (type == EV_BALLS) {
            resolve_balls(b, t);
        }
    }
    if (left > 0) drift(b, left); /* event storm (cannot happen with e < 1 and rest) */
}

void pp_sim_balls_simulate(pp_sim_ctx *c, sim_balls *b) {
    for (int f = 0; f < c->F; f++) {
        if (f > 0) advance(b, pp_sim_frame_t(f - 1), PP_SIM_DT);
        pp_sim_state *st = pp_sim_state_at(c, f);
        for (int k = 0; k < b->n; k++) {
            float *q = b->traj[f][k];
            q[0] = (float)b->x[k], q[1] = (float)b->y[k], q[2] = (float)b->vx[k], q[3] = (float)b->vy[k];
            pp_sim_obj_state *o = &st->obj[b->obj[k]];
            o->x = q[0], o->y = q[1], o->vx = q[2], o->vy = q[3];
            o->r = o->rx = o->ry = (float)b->r[k];
            o->visible = 1;
        }
    }
}

/* ------------------------------------------------------------- drawing */

static const float FLOOR_RGB[3] = {150, 150, 150}, MIRROR_RGB[3] = {205, 215, 230};

void pp_sim_balls_draw(pp_sim_ctx *c, sim_balls *b, int f) {
    sim_rect reg = b->region;
    if (b->has_floor) pp_sim_draw_rect(c, (sim_rect){reg.x0, reg.x1, reg.y0, (float)b->floor_y}, FLOOR_RGB, 1);
    if (b->mirror) pp_sim_draw_rect(c, (sim_rect){reg.x0, reg.x1, reg.y0, (float)b->mirror_y}, MIRROR_RGB, 1);
    float t = pp_sim_frame_t(f);
    /* contact zones in the frames around each event (Gaussian in time, 0.12 s) */
    for (int e = 0; e < b->nev && b->cat_event >= 0; e++) {
        float u = (t - b->ev_t[e]) / 0.12f, w = expf(-u * u);
        if (w > 0.05f) pp_sim_map_blob(c, b->cat_event, b->ev_x[e], b->ev_y[e], 1.2f * b->ev_r[e], w);
    }
    for (int k = 0; k < b->n; k++) {
        const float *q = b->traj[f][k];
        float r = (float)b->r[k];
        if (b->mirror) { /* the reflection: mirrored about the surface, tinted towards it */
            float tint[3];
            for (int ch = 0; ch < 3; ch++) tint[ch] = 0.4f * b->col[k][ch] + 0.6f * 230.0f;
            pp_sim_draw_ellipse(c, q[0], 2 * (float)b->mirror_y - q[1], r, r, tint, 1, PP_CAT_REFLECTION, 1);
        }
        /* trail: the path swept over the last two frames, half weight */
        const float *p = b->traj[f >= 2 ? f - 2 : 0][k];
        if (f > 0) pp_sim_map_capsule(c, b->cat_motion, p[0], p[1], q[0], q[1], 0.8f * r, 0.5f);
        pp_sim_draw_ellipse(c, q[0], q[1], r, r, b->col[k], 1, b->cat_motion, 1);
    }
}

void pp_sim_balls_free(sim_balls *b) {
    free(b->traj);
    b->traj = NULL;
}
