/* sim_misc.c - liquid pouring (particles), melting ice, explosion, soft-body impact.
 *
 * Each module simulates every frame first (storing what it needs to draw), then
 * draws frame by frame. World units, seconds; y up. */
#include <stdlib.h>
#include <string.h>
#include "sim/sim_internal.h"

enum { K_LIQUID, K_MELT, K_EXPL, K_DEFORM };

#define LQ_MAX 240          /* liquid particles */
#define LQ_H 0.32f          /* interaction diameter, units */
#define LQ_R 0.3f           /* drawn radius */
#define LQ_SUB 8            /* substeps per frame */
#define EX_N 96             /* explosion particles */
#define DF_SUB 40           /* deformation substeps per frame */

struct sim_misc {
    int kind, obj, obj2, col;
    sim_rect reg;
    float floor_y;
    /* liquid: [F][LQ_MAX][2] positions, alive count per frame */
    float *pos;
    int *alive;
    /* melting: per frame ice side, puddle width and thickness */
    float *ice_s, *pud_w, *pud_h, mx, s0;
    /* explosion */
    float ex_x, ex_y, t_burst, ex_v0, ex_k, ex_g;
    float ex_dir[EX_N][2];
    /* deformation: per frame x, y, rx, ry */
    float *df;
    float rgb[3];
};

static sim_misc *misc_new(pp_sim_ctx *c, int kind, sim_rect reg) {
    sim_misc *m = pp_calloc(1, sizeof *m);
    m->kind = kind;
    m->reg = reg;
    m->floor_y = reg.y0 + 1.0f;
    (void)c;
    return m;
}

static void fluid_summary(pp_sim_state *st, const float *xy, int n, float area) {
    double sx = 0, sy = 0, sxx = 0;
    float top = -1e9f;
    for (int i = 0; i < n; i++) {
        sx += xy[2 * i], sy += xy[2 * i + 1], sxx += (double)xy[2 * i] * xy[2 * i];
        top = fmaxf(top, xy[2 * i + 1]);
    }
    st->has_fluid = 1;
    st->fluid.mass = (float)n * area;
    st->fluid.cx = n ? (float)(sx / n) : 0;
    st->fluid.cy = n ? (float)(sy / n) : 0;
    st->fluid.top = n ? top : 0;
    st->fluid.spread = n ? (float)sqrt(fmax(sxx / n - (sx / n) * (sx / n), 0)) : 0;
}

/* Object state from the fluid summary (centroid and velocity by finite difference). */
static void cloud_object(pp_sim_ctx *c, int obj, int f, float r) {
    pp_sim_state *st = pp_sim_state_at(c, f);
    pp_sim_obj_state *o = &st->obj[obj];
    o->x = st->fluid.cx, o->y = st->fluid.cy, o->r = r;
    o->visible = st->fluid.mass > 0;
    if (f > 0) {
        const pp_sim_obj_state *p = &pp_sim_state_at(c, f - 1)->obj[obj];
        o->vx = (o->x - p->x) / PP_SIM_DT, o->vy = (o->y - p->y) / PP_SIM_DT;
    }
}

/* ------------------------------------------------------------- liquid */

sim_misc *pp_sim_liquid_setup(pp_sim_ctx *c, sim_rect reg) {
    sim_misc *m = misc_new(c, K_LIQUID, reg);
    static const uint8_t water[3] = {60, 150, 230};
    m->obj = pp_sim_add_object(c, "water", "liquid", water);
    pp_sim_object_region(c, m->obj, reg);
    m->pos = pp_calloc((size_t)c->F * LQ_MAX * 2, sizeof(float));
    m->alive = pp_calloc((size_t)c->F, sizeof(int));
    m->col = pp_rng_uniform(&c->rng) < 0.5f ? 1 : -1; /* pour direction */
    float w = reg.x1 - reg.x0;
    m->mx = m->col > 0 ? reg.x0 + 0.15f * w : reg.x1 - 0.15f * w; /* spout x */
    pp_sim_derived(c, "pour_dir", m->col);
    const char *kv[] = {"dir", pp_sim_word(c, m->col > 0 ? "dir_right" : "dir_left"), NULL};
    pp_sim_say(c, "tpl_liquid", kv);
    return m;
}

static void liquid_bounds(const sim_misc *m, float *x, float *y, float *vx, float *vy) {
    float lo = m->reg.x0 + 0.5f * LQ_H, hi = m->reg.x1 - 0.5f * LQ_H, fl = m->floor_y + 0.5f * LQ_H;
    if (*y < fl) *y = fl, *vy = *vy < 0 ? -0.1f * *vy : *vy, *vx *= 0.95f;
    if (*x < lo) *x = lo, *vx = fabsf(*vx) * 0.3f;
    if (*x > hi) *x = hi, *vx = -fabsf(*vx) * 0.3f;
}

