/* sa.c - semantic adherence: does the video show the phenomena its spec names?
 * One detector per category that is 1 in the spec (categories without a detector
 * are not scored). Each gives {name, value, tolerance, pass} (docs/EVAL.md):
 *   collision          two balls seen together in >= 2 frames whose closest
 *                      approach is within r1 + r2 + step + 2 px; value = gap, units
 *   rigid_body_motion  a ball (any of the spec's) present in >= 50% of frames and
 *                      moving (path >= 1 px), or the spec's speed v < 0.3 (a ball at
 *                      rest); value = the longest such path, units
 *   elastic_motion     a ball that turns from falling to rising at least once (a
 *                      lowest frame with a drop before and a rise after, within 3
 *                      frames, of more than max(0.15 px, 0.03 units))
 *                      (value = number of such turns)
 *   deformation        a ball present in >= 50% of frames (value = fraction)
 *   reflection         a ball and, below it in >= 50% of its frames, pixels blending
 *                      from the surface colour towards its mirror tint 0.4 c + 0.6 * 230
 *                      (value = share of frames)
 *   gas_motion         grey smoke mass present in >= 50% of frames and its top rising
 *   combustion         orange/yellow mass present in >= 50% of frames
 *   liquid_motion      blue liquid mass present in >= 50% of frames and its centroid not rising
 *   melting            ice present at the start and its area at the end smaller
 *   explosion          non-background particles whose spread grows
 * The five fluid detectors also need a coherent density field (fluid_coherence:
 * correlated from frame to frame and between neighbouring pixels), which noise in
 * the fluid's colour class does not have. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval_impl.h"

static double present_fraction(const ev_ctx *c, int i) {
    int n = 0;
    for (int f = 0; f < c->v->frames; f++) n += c->obs[i][f].found;
    return (double)n / c->v->frames;
}

static double path_length(const ev_ctx *c, int i) {
    double L = 0;
    int last = -1;
    for (int f = 0; f < c->v->frames; f++) {
        if (!c->obs[i][f].found) continue;
        if (last >= 0) L += hypot(c->obs[i][f].x - c->obs[i][last].x, c->obs[i][f].y - c->obs[i][last].y);
        last = f;
    }
    return L;
}

static int first_of(const ev_ctx *c, const char *kind, int skip) {
    for (int i = 0; i < c->s->nobj; i++)
        if (!strcmp(c->s->okind[i], kind) && skip-- == 0) return i;
    return -1;
}

static void sa_collision(ev_ctx *c) {
    int a = first_of(c, "ball", 0), b = first_of(c, "ball", 1);
    int both = 0;
    for (int f = 0; a >= 0 && b >= 0 && f < c->v->frames; f++) both += c->obs[a][f].found && c->obs[b][f].found;
    if (both < 2) { /* fast balls may leave the frame after the collision */
        pp_ev_sa(c->r, "collision", NAN, 0, 0);
        return;
    }
    double best = INFINITY;
    for (int f = 0; f < c->v->frames; f++) {
        const pp_eval_obs *p = &c->obs[a][f], *q = &c->obs[b][f];
        if (!p->found || !q->found) continue;
        double step = 0;
        if (f + 1 < c->v->frames && c->obs[a][f + 1].found && c->obs[b][f + 1].found)
            step = hypot(c->obs[a][f + 1].x - p->x - (c->obs[b][f + 1].x - q->x),
                         c->obs[a][f + 1].y - p->y - (c->obs[b][f + 1].y - q->y));
        best = fmin(best, hypot(p->x - q->x, p->y - q->y) - p->r - q->r - step);
    }
    double tol = 2.0 * c->upx;
    pp_ev_sa(c->r, "collision", best, tol, best <= tol);
}

