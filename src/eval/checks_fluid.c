/* checks_fluid.c - rule checks for plumes (smoke, flame), liquids, ice and
 * particles, from a per-pixel density estimated from colour.
 *
 * Density alpha in [0,1] of a pixel p for an object of colour c over the frame's
 * background bg: the blend coefficient alpha = <p - bg, c - bg> / |c - bg|^2 when p
 * lies near the segment bg..c (residual < 60 levels); smoke is drawn with
 * alpha = 1 - exp(-2.5 d), so its density is d = -ln(1 - alpha) / 2.5. Flames
 * change colour with temperature: alpha = (R - B) / 235 for orange/yellow pixels
 * (R >= G >= B, R > 150). Ice: see ice_block below.
 * Per frame: mass (sum of density times pixel area, units^2), centroid, top and
 * bottom edge (rows with alpha > 0.25), horizontal spread (weighted std of x).
 * Checks (docs/EVAL.md):
 *   <plume>.rises        smoke: slope of the top edge, units/s (> tol)
 *   <plume>.above_source flame: centroid height above the burning log, units (> tol)
 *   <liquid>.falls       slope of the centroid height, units/s (< tol)
 *   <liquid>.spreads     final minus initial width of the pool (the lowest 0.6 units
 *                        of the mass), units (> -2 upx)
 *   <particles>.falls    slope of the centroid height, units/s (< 0)
 *   <ice>.shrinks        largest frame-to-frame relative growth of the area, each
 *                        frame's the median of five (< tol; check_ice) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval_impl.h"


/* Blend of pixel p between background bg and colour c: alpha = <p - bg, c - bg> /
 * |c - bg|^2 in [0,1], and the squared residual of p from bg + alpha (c - bg). */
static double blend_fit(const uint8_t *p, const float bg[3], const uint8_t c[3], double *res2) {
    double d[3], q[3], dd = 0, dq = 0, res = 0;
    for (int k = 0; k < 3; k++) {
        d[k] = (double)c[k] - bg[k];
        q[k] = (double)p[k] - bg[k];
        dd += d[k] * d[k];
        dq += d[k] * q[k];
    }
    if (dd < 1) { *res2 = INFINITY; return 0; }
    double a = dq / dd;
    a = a < 0 ? 0 : a > 1 ? 1 : a;
    for (int k = 0; k < 3; k++) res += (q[k] - a * d[k]) * (q[k] - a * d[k]);
    *res2 = res;
    return a;
}

static double flame_alpha(const uint8_t *p) {
    if (!(p[0] > 150 && p[0] >= p[1] && p[1] >= p[2])) return 0;
    double a = (p[0] - p[2]) / 235.0;
    return a < 0.04 ? 0 : a > 1 ? 1 : a;
}

/* Particles change colour as they cool: any coloured (non-neutral) pixel away from the background. */
static double particle_alpha(const uint8_t *p, const float bg[3]) {
    double d = fabs(p[0] - bg[0]) + fabs(p[1] - bg[1]) + fabs(p[2] - bg[2]);
    int mx = p[0] > p[1] ? (p[0] > p[2] ? p[0] : p[2]) : (p[1] > p[2] ? p[1] : p[2]);
    int mn = p[0] < p[1] ? (p[0] < p[2] ? p[0] : p[2]) : (p[1] < p[2] ? p[1] : p[2]);
    return d > 40 && mx - mn > 24 ? fmin(1.0, d / 300.0) : 0;
}

int pp_ev_is_fluid_kind(const pp_eval_spec *s, int i) {
    const char *k = s->okind[i];
    return !strcmp(k, "plume") || !strcmp(k, "liquid") || !strcmp(k, "ice") || !strcmp(k, "particles");
}

int pp_ev_is_flame(const pp_eval_spec *s, int i) {
    return !strcmp(s->okind[i], "plume") && !strcmp(s->oname[i], "flame");
}

/* Density of object i at pixel p (see the file comment). */
double pp_ev_density(const pp_eval_spec *s, int i, const uint8_t *p, const float bg[3]) {
    if (pp_ev_is_flame(s, i)) return flame_alpha(p);
    if (!strcmp(s->okind[i], "particles")) return particle_alpha(p, bg);
    double res, a = blend_fit(p, bg, s->ocolor[i], &res);
    if (!(res < 60.0 * 60.0)) return 0;
    if (!strcmp(s->okind[i], "plume")) return -log(1.0 - fmin(a, 0.99)) / 2.5;
    return a;
}

