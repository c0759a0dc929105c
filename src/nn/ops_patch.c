/* ops_patch.c - 3D patchify (Conv3d kernel = stride = patch, as a GEMM input) and
 * Wan's unpatchify. Video x [B,C,F,H,W]; tokens [B,N,P*C] in (f,h,w) order with
 * N = (F/pt)(H/ph)(W/pw), P = pt*ph*pw. Patchify features are (c,kt,kh,kw), the
 * Conv3d weight layout; unpatchify features are (kt,kh,kw,c). */
#include "nn/ops.h"
#include "nn/ops_util.h"

typedef struct {
    int B, C, F, H, W, pt, ph, pw;
    int chw;     /* feature order: 1 = (c,kt,kh,kw), 0 = (kt,kh,kw,c) */
    int to_tok;  /* 1: dst is the tokens, src the video; 0: the reverse */
    int acc;     /* 1: dst +=, 0: dst = */
} patch_map;

/* visits every (token feature, video element) pair once: dst (+)= src */
static void patch_copy(float *dst, const float *src, patch_map g) {
    int gf = g.F / g.pt, gh = g.H / g.ph, gw = g.W / g.pw, P = g.pt * g.ph * g.pw;
    size_t feat = (size_t)P * g.C, N = (size_t)gf * gh * gw;
#pragma omp parallel for collapse(2) schedule(static) if (N * feat * g.B > PP_PAR_MIN)
    for (int b = 0; b < g.B; b++)
        for (size_t n = 0; n < N; n++) {
            int fi = (int)(n / ((size_t)gh * gw)), hi = (int)(n / gw % gh), wi = (int)(n % gw);
            size_t t0 = ((size_t)b * N + n) * feat;
            for (int c = 0; c < g.C; c++)
                for (int p = 0; p < P; p++) {
                    int kt = p / (g.ph * g.pw), kh = p / g.pw % g.ph, kw = p % g.pw;
                    size_t xi = ((((size_t)b * g.C + c) * g.F + fi * g.pt + kt) * g.H + hi * g.ph + kh) *
                                    g.W + wi * g.pw + kw;
                    size_t ti = t0 + (g.chw ? (size_t)c * P + p : (size_t)p * g.C + c);
                    size_t di = g.to_tok ? ti : xi, si = g.to_tok ? xi : ti;
                    dst[di] = (g.acc ? dst[di] : 0.0f) + src[si];
                }
        }
}

void pp_patchify(float *tok, const float *x, int B, int C, int F, int H, int W, int pt, int ph, int pw) {
    patch_copy(tok, x, (patch_map){B, C, F, H, W, pt, ph, pw, 1, 1, 0});
}

void pp_patchify_backward(float *dx, const float *dtok, int B, int C, int F, int H, int W, int pt,
                          int ph, int pw) {
    patch_copy(dx, dtok, (patch_map){B, C, F, H, W, pt, ph, pw, 1, 0, 1});
}

void pp_unpatchify(float *x, const float *tok, int B, int C, int F, int H, int W, int pt, int ph, int pw) {
    patch_copy(x, tok, (patch_map){B, C, F, H, W, pt, ph, pw, 0, 0, 0});
}

void pp_unpatchify_backward(float *dtok, const float *dx, int B, int C, int F, int H, int W, int pt,
                            int ph, int pw) {
    patch_copy(dtok, dx, (patch_map){B, C, F, H, W, pt, ph, pw, 0, 1, 1});
}
