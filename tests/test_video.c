/* test_video.c - Y4M/PNG/GIF round trips, colour conversion, bad input. */
#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/common.h"
#include "test.h"
#include "io/video.h"
#include "io/video_impl.h"

#define tmp_path pp_test_path

/* A small video with a gradient, pure colours and a moving red square. */
static void make_video(pp_video *v, int frames, int h, int w) {
    CHECK(pp_video_alloc(v, frames, h, w, 10.0f) == 0);
    for (int f = 0; f < frames; f++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = pp_video_frame(v, f) + ((size_t)y * w + x) * 3;
                p[0] = (uint8_t)(x * 255 / (w - 1));
                p[1] = (uint8_t)(y * 255 / (h - 1));
                p[2] = (uint8_t)((x + y + f * 7) % 256);
                if (x >= f && x < f + 3 && y < 3) { p[0] = 255; p[1] = 0; p[2] = 0; }
                if (y == h - 1) memset(p, 255, 3);
            }
}

static int max_diff(const pp_video *a, const pp_video *b) {
    size_t n = (size_t)a->frames * a->height * a->width * 3;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a->rgb[i] - (int)b->rgb[i]);
        m = d > m ? d : m;
    }
    return m;
}

static int roundtrip_err(const uint8_t rgb[3]) {
    uint8_t ycc[3], back[3];
    pp_rgb_to_ycbcr(rgb, ycc);
    pp_ycbcr_to_rgb(ycc, 1, back);
    int m = 0;
    for (int c = 0; c < 3; c++) {
        int d = abs((int)back[c] - (int)rgb[c]);
        m = d > m ? d : m;
    }
    return m;
}

TEST(video_ycbcr_pure_colours_exact) {
    /* Exact: white, black, greys, green, yellow, cyan. Pure red/blue/magenta cannot be
     * exact under the standard matrix (Cr/Cb top out at 127 above 128), they are within 1. */
    static const uint8_t exact[][3] = {{0, 255, 0}, {255, 255, 255}, {0, 0, 0}, {255, 255, 0},
                                       {0, 255, 255}, {128, 128, 128}, {200, 200, 200}};
    static const uint8_t near[][3] = {{255, 0, 0}, {0, 0, 255}, {255, 0, 255}};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        CHECK_MSG(roundtrip_err(exact[i]) == 0, "colour (%d,%d,%d) not exact", exact[i][0], exact[i][1], exact[i][2]);
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) CHECK(roundtrip_err(near[i]) <= 1);
}

TEST(video_ycbcr_cube_within_one_level) {
    int worst = 0;
    for (int r = 0; r < 256; r += 3)
        for (int g = 0; g < 256; g += 5)
            for (int b = 0; b < 256; b += 1) {
                uint8_t c[3] = {(uint8_t)r, (uint8_t)g, (uint8_t)b};
                int e = roundtrip_err(c);
                worst = e > worst ? e : worst;
            }
    CHECK_MSG(worst <= 1, "worst round-trip error %d levels", worst);
}

TEST(video_y4m_roundtrip) {
    pp_video v, r;
    make_video(&v, 5, 17, 23);
    v.fps = 12.5f;
    const char *p = tmp_path("a.y4m");
    CHECK(pp_video_write(&v, p, 1) == 0);
    CHECK(pp_video_read(&r, p) == 0);
    CHECK(r.frames == 5 && r.height == 17 && r.width == 23);
    CHECK_NEAR(r.fps, 12.5, 1e-4);
    if (r.rgb) CHECK(max_diff(&v, &r) <= 1);
    CHECK(pp_video_frame(&r, 2)[(0 * 23 + 3) * 3] >= 254); /* red square */
    pp_video_free(&v);
    pp_video_free(&r);
}

static void write_bytes(const char *path, const char *data, size_t n) {
    CHECK(pp_write_file_atomic(path, data, n) == 0);
}