/* ---- ice ----
 * Ice and its melt water are both pale blue, nearly on one line from a white
 * background (water - white ~ 1.6 (ice - white)), and the ice stands in the
 * water on the floor. By colour alone the puddle's thin top row, part covered,
 * blends like ice (residual a few levels); a pixel where the ice's edge covers
 * water is a blend of the two, far from the white..ice line; a row that the floor
 * cuts blends ice, water and floor in the renderer's order and changes colour when
 * the water arrives. In long clips the puddle grows wide and deep while the ice
 * gets small, and the ice's colour mass grew from frame to frame although the
 * ice shrinks (ice.shrinks failed on 5 % of ID and half the OOD melting videos
 * at 128x128x33). So, when the ice is a block with an opaque core, it is measured
 * as that block (ice_block):
 *   - the core: the pixels of exactly the ice's colour (alpha >= 0.95, residual
 *     < 2 levels); only pixels within one pixel of it (the box around it, grown by
 *     the one pixel of the anti-aliased edge) count, and none below its lowest
 *     row (the floor and the water at the block's foot);
 *   - a pixel there is a blend of the ice over the background or over the water
 *     (the rendered water colour: the mean of the region's exact background..
 *     liquid blends with alpha > 0.85), whichever fits better; an exact blend of
 *     the background and a liquid of the spec (residual < 1 level: 8-bit rounding
 *     of a two-colour blend stays under 0.87) that fits better than both is water.
 * Small ice (a core under 3 x 3 pixels in some frame: at 32 px the last frames
 * of OOD melting) is all edge, where these rules flip from frame to frame; such a
 * video is measured by colour alone (pp_ev_density), in every frame, as before. */
#define EV_ICE_MIN_CORE 3

typedef struct {
    int box[4];         /* x0, x1, y0, y1 (pixels): the core's box grown by 1 px */
    int core_w, core_h; /* the core's extent, pixels (0 without a core) */
    float liq[3];       /* rendered water colour */
    int liq_k;          /* the spec's liquid object (-1: none, or not seen) */
} ice_block;

static void ice_block_find(const ev_ctx *c, int i, int f, const float bg[3], ice_block *b) {
    const pp_video *v = c->v;
    const pp_eval_spec *s = c->s;
    const uint8_t *fr = pp_video_frame(v, f);
    int x0 = INT32_MAX, x1 = -1, y0 = INT32_MAX, y1 = -1;
    double sum[3] = {0, 0, 0};
    int nliq = 0;
    b->liq_k = -1;
    for (int k = 0; k < s->nobj; k++)
        if (k != i && !strcmp(s->okind[k], "liquid") && b->liq_k < 0) b->liq_k = k;
    for (int y = 0; y < v->height; y++)
        for (int x = c->col0[i]; x < c->col1[i]; x++) {
            const uint8_t *p = fr + ((size_t)y * v->width + x) * 3;
            double res, a = blend_fit(p, bg, s->ocolor[i], &res);
            if (a >= 0.95 && res < 2.0 * 2.0) {
                x0 = x < x0 ? x : x0; x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0; y1 = y > y1 ? y : y1;
            }
            if (b->liq_k >= 0 && blend_fit(p, bg, s->ocolor[b->liq_k], &res) > 0.85 && res < 1.0) {
                for (int q = 0; q < 3; q++) sum[q] += p[q];
                nliq++;
            }
        }
    b->core_w = x1 >= x0 ? x1 - x0 + 1 : 0;
    b->core_h = y1 >= y0 ? y1 - y0 + 1 : 0;
    b->box[0] = x0 - 1; b->box[1] = x1 + 1; b->box[2] = y0 - 1; b->box[3] = y1;
    for (int q = 0; q < 3; q++) b->liq[q] = nliq ? (float)(sum[q] / nliq) : 0.0f;
    if (!nliq) b->liq_k = -1;
}

/* Ice density at pixel p = (x, y) of a frame with block b (see above). */
static double ice_block_density(const pp_eval_spec *s, int i, const uint8_t *p, const float bg[3], int x, int y,
                                const ice_block *b) {
    if (x < b->box[0] || x > b->box[1] || y < b->box[2] || y > b->box[3]) return 0;
    double r1, a1 = blend_fit(p, bg, s->ocolor[i], &r1), r2 = INFINITY, a2 = 0, rw = INFINITY;
    if (b->liq_k >= 0) {
        blend_fit(p, bg, s->ocolor[b->liq_k], &rw);
        a2 = blend_fit(p, b->liq, s->ocolor[i], &r2);
    }
    if (rw < 1.0 && rw < r1 && rw < r2) return 0; /* the water's own edge */
    if (r2 < r1) return r2 < 60.0 * 60.0 ? a2 : 0;
    return r1 < 60.0 * 60.0 ? a1 : 0;
}

