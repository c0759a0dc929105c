/* video_av.c - MP4 (H.264) and WebM (VP9) through FFmpeg's libraries (Debian 12:
 * FFmpeg 5.1, whose stock libavcodec59 links libx264 and libvpx).
 *
 * Writing (docs/VIDEO_FORMATS.md says why these settings):
 *  - .mp4: H.264 by libx264, preset medium, crf 18, yuv420p, movflags +faststart;
 *    MPEG-4 part 2 ("mpeg4", qscale 3) when this FFmpeg has no libx264.
 *  - .webm: VP9 by libvpx-vp9, constant quality crf 24 (bit rate 0), deadline good,
 *    cpu-used 4, row-mt; VP8 ("libvpx", crf 8 under a generous bit rate) without it.
 *  - RGB -> YCbCr with the BT.709 matrix, limited range, chroma 4:2:0, and the
 *    stream tagged BT.709 (matrix, primaries, transfer) so that players do not guess;
 *    VP8, whose format fixes the BT.601 matrix (decoders ignore the tags), gets BT.601.
 *  - Odd sizes: H.264 and MPEG-4 part 2 in 4:2:0 need an even width and height
 *    (H.264's frame cropping also moves in steps of 2 there), so an odd width or
 *    height is padded by repeating the last column / row: the .mp4 is then one pixel
 *    wider / taller than the video. VP9 and VP8 code odd sizes as they are.
 *  - Frame rate: v->fps as a rational (av_d2q), frame i at pts i.
 *  - upscale >= 1 enlarges each pixel (nearest) first, as for GIF and PNG.
 *  - Atomic: written to the temporary of pp_out_open (muxer chosen by name, not by
 *    that file's extension), fsync'd, renamed over PATH; on error the temporary
 *    file is removed.
 * Reading: any container / codec this FFmpeg decodes, the best video stream, every
 * decoded frame converted to RGB24 honouring the stream's matrix and range tags
 * (untagged: BT.601 limited). The frame rate is FFmpeg's guess (avg_frame_rate, else
 * r_frame_rate); a size change mid-stream is an error.
 * FFmpeg's own logging is silenced; its last error message is appended to ours. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "base/common.h"
#include "base/threads.h"
#include "io/video_impl.h"

/* ---- FFmpeg's logging: nothing printed, the last error line kept for our message */

static _Thread_local char g_avlog[256];
static pthread_once_t g_av_once = PTHREAD_ONCE_INIT;

static void av_log_quiet(void *avcl, int level, const char *fmt, va_list vl) {
    if (level > AV_LOG_ERROR) return;
    char line[sizeof g_avlog];
    int prefix = 0, k = 0;
    AVClass *cls = avcl ? *(AVClass **)avcl : NULL; /* "libx264: ...", without FFmpeg's "[name @ 0x...]" */
    if (cls && cls->item_name) k = snprintf(line, sizeof line, "%s: ", cls->item_name(avcl));
    if (k < 0 || k >= (int)sizeof line) k = 0;
    av_log_format_line2(NULL, level, fmt, vl, line + k, (int)(sizeof line - (size_t)k), &prefix);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    if (n) memcpy(g_avlog, line, n + 1);
}

static void av_setup_once(void) {
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(av_log_quiet);
}

static void av_setup(void) {
    pthread_once(&g_av_once, av_setup_once);
    g_avlog[0] = 0;
}

/* One error line: "PATH: WHAT: <FFmpeg's error string> (FFmpeg's last message)". */
static void av_err(const char *path, const char *what, int err) {
    char e[AV_ERROR_MAX_STRING_SIZE] = "";
    if (err < 0) av_strerror(err, e, sizeof e);
    pp_seterr("%s: %s%s%s%s%s%s", path, what, *e ? ": " : "", e, *g_avlog ? " (" : "", g_avlog, *g_avlog ? ")" : "");
}

/* ---- encoders */

typedef struct {
    const char *name, *label;
    int odd_ok; /* codes odd sizes in 4:2:0 */
    int bt601;  /* the format fixes the BT.601 matrix */
} encoder_info;

static const encoder_info k_encoders[] = {
    {"libx264", "H.264", 0, 0},
    {"mpeg4", "MPEG-4 part 2", 0, 0},
    {"libvpx-vp9", "VP9", 1, 0},
    {"libvpx", "VP8", 1, 1},
};

