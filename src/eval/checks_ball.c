/* checks_ball.c - unconditioned rule checks for rigid objects (balls).
 *
 * A parsed track is cut into free-flight segments at events seen in the video
 * itself (no ground truth needed), each axis at the events that change its
 * velocity:
 *   - y: a floor contact (scenes with a floor: elastic motion, deformation; the
 *     spec's params.floor_y when present): the flights on both sides of an
 *     interval between frames, continued across it, reach the floor
 *     (mark_contacts), and any frame with the ball within half a pixel of the
 *     floor (resting), or squashed on it (deformation);
 *   - x: a wall contact at the region's sides (the same test, uniform motion);
 *   - both: a contact between two balls, the frame of closest approach when they
 *     come within r1 + r2 + (relative step) + 2 px (collisions), and frames where
 *     the object touches the frame (or region) edge.
 * A floor contact leaves x one flight and a wall contact y, so a jump at a
 * contact shows in the other axis's fit.
 * Event frames are left out of the fits. Each axis is fitted with one shared
 * acceleration and a position and velocity per segment (fit.c). The checks
 * (tolerances in docs/EVAL.md; upx = world units per pixel):
 *   <obj>.persist      appear/vanish events away from the edges (tol 0)
 *   <obj>.size         (max r - min r) / median r            (tol 0.06 + 0.1 upx / r)
 *   <obj>.gravity      downward acceleration, |a - g| <= 0.05 g + 0.3 upx + n (g > 0)
 *   <obj>.accel        |a| for g = 0                         (tol 0.25 + n)
 *   <obj>.accel_x      |a_x| for g > 0                       (tol 0.25 + n)
 *                      n = 0.3 upx / T^2, T the axis's longest flight in s (>= 0.2)
 *   <obj>.smooth       max fit residual, units               (tol 0.05 + 0.15 upx)
 *   <obj>.continuity   gap between an axis's flights on both sides of its event
 *                      (the largest over events and axes, tol 0.1 + 0.3 upx)
 *   <obj>.speed_change |v(2nd half) - v(1st half)| for g = 0 (tol 0.1 + 0.3 upx / min(T, 1))
 *   bounce_energy      largest rise of a flight's apex over the previous one
 *   <obj>.rebound      largest height of a frame after a floor contact above an
 *                      elastic rebound of the flight before (tol 0.05 + 0.15 upx)
 *   collision_momentum |sum m dv| / sum m |v_before|, m ~ r^2
 *   collision_energy   |E_after - E_before| / E_before */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval_impl.h"

typedef struct {
    int n;                 /* frames */
    double t[512], x[512], y[512], r[512];
    int ok[512];           /* usable (found, not at an edge) */
    int found[512];        /* found at all (maybe partly outside) */
    int seg[2][512];       /* per axis (0 = x, 1 = y): segment per frame, -1 excluded */
    int nseg[2];
    double r_med;
    ev_fit fit[2];         /* per axis */
    int fitted;
} track;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_ok(const track *k, const double *vals) {
    double tmp[512];
    int m = 0;
    for (int f = 0; f < k->n; f++)
        if (k->ok[f]) tmp[m++] = vals[f];
    if (!m) return NAN;
    qsort(tmp, (size_t)m, sizeof tmp[0], cmp_double);
    return m % 2 ? tmp[m / 2] : 0.5 * (tmp[m / 2 - 1] + tmp[m / 2]);
}

static void load_track(const ev_ctx *c, int i, track *k) {
    memset(k, 0, sizeof *k);
    k->n = c->v->frames < 512 ? c->v->frames : 512;
    for (int f = 0; f < k->n; f++) {
        const pp_eval_obs *o = &c->obs[i][f];
        k->t[f] = f * (double)c->s->dt;
        k->x[f] = o->x;
        k->y[f] = o->y;
        k->r[f] = o->r;
        k->ok[f] = o->found && !o->border;
        k->found[f] = o->found;
    }
    k->r_med = median_ok(k, k->r);
}

