/* prophy_data.c - training examples for ProPhy (see prophy_data.h): dataset or
 * simulator videos, their labels and maps (simulator, external files, label noise). */
#include "prophy/data.h"
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/common.h"
#include "prophy/latents.h"
#include "io/maps.h"
#include "sim/dataset.h"
#include "sim/sim.h"
#include "io/video.h"

#define EXT_MAPS_C (PP_NCAT + 1) /* 17 phenomena + background */
#define NOISE_MAX_BLUR 16.0
#define NOISE_MAX_NOISE 1.0
#define NOISE_MAX_SHIFT 64.0

/* ------------------------------------------------------------ label noise */

/* One "key=value" part (len bytes of p) into n. */
static int noise_part(const char *p, size_t len, pp_label_noise *n) {
    char part[128];
    if (len == 0 || len >= sizeof part) PP_FAIL("--label-noise: '%.*s': want key=value (blur, noise, shift)", (int)len, p);
    memcpy(part, p, len), part[len] = 0;
    char *eq = strchr(part, '=');
    if (!eq) PP_FAIL("--label-noise: '%s': want key=value (blur, noise, shift)", part);
    *eq = 0;
    float *dst = NULL;
    double max = 0;
    if (!strcmp(part, "blur")) dst = &n->blur, max = NOISE_MAX_BLUR;
    else if (!strcmp(part, "noise")) dst = &n->noise, max = NOISE_MAX_NOISE;
    else if (!strcmp(part, "shift")) dst = &n->shift, max = NOISE_MAX_SHIFT;
    *eq = '=';
    if (!dst) PP_FAIL("--label-noise: '%s': unknown part (blur, noise, shift)", part);
    char *end;
    double v = strtod(eq + 1, &end);
    if (end == eq + 1 || *end) PP_FAIL("--label-noise: '%s': not a number", part);
    if (!(v >= 0 && v <= max)) PP_FAIL("--label-noise: '%s': must be in [0, %g]", part, max);
    *dst = (float)v;
    return 0;
}

int pp_label_noise_parse(const char *s, pp_label_noise *n) {
    pp_label_noise t = {0, 0, 0};
    if (!s || !*s) PP_FAIL("--label-noise: empty (want e.g. blur=1,noise=0.2,shift=2 or none)");
    if (strcmp(s, "0") && strcmp(s, "none")) {
        for (const char *p = s;;) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            if (noise_part(p, len, &t)) return -1;
            if (!c) break;
            p = c + 1;
        }
    }
    *n = t;
    return 0;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* One plane [H,W] moved by (dy,dx): dst[y][x] = src[clamp(y-dy)][clamp(x-dx)]. */
static void shift_plane(float *p, float *tmp, int H, int W, int dy, int dx) {
    memcpy(tmp, p, (size_t)H * W * sizeof(float));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            p[(size_t)y * W + x] = tmp[(size_t)clampi(y - dy, 0, H - 1) * W + clampi(x - dx, 0, W - 1)];
}

/* Box blur of radius R along one axis of a plane [H,W] (edges clamped):
 * n elements, `stride` apart, `lines` lines `step` apart. */
static void box_1d(float *p, float *tmp, int n, size_t stride, int lines, size_t step, int R) {
    for (int l = 0; l < lines; l++) {
        float *q = p + (size_t)l * step;
        for (int i = 0; i < n; i++) tmp[i] = q[(size_t)i * stride];
        for (int i = 0; i < n; i++) {
            float s = 0;
            for (int k = -R; k <= R; k++) s += tmp[clampi(i + k, 0, n - 1)];
            q[(size_t)i * stride] = s / (float)(2 * R + 1);
        }
    }
}

static void blur_plane(float *p, float *tmp, int H, int W, int R) {
    box_1d(p, tmp, W, 1, H, (size_t)W, R);  /* rows */
    box_1d(p, tmp, H, (size_t)W, W, 1, R);  /* columns */
}

/* bg [F,H,W] = 1 - max_c maps [17,F,H,W]. */
static void recompute_bg(const float *maps, float *bg, size_t plane) {
    for (size_t i = 0; i < plane; i++) {
        float m = 0;
        for (int c = 0; c < PP_NCAT; c++) m = fmaxf(m, maps[(size_t)c * plane + i]);
        bg[i] = 1.0f - m;
    }
}

/* One shift offset, uniform in [-P, P]. */
static int draw_offset(pp_rng *r, int P) { return (int)pp_rng_below(r, (uint32_t)(2 * P + 1)) - P; }

