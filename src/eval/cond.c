/* cond.c - conditioned evaluation (PhyWorld protocol): frames >= K are the model's
 * predictions and are compared with the spec's ground-truth states.
 *   velocity_error   mean over objects and frame pairs (f, f+1), f+1 >= K, of
 *                    |v - v_true| (vector norm, units/s), v = (p(f+1) - p(f)) / dt
 *                    from the parsed centroids, v_true the same finite difference of
 *                    the true positions (so events between frames cost nothing);
 *                    pairs where the truth is not wholly inside the frame are skipped
 *   tracked_fraction share of those pairs where the parser found the object
 *   radius_error     mean |r - r_true| over predicted frames, units
 *   radius_drift     (median r of predicted frames - median r of conditioning
 *                    frames) / the latter
 *   plume_rise_speed_error  |slope of parsed plume centroid height - true slope|
 *                    over the predicted frames, units/s
 *   mass_drift       parsed relative mass change over the predicted frames minus the
 *                    true one (spec fluid.mass) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval_impl.h"

static const pp_eval_ostate *truth(const pp_eval_spec *s, int f, int i) { return &s->st[(size_t)f * s->nobj + i]; }

/* Is the true object wholly inside the frame and its composite region? */
static int inside_region(const pp_eval_spec *s, int i, const pp_eval_ostate *t) {
    float x0, x1;
    pp_ev_obj_region(s, i, &x0, &x1);
    return t->inside && t->x - t->r >= x0 && t->x + t->r <= x1;
}

static void ball_errors(ev_ctx *c, double *verr, int *npairs, int *nexpect, double *rerr, int *nr) {
    const pp_eval_spec *s = c->s;
    int K = c->o->cond_frames, F = c->v->frames;
    for (int i = 0; i < s->nobj; i++) {
        if (!c->obs[i]) continue;
        const pp_eval_obs *o = c->obs[i];
        for (int f = K > 0 ? K - 1 : 0; f + 1 < F; f++) {
            const pp_eval_ostate *a = truth(s, f, i), *b = truth(s, f + 1, i);
            if (!inside_region(s, i, a) || !inside_region(s, i, b)) continue;
            (*nexpect)++;
            if (!o[f].found || !o[f + 1].found) continue;
            double vx = (o[f + 1].x - o[f].x) / s->dt, vy = (o[f + 1].y - o[f].y) / s->dt;
            double tx = (b->x - a->x) / s->dt, ty = (b->y - a->y) / s->dt;
            *verr += hypot(vx - tx, vy - ty);
            (*npairs)++;
        }
        for (int f = K; f < F; f++)
            if (inside_region(s, i, truth(s, f, i)) && o[f].found && !o[f].border) {
                *rerr += fabs(o[f].r - truth(s, f, i)->r);
                (*nr)++;
            }
    }
}

static double median_r(const pp_eval_obs *o, int f0, int f1) {
    double v[512];
    int n = 0;
    for (int f = f0; f < f1 && n < 512; f++)
        if (o[f].found && !o[f].border) v[n++] = o[f].r;
    if (!n) return NAN;
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && v[b - 1] > v[b]; b--) { double t = v[b]; v[b] = v[b - 1]; v[b - 1] = t; }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void ball_drift(ev_ctx *c) {
    int K = c->o->cond_frames, F = c->v->frames;
    double worst = NAN;
    for (int i = 0; i < c->s->nobj; i++) {
        if (!c->obs[i]) continue;
        double r0 = median_r(c->obs[i], 0, K), r1 = median_r(c->obs[i], K, F);
        double d = (r1 - r0) / r0;
        if (isfinite(d) && !(fabs(d) <= fabs(worst))) worst = d;
    }
    pp_ev_measure(c->r, "radius_drift", worst);
}

static double slope_range(const double *y, int f0, int f1, double dt) {
    double t[512], v[512];
    int n = 0;
    for (int f = f0; f < f1 && n < 512; f++, n++) { t[n] = f * dt; v[n] = y[f]; }
    return pp_ev_slope(t, v, n);
}

static void fluid_errors(ev_ctx *c) {
    const pp_eval_spec *s = c->s;
    if (!s->has_fluid) return;
    int K = c->o->cond_frames, F = c->v->frames;
    for (int i = 0; i < s->nobj; i++) {
        if (!c->ff[i] || strcmp(s->okind[i], "plume")) continue;
        double *cy = pp_malloc(sizeof(double) * F * 2), *ty = cy + F;
        for (int f = 0; f < F; f++) { cy[f] = c->ff[i][f].cy; ty[f] = s->fluid[f].cy; }
        double rp = slope_range(cy, K - 1, F, s->dt), rt = slope_range(ty, K - 1, F, s->dt);
        free(cy);
        pp_ev_measure(c->r, "plume_rise_speed", rp);
        pp_ev_measure(c->r, "plume_rise_speed_true", rt);
        pp_ev_measure(c->r, "plume_rise_speed_error", fabs(rp - rt));
        double m0 = c->ff[i][K - 1].mass, m1 = c->ff[i][F - 1].mass;
        double t0 = s->fluid[K - 1].mass, t1 = s->fluid[F - 1].mass;
        double dp = m0 > 0 ? (m1 - m0) / m0 : NAN, dtr = t0 > 0 ? (t1 - t0) / t0 : NAN;
        pp_ev_measure(c->r, "mass_drift", dp - dtr);
        return; /* one plume per spec */
    }
}

void pp_ev_conditioned(ev_ctx *c) {
    double verr = 0, rerr = 0;
    int np = 0, ne = 0, nr = 0;
    ball_errors(c, &verr, &np, &ne, &rerr, &nr);
    if (ne > 0) {
        c->r->velocity_error = np ? verr / np : NAN;
        pp_ev_measure(c->r, "velocity_error", c->r->velocity_error);
        double tf = (double)np / ne;
        pp_ev_measure(c->r, "tracked_fraction", tf);
        pp_ev_check(c->r, "tracked", tf, 0.9, tf >= 0.9);
        pp_ev_measure(c->r, "radius_error", nr ? rerr / nr : NAN);
        ball_drift(c);
    }
    fluid_errors(c);
    pp_ev_motion_iou(c);
}
