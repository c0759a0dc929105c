/* video_gif.c - animated GIF writer (giflib), looping forever.
 *
 * Palette (one global palette for the whole video):
 *   - when the video has at most 256 distinct colours, exactly those colours
 *     (lossless - the simulator's flat-shaded scenes usually qualify);
 *   - otherwise a fixed 6x7x6 colour cube (252 entries: 6 levels of red and blue,
 *     7 of green) plus the 4 most frequent colours of the video, so that the
 *     scene's dominant colours (background, balls) stay exact; every other pixel
 *     maps to the nearest palette entry (squared RGB distance).
 * Frame delay: round(100 / fps) hundredths of a second (at least 1). The NETSCAPE2.0
 * application extension with loop count 0 makes players loop. The file is built in
 * memory and written atomically. */
#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "io/video_impl.h"

#define HASH_SIZE 65536 /* open addressing, keys rgb+1 */

typedef struct {
    uint32_t key[HASH_SIZE];
    uint32_t count[HASH_SIZE];
    int ncolors;
} color_hist;

static uint32_t rgb_key(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }

/* Returns the slot of key k (inserting it), or -1 when the table is over 3/4 full. */
static int hist_slot(color_hist *h, uint32_t k) {
    uint32_t i = (k * 2654435761u) >> 16;
    while (h->key[i] && h->key[i] != k + 1) i = (i + 1) & (HASH_SIZE - 1);
    if (!h->key[i]) {
        if (h->ncolors >= HASH_SIZE * 3 / 4) return -1;
        h->key[i] = k + 1;
        h->ncolors++;
    }
    return (int)i;
}

static void build_hist(const pp_video *v, color_hist *h) {
    size_t n = (size_t)v->frames * v->height * v->width;
    for (size_t i = 0; i < n; i++) {
        int s = hist_slot(h, rgb_key(v->rgb + i * 3));
        if (s >= 0) h->count[s]++;
    }
}

static void set_color(GifColorType *c, uint32_t k) {
    c->Red = (GifByteType)(k >> 16);
    c->Green = (GifByteType)(k >> 8);
    c->Blue = (GifByteType)k;
}

/* Fills pal with the palette; returns the number of entries. */
static int build_palette(const color_hist *h, GifColorType pal[256]) {
    int n = 0;
    if (h->ncolors <= 256) {
        for (int i = 0; i < HASH_SIZE; i++)
            if (h->key[i]) set_color(&pal[n++], h->key[i] - 1);
        return n;
    }
    for (int r = 0; r < 6; r++)
        for (int g = 0; g < 7; g++)
            for (int b = 0; b < 6; b++) set_color(&pal[n++], (uint32_t)(r * 51) << 16 | (uint32_t)(g * 255 / 6) << 8 | (uint32_t)(b * 51));
    uint32_t used[4] = {0};
    for (int e = 0; e < 4; e++) {
        int best = -1;
        for (int i = 0; i < HASH_SIZE; i++)
            if (h->key[i] && (best < 0 || h->count[i] > h->count[best])) {
                int dup = 0;
                for (int j = 0; j < e; j++) dup |= used[j] == h->key[i];
                if (!dup) best = i;
            }
        used[e] = h->key[best];
        set_color(&pal[n++], h->key[best] - 1);
    }
    return n;
}

static int nearest(const GifColorType *pal, int n, const uint8_t *p) {
    int best = 0, bd = 1 << 30;
    for (int i = 0; i < n; i++) {
        int dr = pal[i].Red - p[0], dg = pal[i].Green - p[1], db = pal[i].Blue - p[2];
        int d = dr * dr + dg * dg + db * db;
        if (d < bd) { bd = d; best = i; }
        if (d == 0) break;
    }
    return best;
}

