/* test_video_av.c - MP4 (H.264) and WebM (VP9) through FFmpeg: round trips within a
 * lossy tolerance, odd sizes, the fallback encoders, tags, bad paths and files. */
#include <libavformat/avformat.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/common.h"
#include "io/video.h"
#include "io/video_impl.h"
#include "test.h"

#define MIN_PSNR 30.0

/* A soft background gradient and two moving squares, a red one going right and a
 * cyan one going left. The squares sit on the 2x2 grid of 4:2:0 chroma, so that
 * chroma subsampling alone costs little and the PSNR measures mostly the codec. */
static void make_square_video(pp_video *v, int frames, int h, int w, float fps) {
    CHECK(pp_video_alloc(v, frames, h, w, fps) == 0);
    int side = h / 8 * 2 > 2 ? h / 8 * 2 : 2, travel = w - side - 4;
    for (int f = 0; f < frames; f++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = pp_video_frame(v, f) + ((size_t)y * w + x) * 3;
                p[0] = (uint8_t)(40 + x * 80 / w);
                p[1] = (uint8_t)(60 + y * 100 / h);
                p[2] = 120;
                int dx = 2 * (f * travel / (frames > 1 ? frames - 1 : 1) / 2);
                int sx = 2 + dx, sy = h / 6 * 2;
                if (x >= sx && x < sx + side && y >= sy && y < sy + side) p[0] = 210, p[1] = 50, p[2] = 60;
                int cx = w - side - 2 - dx, cy = 2;
                if (x >= cx && x < cx + side && y >= cy && y < cy + side) p[0] = 40, p[1] = 200, p[2] = 190;
            }
}

/* PSNR of b against a over the w x h top-left part of every frame (b may be larger). */
static double psnr(const pp_video *a, const pp_video *b) {
    double se = 0;
    size_t n = 0;
    for (int f = 0; f < a->frames; f++)
        for (int y = 0; y < a->height; y++)
            for (int x = 0; x < a->width; x++)
                for (int c = 0; c < 3; c++) {
                    double d = (double)pp_video_frame(a, f)[((size_t)y * a->width + x) * 3 + c] -
                               (double)pp_video_frame(b, f)[((size_t)y * b->width + x) * 3 + c];
                    se += d * d;
                    n++;
                }
    return se == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / (se / (double)n));
}

static int one_line(const char *e) { return e && *e && !strchr(e, '\n'); }

/* Writes v to name (encoder NULL: through pp_video_write), reads it back, checks
 * frames, size (expect_w x expect_h), fps and PSNR; returns the PSNR. */
static double roundtrip(const pp_video *v, const char *name, const char *encoder, int upscale, int expect_w,
                        int expect_h, double min_psnr) {
    const char *path = pp_test_path(name);
    int r = encoder ? pp_video_write_av(v, path, upscale, encoder) : pp_video_write(v, path, upscale);
    CHECK_MSG(r == 0, "%s: %s", name, pp_lasterr());
    if (r) return 0;
    pp_video back;
    r = pp_video_read(&back, path);
    CHECK_MSG(r == 0, "%s: %s", name, pp_lasterr());
    if (r) return 0;
    CHECK_MSG(back.frames == v->frames, "%s: %d frames read back, %d written", name, back.frames, v->frames);
    CHECK_MSG(back.width == expect_w && back.height == expect_h, "%s: %dx%d read back, expected %dx%d", name,
              back.width, back.height, expect_w, expect_h);
    CHECK_MSG(fabs(back.fps - v->fps) < 1e-3 * v->fps, "%s: fps %g read back, %g written", name, (double)back.fps,
              (double)v->fps);
    double p = 0;
    if (back.frames == v->frames && back.width >= v->width && back.height >= v->height) {
        if (upscale == 1) {
            p = psnr(v, &back);
        } else { /* compare against the upscaled original */
            pp_video up;
            CHECK(pp_video_alloc(&up, v->frames, v->height * upscale, v->width * upscale, v->fps) == 0);
            for (int f = 0; f < v->frames; f++) {
                uint8_t *fr = pp_video_upscaled_frame(v, f, upscale);
                memcpy(pp_video_frame(&up, f), fr, (size_t)up.width * up.height * 3);
                free(fr);
            }
            p = psnr(&up, &back);
            pp_video_free(&up);
        }
        CHECK_MSG(p > min_psnr, "%s: PSNR %.1f dB", name, p);
    }
    pp_video_free(&back);
    return p;
}

TEST(video_av_mp4_webm_roundtrip) {
    pp_video v;
    make_square_video(&v, 17, 48, 64, 16.0f);
    double p1 = roundtrip(&v, "square.mp4", NULL, 1, 64, 48, MIN_PSNR);
    double p2 = roundtrip(&v, "square.webm", NULL, 1, 64, 48, MIN_PSNR);
    double p3 = roundtrip(&v, "square_x2.mp4", NULL, 2, 128, 96, MIN_PSNR);
    printf("    PSNR: mp4 (H.264) %.1f dB, webm (VP9) %.1f dB, mp4 upscaled x2 %.1f dB\n", p1, p2, p3);
    CHECK(pp_video_check_output(pp_test_path("a.mp4")) == 0);
    CHECK(pp_video_check_output(pp_test_path("a.WebM")) == 0);
    pp_video_free(&v);
}