TEST(video_y4m_bad_input) {
    pp_video v, r;
    make_video(&v, 3, 8, 8);
    const char *p = tmp_path("b.y4m");
    CHECK(pp_video_write(&v, p, 1) == 0);
    char *data;
    size_t len;
    CHECK(pp_read_file(p, &data, &len) == 0);
    const char *t = tmp_path("trunc.y4m");
    write_bytes(t, data, len - 10);
    CHECK(pp_video_read(&r, t) != 0 && strstr(pp_lasterr(), "truncated"));
    write_bytes(t, data, 20);
    CHECK(pp_video_read(&r, t) != 0);
    write_bytes(t, "YUV4MPEG2 W8 H8 F10:1 C420jpeg\nFRAME\n", 37);
    CHECK(pp_video_read(&r, t) != 0 && strstr(pp_lasterr(), "colourspace"));
    write_bytes(t, "P6 8 8 255\n", 11);
    CHECK(pp_video_read(&r, t) != 0 && strstr(pp_lasterr(), "not a Y4M"));
    write_bytes(t, "YUV4MPEG2 W8 H8 F10:1 C444\n", 27);
    CHECK(pp_video_read(&r, t) != 0 && strstr(pp_lasterr(), "no frames"));
    write_bytes(t, "YUV4MPEG2 W-8 H8 F10:1 C444\n", 28);
    CHECK(pp_video_read(&r, t) != 0);
    write_bytes(t, "YUV4MPEG2 W99999 H99999 F10:1 C444\n", 35);
    CHECK(pp_video_read(&r, t) != 0);
    CHECK(pp_video_read(&r, tmp_path("missing.y4m")) != 0);
    CHECK(pp_video_read(&r, tmp_path("x.mp4")) != 0);
    free(data);
    pp_video_free(&v);
}

TEST(video_png_pattern_roundtrip_and_gaps) {
    pp_video v, r;
    make_video(&v, 4, 9, 11);
    const char *pat = tmp_path("f_%03d.png");
    CHECK(pp_video_write(&v, pat, 1) == 0);
    CHECK(pp_video_read(&r, pat) == 0);
    CHECK(r.frames == 4 && r.height == 9 && r.width == 11);
    if (r.rgb) CHECK(max_diff(&v, &r) == 0);
    pp_video_free(&r);
    unlink(tmp_path("f_001.png"));
    CHECK(pp_video_read(&r, pat) != 0 && strstr(pp_lasterr(), "missing"));
    CHECK(pp_video_read(&r, tmp_path("none_%03d.png")) != 0);
    CHECK(pp_video_read(&r, tmp_path("bad_%s.png")) != 0);
    CHECK(pp_video_write(&v, tmp_path("two_%d_%d.png"), 1) != 0);
    pp_video_free(&v);
}

TEST(video_png_strip_upscaled) {
    pp_video v;
    make_video(&v, 3, 5, 6);
    const char *p = tmp_path("strip.png");
    CHECK(pp_video_write(&v, p, 2) == 0);
    char *data;
    size_t len;
    CHECK(pp_read_file(p, &data, &len) == 0);
    /* IHDR width/height at bytes 16..23, big endian */
    const uint8_t *u = (const uint8_t *)data;
    int w = u[16] << 24 | u[17] << 16 | u[18] << 8 | u[19], h = u[20] << 24 | u[21] << 16 | u[22] << 8 | u[23];
    CHECK(w == 3 * 6 * 2 && h == 5 * 2);
    free(data);
    pp_video_free(&v);
}

static int has_loop_ext(const GifFileType *g) {
    for (int i = 0; i < g->ExtensionBlockCount; i++) {
        const ExtensionBlock *e = &g->ExtensionBlocks[i];
        if (e->Function == APPLICATION_EXT_FUNC_CODE && e->ByteCount == 11 && !memcmp(e->Bytes, "NETSCAPE2.0", 11))
            return 1;
    }
    for (int i = 0; g->ImageCount && i < g->SavedImages[0].ExtensionBlockCount; i++) {
        const ExtensionBlock *e = &g->SavedImages[0].ExtensionBlocks[i];
        if (e->Function == APPLICATION_EXT_FUNC_CODE && e->ByteCount == 11 && !memcmp(e->Bytes, "NETSCAPE2.0", 11))
            return 1;
    }
    return 0;
}

