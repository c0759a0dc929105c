/* ops_rope.c - Wan2.1's 3D rotary embedding. The head dim D is split into t, h, w
 * parts of D - 4*(D/6), 2*(D/6), 2*(D/6) dims; pair i of a part with p dims rotates
 * by pos * theta^(-2i/p), pos = the token's frame, row or column. */
#include <math.h>
#include "nn/ops.h"
#include "nn/ops_util.h"

void pp_rope_build(pp_rope *r, int gf, int gh, int gw, int D, float theta) {
    int half = D / 2, ph = D / 6, pt = half - 2 * ph; /* pairs per part: t, h, w */
    size_t N = (size_t)gf * gh * gw;
    r->gf = gf, r->gh = gh, r->gw = gw, r->D = D;
    r->cos = pp_alloc_floats(N * half);
    r->sin = pp_alloc_floats(N * half);
    for (size_t n = 0; n < N; n++) {
        int pos[3] = {(int)(n / ((size_t)gh * gw)), (int)(n / gw % gh), (int)(n % gw)};
        for (int j = 0; j < half; j++) {
            int part = j < pt ? 0 : j < pt + ph ? 1 : 2;
            int i = part == 0 ? j : part == 1 ? j - pt : j - pt - ph;
            int pd = part == 0 ? 2 * pt : 2 * ph; /* real dims of the part */
            double a = pos[part] * pow((double)theta, -2.0 * i / pd);
            r->cos[n * half + j] = (float)cos(a);
            r->sin[n * half + j] = (float)sin(a);
        }
    }
}

void pp_rope_free(pp_rope *r) {
    pp_free_aligned(r->cos);
    pp_free_aligned(r->sin);
    r->cos = r->sin = NULL;
}

/* rotate every head of x [B,N,H,D] by +angle (dir = 1) or -angle (dir = -1) */
static void rope_apply(float *out, const float *x, const pp_rope *r, int B, int H, float dir) {
    int half = r->D / 2, D = r->D;
    size_t N = (size_t)r->gf * r->gh * r->gw;
#pragma omp parallel for collapse(2) schedule(static) if (N * H * D * B > PP_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (size_t n = 0; n < N; n++) {
            const float *c = r->cos + n * half, *s = r->sin + n * half;
            for (int h = 0; h < H; h++) {
                size_t o = (((size_t)b * N + n) * H + h) * D;
                for (int j = 0; j < half; j++) {
                    float x0 = x[o + 2 * j], x1 = x[o + 2 * j + 1], sn = dir * s[j];
                    out[o + 2 * j] = x0 * c[j] - x1 * sn;
                    out[o + 2 * j + 1] = x0 * sn + x1 * c[j];
                }
            }
        }
}

void pp_rope_forward(float *out, const float *x, const pp_rope *r, int B, int H) {
    rope_apply(out, x, r, B, H, 1.0f);
}

void pp_rope_backward(float *dx, const float *dout, const pp_rope *r, int B, int H) {
    rope_apply(dx, dout, r, B, H, -1.0f);
}
