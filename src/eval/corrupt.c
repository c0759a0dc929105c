/* corrupt.c - corruptions of simulator videos, to show that the evaluator catches
 * broken physics (tests/test_eval.c, prophy eval --selftest --corrupt).
 * They use the spec's true states to erase and redraw balls (anti-aliased like the
 * renderer: coverage = clamp(0.5 - signed distance in pixels, 0, 1); an erased
 * pixel is copied from a frame where no ball covers it).
 *   flip_v         frames flipped upside down (gravity points up)
 *   time_reverse   frames in reverse order; only for dissipative scenes (bounce,
 *                  deformation, smoke, liquid, melting and their composites)
 *   teleport       the first ball jumps by (1.5, 0.5) units towards the centre of its
 *                  region at F/2
 *   freeze         the first ball stops at F/2
 *   grow           the first ball's radius grows linearly to 1.6x
 *   bounce_higher  after the first floor contact the ball's height above the
 *                  floor is scaled so that it rebounds to 1.3x the drop height
 *   lose_ball      the second ball of a collision vanishes two frames after contact */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval_impl.h"

const char *const pp_eval_corruption_names[PP_CORRUPT_N] = {
    "flip_v", "time_reverse", "teleport", "freeze", "grow", "bounce_higher", "lose_ball"};

static const pp_eval_ostate *st(const pp_eval_spec *s, int f, int i) { return &s->st[(size_t)f * s->nobj + i]; }

static int first_ball(const pp_eval_spec *s, int skip) {
    for (int i = 0; i < s->nobj; i++)
        if (!strcmp(s->okind[i], "ball") && skip-- == 0) return i;
    return -1;
}

/* Is pixel (col,row) within r + 2 px of any ball in frame f? */
static int near_ball(const pp_eval_spec *s, const pp_video *v, int f, int col, int row) {
    for (int i = 0; i < s->nobj; i++) {
        if (strcmp(s->okind[i], "ball")) continue;
        const pp_eval_ostate *o = st(s, f, i);
        double dx = col - pp_ev_col(s, v->width, o->x), dy = row - pp_ev_row(s, v->height, o->y);
        double rp = o->r * v->width / s->world_w + 2.0;
        if (dx * dx + dy * dy < rp * rp) return 1;
    }
    return 0;
}

static void erase_ball(pp_video *v, const pp_video *orig, const pp_eval_spec *s, int f, double x, double y, double r) {
    double cx = pp_ev_col(s, v->width, (float)x), cy = pp_ev_row(s, v->height, (float)y), rp = r * v->width / s->world_w + 2.0;
    for (int row = (int)floor(cy - rp); row <= (int)ceil(cy + rp); row++)
        for (int col = (int)floor(cx - rp); col <= (int)ceil(cx + rp); col++) {
            if (row < 0 || col < 0 || row >= v->height || col >= v->width) continue;
            if ((col - cx) * (col - cx) + (row - cy) * (row - cy) > rp * rp) continue;
            for (int g = 0; g < v->frames; g++)
                if (!near_ball(s, v, g, col, row)) {
                    memcpy(pp_video_frame(v, f) + ((size_t)row * v->width + col) * 3,
                           pp_video_frame(orig, g) + ((size_t)row * v->width + col) * 3, 3);
                    break;
                }
        }
}

static void draw_ball(pp_video *v, const pp_eval_spec *s, int f, double x, double y, double r, const uint8_t c[3]) {
    double cx = pp_ev_col(s, v->width, (float)x), cy = pp_ev_row(s, v->height, (float)y), rp = r * v->width / s->world_w;
    for (int row = (int)floor(cy - rp - 1); row <= (int)ceil(cy + rp + 1); row++)
        for (int col = (int)floor(cx - rp - 1); col <= (int)ceil(cx + rp + 1); col++) {
            if (row < 0 || col < 0 || row >= v->height || col >= v->width) continue;
            double d = hypot(col - cx, row - cy) - rp, a = fmin(1.0, fmax(0.0, 0.5 - d));
            uint8_t *p = pp_video_frame(v, f) + ((size_t)row * v->width + col) * 3;
            for (int k = 0; k < 3; k++) p[k] = (uint8_t)lrint(p[k] + a * (c[k] - p[k]));
        }
}

/* Moves ball i in frame f from its true place to (x, y, r). */
static void move_ball(pp_video *v, const pp_video *orig, const pp_eval_spec *s, int f, int i, double x, double y, double r) {
    const pp_eval_ostate *o = st(s, f, i);
    erase_ball(v, orig, s, f, o->x, o->y, o->r);
    if (r > 0) draw_ball(v, s, f, x, y, r, s->ocolor[i]);
}

static int dissipative(const pp_eval_spec *s) {
    return pp_ev_has_cat(s, PP_CAT_ELASTIC) || pp_ev_has_cat(s, PP_CAT_DEFORMATION) || pp_ev_has_cat(s, PP_CAT_GAS) ||
           pp_ev_has_cat(s, PP_CAT_LIQUID) || pp_ev_has_cat(s, PP_CAT_MELTING);
}