void pp_label_noise_apply(const pp_label_noise *n, pp_rng *r, float *maps, float *bg, int F, int H, int W) {
    size_t hw = (size_t)H * W, plane = (size_t)F * hw, total = plane * PP_NCAT;
    int P = (int)floorf(n->shift), R = (int)lrintf(n->blur);
    float *tmp = pp_malloc((hw > (size_t)H + W ? hw : (size_t)H + W) * sizeof(float));
    if (P > 0) {
        int dy = draw_offset(r, P), dx = draw_offset(r, P);
        for (size_t k = 0; k < (size_t)PP_NCAT * F; k++) shift_plane(maps + k * hw, tmp, H, W, dy, dx);
    }
    if (R > 0)
        for (size_t k = 0; k < (size_t)PP_NCAT * F; k++) blur_plane(maps + k * hw, tmp, H, W, R);
    if (n->noise > 0)
        for (size_t i = 0; i < total; i++) maps[i] += n->noise * pp_rng_normal(r);
    for (size_t i = 0; i < total; i++) maps[i] = fminf(fmaxf(maps[i], 0.0f), 1.0f);
    recompute_bg(maps, bg, plane);
    free(tmp);
}

void pp_label_noise_apply_latent(const pp_label_noise *n, pp_rng *r, float *ql, int t, int h, int w, int s) {
    size_t hw = (size_t)h * w, np = (size_t)PP_NCAT * t;
    int P = (int)floorf(n->shift), R = (int)lrintf(n->blur / (float)s);
    int dy = 0, dx = 0;
    if (P > 0) { /* the pixel version's draws, rounded to whole latent pixels */
        dy = (int)lrintf((float)draw_offset(r, P) / (float)s);
        dx = (int)lrintf((float)draw_offset(r, P) / (float)s);
    }
    float *planes = pp_malloc(np * hw * sizeof(float));
    float *tmp = pp_malloc((hw > (size_t)h + w ? hw : (size_t)h + w) * sizeof(float));
    for (int j = 0; j < t; j++) /* [t,h,w,17] -> [17,t,h,w] */
        for (size_t i = 0; i < hw; i++)
            for (int c = 0; c < PP_NCAT; c++)
                planes[((size_t)c * t + j) * hw + i] = ql[((size_t)j * hw + i) * PP_NCAT + c];
    for (size_t k = 0; k < np; k++) {
        if (dy || dx) shift_plane(planes + k * hw, tmp, h, w, dy, dx);
        if (R > 0) blur_plane(planes + k * hw, tmp, h, w, R);
    }
    for (int j = 0; j < t; j++)
        for (size_t i = 0; i < hw; i++)
            for (int c = 0; c < PP_NCAT; c++) {
                float v = planes[((size_t)c * t + j) * hw + i];
                if (n->noise > 0) v += n->noise * pp_rng_normal(r);
                ql[((size_t)j * hw + i) * PP_NCAT + c] = fminf(fmaxf(v, -1.0f), 1.0f);
            }
    free(planes), free(tmp);
}

/* ------------------------------------------------------------ external maps */

/* Reads the evaluator's map format (pp_maps_load) and insists on 18 channels. */
static int ext_read(const char *path, float **out, int *fs, int *hs, int *ws) {
    int c;
    if (pp_maps_load(path, out, &c, fs, hs, ws)) return -1;
    if (c != EXT_MAPS_C) {
        free(*out);
        *out = NULL;
        PP_FAIL("%s: has %d channels, expected 18 (17 phenomena + background)", path, c);
    }
    return 0;
}

/* Values must lie in [0, 1] (1e-3 slack, then clamped). */
static int ext_check(const char *path, float *m, size_t cnt) {
    for (size_t i = 0; i < cnt; i++) {
        if (!(m[i] >= 0.0f && m[i] <= 1.0f + 1e-3f))
            PP_FAIL("%s: value %g at element %zu is not in [0, 1]", path, (double)m[i], i);
        m[i] = fminf(m[i], 1.0f);
    }
    return 0;
}

int pp_external_maps_load(const char *path, int F, int H, int W, float *maps, float *bg) {
    float *m;
    int fs, hs, ws;
    if (ext_read(path, &m, &fs, &hs, &ws)) return -1;
    if (ext_check(path, m, (size_t)EXT_MAPS_C * fs * hs * ws)) {
        free(m);
        return -1;
    }
    /* channels 0..16 -> maps, channel 17 -> bg (contiguous in the source) */
    pp_maps_resample(m, PP_NCAT, fs, hs, ws, maps, F, H, W);
    pp_maps_resample(m + (size_t)PP_NCAT * fs * hs * ws, 1, fs, hs, ws, bg, F, H, W);
    free(m);
    return 0;
}