static void liquid_step(pp_sim_ctx *c, sim_misc *m, float *p, float *v, int n, float dt) {
    const float k = 600.0f, damp = 6.0f;
    for (int i = 0; i < n; i++) v[2 * i + 1] -= 9.8f * dt;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            float dx = p[2 * j] - p[2 * i], dy = p[2 * j + 1] - p[2 * i + 1], d2 = dx * dx + dy * dy;
            if (d2 >= LQ_H * LQ_H || d2 < 1e-12f) continue;
            float d = sqrtf(d2), nx = dx / d, ny = dy / d;
            float rel = (v[2 * j] - v[2 * i]) * nx + (v[2 * j + 1] - v[2 * i + 1]) * ny;
            float fimp = (k * (LQ_H - d) - damp * rel) * dt;
            v[2 * i] -= fimp * nx, v[2 * i + 1] -= fimp * ny;
            v[2 * j] += fimp * nx, v[2 * j + 1] += fimp * ny;
        }
    for (int i = 0; i < n; i++) {
        p[2 * i] += v[2 * i] * dt, p[2 * i + 1] += v[2 * i + 1] * dt;
        liquid_bounds(m, &p[2 * i], &p[2 * i + 1], &v[2 * i], &v[2 * i + 1]);
    }
    (void)c;
}

static void liquid_simulate(pp_sim_ctx *c, sim_misc *m) {
    float p[LQ_MAX * 2], v[LQ_MAX * 2];
    int n = 0;
    float flow = (float)pp_sim_p(c, "flow"), vx = (float)pp_sim_p(c, "pour_vx") * (float)m->col;
    float sx = m->mx, sy = m->reg.y0 + 6.5f;
    float dt = PP_SIM_DT / LQ_SUB, acc = 0;
    int warm = 3 * LQ_SUB; /* pour for 0.3 s before frame 0 */
    for (int s = -warm, f = 0; f < c->F; s++) {
        if (s >= 0 && s % LQ_SUB == 0) {
            memcpy(m->pos + (size_t)f * LQ_MAX * 2, p, (size_t)n * 2 * sizeof(float));
            m->alive[f] = n;
            fluid_summary(pp_sim_state_at(c, f), p, n, 0.1f);
            cloud_object(c, m->obj, f, sqrtf(0.1f * (float)n / (float)M_PI));
            if (++f == c->F) break;
        }
        for (acc += flow * dt; acc >= 1 && n < LQ_MAX; acc -= 1, n++) {
            /* three lanes across the spout, one particle spacing apart */
            p[2 * n] = sx + LQ_H * (float)(n % 3 - 1) + 0.02f * (pp_rng_uniform(&c->rng) - 0.5f);
            p[2 * n + 1] = sy;
            v[2 * n] = vx, v[2 * n + 1] = -3.0f;
        }
        liquid_step(c, m, p, v, n, dt);
    }
    pp_sim_derived(c, "spout_x", sx);
    pp_sim_derived(c, "spout_y", sy);
}

/* ------------------------------------------------------------- melting */

sim_misc *pp_sim_melting_setup(pp_sim_ctx *c, sim_rect reg) {
    sim_misc *m = misc_new(c, K_MELT, reg);
    static const uint8_t ice[3] = {150, 200, 240}, water[3] = {70, 150, 225};
    m->obj = pp_sim_add_object(c, "ice", "ice", ice);
    pp_sim_object_region(c, m->obj, reg);
    m->obj2 = pp_sim_add_object(c, "puddle", "liquid", water);
    pp_sim_object_region(c, m->obj2, reg);
    m->s0 = fminf((float)pp_sim_p(c, "size"), 0.6f * (reg.x1 - reg.x0));
    m->mx = 0.5f * (reg.x0 + reg.x1) + pp_sim_unif(c, -0.3f, 0.3f);
    m->ice_s = pp_calloc((size_t)c->F * 3, sizeof(float));
    m->pud_w = m->ice_s + c->F;
    m->pud_h = m->pud_w + c->F;
    pp_sim_derived(c, "ice_x", m->mx);
    double rate = pp_sim_p(c, "melt_rate");
    const char *kv[] = {"rate", rate > 0.55 ? pp_sim_word(c, "melt_fast") : rate < 0.35 ? pp_sim_word(c, "melt_slow") : "",
                        NULL};
    pp_sim_say(c, "tpl_melting", kv);
    return m;
}