/* Reads the GIF and checks frame count, size, delay, looping and a pixel colour. */
static void check_gif(const char *p, const pp_video *v, int s, int exact) {
    int err;
    GifFileType *g = DGifOpenFileName(p, &err);
    CHECK(g != NULL);
    if (!g) return;
    CHECK(DGifSlurp(g) == GIF_OK);
    CHECK(g->ImageCount == v->frames && g->SWidth == v->width * s && g->SHeight == v->height * s);
    CHECK(has_loop_ext(g));
    GraphicsControlBlock gcb;
    CHECK(DGifSavedExtensionToGCB(g, 0, &gcb) == GIF_OK && gcb.DelayTime == 10);
    const ColorMapObject *cm = g->SColorMap;
    int f = 1, x = 2, y = 1; /* inside the red square of frame 1 */
    GifByteType idx = g->SavedImages[f].RasterBits[(y * s) * g->SWidth + x * s];
    const uint8_t *want = pp_video_frame(v, f) + (y * v->width + x) * 3;
    GifColorType c = cm->Colors[idx];
    CHECK(c.Red == want[0] && c.Green == want[1] && c.Blue == want[2]);
    if (exact) {
        const uint8_t *w2 = pp_video_frame(v, 2) + (4 * v->width + 5) * 3;
        GifColorType c2 = cm->Colors[g->SavedImages[2].RasterBits[(4 * s) * g->SWidth + 5 * s]];
        CHECK(c2.Red == w2[0] && c2.Green == w2[1] && c2.Blue == w2[2]);
    }
    DGifCloseFile(g, &err);
}

TEST(video_gif_writes_looping_animation) {
    pp_video v;
    CHECK(pp_video_alloc(&v, 3, 8, 10, 10.0f) == 0);
    memset(v.rgb, 255, (size_t)3 * 8 * 10 * 3);
    for (int f = 0; f < 3; f++)
        for (int y = 0; y < 3; y++)
            for (int x = f; x < f + 3; x++) {
                uint8_t *p = pp_video_frame(&v, f) + (y * 10 + x) * 3;
                p[0] = 255; p[1] = 0; p[2] = 0;
            }
    pp_video_frame(&v, 2)[(4 * 10 + 5) * 3 + 2] = 17; /* a third colour */
    const char *p = tmp_path("a.gif");
    CHECK(pp_video_write(&v, p, 3) == 0);
    check_gif(p, &v, 3, 1);
    pp_video_free(&v);
    make_video(&v, 4, 40, 40); /* > 256 colours: cube + frequent colours */
    CHECK(pp_video_write(&v, p, 1) == 0);
    check_gif(p, &v, 1, 0);
    pp_video_free(&v);
}

TEST(video_float_conversion) {
    pp_video v, w;
    make_video(&v, 2, 4, 5);
    CHECK(pp_video_alloc(&w, 2, 4, 5, 10.0f) == 0);
    size_t n = (size_t)2 * 4 * 5 * 3;
    float *x = pp_malloc(n * sizeof(float));
    pp_video_to_float(&v, x);
    CHECK(x[0] == 1.0f && x[2 * 4 * 5] == -1.0f); /* (0,0) is red; channel-major layout */
    pp_video_from_float(&w, x);
    CHECK(max_diff(&v, &w) == 0);
    x[0] = 3.0f; x[1] = -7.0f; x[2] = 0.0f / 0.0f; x[3] = 0.0f;
    pp_video_from_float(&w, x);
    CHECK(w.rgb[0] == 255 && w.rgb[3] == 0 && w.rgb[6] == 0 && w.rgb[9] == 128);
    free(x);
    pp_video_free(&v);
    pp_video_free(&w);
}

TEST(video_alloc_and_write_reject_bad_sizes) {
    pp_video v;
    CHECK(pp_video_alloc(&v, 0, 8, 8, 10.0f) != 0);
    CHECK(pp_video_alloc(&v, 1, 8, 8, 0.0f) != 0);
    CHECK(pp_video_alloc(&v, 1, 100000, 8, 10.0f) != 0);
    make_video(&v, 2, 4, 4);
    CHECK(pp_video_write(&v, tmp_path("a.avi"), 1) != 0);
    CHECK(pp_video_write(&v, tmp_path("a.gif"), 0) != 0);
    CHECK(pp_video_write(&v, "/nonexistent_dir/a.y4m", 1) != 0);
    pp_video_free(&v);
}