/* Maps every colour of the histogram to its palette index (stored in count[]). */
static void index_colors(color_hist *h, const GifColorType *pal, int n) {
    for (int i = 0; i < HASH_SIZE; i++) {
        if (!h->key[i]) continue;
        uint32_t k = h->key[i] - 1;
        uint8_t p[3] = {(uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k};
        h->count[i] = (uint32_t)nearest(pal, n, p);
    }
}

static int pixel_index(color_hist *h, const GifColorType *pal, int n, const uint8_t *p) {
    uint32_t k = rgb_key(p), i = (k * 2654435761u) >> 16;
    while (h->key[i] && h->key[i] != k + 1) i = (i + 1) & (HASH_SIZE - 1);
    return h->key[i] ? (int)h->count[i] : nearest(pal, n, p);
}

static int mem_write(GifFileType *gif, const GifByteType *data, int n) {
    pp_buf_put(gif->UserData, data, (size_t)n);
    return n;
}

static int put_loop_ext(GifFileType *gif) {
    static const GifByteType loop[3] = {1, 0, 0};
    if (EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR) return GIF_ERROR;
    if (EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") == GIF_ERROR) return GIF_ERROR;
    if (EGifPutExtensionBlock(gif, 3, loop) == GIF_ERROR) return GIF_ERROR;
    return EGifPutExtensionTrailer(gif);
}

static int put_frame(GifFileType *gif, const pp_video *v, int f, int s, color_hist *h,
                     const GifColorType *pal, int n, int delay) {
    GraphicsControlBlock gcb = {DISPOSAL_UNSPECIFIED, false, delay, NO_TRANSPARENT_COLOR};
    GifByteType ext[4];
    EGifGCBToExtension(&gcb, ext);
    if (EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, ext) == GIF_ERROR) return GIF_ERROR;
    int w = v->width * s, hh = v->height * s;
    if (EGifPutImageDesc(gif, 0, 0, w, hh, false, NULL) == GIF_ERROR) return GIF_ERROR;
    GifPixelType *line = pp_malloc((size_t)w);
    const uint8_t *src = pp_video_frame(v, f);
    int rc = GIF_OK;
    for (int y = 0; y < hh && rc == GIF_OK; y++) {
        const uint8_t *row = src + (size_t)(y / s) * v->width * 3;
        for (int x = 0; x < w; x++) line[x] = (GifPixelType)pixel_index(h, pal, n, row + (x / s) * 3);
        rc = EGifPutLine(gif, line, w);
    }
    free(line);
    return rc;
}

static int palette_bits(int n) {
    int bits = 1;
    while ((1 << bits) < n) bits++;
    return bits;
}

static int encode(GifFileType *gif, const pp_video *v, int s, color_hist *h) {
    GifColorType pal[256];
    memset(pal, 0, sizeof pal);
    int n = build_palette(h, pal);
    index_colors(h, pal, n);
    ColorMapObject *cmap = GifMakeMapObject(1 << palette_bits(n), pal);
    if (!cmap) return GIF_ERROR;
    int rc = EGifPutScreenDesc(gif, v->width * s, v->height * s, 8, 0, cmap);
    GifFreeMapObject(cmap);
    if (rc == GIF_ERROR) return rc;
    EGifSetGifVersion(gif, true);
    if (put_loop_ext(gif) == GIF_ERROR) return GIF_ERROR;
    int delay = (int)(100.0f / v->fps + 0.5f);
    delay = delay < 1 ? 1 : delay;
    for (int f = 0; f < v->frames && rc != GIF_ERROR; f++) rc = put_frame(gif, v, f, s, h, pal, n, delay);
    return rc;
}

int pp_video_write_gif(const pp_video *v, const char *path, int upscale) {
    if ((long)v->width * upscale > 65535 || (long)v->height * upscale > 65535)
        PP_FAIL("%s: GIF size %dx%d exceeds 65535", path, v->width * upscale, v->height * upscale);
    pp_buf b = {0};
    int err = 0;
    GifFileType *gif = EGifOpen(&b, mem_write, &err);
    if (!gif) PP_FAIL("%s: cannot start GIF: %s", path, GifErrorString(err));
    color_hist *h = pp_calloc(1, sizeof *h);
    build_hist(v, h);
    int rc = encode(gif, v, upscale, h);
    int gerr = gif->Error;
    free(h);
    if (EGifCloseFile(gif, &err) == GIF_ERROR && rc != GIF_ERROR) { rc = GIF_ERROR; gerr = err; }
    if (rc == GIF_ERROR) {
        free(b.p);
        PP_FAIL("%s: GIF encoding failed: %s", path, GifErrorString(gerr));
    }
    rc = pp_write_file_atomic(path, b.p, b.n);
    free(b.p);
    return rc;
}