/* ---- persistence ---- */
/* Could the object have left (dir=+1) / entered (dir=-1) the frame between f and f+dir? */
static int explained_by_edge(const ev_ctx *c, int i, int f, int dir) {
    const pp_eval_obs *a = &c->obs[i][f], *b = NULL;
    int g = f - dir;
    if (g >= 0 && g < c->v->frames && c->obs[i][g].found) b = &c->obs[i][g];
    double px = a->x, py = a->y;
    if (b) { px += a->x - b->x; py += a->y - b->y; } /* extrapolate one step */
    double x0 = c->col0[i] * (double)c->s->world_w / c->v->width, x1 = c->col1[i] * (double)c->s->world_w / c->v->width;
    double m = a->r + 2.0 * c->upx;
    return px - m <= x0 || px + m >= x1 || py - m <= 0 || py + m >= c->s->world_h;
}

static void check_persist(ev_ctx *c, int i) {
    int F = c->v->frames, events = 0, seen = 0;
    for (int f = 0; f < F; f++) seen += c->obs[i][f].found;
    for (int f = 0; f + 1 < F; f++) {
        int a = c->obs[i][f].found, b = c->obs[i][f + 1].found;
        if (a && !b && !explained_by_edge(c, i, f, 1)) events++;
        if (!a && b && !explained_by_edge(c, i, f + 1, -1)) events++;
    }
    char name[48];
    snprintf(name, sizeof name, "%s.persist", c->s->oname[i]);
    pp_ev_check(c->r, name, seen ? events : F, 0, seen && events == 0);
}

/* Deformation: frames where the soft ball may be squashed against the floor. */
static int squash_floor(const ev_ctx *c, const track *k, int f) {
    double fy = pp_eval_spec_param(c->s, "floor_y");
    if (!pp_ev_has_cat(c->s, PP_CAT_DEFORMATION) || isnan(fy)) return 0;
    return k->y[f] - fy < k->r_med + c->upx;
}

static void check_size(ev_ctx *c, int i, const track *k, const int *contact) {
    double lo = INFINITY, hi = -INFINITY;
    int m = 0;
    for (int f = 0; f < k->n; f++) {
        if (!k->ok[f] || contact[f]) continue;
        if (squash_floor(c, k, f)) continue;
        lo = fmin(lo, k->r[f]);
        hi = fmax(hi, k->r[f]);
        m++;
    }
    if (m < 2 || !(k->r_med > 0)) return;
    double v = (hi - lo) / k->r_med, tol = 0.06 + 0.1 * c->upx / k->r_med;
    char name[48];
    snprintf(name, sizeof name, "%s.size", c->s->oname[i]);
    pp_ev_check(c->r, name, v, tol, v <= tol);
}

/* ---- segmentation ---- */
enum { AX_X = 0, AX_Y = 1 };

static int has_floor(const ev_ctx *c) {
    return pp_ev_has_cat(c->s, PP_CAT_ELASTIC) || pp_ev_has_cat(c->s, PP_CAT_DEFORMATION);
}

/* Contacts with one boundary (the floor, or one wall). d[f] = distance of the ball's
 * edge from it, g = the acceleration towards it (gravity for the floor, 0 for a
 * wall: uniform horizontal motion), tol = the noise allowed (the boundary is
 * taken tol closer). A contact fell between frames f-1 and f when
 *   - the flight before, continued from f-2 and f-1, reaches the boundary after
 *     tau1, and the flight after, continued back from f+1 and f, reaches it
 *     before f by tau2, with tau1 + tau2 <= dt: the flights meet the boundary in
 *     the interval, one after the other (= for one contact: the continuation of a
 *     free flight is exact at any speed or restitution, wherever in the interval
 *     the contact came; < for several contacts in it, a ball coming to rest);
 *   - and the boundary pushed the ball away: the step f -> f+1 exceeds the step
 *     f-2 -> f-1 by more than free flight gives (2 g dt^2 towards the boundary),
 *     by (v_in + v_out) dt exactly, more than tol/2.
 * Neither uses the step across the interval, and both flights must reach the
 * boundary, so a jump (a teleport) cannot make a contact of its own; a ball
 * gliding along a wall is none (no push), nor one stopped in the air (frozen),
 * unless within tol + g dt^2/8 of the floor (the apex of a hop of one frame). At
 * a clip's end, or next to a frame where the ball was not seen, the one flight
 * there decides: it reaches the boundary within the interval and the ball is seen
 * further from the boundary than that flight puts it. The frame of the interval
 * nearer the boundary is marked. */