static void flip_v(pp_video *v) {
    size_t row = (size_t)v->width * 3;
    uint8_t *tmp = pp_malloc(row);
    for (int f = 0; f < v->frames; f++)
        for (int y = 0; y < v->height / 2; y++) {
            uint8_t *a = pp_video_frame(v, f) + y * row, *b = pp_video_frame(v, f) + (v->height - 1 - y) * row;
            memcpy(tmp, a, row); memcpy(a, b, row); memcpy(b, tmp, row);
        }
    free(tmp);
}

static void time_reverse(pp_video *v) {
    size_t fb = (size_t)v->height * v->width * 3;
    uint8_t *tmp = pp_malloc(fb);
    for (int f = 0; f < v->frames / 2; f++) {
        uint8_t *a = pp_video_frame(v, f), *b = pp_video_frame(v, v->frames - 1 - f);
        memcpy(tmp, a, fb); memcpy(a, b, fb); memcpy(b, tmp, fb);
    }
    free(tmp);
}

/* First frame after the first floor contact (vy turns from < 0 to > 0), -1 if none. */
static int first_rebound(const pp_eval_spec *s, int i) {
    for (int f = 1; f < s->nstates; f++)
        if (st(s, f - 1, i)->vy < 0 && st(s, f, i)->vy > 0) return f;
    return -1;
}

static int ball_corruption(pp_video *v, const pp_video *orig, const pp_eval_spec *s, pp_eval_corruption c) {
    int i = first_ball(s, 0), F = v->frames, h = F / 2;
    if (i < 0 || s->nstates != F) return -1;
    const pp_eval_ostate *m = st(s, h, i);
    if (c == PP_CORRUPT_LOSE_BALL) {
        int j = first_ball(s, 1);
        double tc = pp_eval_spec_param(s, "t_contact");
        if (j < 0 || isnan(tc)) return -1;
        int f0 = (int)ceil(tc / s->dt) + 2;
        if (f0 >= F - 2) return -1;
        for (int f = f0; f < F; f++) move_ball(v, orig, s, f, j, 0, 0, 0);
        return 0;
    }
    double floor_y = pp_eval_spec_param(s, "floor_y"), e = pp_eval_spec_param(s, "restitution");
    int fb = c == PP_CORRUPT_BOUNCE_HIGHER ? first_rebound(s, i) : 0;
    if (c == PP_CORRUPT_BOUNCE_HIGHER && (fb < 0 || fb > F - 3 || isnan(floor_y) || isnan(e) || e <= 0)) return -1;
    float rx0, rx1;
    pp_ev_obj_region(s, i, &rx0, &rx1);
    double dx = m->x < 0.5 * (rx0 + rx1) ? 1.5 : -1.5, cx = 0.5 * s->world_h, k = 1.3 / (e * e);
    for (int f = 0; f < F; f++) {
        const pp_eval_ostate *o = st(s, f, i);
        double x = o->x, y = o->y, r = o->r;
        if (c == PP_CORRUPT_TELEPORT && f >= h) x += dx, y += (m->y < cx ? 0.5 : -0.5);
        else if (c == PP_CORRUPT_FREEZE && f >= h) x = m->x, y = m->y;
        else if (c == PP_CORRUPT_GROW) r *= 1.0 + 0.6 * f / (F - 1);
        else if (c == PP_CORRUPT_BOUNCE_HIGHER && f >= fb) y = floor_y + o->r + (y - floor_y - o->r) * k;
        else continue;
        move_ball(v, orig, s, f, i, x, y, r);
    }
    return 0;
}

int pp_eval_corrupt(pp_video *v, const pp_eval_spec *s, pp_eval_corruption c, uint64_t seed) {
    (void)seed;
    if (c == PP_CORRUPT_FLIP_V) {
        int updown = s->gravity > 0;
        for (int i = 0; i < s->nobj; i++) updown |= pp_ev_is_fluid_kind(s, i);
        if (!updown) PP_FAIL("flip_v applies where up and down differ (gravity or fluids)");
        flip_v(v);
        return 0;
    }
    if (c == PP_CORRUPT_TIME_REVERSE) {
        if (!dissipative(s)) PP_FAIL("time reversal applies to dissipative scenes only");
        time_reverse(v);
        return 0;
    }
    if (c == PP_CORRUPT_BOUNCE_HIGHER && !pp_ev_has_cat(s, PP_CAT_ELASTIC)) PP_FAIL("bounce_higher needs a bounce scene");
    if (c == PP_CORRUPT_LOSE_BALL && !pp_ev_has_cat(s, PP_CAT_COLLISION)) PP_FAIL("lose_ball needs a collision scene");
    pp_video orig = *v;
    orig.rgb = pp_malloc((size_t)v->frames * v->height * v->width * 3);
    memcpy(orig.rgb, v->rgb, (size_t)v->frames * v->height * v->width * 3);
    int rc = ball_corruption(v, &orig, s, c);
    free(orig.rgb);
    if (rc) PP_FAIL("corruption %s does not apply to this video", pp_eval_corruption_names[c]);
    return 0;
}
