/* maps.c - see maps.h */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/categories.h"
#include "base/common.h"
#include "io/maps.h"

float pp_maps_bilinear(const float *m, int h, int w, float y, float x) {
    y = y < 0 ? 0 : y > h - 1 ? (float)(h - 1) : y;
    x = x < 0 ? 0 : x > w - 1 ? (float)(w - 1) : x;
    int y0 = (int)y, x0 = (int)x, y1 = y0 + 1 < h ? y0 + 1 : y0, x1 = x0 + 1 < w ? x0 + 1 : x0;
    float fy = y - (float)y0, fx = x - (float)x0;
    float a = m[y0 * w + x0] + fx * (m[y0 * w + x1] - m[y0 * w + x0]);
    float b = m[y1 * w + x0] + fx * (m[y1 * w + x1] - m[y1 * w + x0]);
    return a + fy * (b - a);
}

void pp_maps_resample(const float *src, int C, int Fs, int Hs, int Ws, float *dst, int F, int H, int W) {
    for (int c = 0; c < C; c++)
        for (int t = 0; t < F; t++) {
            int ts = (int)(((double)t + 0.5) * Fs / F);
            ts = ts >= Fs ? Fs - 1 : ts;
            const float *m = src + ((size_t)c * Fs + ts) * Hs * Ws;
            float *d = dst + ((size_t)c * F + t) * H * W;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    d[(size_t)y * W + x] = pp_maps_bilinear(m, Hs, Ws, ((float)y + 0.5f) * (float)Hs / (float)H - 0.5f,
                                                    ((float)x + 0.5f) * (float)Ws / (float)W - 0.5f);
        }
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

int pp_maps_load(const char *path, float **maps, int *c, int *f, int *h, int *w) {
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