static double reach_time(const double *d, int a, int b, double g, double dt, double tol) {
    double h = d[b] - tol, v = (d[b] - d[a]) / dt - 0.5 * g * dt; /* the speed away from it at b */
    if (h <= 0) return 0;
    if (g > 0) return (v + sqrt(v * v + 2 * g * h)) / g;
    return v < 0 ? h / -v : INFINITY;
}

/* Where the flight through a, b (b = a +- 1) is one step after b. */
static double reach(const double *d, int a, int b, double g, double dt) { return 2 * d[b] - d[a] - g * dt * dt; }

static void mark_contacts(const double *d, const int *found, int n, double g, double dt, double tol, int *event) {
    for (int f = 1; f < n; f++) {
        if (!found[f - 1] || !found[f]) continue;
        int fw = f >= 2 && found[f - 2], bw = f + 1 < n && found[f + 1], hit;
        if (fw && bw) /* both flights reach the boundary in the interval, and it pushed */
            hit = reach_time(d, f - 2, f - 1, g, dt, tol) + reach_time(d, f + 1, f, g, dt, tol) <= dt &&
                  (d[f + 1] - d[f]) - (d[f - 1] - d[f - 2]) + 2 * g * dt * dt > 0.5 * tol;
        else if (fw) /* the flight before reaches it, and f lies beyond that flight */
            hit = reach_time(d, f - 2, f - 1, g, dt, tol) <= dt && d[f] - reach(d, f - 2, f - 1, g, dt) > 0.5 * tol;
        else if (bw)
            hit = reach_time(d, f + 1, f, g, dt, tol) <= dt && d[f - 1] - reach(d, f + 1, f, g, dt) > 0.5 * tol;
        else
            hit = 0;
        if (hit) event[d[f - 1] < d[f] ? f - 1 : f] = 1;
    }
}

/* Floor contacts (y events): the contacts above, and any frame with the ball within
 * half a pixel of the floor (touching or resting: not a free flight). The floor is
 * the spec's params.floor_y, else the lowest point seen. */
static double floor_level(const ev_ctx *c, const track *k) {
    double floor_y = pp_eval_spec_param(c->s, "floor_y"), ymin = INFINITY;
    for (int f = 0; f < k->n; f++)
        if (k->ok[f]) ymin = fmin(ymin, k->y[f] - k->r[f]);
    return isnan(floor_y) ? ymin : floor_y;
}

static void mark_bounces(const ev_ctx *c, const track *k, int *event) {
    double floor_y = floor_level(c, k), d[512];
    for (int f = 0; f < k->n; f++) {
        d[f] = k->y[f] - k->r_med - floor_y;
        if (k->found[f] && d[f] < 0.5 * c->upx) event[f] = 1;
    }
    mark_contacts(d, k->found, k->n, fmax(c->s->gravity, 0), c->s->dt, 0.5 * c->upx, event);
}

/* Wall contacts (x events) at the object's region sides. */
static void mark_walls(const ev_ctx *c, int i, const track *k, int *event) {
    double x0 = c->col0[i] * (double)c->s->world_w / c->v->width, x1 = c->col1[i] * (double)c->s->world_w / c->v->width;
    double d[512];
    for (int side = 0; side < 2; side++) {
        for (int f = 0; f < k->n; f++) d[f] = side ? x1 - k->x[f] - k->r_med : k->x[f] - k->r_med - x0;
        mark_contacts(d, k->found, k->n, 0, c->s->dt, 0.5 * c->upx, event);
    }
}

