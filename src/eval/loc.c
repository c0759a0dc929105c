/* loc.c - the ground-truth re-simulation, Physics-IQ motion-mask IoU, and the
 * localisation IoU of per-token maps against the phenomenon maps.
 *
 * Re-simulation: the spec's (scene, seed, split, size) with every scene parameter
 * the spec lists overriding the sampled one reproduces the simulator's video and
 * maps exactly (the simulator is a pure function of these). The result is checked
 * against the spec's first state; a mismatch leaves the IoUs out (NaN).
 *
 * Motion mask (Physics-IQ): pixel (f, y, x), f >= 1, moves when the summed absolute
 * RGB change from frame f-1 exceeds 24 levels. Over the predicted frames f >= K:
 *   iou_spatial         IoU of the 2D masks "moved in any predicted frame";
 *   iou_spatiotemporal  IoU of the 3D masks (frames x pixels).
 * Localisation: a map [F'][H'][W'] is resampled to the video's grid (nearest frame,
 * bilinear in space), both it and the ground truth are binarised at 0.5, IoU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval_impl.h"
#include "sim/sim.h"

#define MOTION_THR 24

int ev_resim(const pp_eval_spec *s, pp_sim_out *out) {
    const pp_sim_scene *sc = pp_sim_find(s->scene);
    if (!sc) return -1;
    int split = !strcmp(s->split, "ood") ? PP_SPLIT_OOD : PP_SPLIT_ID;
    pp_sim_params p;
    pp_sim_params_sample(sc, (uint64_t)s->seed, split, &p);
    for (int k = 0; k < sc->nparam; k++) {
        double v = pp_eval_spec_param(s, sc->params[k].name);
        if (!isnan(v) && pp_sim_params_set(sc, &p, sc->params[k].name, v)) return -1;
    }
    if (pp_sim_run_params(sc, &p, (uint64_t)s->seed, split, s->frames, s->height, s->width, out)) return -1;
    if (s->nstates && s->nobj == out->nobj) {
        for (int i = 0; i < s->nobj; i++) {
            const pp_eval_ostate *a = &s->st[i];
            const pp_sim_obj_state *b = &out->states[0].obj[i];
            if (fabs(a->x - b->x) > 1e-3 || fabs(a->y - b->y) > 1e-3) {
                pp_sim_free(out);
                PP_FAIL("re-simulating the spec's scene does not reproduce its states");
            }
        }
    }
    return 0;
}

static int moved(const pp_video *v, int f, size_t px) {
    const uint8_t *a = pp_video_frame(v, f - 1) + px * 3, *b = pp_video_frame(v, f) + px * 3;
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) > MOTION_THR;
}

static void motion_ious(const pp_video *v, const pp_video *g, int K, double *sp, double *st) {
    size_t P = (size_t)v->height * v->width;
    uint8_t *any_v = pp_calloc(P, 1), *any_g = pp_calloc(P, 1);
    double i3 = 0, u3 = 0, i2 = 0, u2 = 0;
    for (int f = K > 1 ? K : 1; f < v->frames; f++)
        for (size_t p = 0; p < P; p++) {
            int a = moved(v, f, p), b = moved(g, f, p);
            i3 += a && b;
            u3 += a || b;
            any_v[p] |= (uint8_t)a;
            any_g[p] |= (uint8_t)b;
        }
    for (size_t p = 0; p < P; p++) {
        i2 += any_v[p] && any_g[p];
        u2 += any_v[p] || any_g[p];
    }
    free(any_v);
    free(any_g);
    *sp = u2 > 0 ? i2 / u2 : NAN;
    *st = u3 > 0 ? i3 / u3 : NAN;
}

void ev_motion_iou(ev_ctx *c) {
    pp_sim_out gt;
    memset(&gt, 0, sizeof gt);
    if (ev_resim(c->s, &gt)) {
        ev_measure(c->r, "iou_spatial", NAN);
        ev_measure(c->r, "iou_spatiotemporal", NAN);
        return;
    }
    double sp, st;
    motion_ious(c->v, &gt.video, c->o->cond_frames, &sp, &st);
    ev_measure(c->r, "iou_spatial", sp);
    ev_measure(c->r, "iou_spatiotemporal", st);
    pp_sim_free(&gt);
}

static float bilinear(const float *m, int h, int w, float y, float x) {
    y = y < 0 ? 0 : y > h - 1 ? (float)(h - 1) : y;
    x = x < 0 ? 0 : x > w - 1 ? (float)(w - 1) : x;
    int y0 = (int)y, x0 = (int)x, y1 = y0 + 1 < h ? y0 + 1 : y0, x1 = x0 + 1 < w ? x0 + 1 : x0;
    float fy = y - (float)y0, fx = x - (float)x0;
    float a = m[y0 * w + x0] + fx * (m[y0 * w + x1] - m[y0 * w + x0]);
    float b = m[y1 * w + x0] + fx * (m[y1 * w + x1] - m[y1 * w + x0]);
    return a + fy * (b - a);
}

void pp_eval_map_resample(const float *src, int C, int Fs, int Hs, int Ws, float *dst, int F, int H, int W) {
    for (int c = 0; c < C; c++)
        for (int t = 0; t < F; t++) {
            int ts = (int)(((double)t + 0.5) * Fs / F);
            ts = ts >= Fs ? Fs - 1 : ts;
            const float *m = src + ((size_t)c * Fs + ts) * Hs * Ws;
            float *d = dst + ((size_t)c * F + t) * H * W;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    d[(size_t)y * W + x] = bilinear(m, Hs, Ws, ((float)y + 0.5f) * (float)Hs / (float)H - 0.5f,
                                                    ((float)x + 0.5f) * (float)Ws / (float)W - 0.5f);
        }
}

double pp_eval_map_iou(const float *m, int mf, int mh, int mw, const float *g, int f, int h, int w, float thr) {
    double inter = 0, uni = 0;
    for (int t = 0; t < f; t++) {
        int tm = (int)(((double)t + 0.5) * mf / f);
        tm = tm >= mf ? mf - 1 : tm;
        const float *mm = m + (size_t)tm * mh * mw;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float sy = ((float)y + 0.5f) * (float)mh / (float)h - 0.5f;
                float sx = ((float)x + 0.5f) * (float)mw / (float)w - 0.5f;
                int a = bilinear(mm, mh, mw, sy, sx) >= thr, b = g[((size_t)t * h + y) * w + x] >= thr;
                inter += a && b;
                uni += a || b;
            }
    }
    return uni > 0 ? inter / uni : NAN;
}

/* The header line "prophy-maps C F H W\n": single spaces, decimal integers without
 * sign or leading zeros. Returns the bytes it takes, or 0 (error set) when malformed. */