static const encoder_info *encoder_lookup(const char *name) {
    for (size_t i = 0; i < sizeof k_encoders / sizeof k_encoders[0]; i++)
        if (!strcmp(k_encoders[i].name, name)) return &k_encoders[i];
    return NULL;
}

/* Sets the quality options of encoder e on ctx (before avcodec_open2). */
static int set_quality(AVCodecContext *ctx, const encoder_info *e) {
    void *p = ctx->priv_data;
    int r = 0;
    if (!strcmp(e->name, "libx264")) {
        r |= av_opt_set(p, "preset", "medium", 0);
        r |= av_opt_set(p, "crf", "18", 0);
    } else if (!strcmp(e->name, "mpeg4")) {
        ctx->flags |= AV_CODEC_FLAG_QSCALE;
        ctx->global_quality = FF_QP2LAMBDA * 3;
    } else if (!strcmp(e->name, "libvpx-vp9")) {
        ctx->bit_rate = 0;
        r |= av_opt_set(p, "crf", "24", 0);
        r |= av_opt_set(p, "deadline", "good", 0);
        r |= av_opt_set(p, "cpu-used", "4", 0);
        r |= av_opt_set(p, "row-mt", "1", 0);
    } else if (!strcmp(e->name, "libvpx")) {
        ctx->bit_rate = 20000000; /* a ceiling: crf decides */
        ctx->qmin = 4;
        ctx->qmax = 40;
        r |= av_opt_set(p, "crf", "8", 0);
        r |= av_opt_set(p, "deadline", "good", 0);
        r |= av_opt_set(p, "cpu-used", "4", 0);
    }
    return r;
}

/* ---- writer */

typedef struct {
    AVFormatContext *oc;
    AVCodecContext *ctx;
    AVStream *st;
    AVPacket *pkt;
    const char *path;
} av_out;

/* Sends frame (NULL: flush) and writes every packet the encoder returns. */
static int encode(av_out *o, AVFrame *frame) {
    int r = avcodec_send_frame(o->ctx, frame);
    if (r < 0) {
        av_err(o->path, "encoding failed", r);
        return -1;
    }
    for (;;) {
        r = avcodec_receive_packet(o->ctx, o->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) {
            av_err(o->path, "encoding failed", r);
            return -1;
        }
        av_packet_rescale_ts(o->pkt, o->ctx->time_base, o->st->time_base);
        o->pkt->stream_index = o->st->index;
        r = av_interleaved_write_frame(o->oc, o->pkt); /* takes the packet's data */
        if (r < 0) {
            av_err(o->path, "writing failed", r);
            return -1;
        }
    }
}

/* Copies the w x h RGB picture src into dst (W x H, W >= w, H >= h), repeating the last column and row. */
static void pad_rgb(const uint8_t *src, int w, int h, uint8_t *dst, int W, int H) {
    for (int y = 0; y < H; y++) {
        const uint8_t *s = src + (size_t)(y < h ? y : h - 1) * w * 3;
        uint8_t *d = dst + (size_t)y * W * 3;
        memcpy(d, s, (size_t)w * 3);
        for (int x = w; x < W; x++) memcpy(d + (size_t)x * 3, s + (size_t)(w - 1) * 3, 3);
    }
}

