/* font.h - one 3x5 pixel font for labels drawn into pictures (contact sheets,
 * loss curves): a-z, 0-9, '.', '-', '_'; other characters leave a blank. */
#ifndef PP_IO_FONT_H
#define PP_IO_FONT_H
#include <stdint.h>

/* Draws s into an RGB image [h][w][3] with its top-left at (x, y), each font pixel
 * a scale x scale square, 4*scale pixels per character; clipped at the edges. */
void pp_font_draw(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale, const uint8_t col[3]);
#endif