static size_t maps_header(const char *path, const char *data, size_t len, int dims[4]) {
    static const char magic[] = "prophy-maps";
    static const char *const names[4] = {"C", "F", "H", "W"};
    const size_t m = sizeof magic - 1;
    if (len < m || memcmp(data, magic, m)) {
        pp_seterr("%s: not a maps file (want a 'prophy-maps C F H W' header line)", path);
        return 0;
    }
    size_t i = m;
    for (int k = 0; k < 4; k++) {
        if (i >= len || data[i] != ' ' || i + 1 >= len || data[i + 1] < '0' || data[i + 1] > '9') {
            pp_seterr("%s: header: %s is missing (want 'prophy-maps C F H W')", path, names[k]);
            return 0;
        }
        i++;
        long v = 0;
        size_t d0 = i;
        while (i < len && data[i] >= '0' && data[i] <= '9' && i - d0 < 6) v = 10 * v + (data[i++] - '0');
        if ((data[d0] == '0' && i - d0 > 1) || (i < len && data[i] >= '0' && data[i] <= '9')) {
            pp_seterr("%s: header: %s is not a number in [1, %d]", path, names[k], k ? 4096 : PP_NCAT + 1);
            return 0;
        }
        dims[k] = (int)v;
    }
    if (i >= len || data[i] != '\n') {
        pp_seterr("%s: header: the line 'prophy-maps C F H W' must end after W", path);
        return 0;
    }
    return i + 1;
}