int pp_video_write_av(const pp_video *v, const char *path, int upscale, const char *encoder) {
    static const char *mp4_enc[] = {"libx264", "mpeg4", NULL}, *webm_enc[] = {"libvpx-vp9", "libvpx", NULL};
    const char *dot = strrchr(path, '.');
    int webm = dot && !strcasecmp(dot, ".webm");
    if (!dot || (!webm && strcasecmp(dot, ".mp4"))) PP_FAIL("%s: not an .mp4 or .webm path", path);
    if (!v || !v->rgb || v->frames < 1) PP_FAIL("%s: no video to write", path);
    if (upscale < 1 || upscale > 64) PP_FAIL("%s: upscale %d must be in [1, 64]", path, upscale);
    av_setup();
    /* encoder: the given one, else the first this FFmpeg has */
    const AVCodec *codec = NULL;
    const encoder_info *ei = NULL;
    if (encoder) {
        ei = encoder_lookup(encoder);
        int vpx = !strncmp(encoder, "libvpx", 6);
        if (!ei || vpx != webm)
            PP_FAIL("%s: encoder '%s' is not one prophy writes into %s", path, encoder, webm ? "WebM" : "MP4");
        codec = avcodec_find_encoder_by_name(encoder);
        if (!codec) PP_FAIL("%s: this FFmpeg has no %s encoder (%s)", path, ei->label, encoder);
    } else {
        for (const char **n = webm ? webm_enc : mp4_enc; *n && !codec; n++) {
            codec = avcodec_find_encoder_by_name(*n);
            ei = encoder_lookup(*n);
        }
        if (!codec)
            PP_FAIL("%s: this FFmpeg has no %s encoder", path,
                    webm ? "VP9 or VP8 (libvpx)" : "H.264 (libx264) or MPEG-4");
    }
    int s = upscale;
    if (v->width > PP_VIDEO_MAX_SIDE / s || v->height > PP_VIDEO_MAX_SIDE / s)
        PP_FAIL("%s: %dx%d upscaled %d times is too large", path, v->width, v->height, s);
    int w = v->width * s, h = v->height * s;
    int W = w, H = h; /* coded size */
    if (!ei->odd_ok) W += w & 1, H += h & 1;

    pp_out_file out;
    if (pp_out_open(&out, path)) return -1;
    const char *tmp = out.tmp;
    av_out o = {.path = path};
    AVFrame *frame = NULL;
    struct SwsContext *sws = NULL;
    uint8_t *rgb = NULL;
    int created = 0, ok = -1, r;
    AVRational fr = av_d2q(v->fps, 100000);
    if (fr.num <= 0 || fr.den <= 0) {
        pp_seterr("%s: frame rate %g has no rational form", path, (double)v->fps);
        goto done;
    }
    r = avformat_alloc_output_context2(&o.oc, NULL, webm ? "webm" : "mp4", tmp); /* faststart reopens tmp */
    if (r < 0 || !o.oc) {
        av_err(path, webm ? "no WebM muxer in this FFmpeg" : "no MP4 muxer in this FFmpeg", r);
        goto done;
    }
    o.st = avformat_new_stream(o.oc, NULL);
    o.ctx = avcodec_alloc_context3(codec);
    o.pkt = av_packet_alloc();
    frame = av_frame_alloc();
    if (!o.st || !o.ctx || !o.pkt || !frame) {
        pp_seterr("%s: out of memory setting up the %s encoder", path, ei->label);
        goto done;
    }
    o.ctx->width = W;
    o.ctx->height = H;
    o.ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    o.ctx->time_base = av_inv_q(fr);
    o.ctx->framerate = fr;
    o.ctx->sample_aspect_ratio = (AVRational){1, 1};
    o.ctx->colorspace = ei->bt601 ? AVCOL_SPC_BT470BG : AVCOL_SPC_BT709;
    o.ctx->color_primaries = AVCOL_PRI_BT709;
    o.ctx->color_trc = AVCOL_TRC_BT709;
    o.ctx->color_range = AVCOL_RANGE_MPEG;
    o.ctx->thread_count = pp_get_threads() > 0 ? pp_get_threads() : 0;
    if (o.oc->oformat->flags & AVFMT_GLOBALHEADER) o.ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (set_quality(o.ctx, ei) < 0) {
        pp_seterr("%s: cannot set the %s encoder's options", path, ei->label);
        goto done;
    }
    r = avcodec_open2(o.ctx, codec, NULL);
    if (r < 0) {
        char what[128];
        snprintf(what, sizeof what, "cannot open the %s encoder (%s) for %dx%d", ei->label, ei->name, W, H);
        av_err(path, what, r);
        goto done;
    }
    r = avcodec_parameters_from_context(o.st->codecpar, o.ctx);
    if (r < 0) {
        av_err(path, "cannot set the stream parameters", r);
        goto done;
    }
    o.st->time_base = o.ctx->time_base;
    o.st->avg_frame_rate = fr;
    r = avio_open(&o.oc->pb, tmp, AVIO_FLAG_WRITE);
    if (r < 0) {
        char what[4400];
        snprintf(what, sizeof what, "cannot create the temporary file %s", tmp);
        av_err(path, what, r);
        goto done;
    }
    AVDictionary *mux_opts = NULL;
    if (!webm) av_dict_set(&mux_opts, "movflags", "+faststart", 0);
    r = avformat_write_header(o.oc, &mux_opts);
    av_dict_free(&mux_opts);
    if (r < 0) {
        av_err(path, "cannot write the header", r);
        goto done;
    }
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = W;
    frame->height = H;
    r = av_frame_get_buffer(frame, 0);
    if (r < 0) {
        av_err(path, "cannot allocate a frame", r);
        goto done;
    }
    sws = sws_getContext(W, H, AV_PIX_FMT_RGB24, W, H, AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND, NULL,
                         NULL, NULL);
    if (!sws) {
        pp_seterr("%s: cannot set up the RGB to YUV 4:2:0 conversion", path);
        goto done;
    }
    const int *matrix = sws_getCoefficients(ei->bt601 ? SWS_CS_ITU601 : SWS_CS_ITU709);
    sws_setColorspaceDetails(sws, matrix, 1, matrix, 0, 0, 1 << 16, 1 << 16);
    int need_copy = s > 1 || W != w || H != h;
    if (need_copy) rgb = pp_malloc((size_t)W * H * 3);
    for (int f = 0; f < v->frames; f++) {
        const uint8_t *src = pp_video_frame(v, f);
        uint8_t *up = NULL;
        if (s > 1) src = up = pp_video_upscaled_frame(v, f, s);
        if (need_copy) {
            pad_rgb(src, w, h, rgb, W, H);
            src = rgb;
        }
        r = av_frame_make_writable(frame);
        if (r >= 0) {
            const uint8_t *planes[1] = {src};
            const int strides[1] = {W * 3};
            sws_scale(sws, planes, strides, 0, H, frame->data, frame->linesize);
            frame->pts = f;
        }
        free(up);
        if (r < 0) {
            av_err(path, "cannot write into a frame", r);
            goto done;
        }
        if (encode(&o, frame)) goto done;
    }
    if (encode(&o, NULL)) goto done;
    r = av_write_trailer(o.oc);
    if (r < 0) {
        av_err(path, "cannot finish the file", r);
        goto done;
    }
    r = avio_closep(&o.oc->pb);
    if (r < 0) {
        av_err(tmp, "write failed", r);
        goto done;
    }
    created = 1; /* written: pp_out_commit syncs and renames it */
    ok = pp_out_commit(&out);
done:
    if (o.oc && o.oc->pb) avio_closep(&o.oc->pb);
    if (!created) pp_out_abort(&out);
    avformat_free_context(o.oc);
    avcodec_free_context(&o.ctx);
    av_packet_free(&o.pkt);
    av_frame_free(&frame);
    sws_freeContext(sws);
    free(rgb);
    return ok;
}

