/* video.c - pp_video allocation, format dispatch by extension, float conversion.
 * The formats live in video_y4m.c, video_gif.c, video_png.c and video_av.c (MP4, WebM). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/common.h"
#include "io/video_impl.h"

int pp_video_alloc(pp_video *v, int frames, int height, int width, float fps) {
    memset(v, 0, sizeof *v);
    if (frames < 1 || height < 1 || width < 1)
        PP_FAIL("video size %dx%d with %d frames: every dimension must be >= 1", width, height, frames);
    if (height > PP_VIDEO_MAX_SIDE || width > PP_VIDEO_MAX_SIDE)
        PP_FAIL("video size %dx%d is larger than %d pixels a side", width, height, PP_VIDEO_MAX_SIDE);
    if (!(fps > 0.0f) || fps > 1000.0f) PP_FAIL("video fps %g must be in (0, 1000]", (double)fps);
    size_t bytes = (size_t)frames * (size_t)height * (size_t)width * 3;
    if (bytes > PP_VIDEO_MAX_BYTES)
        PP_FAIL("video of %d frames of %dx%d is too large (%zu bytes)", frames, width, height, bytes);
    char what[96];
    snprintf(what, sizeof what, "a video of %d frames of %dx%d", frames, width, height);
    if (pp_mem_check(bytes, what)) return -1;
    v->frames = frames;
    v->height = height;
    v->width = width;
    v->fps = fps;
    v->rgb = pp_calloc(bytes, 1);
    return 0;
}

void pp_video_free(pp_video *v) {
    if (!v) return;
    free(v->rgb);
    memset(v, 0, sizeof *v);
}

void pp_buf_put(pp_buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        b->p = pp_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

/* Skip one printf conversion "%[0-9]*d" at s (s[0] == '%'); returns its length or 0. */
static size_t int_conversion_len(const char *s) {
    size_t i = 1;
    while (s[i] >= '0' && s[i] <= '9') i++;
    return s[i] == 'd' ? i + 1 : 0;
}

int pp_video_path_pattern(const char *path) {
    int n = 0;
    for (const char *s = path; *s; s++) {
        if (*s != '%') continue;
        if (s[1] == '%') { s++; continue; }
        size_t len = int_conversion_len(s);
        if (!len) PP_FAIL("%s: bad frame pattern (only %%d, %%03d, ... are allowed)", path);
        n++;
        s += len - 1;
    }
    if (n > 1) PP_FAIL("%s: frame pattern has %d conversions (one %%d is allowed)", path, n);
    return n;
}

uint8_t *pp_video_upscaled_frame(const pp_video *v, int f, int s) {
    size_t ow = (size_t)v->width * s, oh = (size_t)v->height * s;
    uint8_t *out = pp_malloc(ow * oh * 3);
    const uint8_t *src = pp_video_frame(v, f);
    for (size_t y = 0; y < oh; y++) {
        const uint8_t *row = src + (y / s) * v->width * 3;
        uint8_t *o = out + y * ow * 3;
        for (size_t x = 0; x < ow; x++) memcpy(o + x * 3, row + (x / s) * 3, 3);
    }
    return out;
}

static const char *extension(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    return dot ? dot : "";
}

int pp_video_check_output(const char *path) {
    const char *ext = extension(path);
    if (strcasecmp(ext, ".y4m") && strcasecmp(ext, ".gif") && strcasecmp(ext, ".png") && strcasecmp(ext, ".mp4") &&
        strcasecmp(ext, ".webm"))
        PP_FAIL("%s: unknown video extension '%s' (use .y4m, .gif, .png, .mp4 or .webm)", path, ext);
    return pp_check_output_dir(path);
}

int pp_video_write(const pp_video *v, const char *path, int upscale) {
    if (!v || !v->rgb || v->frames < 1) PP_FAIL("%s: no video to write", path);
    if (upscale < 1 || upscale > 64) PP_FAIL("%s: upscale %d must be in [1, 64]", path, upscale);
    const char *ext = extension(path);
    if (!strcasecmp(ext, ".y4m")) return pp_video_write_y4m(v, path); /* native size: upscale is for viewing */
    if (!strcasecmp(ext, ".gif")) return pp_video_write_gif(v, path, upscale);
    if (!strcasecmp(ext, ".png")) return pp_video_write_png(v, path, upscale);
    if (!strcasecmp(ext, ".mp4") || !strcasecmp(ext, ".webm")) return pp_video_write_av(v, path, upscale, NULL);
    PP_FAIL("%s: unknown video extension '%s' (use .y4m, .gif, .png, .mp4 or .webm)", path, ext);
}

int pp_video_read(pp_video *v, const char *path) {
    memset(v, 0, sizeof *v);
    const char *ext = extension(path);
    if (!strcasecmp(ext, ".y4m")) return pp_video_read_y4m(v, path);
    if (!strcasecmp(ext, ".png")) return pp_video_read_png(v, path);
    if (!strcasecmp(ext, ".mp4") || !strcasecmp(ext, ".webm")) return pp_video_read_av(v, path);
    PP_FAIL("%s: cannot read '%s' videos (use .y4m, .mp4, .webm or a PNG frame pattern such as f_%%03d.png)", path,
            ext);
}

/* Layout: x[c][f][h][w]; x = u / 127.5 - 1. */
void pp_video_to_float(const pp_video *v, float *x) {
    size_t plane = (size_t)v->frames * v->height * v->width;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) x[c * plane + i] = (float)v->rgb[i * 3 + c] / 127.5f - 1.0f;
}

/* u = round((x + 1) * 127.5) clamped to [0, 255]; NaN maps to 0. */
static uint8_t to_u8(float x) {
    float u = (x + 1.0f) * 127.5f;
    if (!(u > 0.0f)) return 0;
    if (u >= 255.0f) return 255;
    return (uint8_t)lrintf(u);
}

void pp_video_from_float(pp_video *v, const float *x) {
    size_t plane = (size_t)v->frames * v->height * v->width;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) v->rgb[i * 3 + c] = to_u8(x[c * plane + i]);
}
