/* video_y4m.c - YUV4MPEG2 (Y4M) read/write, 8-bit 4:4:4.
 *
 * Written files: "YUV4MPEG2 W<w> H<h> F<num>:<den> Ip A1:1 C444 XCOLORRANGE=FULL",
 * then per frame "FRAME\n" and the Y, Cb, Cr planes (w*h bytes each).
 *
 * Colour: full-range BT.601 (the JFIF matrix), which ffmpeg and mpv honour through
 * XCOLORRANGE=FULL:
 *   Y  =       0.299    R + 0.587    G + 0.114    B
 *   Cb = 128 - 0.168736 R - 0.331264 G + 0.5      B
 *   Cr = 128 + 0.5      R - 0.418688 G - 0.081312 B
 *   R = Y + 1.402 (Cr-128); G = Y - 0.344136 (Cb-128) - 0.714136 (Cr-128); B = Y + 1.772 (Cb-128)
 * The encoder rounds, then, when the decoded colour is not exact, tries the 27
 * neighbouring (Y,Cb,Cr) codes and keeps the one that decodes closest (smallest
 * max-channel, then summed error). White, black, greys, green, yellow and cyan
 * round-trip exactly; every colour is within 1 level (tested over a lattice of the
 * RGB cube in tests/test_video.c). Pure red (255,0,0) and blue cannot be exact with
 * this matrix (Cr and Cb reach only 127 above 128): red decodes as (255,1,0)-ish,
 * still far inside PhyWorld's colour thresholds.
 *
 * Reading accepts C444 (also C444p / C444 with XYSCSS=444), W and H in [1, 16384],
 * F from 0.001 to 1000 fps, any A, progressive or unknown interlacing, and
 * XCOLORRANGE=FULL or LIMITED (absent = LIMITED, the Y4M default, as ffmpeg reads
 * it). Other colourspaces, a bad header, a truncated or missing frame are reported
 * errors naming the file. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "io/video_impl.h"

static uint8_t clamp_u8(double x) {
    if (!(x > 0.0)) return 0;
    if (x >= 255.0) return 255;
    return (uint8_t)lrint(x);
}

void pp_ycbcr_to_rgb(const uint8_t ycc[3], int full_range, uint8_t rgb[3]) {
    double y = ycc[0], cb = ycc[1] - 128.0, cr = ycc[2] - 128.0;
    if (!full_range) {
        y = (y - 16.0) * (255.0 / 219.0);
        cb *= 255.0 / 224.0;
        cr *= 255.0 / 224.0;
    }
    rgb[0] = clamp_u8(y + 1.402 * cr);
    rgb[1] = clamp_u8(y - 0.344136 * cb - 0.714136 * cr);
    rgb[2] = clamp_u8(y + 1.772 * cb);
}

/* Error of decoding ycc against rgb: max channel error * 1024 + summed error. */
static int decode_cost(const uint8_t ycc[3], const uint8_t rgb[3]) {
    uint8_t back[3];
    pp_ycbcr_to_rgb(ycc, 1, back);
    int mx = 0, sum = 0;
    for (int c = 0; c < 3; c++) {
        int d = abs((int)back[c] - (int)rgb[c]);
        mx = d > mx ? d : mx;
        sum += d;
    }
    return mx * 1024 + sum;
}

void pp_rgb_to_ycbcr(const uint8_t rgb[3], uint8_t ycc[3]) {
    double r = rgb[0], g = rgb[1], b = rgb[2];
    ycc[0] = clamp_u8(0.299 * r + 0.587 * g + 0.114 * b);
    ycc[1] = clamp_u8(128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b);
    ycc[2] = clamp_u8(128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b);
    int best = decode_cost(ycc, rgb);
    if (best == 0) return;
    uint8_t base[3] = {ycc[0], ycc[1], ycc[2]};
    for (int i = 0; i < 27; i++) {
        int t[3] = {base[0] + i % 3 - 1, base[1] + i / 3 % 3 - 1, base[2] + i / 9 - 1};
        if (t[0] < 0 || t[0] > 255 || t[1] < 0 || t[1] > 255 || t[2] < 0 || t[2] > 255) continue;
        uint8_t c[3] = {(uint8_t)t[0], (uint8_t)t[1], (uint8_t)t[2]};
        int cost = decode_cost(c, rgb);
        if (cost < best) {
            best = cost;
            memcpy(ycc, c, 3);
        }
    }
}