static void sa_ball(ev_ctx *c, int cat) {
    int i = first_of(c, "ball", 0);
    const char *name = pp_cat_names[cat];
    if (cat == PP_CAT_RIGID_BODY) /* any ball: after a collision a fast one may leave early (long clips) */
        for (int k = 1, j; (j = first_of(c, "ball", k)) >= 0; k++) {
            int ok_i = present_fraction(c, i) >= 0.5, ok_j = present_fraction(c, j) >= 0.5;
            if (ok_j > ok_i || (ok_j && ok_i && path_length(c, j) > path_length(c, i)) ||
                (!ok_j && !ok_i && present_fraction(c, j) > present_fraction(c, i)))
                i = j;
        }
    if (i < 0 || present_fraction(c, i) < 0.5) {
        pp_ev_sa(c->r, name, i < 0 ? NAN : present_fraction(c, i), 0.5, 0);
        return;
    }
    if (cat == PP_CAT_RIGID_BODY) {
        double L = path_length(c, i), v = pp_eval_spec_param(c->s, "v");
        pp_ev_sa(c->r, name, L, c->upx, L >= c->upx || (!isnan(v) && v < 0.3));
    } else if (cat == PP_CAT_ELASTIC) {
        int turns = 0, F = c->v->frames;
        double eps = fmax(0.15 * c->upx, 0.03);
        for (int f = 1; f + 1 < F; f++) { /* a lowest point with a fall before and a rise after */
            const pp_eval_obs *o = c->obs[i];
            if (!o[f].found) continue;
            double before = -INFINITY, after = -INFINITY;
            for (int g = f - 3; g < f; g++)
                if (g >= 0 && o[g].found) before = fmax(before, o[g].y - o[f].y);
            for (int g = f + 1; g <= f + 3 && g < F; g++)
                if (o[g].found) after = fmax(after, o[g].y - o[f].y);
            int low = !(f + 1 < F && o[f + 1].found && o[f + 1].y < o[f].y);
            if (low && before > eps && after > eps) { turns++; f += 2; }
        }
        pp_ev_sa(c->r, name, turns, 1, turns >= 1);
    } else {
        pp_ev_sa(c->r, name, present_fraction(c, i), 0.5, 1);
    }
}

/* Most common colour (4-bit bins, averaged) of rows [row0, H) of frame f. */
static void rows_mode(const pp_video *v, int f, int row0, float out[3]) {
    static _Thread_local int cnt[4096];
    static _Thread_local float sum[4096][3];
    memset(cnt, 0, sizeof cnt);
    memset(sum, 0, sizeof sum);
    const uint8_t *fr = pp_video_frame(v, f);
    for (int y = row0; y < v->height; y++)
        for (int x = 0; x < v->width; x++) {
            const uint8_t *p = fr + ((size_t)y * v->width + x) * 3;
            int k = (p[0] >> 4) << 8 | (p[1] >> 4) << 4 | (p[2] >> 4);
            cnt[k]++;
            for (int c = 0; c < 3; c++) sum[k][c] += p[c];
        }
    int best = 0;
    for (int k = 1; k < 4096; k++) best = cnt[k] > cnt[best] ? k : best;
    for (int c = 0; c < 3; c++) out[c] = cnt[best] ? sum[best][c] / (float)cnt[best] : 0;
}

/* Pixels below the ball that blend (>= 50 %) from the surface colour below it
 * towards the reflection's tint 0.4 c + 0.6 * 230 (the renderer's mirror image). */
static int tinted_pixels(const ev_ctx *c, int i, int f, const pp_eval_obs *o) {
    int row0 = (int)pp_ev_row(c->s, c->v->height, o->y - o->r) + 1, n = 0;
    if (row0 < 0) row0 = 0;
    if (row0 >= c->v->height) return 0;
    float m[3];
    double t[3], d[3], dd = 0;
    rows_mode(c->v, f, row0, m);
    for (int k = 0; k < 3; k++) {
        t[k] = 0.4 * c->s->ocolor[i][k] + 0.6 * 230.0;
        d[k] = t[k] - m[k];
        dd += d[k] * d[k];
    }
    if (dd < 100) return 0;
    const uint8_t *fr = pp_video_frame(c->v, f);
    for (int y = row0; y < c->v->height; y++)
        for (int x = 0; x < c->v->width; x++) {
            const uint8_t *p = fr + ((size_t)y * c->v->width + x) * 3;
            double q[3], dq = 0, res = 0;
            for (int k = 0; k < 3; k++) { q[k] = p[k] - m[k]; dq += q[k] * d[k]; }
            double a = dq / dd;
            for (int k = 0; k < 3; k++) res += (q[k] - a * d[k]) * (q[k] - a * d[k]);
            n += a >= 0.5 && a <= 1.3 && res < 40.0 * 40.0;
        }
    return n;
}

static void sa_reflection(ev_ctx *c) {
    int i = first_of(c, "ball", 0);
    if (i < 0 || present_fraction(c, i) < 0.5) {
        pp_ev_sa(c->r, "reflection", 0, 1, 0);
        return;
    }
    int frames = 0, seen = 0;
    for (int f = 0; f < c->v->frames; f++) {
        const pp_eval_obs *o = &c->obs[i][f];
        if (!o->found) continue;
        seen++;
        frames += tinted_pixels(c, i, f, o) > 0;
    }
    double v = seen ? (double)frames / seen : 0;
    pp_ev_sa(c->r, "reflection", v, 0.5, v >= 0.5);
}

