/* video_impl.h - internal pieces shared by src/video*.c (not a public API). */
#ifndef PP_VIDEO_IMPL_H
#define PP_VIDEO_IMPL_H
#include <stddef.h>
#include <stdint.h>
#include "io/video.h"

/* Largest accepted video (pixels per frame, total bytes): guards against huge headers. */
#define PP_VIDEO_MAX_SIDE 16384
#define PP_VIDEO_MAX_BYTES ((size_t)1 << 32)

/* Growable byte buffer for building a file in memory before an atomic write. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} pp_buf;
void pp_buf_put(pp_buf *b, const void *data, size_t n);

/* 1 if path holds exactly one printf integer conversion (%d, %03d, ...) and no
 * other '%' (except "%%"); 0 if it holds none; -1 (error set) if malformed. */
int pp_video_path_pattern(const char *path);
/* Upscaled copy of frame f (nearest): out is [h*s][w*s][3], malloc'd. */
uint8_t *pp_video_upscaled_frame(const pp_video *v, int f, int s);

/* RGB <-> full-range BT.601 YCbCr (JFIF), see video_y4m.c. */
void pp_rgb_to_ycbcr(const uint8_t rgb[3], uint8_t ycc[3]);
void pp_ycbcr_to_rgb(const uint8_t ycc[3], int full_range, uint8_t rgb[3]);

int pp_video_write_y4m(const pp_video *v, const char *path);
int pp_video_read_y4m(pp_video *v, const char *path);
int pp_video_write_gif(const pp_video *v, const char *path, int upscale);
int pp_video_write_png(const pp_video *v, const char *path, int upscale);
int pp_video_read_png(pp_video *v, const char *pattern);
/* MP4 (H.264) / WebM (VP9) through FFmpeg, see video_av.c. encoder: NULL for the
 * preferred one the library has, or one of "libx264", "mpeg4" (.mp4), "libvpx-vp9",
 * "libvpx" (.webm). The reader takes anything FFmpeg decodes. */
int pp_video_write_av(const pp_video *v, const char *path, int upscale, const char *encoder);
int pp_video_read_av(pp_video *v, const char *path);
#endif