/* Ice area decays as A = A0 exp(-rate t) (melting in proportion to the ice
 * left); the melt water (area conserved) spreads as a puddle whose width grows
 * with the square root of the melted fraction: monotone and bounded, so long
 * videos settle instead of running out of ice. */
static void melting_simulate(pp_sim_ctx *c, sim_misc *m) {
    float rate = (float)pp_sim_p(c, "melt_rate"), A0 = m->s0 * m->s0;
    float wmax = m->reg.x1 - m->reg.x0 - 0.4f;
    for (int f = 0; f < c->F; f++) {
        float t = pp_sim_frame_t(f), frac = expf(-rate * t);
        float s = m->s0 * sqrtf(frac), water = A0 - A0 * frac;
        float pw_ = fminf(m->s0 * (1.0f + 1.2f * sqrtf(1.0f - frac)), wmax);
        m->ice_s[f] = s, m->pud_w[f] = pw_, m->pud_h[f] = water / pw_;
        pp_sim_state *st = pp_sim_state_at(c, f);
        pp_sim_obj_state *o = &st->obj[m->obj], *q = &st->obj[m->obj2];
        o->x = m->mx, o->y = m->floor_y + 0.5f * s, o->r = sqrtf(s * s / (float)M_PI);
        o->rx = o->ry = 0.5f * s, o->visible = s > 0;
        if (f > 0) o->vy = (o->y - pp_sim_state_at(c, f - 1)->obj[m->obj].y) / PP_SIM_DT;
        q->x = m->mx, q->y = m->floor_y + 0.5f * m->pud_h[f], q->r = sqrtf(water / (float)M_PI);
        q->rx = 0.5f * pw_, q->ry = 0.5f * m->pud_h[f], q->visible = water > 0;
        st->has_fluid = 1;
        st->fluid = (pp_sim_fluid_state){water, m->mx, q->y, m->floor_y + m->pud_h[f], pw_ / sqrtf(12)};
    }
}

/* ------------------------------------------------------------- explosion */

sim_misc *pp_sim_explosion_setup(pp_sim_ctx *c, sim_rect reg) {
    sim_misc *m = misc_new(c, K_EXPL, reg);
    static const uint8_t spark[3] = {255, 190, 80};
    m->obj = pp_sim_add_object(c, "sparks", "particles", spark);
    pp_sim_object_region(c, m->obj, reg);
    m->ex_x = 0.5f * (reg.x0 + reg.x1) + pp_sim_unif(c, -0.5f, 0.5f);
    m->ex_y = pp_sim_unif(c, 4.5f, 6.0f);
    m->t_burst = PP_SIM_DT * floorf(0.2f * (float)(c->F - 1));
    m->ex_v0 = (float)pp_sim_p(c, "energy");
    m->ex_k = fmaxf((float)pp_sim_p(c, "drag"), 1e-3f);
    m->ex_g = c->out->scene->gravity;
    /* random directions and speeds, re-centred so the mean initial velocity is
     * exactly zero: the cloud's centroid then only ever falls */
    float mx = 0, my = 0;
    for (int i = 0; i < EX_N; i++) {
        float a = 2 * (float)M_PI * pp_rng_uniform(&c->rng), s = 0.35f + 0.65f * pp_rng_uniform(&c->rng);
        m->ex_dir[i][0] = s * cosf(a), m->ex_dir[i][1] = s * sinf(a);
        mx += m->ex_dir[i][0] / EX_N, my += m->ex_dir[i][1] / EX_N;
    }
    for (int i = 0; i < EX_N; i++) m->ex_dir[i][0] -= mx, m->ex_dir[i][1] -= my;
    pp_sim_derived(c, "burst_x", m->ex_x);
    pp_sim_derived(c, "burst_y", m->ex_y);
    pp_sim_derived(c, "t_burst", m->t_burst);
    const char *kv[] = {"power", m->ex_v0 > 4.5f ? pp_sim_word(c, "burst_big") : m->ex_v0 < 2.7f ? pp_sim_word(c, "burst_small") : "",
                        NULL};
    pp_sim_say(c, "tpl_explosion", kv);
    return m;
}

/* Particle i at time tau after the burst: exact solution of dv/dt = -k v - g y^. */
static void spark_at(const sim_misc *m, int i, float tau, float *x, float *y) {
    float k = m->ex_k, e = (1 - expf(-k * tau)) / k;
    float vx = m->ex_v0 * m->ex_dir[i][0], vy = m->ex_v0 * m->ex_dir[i][1] + m->ex_g / k;
    *x = m->ex_x + vx * e;
    *y = m->ex_y + vy * e - m->ex_g / k * tau;
}