TEST(video_av_fallback_encoders) {
    pp_video v;
    make_square_video(&v, 9, 48, 64, 8.0f);
    double p1 = roundtrip(&v, "square_mpeg4.mp4", "mpeg4", 1, 64, 48, MIN_PSNR);
    double p2 = roundtrip(&v, "square_vp8.webm", "libvpx", 1, 64, 48, MIN_PSNR);
    printf("    PSNR: mp4 (MPEG-4 part 2) %.1f dB, webm (VP8) %.1f dB\n", p1, p2);
    CHECK(pp_video_write_av(&v, pp_test_path("x.webm"), 1, "libx264") == -1 && one_line(pp_lasterr()));
    CHECK(pp_video_write_av(&v, pp_test_path("x.mp4"), 1, "libvpx-vp9") == -1 && one_line(pp_lasterr()));
    CHECK(pp_video_write_av(&v, pp_test_path("x.mp4"), 1, "prores") == -1 && one_line(pp_lasterr()));
    pp_video_free(&v);
}

TEST(video_av_odd_size_and_fractional_fps) {
    pp_video v;
    make_square_video(&v, 7, 47, 63, 29.97f);
    /* H.264 and MPEG-4 part 2 are padded to even sizes; VP9 codes odd sizes */
    roundtrip(&v, "odd.mp4", NULL, 1, 64, 48, MIN_PSNR);
    roundtrip(&v, "odd.webm", NULL, 1, 63, 47, MIN_PSNR);
    roundtrip(&v, "odd_mpeg4.mp4", "mpeg4", 1, 64, 48, MIN_PSNR);
    pp_video_free(&v);
    make_square_video(&v, 3, 1, 1, 24.0f); /* the smallest video */
    roundtrip(&v, "one_pixel.mp4", NULL, 1, 2, 2, 0.0); /* size and count only */
    roundtrip(&v, "one_pixel.webm", NULL, 1, 1, 1, 0.0);
    pp_video_free(&v);
}

/* The written streams say what they are: codec, 4:2:0, BT.709, limited range. */
TEST(video_av_stream_tags) {
    pp_video v;
    make_square_video(&v, 5, 48, 64, 16.0f);
    const char *names[] = {"tags.mp4", "tags.webm"};
    enum AVCodecID ids[] = {AV_CODEC_ID_H264, AV_CODEC_ID_VP9};
    for (int k = 0; k < 2; k++) {
        const char *path = pp_test_path(names[k]);
        CHECK(pp_video_write(&v, path, 1) == 0);
        AVFormatContext *fc = NULL;
        CHECK(avformat_open_input(&fc, path, NULL, NULL) == 0);
        if (!fc) continue;
        CHECK(avformat_find_stream_info(fc, NULL) >= 0);
        CHECK(fc->nb_streams == 1);
        const AVCodecParameters *p = fc->streams[0]->codecpar;
        CHECK_MSG(p->codec_id == ids[k], "%s: codec %d", names[k], (int)p->codec_id);
        CHECK(p->format == AV_PIX_FMT_YUV420P);
        CHECK(p->color_space == AVCOL_SPC_BT709 && p->color_primaries == AVCOL_PRI_BT709);
        CHECK(p->color_trc == AVCOL_TRC_BT709 && p->color_range == AVCOL_RANGE_MPEG);
        avformat_close_input(&fc);
    }
    pp_video_free(&v);
}

TEST(video_av_bad_paths_and_files) {
    pp_video v, back;
    make_square_video(&v, 3, 16, 16, 10.0f);
    /* unwritable: a missing directory, and a directory that is read-only for us */
    CHECK(pp_video_write(&v, "/nonexistent-dir/out.mp4", 1) == -1);
    CHECK_MSG(one_line(pp_lasterr()) && strstr(pp_lasterr(), "/nonexistent-dir/out.mp4"), "%s", pp_lasterr());
    CHECK(pp_video_write(&v, "/nonexistent-dir/out.webm", 1) == -1 && one_line(pp_lasterr()));
    CHECK(pp_video_check_output("/nonexistent-dir/out.mp4") == -1 && one_line(pp_lasterr()));
    /* no temporary file left behind */
    const char *path = pp_test_path("keep.mp4");
    CHECK(pp_video_write(&v, path, 1) == 0);
    CHECK(pp_video_write(&v, path, 0) == -1 && one_line(pp_lasterr())); /* bad upscale */
    CHECK(pp_video_read(&back, path) == 0 && back.frames == 3);
    pp_video_free(&back);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    /* not a video, missing, empty */
    const char *junk = pp_test_path("junk.mp4");
    CHECK(pp_write_file_atomic(junk, "this is not an mp4 file at all", 30) == 0);
    CHECK(pp_video_read(&back, junk) == -1);
    CHECK_MSG(one_line(pp_lasterr()) && strstr(pp_lasterr(), "junk.mp4"), "%s", pp_lasterr());
    CHECK(back.rgb == NULL);
    CHECK(pp_video_read(&back, pp_test_path("missing.webm")) == -1 && one_line(pp_lasterr()));
    const char *empty = pp_test_path("empty.webm");
    CHECK(pp_write_file_atomic(empty, "", 0) == 0);
    CHECK(pp_video_read(&back, empty) == -1 && one_line(pp_lasterr()));
    pp_video_free(&v);
}
