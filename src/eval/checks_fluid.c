/* checks_fluid.c - rule checks for plumes (smoke, flame), liquids, ice and
 * particles, from a per-pixel density estimated from colour.
 *
 * Density alpha in [0,1] of a pixel p for an object of colour c over the frame's
 * background bg: the blend coefficient alpha = <p - bg, c - bg> / |c - bg|^2 when p
 * lies near the segment bg..c (residual < 60 levels); smoke is drawn with
 * alpha = 1 - exp(-2.5 d), so its density is d = -ln(1 - alpha) / 2.5. Flames
 * change colour with temperature: alpha = (R - B) / 235 for orange/yellow pixels
 * (R >= G >= B, R > 150). Ice and its melt water are both pale blue, nearly on
 * one line from a white background (water - white ~ 1.6 (ice - white)), so the
 * thin top row of a puddle, part covered, blends like ice (residual a few levels):
 * a puddle that rises by a pixel row per few frames then adds a growing sliver to
 * the ice, more so as the clip gets longer and the puddle wider (it made `shrinks`
 * fail on 15 % of 128 px x 33-frame videos). A pixel that is an exact blend of the
 * background and the colour of a liquid of the spec (residual < 1 level: 8-bit
 * rounding of a two-colour blend stays under 0.87) and nearer to it than to the
 * ice's line is the liquid's, not ice.
 * Per frame: mass (sum of density times pixel area, units^2), centroid, top and
 * bottom edge (rows with alpha > 0.25), horizontal spread (weighted std of x).
 * Checks (docs/EVAL.md):
 *   <plume>.rises        smoke: slope of the top edge, units/s (> tol)
 *   <plume>.above_source flame: centroid height above the burning log, units (> tol)
 *   <liquid>.falls       slope of the centroid height, units/s (< tol)
 *   <liquid>.spreads     final minus initial width of the pool (the lowest 0.6 units
 *                        of the mass), units (> -2 upx)
 *   <particles>.falls    slope of the centroid height, units/s (< 0)
 *   <ice>.shrinks        largest frame-to-frame relative area growth (< tol) */
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
    if (!strcmp(s->okind[i], "ice")) /* not the melt water's edge (file comment) */
        for (int k = 0; k < s->nobj; k++) {
            double rk;
            if (k == i || strcmp(s->okind[k], "liquid")) continue;
            blend_fit(p, bg, s->ocolor[k], &rk);
            if (rk < res && rk < 1.0) return 0;
        }
    return a;
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

void pp_ev_fluid_features(const ev_ctx *c, int i, int f, ev_fluid_frame *ff) {
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
            double d = pp_ev_density(s, i, p, bg), wx = pp_ev_world_x(s, v->width, (float)x);
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

static void check_ice(ev_ctx *c, int i, const ev_fluid_frame *ff) {
    char name[48];
    double worst = -INFINITY;
    for (int f = 0; f + 1 < c->v->frames; f++)
        if (ff[f].mass > 0) worst = fmax(worst, (ff[f + 1].mass - ff[f].mass) / ff[f].mass);
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