static void explosion_simulate(pp_sim_ctx *c, sim_misc *m) {
    float xy[EX_N * 2];
    for (int f = 0; f < c->F; f++) {
        float tau = pp_sim_frame_t(f) - m->t_burst;
        for (int i = 0; i < EX_N; i++) {
            if (tau <= 0) xy[2 * i] = m->ex_x, xy[2 * i + 1] = m->ex_y;
            else spark_at(m, i, tau, &xy[2 * i], &xy[2 * i + 1]);
        }
        pp_sim_state *st = pp_sim_state_at(c, f);
        fluid_summary(st, xy, EX_N, 0.02f);
        double rr = 0;
        for (int i = 0; i < EX_N; i++) {
            float dx = xy[2 * i] - st->fluid.cx, dy = xy[2 * i + 1] - st->fluid.cy;
            rr += dx * dx + dy * dy;
        }
        cloud_object(c, m->obj, f, fmaxf(sqrtf((float)(rr / EX_N)), 0.35f));
    }
}

static void explosion_draw(pp_sim_ctx *c, sim_misc *m, int f) {
    float tau = pp_sim_frame_t(f) - m->t_burst;
    if (tau <= 0) {
        static const float BOMB[3] = {50, 50, 50};
        pp_sim_draw_ellipse(c, m->ex_x, m->ex_y, 0.35f, 0.35f, BOMB, 1, PP_CAT_EXPLOSION, 0.6f);
        return;
    }
    float heat = expf(-tau / 0.6f);
    if (tau < 0.25f) { /* the flash */
        static const float FLASH[3] = {255, 250, 210};
        float w = 1 - tau / 0.25f;
        pp_sim_draw_ellipse(c, m->ex_x, m->ex_y, 1.4f * w + 0.3f, 1.4f * w + 0.3f, FLASH, w, PP_CAT_EXPLOSION, 1);
    }
    float rgb[3] = {255, 150 + 100 * heat, 40 + 130 * heat * heat}, cool[3] = {150, 150, 150};
    for (int ch = 0; ch < 3; ch++) rgb[ch] = heat * rgb[ch] + (1 - heat) * (0.5f * rgb[ch] + 0.5f * cool[ch]);
    float r = 0.13f + 0.15f * heat, a = 0.4f + 0.6f * heat;
    for (int i = 0; i < EX_N; i++) {
        float x, y;
        spark_at(m, i, tau, &x, &y);
        if (x < m->reg.x0 + r || x > m->reg.x1 - r) continue; /* left the module's region */
        pp_sim_map_blob(c, PP_CAT_EXPLOSION, x, y, 2.0f * r, 0.7f);
        pp_sim_draw_ellipse(c, x, y, r, r, rgb, a, PP_CAT_EXPLOSION, 1);
    }
}

/* ------------------------------------------------------------- deformation */

sim_misc *pp_sim_deform_setup(pp_sim_ctx *c, sim_rect reg) {
    sim_misc *m = misc_new(c, K_DEFORM, reg);
    m->col = (int)pp_rng_below(&c->rng, PAL_N);
    for (int ch = 0; ch < 3; ch++) m->rgb[ch] = pp_sim_palette[m->col][ch];
    m->obj = pp_sim_add_object(c, "ball", "ball", pp_sim_palette[m->col]);
    pp_sim_object_region(c, m->obj, reg);
    m->df = pp_calloc((size_t)c->F * 4, sizeof(float));
    pp_sim_derived(c, "color", m->col);
    const char *kv[] = {"color", pp_sim_word_color(m->col), NULL};
    pp_sim_say(c, "tpl_deform", kv);
    return m;
}

/* Centre height y over a floor: in contact when y < floor + r; the body keeps its
 * area (rx * ry = r^2) and the contact acts as a damped spring on the centre. */