static double fluid_present(const ev_ctx *c, int i, double min_mass) {
    int n = 0;
    for (int f = 0; f < c->v->frames; f++) n += c->ff[i][f].mass > min_mass;
    return (double)n / c->v->frames;
}

/* Coherence of a fluid's density field (pp_ev_density over its region's columns),
 * so that noise is not taken for a fluid: noise in the fluid's colour class gives
 * plenty of "mass" in every frame, but scattered independently per pixel and frame.
 *   tc = median over consecutive frame pairs (both with mass > min_mass) of the
 *        Pearson correlation of the two density maps, each box-averaged over
 *        +-0.32 units (3x3 px at 32 px, 9x9 at 128 px), so that a plume or a spark
 *        moving by about that much per frame stays correlated;
 *   sc = median over frames (mass > min_mass) of the lag-1 spatial autocorrelation
 *        of the raw map (mean of the horizontal and vertical neighbour pairs).
 * Simulator videos (200 ID + 200 OOD per fluid scene, 32 and 16 px; 20 + 20 at
 * 128 px): tc >= 0.59, sc >= 0.13 (both lowest for OOD explosions, whose sparks
 * fly far; at 128 px tc >= 0.67, sc >= 0.7); noise videos
 * (uniform and 4-px smoothed, new noise per frame): tc <= 0.3, and sc <= 0.04 for
 * uniform noise (docs/EVAL.md, "Noise videos"). Thresholds in between: */
#define EV_FLUID_MIN_TC 0.45
#define EV_FLUID_MIN_SC 0.10
static double pearson(const double *a, const double *b, int n) {
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    for (int k = 0; k < n; k++) { sa += a[k]; sb += b[k]; saa += a[k] * a[k]; sbb += b[k] * b[k]; sab += a[k] * b[k]; }
    double va = saa - sa * sa / n, vb = sbb - sb * sb / n;
    return va > 1e-12 && vb > 1e-12 ? (sab - sa * sb / n) / sqrt(va * vb) : NAN;
}

static double median_of(double *x, int n) {
    int m = 0;
    for (int k = 0; k < n; k++) if (!isnan(x[k])) x[m++] = x[k];
    if (!m) return NAN;
    for (int a = 1; a < m; a++) for (int b = a; b > 0 && x[b - 1] > x[b]; b--) { double t = x[b]; x[b] = x[b - 1]; x[b - 1] = t; }
    return m % 2 ? x[m / 2] : 0.5 * (x[m / 2 - 1] + x[m / 2]);
}

static void fluid_coherence(const ev_ctx *c, int i, double min_mass, double *tc, double *sc) {
    const pp_video *v = c->v;
    int F = v->frames, H = v->height, x0 = c->col0[i], w = c->col1[i] - x0, n = H * w;
    int rb = (int)fmax(1.0, floor(0.32 / c->upx + 0.5)); /* box radius: 1 px at 32 px, 4 px at 128 px */
    double *d = pp_calloc((size_t)F * n, sizeof *d), *bl = pp_calloc((size_t)F * n, sizeof *bl);
    double *ts = pp_calloc((size_t)F, sizeof *ts), *ss = pp_calloc((size_t)F, sizeof *ss);
    double *a = pp_calloc((size_t)n, sizeof *a), *b = pp_calloc((size_t)n, sizeof *b);
    for (int f = 0; f < F; f++) {
        float bg[3];
        pp_ev_frame_bg(v, f, c->col0[i], c->col1[i], bg);
        const uint8_t *fr = pp_video_frame(v, f);
        double *df = d + (size_t)f * n, *bf = bl + (size_t)f * n;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < w; x++) df[y * w + x] = pp_ev_density(c->s, i, fr + ((size_t)y * v->width + x0 + x) * 3, bg);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < w; x++) {
                double s = 0;
                int k = 0;
                for (int dy = -rb; dy <= rb; dy++)
                    for (int dx = -rb; dx <= rb; dx++) {
                        int yy = y + dy, xx = x + dx;
                        if (yy >= 0 && yy < H && xx >= 0 && xx < w) { s += df[yy * w + xx]; k++; }
                    }
                bf[y * w + x] = s / k;
            }
        ss[f] = NAN;
        if (c->ff[i][f].mass > min_mass) { /* pairs (p, right neighbour) and (p, lower neighbour) */
            int m = 0;
            for (int y = 0; y < H; y++)
                for (int x = 0; x + 1 < w; x++) { a[m] = df[y * w + x]; b[m++] = df[y * w + x + 1]; }
            double h = pearson(a, b, m);
            m = 0;
            for (int y = 0; y + 1 < H; y++)
                for (int x = 0; x < w; x++) { a[m] = df[y * w + x]; b[m++] = df[(y + 1) * w + x]; }
            ss[f] = 0.5 * (h + pearson(a, b, m));
        }
        ts[f] = NAN;
        if (f > 0 && c->ff[i][f].mass > min_mass && c->ff[i][f - 1].mass > min_mass)
            ts[f] = pearson(bf - n, bf, n);
    }
    *tc = median_of(ts, F);
    *sc = median_of(ss, F);
    free(d); free(bl); free(ts); free(ss); free(a); free(b);
}