int pp_eval_maps_load(const char *path, float **maps, int *c, int *f, int *h, int *w) {
    char *data;
    size_t len;
    *maps = NULL;
    if (pp_read_file(path, &data, &len)) return -1;
    int d[4];
    size_t n = maps_header(path, data, len, d);
    if (!n) {
        free(data);
        return -1;
    }
    if (d[0] != 1 && d[0] != PP_NCAT && d[0] != PP_NCAT + 1) {
        free(data);
        PP_FAIL("%s: C: %d channels (want 1, %d, or %d with the background)", path, d[0], PP_NCAT, PP_NCAT + 1);
    }
    static const char *const names[3] = {"F", "H", "W"};
    for (int k = 1; k < 4; k++)
        if (d[k] < 1 || d[k] > 4096) {
            free(data);
            PP_FAIL("%s: %s: %d is not in [1, 4096]", path, names[k - 1], d[k]);
        }
    size_t cnt = (size_t)d[0] * d[1] * d[2] * d[3];
    if (len - n != cnt * sizeof(float)) {
        free(data);
        PP_FAIL("%s: maps hold %zu bytes of data, the header (%d x %d x %d x %d) wants %zu", path, len - n, d[0], d[1],
                d[2], d[3], cnt * sizeof(float));
    }
    float *m = pp_malloc(cnt * sizeof(float));
    memcpy(m, data + n, cnt * sizeof(float));
    free(data);
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(m[i])) {
            free(m);
            PP_FAIL("%s: value %zu is not finite", path, i);
        }
    *c = d[0], *f = d[1], *h = d[2], *w = d[3];
    *maps = m;
    return 0;
}

/* Localisation of the opts' maps: C = 17 scores each category the spec names against
 * its phenomenon map; C = 1 scores the map against the union of those categories. */
void ev_localisation(ev_ctx *c) {
    const pp_eval_opts *o = c->o;
    if (!o->maps) return;
    pp_sim_out gt;
    memset(&gt, 0, sizeof gt);
    if (ev_resim(c->s, &gt)) {
        ev_measure(c->r, "loc_iou", NAN);
        return;
    }
    size_t plane = (size_t)gt.frames * gt.height * gt.width, mplane = (size_t)o->map_f * o->map_h * o->map_w;
    float *uni = pp_calloc(plane, sizeof(float));
    double sum = 0;
    int n = 0;
    for (int k = 0; k < PP_NCAT; k++) {
        if (!ev_has_cat(c->s, k)) continue;
        const float *g = gt.maps + (size_t)k * plane;
        for (size_t p = 0; p < plane; p++) uni[p] = fmaxf(uni[p], g[p]);
        if (o->map_cats < PP_NCAT) continue; /* 17, or 18 = 17 + background */
        double iou = pp_eval_map_iou(o->maps + (size_t)k * mplane, o->map_f, o->map_h, o->map_w, g, gt.frames, gt.height, gt.width, 0.5f);
        char name[40];
        snprintf(name, sizeof name, "loc_iou_%s", pp_cat_names[k]);
        ev_measure(c->r, name, iou);
        if (!isnan(iou)) { sum += iou; n++; }
    }
    if (o->map_cats == 1)
        ev_measure(c->r, "loc_iou", pp_eval_map_iou(o->maps, o->map_f, o->map_h, o->map_w, uni, gt.frames, gt.height, gt.width, 0.5f));
    else
        ev_measure(c->r, "loc_iou", n ? sum / n : NAN);
    free(uni);
    pp_sim_free(&gt);
}
