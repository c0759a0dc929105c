/* square.h - the trivial synthetic world of the backbone's first proof: one
 * coloured square moving at a constant speed on a white background.
 *
 * Its "text" is a hand-made context, not a language model: token 0 holds a one-hot
 * colour (dims 0..3), token 1 a one-hot direction (dims 4..7); other tokens and
 * dims are zero. So it needs text_len >= 2 and text_dim >= 8. Prompts are parsed
 * by keyword ("a red square moves left"). */
#ifndef PP_SQUARE_H
#define PP_SQUARE_H
#include "base/rng.h"
#include "train/trainer.h"

enum { PP_SQ_NCOLORS = 4, PP_SQ_NDIRS = 4 };
extern const char *const pp_square_colors[PP_SQ_NCOLORS]; /* red green blue yellow */
extern const char *const pp_square_dirs[PP_SQ_NDIRS];     /* right left up down */

typedef struct {
    int color, dir;
    int size;        /* side in pixels */
    float speed;     /* pixels per frame */
    float x0, y0;    /* top-left corner at frame 0, pixels */
} pp_square;

/* Random square that stays inside an F x H x W video for all frames. */
void pp_square_draw(pp_square *s, pp_rng *r, int F, int H, int W);
/* video [3,F,H,W] in [-1,1] (white background). Edges are anti-aliased by coverage. */
void pp_square_render(const pp_square *s, float *video, int F, int H, int W);
/* ctx [L, D] (zeroed first). */
void pp_square_context(const pp_square *s, float *ctx, int L, int D);
/* Parses colour and direction words; -1 with an error naming the word on failure. */
int pp_square_parse(pp_square *s, const char *prompt);
/* The square's centroid (pixels) in frame f of an RGB video [3,F,H,W] in [-1,1]:
 * pixels that are far from white. Returns the pixel count (0: no square). */
int pp_square_centroid(const float *video, int F, int H, int W, int f, float *cx, float *cy);
/* The colour (index) closest to the mean of frame f's square pixels, or -1. */
int pp_square_color_of(const float *video, int F, int H, int W, int f);
/* The trainer's data source for this world (draws from the trainer's RNG). */
pp_data_source pp_square_source(void);
#endif