/* Horizontal extent of the pixels with alpha > 0.25 within 0.6 units above the bottom edge. */
static double pool_width(const ev_ctx *c, int i, int f, const float bg[3], double bot) {
    const pp_video *v = c->v;
    const uint8_t *fr = pp_video_frame(v, f);
    double lo = INFINITY, hi = -INFINITY;
    for (int y = 0; y < v->height; y++) {
        double wy = pp_ev_world_y(c->s, v->height, (float)y);
        if (wy > bot + 0.6) continue;
        for (int x = c->col0[i]; x < c->col1[i]; x++) {
            double d = pp_ev_density(c->s, i, fr + ((size_t)y * v->width + x) * 3, bg);
            if (d < 0.25) continue;
            double wx = pp_ev_world_x(c->s, v->width, (float)x);
            lo = fmin(lo, wx);
            hi = fmax(hi, wx);
        }
    }
    return hi >= lo ? hi - lo + c->upx : 0;
}

/* Features of object i in frame f; ice measured as block b when b is given. */
static void fluid_features(const ev_ctx *c, int i, int f, const ice_block *b, ev_fluid_frame *ff) {
    const pp_video *v = c->v;
    const pp_eval_spec *s = c->s;
    float bg[3];
    pp_ev_frame_bg(v, f, c->col0[i], c->col1[i], bg);
    double m = 0, mx = 0, my = 0, mxx = 0, top = -INFINITY, bot = INFINITY;
    const uint8_t *fr = pp_video_frame(v, f);
    for (int y = 0; y < v->height; y++) {
        double wy = pp_ev_world_y(s, v->height, (float)y), rowmax = 0;
        for (int x = c->col0[i]; x < c->col1[i]; x++) {
            const uint8_t *p = fr + ((size_t)y * v->width + x) * 3;
            double d = b ? ice_block_density(s, i, p, bg, x, y, b) : pp_ev_density(s, i, p, bg);
            double wx = pp_ev_world_x(s, v->width, (float)x);
            m += d; mx += d * wx; my += d * wy; mxx += d * wx * wx;
            rowmax = fmax(rowmax, pp_ev_is_flame(s, i) ? d : 1.0 - exp(-2.5 * d));
        }
        if (rowmax > 0.25) { top = fmax(top, wy); bot = fmin(bot, wy); }
    }
    double area = (double)c->upx * c->upx;
    ff->mass = m * area;
    ff->cx = m > 0 ? mx / m : NAN;
    ff->cy = m > 0 ? my / m : NAN;
    ff->spread = m > 0 ? sqrt(fmax(mxx / m - ff->cx * ff->cx, 0)) : NAN;
    ff->top = isfinite(top) ? top : NAN;
    ff->bottom = isfinite(bot) ? bot : NAN;
    ff->pool_w = isfinite(bot) ? pool_width(c, i, f, bg, bot) : 0;
}

void pp_ev_fluid_features(const ev_ctx *c, int i, int f, ev_fluid_frame *ff) { fluid_features(c, i, f, NULL, ff); }

void pp_ev_fluid_track(const ev_ctx *c, int i, ev_fluid_frame *ff) {
    int F = c->v->frames, block = !strcmp(c->s->okind[i], "ice");
    ice_block *b = block ? pp_calloc((size_t)F, sizeof *b) : NULL;
    for (int f = 0; block && f < F; f++) {
        float bg[3];
        pp_ev_frame_bg(c->v, f, c->col0[i], c->col1[i], bg);
        ice_block_find(c, i, f, bg, &b[f]);
        block = b[f].core_w >= EV_ICE_MIN_CORE && b[f].core_h >= EV_ICE_MIN_CORE;
    }
    for (int f = 0; f < F; f++) fluid_features(c, i, f, block ? &b[f] : NULL, &ff[f]);
    free(b);
}

/* Vertical position of the flame's log (brown, R > G > B, R < 140), NaN if none. */
static double log_height(const ev_ctx *c, int i, int f) {
    const pp_video *v = c->v;
    const uint8_t *fr = pp_video_frame(v, f);
    double sy = 0;
    int n = 0;
    for (int y = 0; y < v->height; y++)
        for (int x = c->col0[i]; x < c->col1[i]; x++) {
            const uint8_t *p = fr + ((size_t)y * v->width + x) * 3;
            if (p[0] < 140 && p[0] > p[1] + 15 && p[1] > p[2] + 10) { sy += pp_ev_world_y(c->s, v->height, (float)y); n++; }
        }
    return n ? sy / n : NAN;
}

static void named(char *out, size_t cap, const ev_ctx *c, int i, const char *what) {
    snprintf(out, cap, "%s.%s", c->s->oname[i], what);
}

