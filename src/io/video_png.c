/* video_png.c - PNG frames via libpng's simplified API.
 * Write: a path with a printf pattern (out_%03d.png) writes one RGB PNG per frame,
 * numbered from 0; a plain path writes one horizontal strip of all frames
 * (width = frames * W). Read: a pattern; frames are read from index 0 (or 1 when
 * 0 is absent) until the first missing index; a gap (a later index present within
 * the next 16) is an error, as is a frame whose size differs from the first.
 * PNGs carry no frame rate: read videos get 10 fps (the simulator's dt = 0.1 s).
 * Any PNG colour type is converted to 8-bit RGB (alpha dropped, composited on black). */
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/common.h"
#include "io/video_impl.h"

#define PNG_READ_FPS 10.0f
#define PNG_MAX_FRAMES 100000

static int write_png_rgb(const char *path, const uint8_t *rgb, int w, int h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&img, NULL, &size, 0, rgb, 0, NULL))
        PP_FAIL("%s: PNG encoding failed: %s", path, img.message);
    void *mem = pp_malloc(size);
    if (!png_image_write_to_memory(&img, mem, &size, 0, rgb, 0, NULL)) {
        free(mem);
        PP_FAIL("%s: PNG encoding failed: %s", path, img.message);
    }
    int rc = pp_write_file_atomic(path, mem, size);
    free(mem);
    return rc;
}

static int write_strip(const pp_video *v, const char *path, int s) {
    size_t fw = (size_t)v->width * s, fh = (size_t)v->height * s, sw = fw * v->frames;
    if (sw > 1u << 30) PP_FAIL("%s: PNG strip is too wide (%zu pixels)", path, sw);
    uint8_t *strip = pp_malloc(sw * fh * 3);
    for (int f = 0; f < v->frames; f++) {
        uint8_t *fr = pp_video_upscaled_frame(v, f, s);
        for (size_t y = 0; y < fh; y++) memcpy(strip + (y * sw + f * fw) * 3, fr + y * fw * 3, fw * 3);
        free(fr);
    }
    int rc = write_png_rgb(path, strip, (int)sw, (int)fh);
    free(strip);
    return rc;
}

int pp_video_write_png(const pp_video *v, const char *path, int upscale) {
    int pat = pp_video_path_pattern(path);
    if (pat < 0) return -1;
    if (!pat) return write_strip(v, path, upscale);
    char name[4096];
    for (int f = 0; f < v->frames; f++) {
        snprintf(name, sizeof name, path, f);
        uint8_t *fr = pp_video_upscaled_frame(v, f, upscale);
        int rc = write_png_rgb(name, fr, v->width * upscale, v->height * upscale);
        free(fr);
        if (rc) return rc;
    }
    return 0;
}

static int exists(const char *pattern, int idx) {
    char name[4096];
    struct stat st;
    snprintf(name, sizeof name, pattern, idx);
    return stat(name, &st) == 0;
}

/* Reads one PNG into a malloc'd RGB buffer (*rgb) of *w x *h. */
static int read_png_rgb(const char *path, uint8_t **rgb, int *w, int *h) {
    char *data;
    size_t len;
    if (pp_read_file(path, &data, &len)) return -1;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len)) {
        free(data);
        PP_FAIL("%s: not a readable PNG: %s", path, img.message);
    }
    if (img.width > PP_VIDEO_MAX_SIDE || img.height > PP_VIDEO_MAX_SIDE) {
        png_image_free(&img);
        free(data);
        PP_FAIL("%s: PNG of %ux%u is too large", path, img.width, img.height);
    }
    img.format = PNG_FORMAT_RGB;
    *w = (int)img.width;
    *h = (int)img.height;
    *rgb = pp_malloc(PNG_IMAGE_SIZE(img));
    int ok = png_image_finish_read(&img, NULL, *rgb, 0, NULL);
    free(data);
    if (!ok) {
        free(*rgb);
        *rgb = NULL;
        PP_FAIL("%s: corrupt PNG: %s", path, img.message);
    }
    return 0;
}

/* First index and number of consecutive frames of the pattern; fails on a gap. */
static int scan_pattern(const char *pattern, int *first, int *count) {
    *first = exists(pattern, 0) ? 0 : 1;
    int n = 0;
    while (n < PNG_MAX_FRAMES && exists(pattern, *first + n)) n++;
    if (n == 0) PP_FAIL("%s: no frames found (tried indices 0 and 1)", pattern);
    for (int k = 1; k <= 16; k++)
        if (exists(pattern, *first + n + k))
            PP_FAIL("%s: frame %d is missing but frame %d exists", pattern, *first + n, *first + n + k);
    *count = n;
    return 0;
}

static int read_frames(pp_video *v, const char *pattern, int first) {
    char name[4096];
    for (int f = 0; f < v->frames; f++) {
        snprintf(name, sizeof name, pattern, first + f);
        uint8_t *rgb;
        int w, h;
        if (read_png_rgb(name, &rgb, &w, &h)) return -1;
        if (w != v->width || h != v->height) {
            free(rgb);
            PP_FAIL("%s: frame is %dx%d but the first frame is %dx%d", name, w, h, v->width, v->height);
        }
        memcpy(pp_video_frame(v, f), rgb, (size_t)w * h * 3);
        free(rgb);
    }
    return 0;
}

int pp_video_read_png(pp_video *v, const char *pattern) {
    int pat = pp_video_path_pattern(pattern);
    if (pat < 0) return -1;
    if (!pat) PP_FAIL("%s: reading PNG needs a frame pattern such as frame_%%03d.png", pattern);
    int first, n, w, h;
    if (scan_pattern(pattern, &first, &n)) return -1;
    char name[4096];
    snprintf(name, sizeof name, pattern, first);
    uint8_t *rgb;
    if (read_png_rgb(name, &rgb, &w, &h)) return -1;
    free(rgb);
    if (pp_video_alloc(v, n, h, w, PNG_READ_FPS)) return -1;
    if (read_frames(v, pattern, first)) {
        pp_video_free(v);
        return -1;
    }
    return 0;
}