/* Small direct-mapped cache: videos repeat few colours. */
typedef struct {
    uint32_t key[4096];
    uint8_t ycc[4096][3];
} ycc_cache;

static void cached_ycbcr(ycc_cache *cache, const uint8_t *rgb, uint8_t out[3]) {
    uint32_t k = (uint32_t)rgb[0] << 16 | (uint32_t)rgb[1] << 8 | rgb[2];
    uint32_t h = (k * 2654435761u) >> 20;
    if (cache->key[h] != k + 1) {
        pp_rgb_to_ycbcr(rgb, cache->ycc[h]);
        cache->key[h] = k + 1;
    }
    memcpy(out, cache->ycc[h], 3);
}

static void fps_fraction(float fps, int *num, int *den) {
    *den = 1000;
    *num = (int)lrint((double)fps * 1000.0);
    if (*num % 1000 == 0) {
        *num /= 1000;
        *den = 1;
    }
}

int pp_video_write_y4m(const pp_video *v, const char *path) {
    int num, den;
    fps_fraction(v->fps, &num, &den);
    char head[160];
    int hl = snprintf(head, sizeof head, "YUV4MPEG2 W%d H%d F%d:%d Ip A1:1 C444 XCOLORRANGE=FULL\n",
                      v->width, v->height, num, den);
    size_t plane = (size_t)v->width * v->height;
    pp_buf b = {0};
    pp_buf_put(&b, head, (size_t)hl);
    uint8_t *planes = pp_malloc(plane * 3);
    ycc_cache *cache = pp_calloc(1, sizeof *cache);
    for (int f = 0; f < v->frames; f++) {
        const uint8_t *px = pp_video_frame(v, f);
        for (size_t i = 0; i < plane; i++) {
            uint8_t ycc[3];
            cached_ycbcr(cache, px + i * 3, ycc);
            for (int c = 0; c < 3; c++) planes[c * plane + i] = ycc[c];
        }
        pp_buf_put(&b, "FRAME\n", 6);
        pp_buf_put(&b, planes, plane * 3);
    }
    free(cache);
    free(planes);
    int rc = pp_write_file_atomic(path, b.p, b.n);
    free(b.p);
    return rc;
}

typedef struct {
    int w, h, full_range;
    float fps;
} y4m_header;

/* A decimal integer in [1, hi] at s (no sign), ending at *end. -1 when malformed. */
static long y4m_int(const char *s, char **end, long hi) {
    if (*s < '0' || *s > '9') {
        *end = (char *)s;
        return -1;
    }
    errno = 0;
    long v = strtol(s, end, 10);
    return errno || v < 1 || v > hi ? -1 : v;
}

/* Parse one header token; returns 0 or fails with a message naming the file. */
static int parse_token(const char *tok, y4m_header *hd, const char *path) {
    char *end;
    switch (tok[0]) {
    case 'W':
    case 'H': {
        long v = y4m_int(tok + 1, &end, PP_VIDEO_MAX_SIDE);
        if (v < 0 || *end) PP_FAIL("%s: Y4M header: %c: '%s' is not a size in [1, %d]", path, tok[0], tok, PP_VIDEO_MAX_SIDE);
        *(tok[0] == 'W' ? &hd->w : &hd->h) = (int)v;
        return 0;
    }
    case 'F': {
        long n = y4m_int(tok + 1, &end, 1L << 30), d = *end == ':' ? y4m_int(end + 1, &end, 1L << 30) : -1;
        double fps = (double)n / (double)d;
        if (n < 0 || d < 0 || *end || !(fps >= 1e-3) || fps > 1000.0)
            PP_FAIL("%s: Y4M header: F: bad frame rate '%s' (want N:D, 0.001 to 1000 fps)", path, tok);
        hd->fps = (float)fps;
        return 0;
    }
    case 'C':
        if (strcmp(tok, "C444") && strcmp(tok, "C444p"))
            PP_FAIL("%s: unsupported Y4M colourspace '%s' (only 8-bit C444 is read)", path, tok);
        return 0;
    case 'X':
        if (!strcmp(tok, "XCOLORRANGE=FULL")) hd->full_range = 1;
        else if (!strcmp(tok, "XCOLORRANGE=LIMITED")) hd->full_range = 0;
        return 0;
    case 'I':
        if (tok[1] != 'p' && tok[1] != '?') PP_FAIL("%s: interlaced Y4M ('%s') is not supported", path, tok);
        return 0;
    case 'A': return 0;
    default: PP_FAIL("%s: bad Y4M header token '%s'", path, tok);
    }
}