static void deform_simulate(pp_sim_ctx *c, sim_misc *m) {
    float r = (float)pp_sim_p(c, "r"), w = (float)pp_sim_p(c, "stiffness"), z = (float)pp_sim_p(c, "damping");
    float g = c->out->scene->gravity, dt = PP_SIM_DT / DF_SUB;
    float x = 0.5f * (m->reg.x0 + m->reg.x1) + pp_sim_unif(c, -1.0f, 1.0f);
    float y = fminf(m->floor_y + r + (float)pp_sim_p(c, "h"), m->reg.y1 - r), vx = pp_sim_unif(c, -0.4f, 0.4f), vy = 0;
    pp_sim_derived(c, "x0", x);
    pp_sim_derived(c, "y0", y);
    pp_sim_derived(c, "floor_y", m->floor_y);
    for (int f = 0; f < c->F; f++) {
        for (int s = 0; f > 0 && s < DF_SUB; s++) {
            float pen = m->floor_y + r - y, a = -g;
            if (pen > 0) a += w * w * pen - 2 * z * w * vy;
            vy += a * dt;
            y += vy * dt, x += vx * dt;
            if (y < m->floor_y + 0.35f * r) y = m->floor_y + 0.35f * r, vy = fmaxf(vy, 0);
        }
        float ry = fminf(r, y - m->floor_y), rx = r * r / ry;
        float *q = m->df + 4 * (size_t)f;
        q[0] = x, q[1] = y, q[2] = rx, q[3] = ry;
        pp_sim_obj_state *o = &pp_sim_state_at(c, f)->obj[m->obj];
        o->x = x, o->y = y, o->vx = vx, o->vy = vy, o->r = r, o->rx = rx, o->ry = ry, o->visible = 1;
    }
}

/* ------------------------------------------------------------- dispatch */

void pp_sim_misc_simulate(pp_sim_ctx *c, sim_misc *m) {
    switch (m->kind) {
    case K_LIQUID: liquid_simulate(c, m); break;
    case K_MELT: melting_simulate(c, m); break;
    case K_EXPL: explosion_simulate(c, m); break;
    default: deform_simulate(c, m); break;
    }
}

static const float FLOOR_RGB[3] = {150, 150, 150};

void pp_sim_misc_draw(pp_sim_ctx *c, sim_misc *m, int f) {
    sim_rect floor = {m->reg.x0, m->reg.x1, m->reg.y0, m->floor_y};
    if (m->kind == K_LIQUID) {
        static const float WATER[3] = {60, 150, 230};
        static const float PIPE[3] = {120, 120, 130};
        pp_sim_draw_rect(c, floor, FLOOR_RGB, 1);
        pp_sim_draw_rect(c, (sim_rect){m->mx - 0.6f, m->mx + 0.6f, m->reg.y0 + 6.7f, m->reg.y0 + 7.1f}, PIPE, 1);
        const float *p = m->pos + (size_t)f * LQ_MAX * 2;
        for (int i = 0; i < m->alive[f]; i++) pp_sim_draw_ellipse(c, p[2 * i], p[2 * i + 1], LQ_R, LQ_R, WATER, 1, PP_CAT_LIQUID, 1);
    } else if (m->kind == K_MELT) {
        static const float ICE[3] = {150, 200, 240}, WATER[3] = {70, 150, 225};
        pp_sim_draw_rect(c, floor, FLOOR_RGB, 1);
        float s = m->ice_s[f], w = m->pud_w[f], h = m->pud_h[f];
        if (h > 0.005f)
            pp_sim_draw_rrect(c, (sim_rect){m->mx - 0.5f * w, m->mx + 0.5f * w, m->floor_y, m->floor_y + h},
                       0.5f * h, WATER, 0.9f, PP_CAT_MELTING, 1);
        float rad = 0.08f + 0.25f * (1 - s / m->s0) * s;
        if (s > 0.005f)
            pp_sim_draw_rrect(c, (sim_rect){m->mx - 0.5f * s, m->mx + 0.5f * s, m->floor_y, m->floor_y + s}, rad,
                       ICE, 1, PP_CAT_MELTING, 1);
    } else if (m->kind == K_EXPL) {
        explosion_draw(c, m, f);
    } else {
        pp_sim_draw_rect(c, floor, FLOOR_RGB, 1);
        const float *q = m->df + 4 * (size_t)f;
        float r = sqrtf(q[2] * q[3]), squash = 1 - q[3] / r;
        float w = 0.4f + 0.6f * pp_sim_clampf(squash / 0.1f, 0, 1);
        if (squash > 0.01f) pp_sim_map_blob(c, PP_CAT_DEFORMATION, q[0], m->floor_y, q[2], 1);
        pp_sim_draw_ellipse(c, q[0], q[1], q[2], q[3], m->rgb, 1, PP_CAT_DEFORMATION, w);
    }
}

void pp_sim_misc_free(sim_misc *m) {
    if (!m) return;
    free(m->pos);
    free(m->alive);
    free(m->ice_s);
    free(m->df);
    free(m);
}
