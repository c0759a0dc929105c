/* video.h - 8-bit RGB videos in memory and on disk.
 * Formats by extension: .y4m (read/write, 4:4:4), .gif (write, looping),
 * .png (write: one PNG per frame when the path has a printf pattern such as
 * out_%03d.png, else a single PNG strip of all frames; read: a %d pattern),
 * .mp4 (H.264) and .webm (VP9) through FFmpeg (read/write, lossy; see video_av.c). */
#ifndef PP_VIDEO_H
#define PP_VIDEO_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int frames, height, width;
    float fps;
    uint8_t *rgb; /* [frames][height][width][3] */
} pp_video;

int pp_video_alloc(pp_video *v, int frames, int height, int width, float fps);
void pp_video_free(pp_video *v);
static inline uint8_t *pp_video_frame(const pp_video *v, int f) {
    return v->rgb + (size_t)f * v->height * v->width * 3;
}
/* Write by extension; upscale >= 1 enlarges each pixel (nearest) for viewing (GIF/PNG/MP4/WebM). */
int pp_video_write(const pp_video *v, const char *path, int upscale);
/* Checks, before any work is done, that `path` names a format pp_video_write knows. */
int pp_video_check_output(const char *path);
/* Read a .y4m, .mp4, .webm or a PNG frame pattern (out_%03d.png). */
int pp_video_read(pp_video *v, const char *path);

/* float <-> uint8: x in [-1,1] (the model's pixel space) <-> [0,255] */
void pp_video_to_float(const pp_video *v, float *x /* [3,F,H,W] */);
void pp_video_from_float(pp_video *v, const float *x /* [3,F,H,W] */);
#endif