static int parse_header(const char *line, y4m_header *hd, const char *path) {
    memset(hd, 0, sizeof *hd);
    hd->fps = 10.0f;
    if (strncmp(line, "YUV4MPEG2 ", 10)) PP_FAIL("%s: not a Y4M file (no YUV4MPEG2 signature)", path);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", line + 10);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        if (parse_token(tok, hd, path)) return -1;
    if (hd->w <= 0 || hd->h <= 0) PP_FAIL("%s: Y4M header: W and H are required", path);
    return 0;
}

/* Copies the line starting at data[*pos] (without '\n') into out; fails if none within cap. */
static int next_line(const char *data, size_t len, size_t *pos, char *out, size_t cap) {
    const char *nl = memchr(data + *pos, '\n', len - *pos < cap ? len - *pos : cap);
    if (!nl) return -1;
    size_t n = (size_t)(nl - (data + *pos));
    memcpy(out, data + *pos, n);
    out[n] = '\0';
    *pos += n + 1;
    return 0;
}

static void decode_frame(const uint8_t *planes, size_t plane, int full_range, uint8_t *rgb) {
    for (size_t i = 0; i < plane; i++) {
        uint8_t ycc[3] = {planes[i], planes[plane + i], planes[2 * plane + i]};
        pp_ycbcr_to_rgb(ycc, full_range, rgb + i * 3);
    }
}

/* Counts frames and validates their headers and lengths. */
static int count_frames(const char *data, size_t len, size_t pos, size_t fbytes, const char *path) {
    int n = 0;
    char line[256];
    while (pos < len) {
        if (next_line(data, len, &pos, line, sizeof line) || strncmp(line, "FRAME", 5) ||
            (line[5] != '\0' && line[5] != ' '))
            PP_FAIL("%s: bad Y4M frame header at frame %d (truncated or corrupt)", path, n);
        if (len - pos < fbytes)
            PP_FAIL("%s: truncated Y4M: frame %d has %zu of %zu bytes", path, n, len - pos, fbytes);
        pos += fbytes;
        n++;
    }
    if (n == 0) PP_FAIL("%s: Y4M file has no frames", path);
    return n;
}

int pp_video_read_y4m(pp_video *v, const char *path) {
    char *data;
    size_t len, pos = 0;
    if (pp_read_file(path, &data, &len)) return -1;
    char line[512];
    y4m_header hd;
    int rc = -1;
    if (next_line(data, len, &pos, line, sizeof line)) {
        pp_seterr("%s: not a Y4M file (no header line)", path);
        goto done;
    }
    if (parse_header(line, &hd, path)) goto done;
    size_t plane = (size_t)hd.w * hd.h;
    int n = count_frames(data, len, pos, plane * 3, path);
    if (n < 0) goto done;
    if (pp_video_alloc(v, n, hd.h, hd.w, hd.fps)) {
        char msg[900];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        pp_seterr("%s: %s", path, msg);
        goto done;
    }
    for (int f = 0; f < n; f++) {
        next_line(data, len, &pos, line, sizeof line);
        decode_frame((const uint8_t *)data + pos, plane, hd.full_range, pp_video_frame(v, f));
        pos += plane * 3;
    }
    rc = 0;
done:
    free(data);
    return rc;
}