/* ---- reader */

typedef struct {
    pp_buf rgb;
    int frames, w, h;
    struct SwsContext *sws;
    const char *path;
} av_in;

static int take_frame(av_in *in, const AVFrame *fr) {
    if (in->frames == 0) {
        if (fr->width < 1 || fr->height < 1 || fr->width > PP_VIDEO_MAX_SIDE || fr->height > PP_VIDEO_MAX_SIDE)
            PP_FAIL("%s: frame size %dx%d is out of range", in->path, fr->width, fr->height);
        in->w = fr->width, in->h = fr->height;
    } else if (fr->width != in->w || fr->height != in->h) {
        PP_FAIL("%s: frame %d is %dx%d, the first was %dx%d", in->path, in->frames, fr->width, fr->height, in->w,
                in->h);
    }
    size_t bytes = (size_t)in->w * in->h * 3;
    if ((size_t)(in->frames + 1) * bytes > PP_VIDEO_MAX_BYTES)
        PP_FAIL("%s: more than %zu bytes of frames", in->path, (size_t)PP_VIDEO_MAX_BYTES);
    in->sws = sws_getCachedContext(in->sws, in->w, in->h, (enum AVPixelFormat)fr->format, in->w, in->h,
                                   AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL,
                                   NULL);
    if (!in->sws) PP_FAIL("%s: cannot convert %s frames to RGB", in->path, av_get_pix_fmt_name(fr->format));
    int full = fr->color_range == AVCOL_RANGE_JPEG || fr->format == AV_PIX_FMT_YUVJ420P ||
               fr->format == AV_PIX_FMT_YUVJ422P || fr->format == AV_PIX_FMT_YUVJ444P;
    const int *coef = sws_getCoefficients((int)fr->colorspace);
    sws_setColorspaceDetails(in->sws, coef, full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    if (in->rgb.n + bytes > in->rgb.cap) { /* grow, then convert straight into the buffer */
        size_t cap = in->rgb.cap ? in->rgb.cap : bytes * 8;
        while (cap < in->rgb.n + bytes) cap *= 2;
        in->rgb.p = pp_realloc(in->rgb.p, cap);
        in->rgb.cap = cap;
    }
    uint8_t *dst[1] = {in->rgb.p + in->rgb.n};
    int stride[1] = {in->w * 3};
    sws_scale(in->sws, (const uint8_t *const *)fr->data, fr->linesize, 0, in->h, dst, stride);
    in->rgb.n += bytes;
    in->frames++;
    return 0;
}

/* Receives every frame the decoder has ready. */
static int drain(av_in *in, AVCodecContext *dec, AVFrame *fr) {
    for (;;) {
        int r = avcodec_receive_frame(dec, fr);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) {
            av_err(in->path, "decoding failed", r);
            return -1;
        }
        r = take_frame(in, fr);
        av_frame_unref(fr);
        if (r) return -1;
    }
}

