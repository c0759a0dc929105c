/* maps.h - phenomenon-map files and their resampling.
 *
 * A maps file is a text header "prophy-maps C F H W\n" then C*F*H*W little-endian
 * float32, channel-major: C = 17 (the categories of base/categories.h, in order),
 * 18 (the same plus a background map) or 1 (one map of all phenomena); any F, H, W
 * (docs/EVAL.md). The evaluator scores such maps against the simulator's, and the
 * trainer reads them as external token targets (a VLM's, made offline). */
#ifndef PP_IO_MAPS_H
#define PP_IO_MAPS_H

/* Reads a maps file; *maps malloc'd [C][F][H][W]. One error line naming the file. */
int pp_maps_load(const char *path, float **maps, int *c, int *f, int *h, int *w);
/* Resamples maps src [C][Fs][Hs][Ws] to dst [C][F][H][W]: nearest frame, bilinear
 * in space (pixel centres aligned, edges clamped). */
void pp_maps_resample(const float *src, int C, int Fs, int Hs, int Ws, float *dst, int F, int H, int W);
/* m [h][w] at the real pixel position (y, x), edges clamped. */
float pp_maps_bilinear(const float *m, int h, int w, float y, float x);
#endif
