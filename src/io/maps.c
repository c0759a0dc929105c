/* maps.c - see maps.h */
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

int pp_maps_load(const char *path, float **maps, int *c, int *f, int *h, int *w) {
    char *data;
    size_t len;
    *maps = NULL;
    if (pp_read_file(path, &data, &len)) return -1;
    int n = 0;
    if (sscanf(data, "prophy-maps %d %d %d %d\n%n", c, f, h, w, &n) != 4 || n <= 0) {
        free(data);
        PP_FAIL("%s: not a maps file (want a 'prophy-maps C F H W' header line)", path);
    }
    if (*c < 1 || *c > PP_NCAT + 1 || *f < 1 || *h < 1 || *w < 1 || *f > 4096 || *h > 4096 || *w > 4096) {
        free(data);
        PP_FAIL("%s: bad maps shape %d x %d x %d x %d", path, *c, *f, *h, *w);
    }
    size_t cnt = (size_t)*c * *f * *h * *w;
    if (len - (size_t)n != cnt * sizeof(float)) {
        free(data);
        PP_FAIL("%s: maps hold %zu bytes of data, the header wants %zu", path, len - (size_t)n, cnt * sizeof(float));
    }
    *maps = pp_malloc(cnt * sizeof(float));
    memcpy(*maps, data + n, cnt * sizeof(float));
    free(data);
    return 0;
}