/* ------------------------------------------------------------ source */

struct pp_phys_source {
    pp_phys_source_cfg cfg;   /* data_dir / maps_dir point to owned copies */
    char *data_dir, *maps_dir;
    pp_dataset *ds;           /* NULL: simulator stream (or latents) */
    pp_latents *lat;          /* a latent dataset */
    pp_latent_sample ls;      /* its last sample */
    pp_sample smp;            /* last dataset sample */
    pp_sim_out sim;           /* last simulator run */
    int F, H, W;
    int64_t count;
    float *video, *maps, *bg; /* [3,F,H,W], [17,F,H,W], [F,H,W] */
};

void pp_phys_source_close(pp_phys_source *s) {
    if (!s) return;
    if (s->ds) pp_dataset_close(s->ds);
    pp_latents_close(s->lat);
    pp_latent_sample_free(&s->ls);
    pp_sample_free(&s->smp);
    pp_sim_free(&s->sim);
    free(s->data_dir), free(s->maps_dir);
    pp_free_aligned(s->video), pp_free_aligned(s->maps), pp_free_aligned(s->bg);
    free(s);
}

static int open_latents(pp_phys_source *s) {
    if (s->maps_dir) PP_FAIL("%s: a latent dataset holds its token targets; --maps needs a pixel dataset", s->data_dir);
    if (!(s->lat = pp_latents_open(s->data_dir))) return -1;
    int C, t, h, w;
    pp_latents_size(s->lat, &C, &t, &h, &w, &s->F, &s->H, &s->W);
    s->count = pp_latents_count(s->lat);
    return 0;
}

/* Dataset: count and video size from sample 0. */
static int open_dataset(pp_phys_source *s) {
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/latents.json", s->data_dir);
    if (access(probe, F_OK) == 0) return open_latents(s);
    s->ds = pp_dataset_open(s->data_dir);
    if (!s->ds) return -1;
    s->count = pp_dataset_count(s->ds);
    if (s->count < 1) PP_FAIL("%s: empty dataset", s->data_dir);
    if (pp_dataset_get(s->ds, 0, &s->smp)) return -1;
    s->F = s->smp.frames, s->H = s->smp.height, s->W = s->smp.width;
    if (s->maps_dir) {
        DIR *d = opendir(s->maps_dir);
        if (!d) PP_FAIL("%s: cannot open the maps directory", s->maps_dir);
        closedir(d);
    }
    return 0;
}

pp_phys_source *pp_phys_source_open(const pp_phys_source_cfg *c) {
    if (c->maps_dir && !c->data_dir) {
        pp_seterr("--maps needs a dataset (--data): external maps are per dataset sample");
        return NULL;
    }
    pp_phys_source *s = pp_calloc(1, sizeof *s);
    s->cfg = *c;
    s->data_dir = c->data_dir ? pp_strdup(c->data_dir) : NULL;
    s->maps_dir = c->maps_dir ? pp_strdup(c->maps_dir) : NULL;
    s->cfg.data_dir = s->data_dir, s->cfg.maps_dir = s->maps_dir;
    int rc;
    if (s->data_dir) rc = open_dataset(s);
    else {
        s->F = c->frames, s->H = c->height, s->W = c->width, s->count = INT64_MAX;
        rc = pp_sim_check_size(c->frames, c->height, c->width);
    }
    if (rc) {
        pp_phys_source_close(s);
        return NULL;
    }
    if (!s->lat) { /* pixel examples */
        size_t plane = (size_t)s->F * s->H * s->W;
        s->video = pp_alloc_floats(3 * plane);
        s->maps = pp_zalloc_floats((size_t)PP_NCAT * plane);
        s->bg = pp_zalloc_floats(plane);
    }
    return s;
}

void pp_phys_source_size(const pp_phys_source *s, int *F, int *H, int *W) {
    *F = s->F, *H = s->H, *W = s->W;
}

int64_t pp_phys_source_count(const pp_phys_source *s) { return s->count; }

int pp_phys_source_latent(const pp_phys_source *s, int *C, int *t, int *h, int *w, uint64_t *vae_checksum) {
    if (!s->lat) return 0;
    int F, H, W;
    pp_latents_size(s->lat, C, t, h, w, &F, &H, &W);
    *vae_checksum = pp_latents_vae_checksum(s->lat);
    return 1;
}