/* 1 when object i's density field is coherent in time and space (NaN: never enough mass: 0). */
static int fluid_coherent(const ev_ctx *c, int i, double min_mass) {
    double tc, sc;
    fluid_coherence(c, i, min_mass, &tc, &sc);
    return tc >= EV_FLUID_MIN_TC && sc >= EV_FLUID_MIN_SC;
}

static void sa_fluid(ev_ctx *c, int cat, const char *kind) {
    const char *name = pp_cat_names[cat];
    int i = -1;
    for (int k = 0; k < c->s->nobj && i < 0; k++)
        if (c->ff[k] && !strcmp(c->s->okind[k], kind) && (cat != PP_CAT_COMBUSTION || pp_ev_is_flame(c->s, k)) &&
            (cat != PP_CAT_GAS || !pp_ev_is_flame(c->s, k)))
            i = k;
    if (i < 0) {
        pp_ev_sa(c->r, name, NAN, 0.5, 0);
        return;
    }
    const ev_fluid_frame *ff = c->ff[i];
    int F = c->v->frames;
    double pres = fluid_present(c, i, 0.05), ok = pres >= 0.5;
    if (cat == PP_CAT_GAS) ok = ok && ff[F - 1].top > ff[0].top - c->upx;
    if (cat == PP_CAT_LIQUID) ok = ok && !(ff[F - 1].cy > ff[0].cy + 0.5);
    if (cat == PP_CAT_MELTING) ok = ff[0].mass > 0.05 && ff[F - 1].mass < ff[0].mass;
    ok = ok && fluid_coherent(c, i, 0.05);
    pp_ev_sa(c->r, name, pres, 0.5, ok);
}

/* Explosion: spread of non-background, non-neutral pixels grows from the first frames to later ones. */
static void sa_explosion(ev_ctx *c) {
    int i = first_of(c, "particles", 0);
    if (i < 0 || !c->ff[i]) {
        pp_ev_sa(c->r, "explosion", NAN, 0, 0);
        return;
    }
    const ev_fluid_frame *ff = c->ff[i];
    int F = c->v->frames;
    double s0 = ff[0].spread, s1 = ff[F / 2].spread;
    double v = isnan(s0) ? s1 : s1 - s0;
    pp_ev_sa(c->r, "explosion", v, 0, fluid_present(c, i, 0.02) >= 0.5 && v > 0 && fluid_coherent(c, i, 0.02));
}

void pp_ev_semantic(ev_ctx *c) {
    const pp_eval_spec *s = c->s;
    if (pp_ev_has_cat(s, PP_CAT_COLLISION)) sa_collision(c);
    if (pp_ev_has_cat(s, PP_CAT_RIGID_BODY)) sa_ball(c, PP_CAT_RIGID_BODY);
    if (pp_ev_has_cat(s, PP_CAT_ELASTIC)) sa_ball(c, PP_CAT_ELASTIC);
    if (pp_ev_has_cat(s, PP_CAT_DEFORMATION)) sa_ball(c, PP_CAT_DEFORMATION);
    if (pp_ev_has_cat(s, PP_CAT_REFLECTION)) sa_reflection(c);
    if (pp_ev_has_cat(s, PP_CAT_GAS)) sa_fluid(c, PP_CAT_GAS, "plume");
    if (pp_ev_has_cat(s, PP_CAT_COMBUSTION)) sa_fluid(c, PP_CAT_COMBUSTION, "plume");
    if (pp_ev_has_cat(s, PP_CAT_LIQUID)) sa_fluid(c, PP_CAT_LIQUID, "liquid");
    if (pp_ev_has_cat(s, PP_CAT_MELTING)) sa_fluid(c, PP_CAT_MELTING, "ice");
    if (pp_ev_has_cat(s, PP_CAT_EXPLOSION)) sa_explosion(c);
}