/* Frame of closest approach of objects i and j when they touch; -1 if they never do. */
static int contact_frame(const ev_ctx *c, const track *a, const track *b) {
    int best = -1;
    double bd = INFINITY;
    for (int f = 0; f < a->n; f++) {
        if (!a->ok[f] || !b->ok[f]) continue;
        double d = hypot(a->x[f] - b->x[f], a->y[f] - b->y[f]);
        if (d < bd) { bd = d; best = f; }
    }
    if (best < 0) return -1;
    double step = 0;
    for (int g = best - 1; g <= best; g++)
        if (g >= 0 && g + 1 < a->n && a->ok[g] && a->ok[g + 1] && b->ok[g] && b->ok[g + 1])
            step = fmax(step, hypot(a->x[g + 1] - a->x[g] - (b->x[g + 1] - b->x[g]),
                                    a->y[g + 1] - a->y[g] - (b->y[g + 1] - b->y[g])));
    return bd <= a->r_med + b->r_med + step + 2.0 * c->upx ? best : -1;
}

/* Segments of one axis: runs of usable frames without an event of that axis. */
static void segment(track *k, int ax, const int *event) {
    k->nseg[ax] = 0;
    int open = 0;
    for (int f = 0; f < k->n; f++) {
        if (!k->ok[f] || event[f]) { k->seg[ax][f] = -1; open = 0; continue; }
        if (!open) {
            if (k->nseg[ax] == EV_MAX_SEG) { k->seg[ax][f] = -1; continue; }
            k->nseg[ax]++;
            open = 1;
        }
        k->seg[ax][f] = k->nseg[ax] - 1;
    }
}

static void fit_track(track *k) {
    const double *p[2] = {k->x, k->y};
    k->fitted = 1;
    for (int ax = 0; ax < 2; ax++) {
        int pts = 0;
        for (int f = 0; f < k->n; f++) pts += k->seg[ax][f] >= 0;
        k->fitted &= k->nseg[ax] > 0 && pts >= 2 * k->nseg[ax] + 2 &&
                     !pp_ev_joint_fit(k->t, p[ax], k->seg[ax], k->n, k->nseg[ax], 1, &k->fit[ax]);
    }
}

/* ---- motion checks ---- */
static void named(char *out, size_t cap, const ev_ctx *c, int i, const char *what) {
    snprintf(out, cap, "%s.%s", c->s->oname[i], what);
}

/* |v(second half) - v(first half)| of the longest segment, by line fits (NaN if
 * short). For g = 0 (no floor) both axes have the same segments. */
static double speed_change(const track *k) {
    int best = -1, bn = 0;
    for (int s = 0; s < k->nseg[AX_X]; s++)
        if (k->fit[AX_X].npts[s] > bn) { bn = k->fit[AX_X].npts[s]; best = s; }
    if (bn < 6) return NAN;
    double tt[2][512], xx[2][512], yy[2][512];
    int m[2] = {0, 0}, seen = 0;
    for (int f = 0; f < k->n; f++) {
        if (k->seg[AX_X][f] != best) continue;
        int h = seen++ >= bn / 2;
        tt[h][m[h]] = k->t[f]; xx[h][m[h]] = k->x[f]; yy[h][m[h]] = k->y[f];
        m[h]++;
    }
    double vx0 = pp_ev_slope(tt[0], xx[0], m[0]), vy0 = pp_ev_slope(tt[0], yy[0], m[0]);
    double vx1 = pp_ev_slope(tt[1], xx[1], m[1]), vy1 = pp_ev_slope(tt[1], yy[1], m[1]);
    return hypot(vx1 - vx0, vy1 - vy0);
}

/* Duration of the longest flight of an axis, s (>= 0.2). */
static double longest_flight(const ev_ctx *c, const track *k, int ax) {
    int longest = 1;
    for (int q = 0; q < k->nseg[ax]; q++) longest = k->fit[ax].npts[q] > longest ? k->fit[ax].npts[q] : longest;
    return fmax((longest - 1) * (double)c->s->dt, 0.2);
}