static double series_slope(const ev_fluid_frame *ff, int F, double dt, size_t off) {
    double t[512], y[512];
    int n = F < 512 ? F : 512;
    for (int f = 0; f < n; f++) {
        t[f] = f * dt;
        y[f] = *(const double *)((const char *)&ff[f] + off);
    }
    return pp_ev_slope(t, y, n);
}

static void check_plume(ev_ctx *c, int i, const ev_fluid_frame *ff) {
    char name[48];
    int F = c->v->frames;
    if (pp_ev_is_flame(c->s, i)) {
        double lh = 0, cy = 0;
        int n = 0;
        for (int f = 0; f < F; f++) {
            double h = log_height(c, i, f);
            if (isnan(h) || isnan(ff[f].cy)) continue;
            lh += h; cy += ff[f].cy; n++;
        }
        named(name, sizeof name, c, i, "above_source");
        double v = n ? (cy - lh) / n : NAN, tol = 0.2;
        pp_ev_check(c->r, name, v, tol, v > tol);
        return;
    }
    double rise = series_slope(ff, F, c->s->dt, offsetof(ev_fluid_frame, top)), tol = 0.1;
    named(name, sizeof name, c, i, "rises");
    pp_ev_check(c->r, name, rise, tol, rise > tol);
    pp_ev_measure(c->r, "plume_top_speed", rise);
    pp_ev_measure(c->r, "plume_rise_speed", series_slope(ff, F, c->s->dt, offsetof(ev_fluid_frame, cy)));
}

static void check_liquid(ev_ctx *c, int i, const ev_fluid_frame *ff) {
    char name[48];
    int F = c->v->frames;
    double fall = series_slope(ff, F, c->s->dt, offsetof(ev_fluid_frame, cy)), tol = 0.05;
    named(name, sizeof name, c, i, "falls");
    pp_ev_check(c->r, name, fall, tol, fall < tol);
    double spread = ff[F - 1].pool_w - ff[0].pool_w;
    tol = 2.0 * c->upx;
    named(name, sizeof name, c, i, "spreads");
    pp_ev_check(c->r, name, spread, tol, spread > -tol);
}

/* Median of the masses of frames f-2..f+2. */
static double mass_median5(const ev_fluid_frame *ff, int f) {
    double w[5];
    for (int k = 0; k < 5; k++) {
        double x = ff[f - 2 + k].mass;
        int j = k;
        for (; j > 0 && w[j - 1] > x; j--) w[j] = w[j - 1];
        w[j] = x;
    }
    return w[2];
}

/* The ice's area grows by at most tol from one frame to the next, each frame's area
 * the median over it and two frames either side (the first and last two frames have
 * none of their own). A decoded video (the VAE's) has a few percent of colour noise
 * that comes and goes with its latent frames (4 video frames each); read as area, one
 * or two frames of that noise are "growth", while ice that grows back lasts longer.
 * A video of under 6 frames (under two such medians) keeps the raw areas. */
static void check_ice(ev_ctx *c, int i, const ev_fluid_frame *ff) {
    char name[48];
    int F = c->v->frames, smooth = F >= 6, f0 = smooth ? 2 : 0, f1 = smooth ? F - 3 : F - 1;
    double worst = -INFINITY, prev = 0;
    for (int f = f0; f <= f1; f++) {
        double m = smooth ? mass_median5(ff, f) : ff[f].mass;
        if (f > f0 && prev > 0) worst = fmax(worst, (m - prev) / prev);
        prev = m;
    }
    if (worst == -INFINITY) worst = NAN;
    double tol = 0.02 + 0.1 * c->upx;
    named(name, sizeof name, c, i, "shrinks");
    pp_ev_check(c->r, name, worst, tol, worst < tol);
}

static void check_particles(ev_ctx *c, int i, const ev_fluid_frame *ff) {
    char name[48];
    double fall = series_slope(ff, c->v->frames, c->s->dt, offsetof(ev_fluid_frame, cy)), tol = 0.0;
    named(name, sizeof name, c, i, "falls");
    if (!isnan(fall)) pp_ev_check(c->r, name, fall, tol, fall < tol);
}

void pp_ev_checks_fluid(ev_ctx *c) {
    const pp_eval_spec *s = c->s;
    for (int i = 0; i < s->nobj; i++) {
        if (!c->ff[i]) continue;
        const char *k = s->okind[i];
        if (!strcmp(k, "plume")) check_plume(c, i, c->ff[i]);
        if (!strcmp(k, "liquid")) check_liquid(c, i, c->ff[i]);
        if (!strcmp(k, "ice")) check_ice(c, i, c->ff[i]);
        if (!strcmp(k, "particles")) check_particles(c, i, c->ff[i]);
    }
}