int pp_video_read_av(pp_video *v, const char *path) {
    memset(v, 0, sizeof *v);
    av_setup();
    AVFormatContext *fc = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    av_in in = {.path = path};
    int ok = -1;
    if (!pkt || !fr) {
        pp_seterr("%s: out of memory", path);
        goto done;
    }
    int fd = pp_open_input(path); /* a regular file: never a FIFO or a device */
    if (fd < 0) goto done;
    close(fd);
    int r = avformat_open_input(&fc, path, NULL, NULL);
    if (r < 0) {
        av_err(path, "cannot open", r);
        goto done;
    }
    r = avformat_find_stream_info(fc, NULL);
    if (r < 0) {
        av_err(path, "cannot read the stream information", r);
        goto done;
    }
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (si < 0) {
        av_err(path, si == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video stream" : "no video stream", 0);
        goto done;
    }
    AVStream *st = fc->streams[si];
    AVRational rate = av_guess_frame_rate(fc, st, NULL);
    double fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
    if (!(fps > 0.0) || fps > 1000.0) {
        pp_seterr("%s: unknown or unusable frame rate (%d/%d)", path, rate.num, rate.den);
        goto done;
    }
    dec = avcodec_alloc_context3(codec);
    if (!dec) {
        pp_seterr("%s: out of memory", path);
        goto done;
    }
    r = avcodec_parameters_to_context(dec, st->codecpar);
    if (r >= 0) {
        dec->thread_count = pp_get_threads() > 0 ? pp_get_threads() : 0;
        r = avcodec_open2(dec, codec, NULL);
    }
    if (r < 0) {
        av_err(path, "cannot open the decoder", r);
        goto done;
    }
    while ((r = av_read_frame(fc, pkt)) >= 0) {
        if (pkt->stream_index == si) {
            r = avcodec_send_packet(dec, pkt);
            if (r < 0 && r != AVERROR(EAGAIN)) {
                av_packet_unref(pkt);
                av_err(path, "decoding failed", r);
                goto done;
            }
        }
        av_packet_unref(pkt);
        if (drain(&in, dec, fr)) goto done;
    }
    if (r != AVERROR_EOF) {
        av_err(path, "read failed", r);
        goto done;
    }
    r = avcodec_send_packet(dec, NULL);
    if ((r < 0 && r != AVERROR_EOF) || drain(&in, dec, fr)) {
        if (r < 0 && r != AVERROR_EOF) av_err(path, "decoding failed", r);
        goto done;
    }
    if (in.frames == 0) {
        pp_seterr("%s: no video frames", path);
        goto done;
    }
    if (pp_video_alloc(v, in.frames, in.h, in.w, (float)fps)) goto done;
    memcpy(v->rgb, in.rgb.p, in.rgb.n);
    ok = 0;
done:
    free(in.rgb.p);
    sws_freeContext(in.sws);
    avcodec_free_context(&dec);
    avformat_close_input(&fc);
    av_packet_free(&pkt);
    av_frame_free(&fr);
    return ok;
}