static int get_latent(pp_phys_source *s, int64_t idx, pp_phys_example *ex) {
    if (pp_latents_get(s->lat, idx, &s->ls)) return -1;
    ex->scene = s->ls.scene, ex->prompt = s->ls.prompt;
    memcpy(ex->cats, s->ls.cats, sizeof ex->cats);
    ex->z = s->ls.z, ex->zc3 = s->ls.zc3, ex->ql = s->ls.ql;
    return 0;
}

/* Dataset sample idx -> video, maps (uint8 / 255), bg, labels. */
static int get_dataset(pp_phys_source *s, int64_t idx, pp_phys_example *ex) {
    pp_sample *m = &s->smp;
    if (pp_dataset_get(s->ds, idx, m)) return -1;
    if (m->frames != s->F || m->height != s->H || m->width != s->W)
        PP_FAIL("%s: sample %lld is %dx%dx%d, sample 0 is %dx%dx%d", s->data_dir, (long long)idx, m->frames,
                m->height, m->width, s->F, s->H, s->W);
    pp_video v = {s->F, s->H, s->W, 0, m->video};
    pp_video_to_float(&v, s->video);
    size_t n = (size_t)PP_NCAT * s->F * s->H * s->W;
    if (!s->cfg.video_only) {
        for (size_t i = 0; i < n; i++) s->maps[i] = (float)m->maps[i] / 255.0f;
        pp_sample_background(m, s->bg);
    }
    ex->scene = m->scene, ex->prompt = m->prompt;
    memcpy(ex->cats, m->cats, sizeof ex->cats);
    return 0;
}

/* Simulator sample idx: scene idx % nscenes, seed pp_dataset_sample_seed(seed, idx). */
static int get_sim(pp_phys_source *s, int64_t idx, pp_phys_example *ex) {
    int scene = (int)(idx % pp_sim_nscenes());
    pp_sim_free(&s->sim);
    if (pp_sim_run(pp_sim_scene_at(scene), pp_dataset_sample_seed(s->cfg.seed, idx), PP_SPLIT_ID, s->F, s->H,
                   s->W, &s->sim))
        return -1;
    size_t plane = (size_t)s->F * s->H * s->W;
    pp_video_to_float(&s->sim.video, s->video);
    if (!s->cfg.video_only) {
        memcpy(s->maps, s->sim.maps, (size_t)PP_NCAT * plane * sizeof(float));
        memcpy(s->bg, s->sim.bg, plane * sizeof(float));
    }
    ex->scene = scene, ex->prompt = s->sim.prompt;
    memcpy(ex->cats, s->sim.cats, sizeof ex->cats);
    return 0;
}

int pp_phys_source_get(pp_phys_source *s, int64_t idx, pp_phys_example *ex) {
    if (idx < 0 || idx >= s->count) PP_FAIL("example %lld out of range [0, %lld)", (long long)idx, (long long)s->count);
    memset(ex, 0, sizeof *ex);
    if (s->lat) {
        if (get_latent(s, idx, ex)) return -1;
        ex->index = idx;
        return 0;
    }
    if (s->ds ? get_dataset(s, idx, ex) : get_sim(s, idx, ex)) return -1;
    if (s->maps_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%08lld.maps", s->maps_dir, (long long)idx);
        if (pp_external_maps_load(path, s->F, s->H, s->W, s->maps, s->bg)) return -1;
    }
    ex->index = idx, ex->video = s->video, ex->maps = s->maps, ex->bg = s->bg;
    return 0;
}

/* Uniform in [0, n) from one 64-bit draw (multiply-high). */
static int64_t draw_below(pp_rng *r, uint64_t n) {
    return (int64_t)(((unsigned __int128)pp_rng_u64(r) * n) >> 64);
}

int pp_phys_source_draw(pp_phys_source *s, pp_rng *r, pp_phys_example *ex) {
    int64_t idx = s->ds || s->lat ? draw_below(r, (uint64_t)s->count) : (int64_t)(pp_rng_u64(r) >> 24); /* [0, 2^40) */
    if (pp_phys_source_get(s, idx, ex)) return -1;
    const pp_label_noise *n = &s->cfg.noise;
    if (n->blur == 0 && n->noise == 0 && n->shift == 0) return 0;
    if (s->lat) {
        int C, t, h, w, F, H, W;
        pp_latents_size(s->lat, &C, &t, &h, &w, &F, &H, &W);
        pp_label_noise_apply_latent(n, r, s->ls.ql, t, h, w, H / h);
    } else
        pp_label_noise_apply(n, r, s->maps, s->bg, s->F, s->H, s->W);
    return 0;
}