static void check_motion(ev_ctx *c, int i, track *k) {
    if (!k->fitted) return;
    char name[48];
    double g = c->s->gravity, upx = c->upx, ay = k->fit[AX_Y].a, ax = k->fit[AX_X].a;
    /* a fitted acceleration's noise grows as 1 / duration^2 of the flights */
    double Ty = longest_flight(c, k, AX_Y), Tx = longest_flight(c, k, AX_X);
    double noise_y = 0.3 * upx / (Ty * Ty), noise_x = 0.3 * upx / (Tx * Tx);
    double tol_g = 0.05 * g + 0.3 * upx + noise_y;
    if (g > 0) {
        named(name, sizeof name, c, i, "gravity");
        pp_ev_check(c->r, name, -ay, tol_g, fabs(-ay - g) <= tol_g);
        named(name, sizeof name, c, i, "accel_x");
        pp_ev_check(c->r, name, fabs(ax), 0.25 + noise_x, fabs(ax) <= 0.25 + noise_x);
    } else {
        named(name, sizeof name, c, i, "accel");
        double a = hypot(ax, ay), tol_a = 0.25 + fmax(noise_x, noise_y);
        pp_ev_check(c->r, name, a, tol_a, a <= tol_a);
        double sc = speed_change(k), tol_v = 0.1 + 0.3 * upx / fmin(Tx, 1.0);
        named(name, sizeof name, c, i, "speed_change");
        if (!isnan(sc)) pp_ev_check(c->r, name, sc, tol_v, sc <= tol_v);
    }
    double res = fmax(k->fit[AX_X].max_res, k->fit[AX_Y].max_res), tol_r = 0.05 + 0.15 * upx;
    named(name, sizeof name, c, i, "smooth");
    pp_ev_check(c->r, name, res, tol_r, res <= tol_r);
}

/* Apex height of y segment s: the fitted parabola's vertex, i.e. the flight's
 * energy as a height (even when the vertex lies outside the observed frames); the
 * highest observed y when the fitted acceleration does not point down. */
static double apex(const track *k, int s) {
    const ev_fit *fy = &k->fit[AX_Y];
    double hi = -INFINITY;
    for (int f = 0; f < k->n; f++)
        if (k->seg[AX_Y][f] == s) hi = fmax(hi, k->y[f]);
    if (fy->a >= -1e-6) return hi;
    double v = fy->v[s], a = fy->a;
    return fy->p[s] - v * v / (2 * a); /* = (v^2/2 + |a| y) / |a|: the flight's energy */
}

static void check_bounce_energy(ev_ctx *c, const track *k) {
    if (!k->fitted || k->nseg[AX_Y] < 2) return;
    double worst = -INFINITY;
    for (int s = 0; s + 1 < k->nseg[AX_Y]; s++) {
        if (k->fit[AX_Y].npts[s] < 2 || k->fit[AX_Y].npts[s + 1] < 2) continue;
        worst = fmax(worst, apex(k, s + 1) - apex(k, s));
    }
    if (worst == -INFINITY) return;
    double tol = 0.1 + 1.0 * c->upx;
    pp_ev_check(c->r, "bounce_energy", worst, tol, worst <= tol);
    pp_ev_measure(c->r, "bounce_apex_rise", worst);
}

/* The frames right after a floor contact: no rebound leaves the floor faster
 * than the ball came in (restitution <= 1), so at a time tau after the contact
 * the ball is at most v tau - g tau^2 / 2 above the floor while tau <= v / g, and
 * never above the apex v^2 / 2g after (a soft ball that stays on the floor a
 * while may come down later than an instant rebound), v the speed at which the
 * fitted flight before reaches the floor (the contact time from that flight too).
 * Any frame seen (partly outside too: a ball cut by the top edge parses lower)
 * after the contact and before the next one counts - the next flight's, and
 * those in the gap, which bounce_energy cannot use when that flight has fewer
 * than two frames (a rebound out of the frame). Value: the largest height above
 * that bound, units. */
static void check_rebound(ev_ctx *c, int i, const track *k) {
    const ev_fit *fy = &k->fit[AX_Y];
    if (!k->fitted || !(fy->a < 0)) return;
    double floor_y = floor_level(c, k), worst = -INFINITY;
    for (int s = 0; s < k->nseg[AX_Y]; s++) {
        if (fy->npts[s] < 2) continue;
        int fa = -1, fb = -1, fe = -1;
        for (int f = 0; f < k->n; f++) {
            if (k->seg[AX_Y][f] == s) fa = f;
            if (k->seg[AX_Y][f] == s + 1) { if (fb < 0) fb = f; fe = f; }
        }
        if (fb < 0) fb = fe = fa + 3 < k->n ? fa + 3 : k->n - 1; /* no next flight: up to three frames */
        if (fb <= fa || fb - fa > 3) continue; /* a long gap (object hidden): not one contact */
        /* when the flight before reaches the floor: p + v tau + a tau^2 / 2 = floor + r */
        double h = fy->p[s] - k->r_med - floor_y, v = fy->v[s], a = fy->a, disc = v * v - 2 * a * h;
        if (disc < 0) continue;
        double tc = fy->t0[s] + (-v - sqrt(disc)) / a, vin = sqrt(disc);
        if (tc < k->t[fa] || tc > k->t[fb]) continue; /* no floor contact in the gap */
        for (int f = fa + 1; f <= fe; f++) {
            double tau = fmin(k->t[f] - tc, vin / -a); /* past the apex: the apex (see above) */
            if (!k->found[f] || k->t[f] <= tc) continue;
            worst = fmax(worst, k->y[f] - k->r_med - floor_y - (vin * tau + 0.5 * a * tau * tau));
        }
    }
    if (worst == -INFINITY) return;
    char name[48];
    double tol = 0.05 + 0.15 * c->upx;
    named(name, sizeof name, c, i, "rebound");
    pp_ev_check(c->r, name, worst, tol, worst <= tol);
}

/* At each event between segments s and s+1 of an axis (frames fa < fb, the event
 * frames between them left out) the two fitted flights must meet somewhere in
 * [t(fa), t(fb)]: a teleport leaves a gap. Each axis is cut only at its own events
 * (a floor contact turns y, a wall contact x, a collision both), so the other axis
 * stays one flight across an event, and its fit (smooth) sees a jump there. */
static double axis_gap(const ev_fit *fit, int s, double ta, double tb) {
    double best = INFINITY;
    for (int q = 0; q <= 40; q++) {
        double t = ta + (tb - ta) * q / 40.0;
        best = fmin(best, fabs(pp_ev_fit_eval(fit, s, t) - pp_ev_fit_eval(fit, s + 1, t)));
    }
    return best;
}

static void check_continuity(ev_ctx *c, int i, const track *k) {
    if (!k->fitted) return;
    double worst = -INFINITY;
    for (int ax = 0; ax < 2; ax++)
        for (int s = 0; s + 1 < k->nseg[ax]; s++) {
            int fa = -1, fb = -1;
            for (int f = 0; f < k->n; f++) {
                if (k->seg[ax][f] == s) fa = f;
                if (k->seg[ax][f] == s + 1 && fb < 0) fb = f;
            }
            if (fa < 0 || fb < 0 || fb - fa > 3) continue; /* a long gap (object hidden): not an event */
            if (k->fit[ax].npts[s] < 2 || k->fit[ax].npts[s + 1] < 2) continue; /* a flight needs two frames */
            worst = fmax(worst, axis_gap(&k->fit[ax], s, k->t[fa], k->t[fb]));
        }
    if (worst == -INFINITY) return;
    char name[48];
    double tol = 0.1 + 0.3 * c->upx;
    named(name, sizeof name, c, i, "continuity");
    pp_ev_check(c->r, name, worst, tol, worst <= tol);
}

/* Velocity of track k just before (side 0) / after (side 1) frame fc. */
static int side_velocity(const track *k, int fc, int side, double v[2]) {
    for (int ax = 0; ax < 2; ax++) {
        int s = -1;
        for (int f = fc + (side ? 1 : -1); f >= 0 && f < k->n && s < 0; f += side ? 1 : -1) s = k->seg[ax][f];
        if (s < 0 || k->fit[ax].npts[s] < 2) return -1;
        v[ax] = pp_ev_fit_vel(&k->fit[ax], s, k->t[fc]);
    }
    return 0;
}

static void check_collision(ev_ctx *c, const track *a, const track *b, int fc) {
    double va[2][2], vb[2][2];
    if (!a->fitted || !b->fitted || side_velocity(a, fc, 0, va[0]) || side_velocity(a, fc, 1, va[1]) ||
        side_velocity(b, fc, 0, vb[0]) || side_velocity(b, fc, 1, vb[1]))
        return;
    double ma = a->r_med * a->r_med, mb = b->r_med * b->r_med;
    double dpx = ma * (va[1][0] - va[0][0]) + mb * (vb[1][0] - vb[0][0]);
    double dpy = ma * (va[1][1] - va[0][1]) + mb * (vb[1][1] - vb[0][1]);
    double scale = ma * hypot(va[0][0], va[0][1]) + mb * hypot(vb[0][0], vb[0][1]);
    double e0 = 0.5 * (ma * (va[0][0] * va[0][0] + va[0][1] * va[0][1]) + mb * (vb[0][0] * vb[0][0] + vb[0][1] * vb[0][1]));
    double e1 = 0.5 * (ma * (va[1][0] * va[1][0] + va[1][1] * va[1][1]) + mb * (vb[1][0] * vb[1][0] + vb[1][1] * vb[1][1]));
    if (scale < 0.05) return; /* nothing moves: no momentum to conserve */
    double pe = hypot(dpx, dpy) / scale, ee = fabs(e1 - e0) / fmax(e0, 1e-9);
    double tol = 0.15 + 1.0 * c->upx;
    pp_ev_check(c->r, "collision_momentum", pe, tol, pe <= tol);
    pp_ev_check(c->r, "collision_energy", ee, 2 * tol, ee <= 2 * tol);
    pp_ev_measure(c->r, "collision_momentum_error", pe);
    pp_ev_measure(c->r, "collision_energy_error", ee);
}

void pp_ev_checks_balls(ev_ctx *c) {
    static _Thread_local track tr[PP_EVAL_MAX_OBJ];
    int idx[PP_EVAL_MAX_OBJ], n = 0;
    for (int i = 0; i < c->s->nobj; i++)
        if (c->obs[i]) { load_track(c, i, &tr[n]); idx[n++] = i; }
    /* events per object and axis; a contact between two balls cuts both axes */
    static _Thread_local int event[PP_EVAL_MAX_OBJ][2][512], contact[PP_EVAL_MAX_OBJ][512];
    memset(event, 0, sizeof event);
    memset(contact, 0, sizeof contact);
    int fc = -1;
    if (n == 2 && pp_ev_has_cat(c->s, PP_CAT_COLLISION)) {
        fc = contact_frame(c, &tr[0], &tr[1]);
        if (fc >= 0)
            for (int k = 0; k < 2; k++) event[k][AX_X][fc] = event[k][AX_Y][fc] = contact[k][fc] = 1;
    }
    for (int k = 0; k < n; k++) {
        if (has_floor(c)) {
            mark_bounces(c, &tr[k], event[k][AX_Y]);
            mark_walls(c, idx[k], &tr[k], event[k][AX_X]);
            for (int f = 0; f < tr[k].n; f++) event[k][AX_Y][f] |= squash_floor(c, &tr[k], f);
        }
        segment(&tr[k], AX_X, event[k][AX_X]);
        segment(&tr[k], AX_Y, event[k][AX_Y]);
        fit_track(&tr[k]);
        check_persist(c, idx[k]);
        check_size(c, idx[k], &tr[k], contact[k]);
        check_motion(c, idx[k], &tr[k]);
        check_continuity(c, idx[k], &tr[k]);
        if (has_floor(c)) {
            check_bounce_energy(c, &tr[k]);
            check_rebound(c, idx[k], &tr[k]);
        }
    }
    if (fc >= 0) check_collision(c, &tr[0], &tr[1], fc);
}
