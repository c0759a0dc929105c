/* chnorm.c - Wan's RMS_norm over the channels of channel-first frames, with the
 * SiLU that follows it fused (conv.h), and frame/token transposes. Positions are
 * processed in blocks of PB (vectorised across positions, channels looped in
 * order), so every result is independent of the thread count; dgamma and dbias
 * are summed per block, then over blocks in order. */
#include <string.h>
#include "nn/conv.h"
#include "nn/ops_util.h"

#define PB 256          /* positions per block */
#define NORM_EPS 1e-12f /* F.normalize's eps: the norm is clamped to at least this */

static inline float sigm(float v) { return 1.0f / (1.0f + pp_exp(-v)); }

void pp_chnorm_forward(float *y, float *rn, const float *x, const float *gamma, const float *bias,
                       int T, int C, int N, int silu) {
    int nblk = (N + PB - 1) / PB;
    float s = sqrtf((float)C);
#pragma omp parallel for schedule(static) if ((size_t)T * C * N > PP_PAR_MIN)
    for (int it = 0; it < T * nblk; it++) {
        int t = it / nblk, p0 = (it % nblk) * PB, n = N - p0 < PB ? N - p0 : PB;
        const float *xt = x + (size_t)t * C * N + p0;
        float *yt = y + (size_t)t * C * N + p0, ss[PB], r[PB];
        memset(ss, 0, sizeof ss);
        for (int c = 0; c < C; c++) {
            const float *xc = xt + (size_t)c * N;
#pragma omp simd
            for (int q = 0; q < n; q++) ss[q] += xc[q] * xc[q];
        }
        for (int q = 0; q < n; q++) {
            float nrm = sqrtf(ss[q]);
            r[q] = 1.0f / (nrm > NORM_EPS ? nrm : NORM_EPS);
        }
        if (rn) memcpy(rn + (size_t)t * N + p0, r, (size_t)n * sizeof(float));
        for (int c = 0; c < C; c++) {
            const float *xc = xt + (size_t)c * N;
            float *yc = yt + (size_t)c * N, g = gamma[c] * s, bb = bias ? bias[c] : 0.0f;
            if (silu) {
#pragma omp simd
                for (int q = 0; q < n; q++) {
                    float v = xc[q] * r[q] * g + bb;
                    yc[q] = v * sigm(v);
                }
            } else {
#pragma omp simd
                for (int q = 0; q < n; q++) yc[q] = xc[q] * r[q] * g + bb;
            }
        }
    }
}

/* With u = x * rn (the unit vector when the norm is not clamped), y = s g u + b:
 * du = s g dpre, dx = rn (du - u (u . du)); a clamped norm is a constant, dx = rn du. */
void pp_chnorm_backward(float *dx, float *dgamma, float *dbias, const float *dy, const float *x,
                        const float *rn, const float *gamma, const float *bias, int T, int C, int N,
                        int silu) {
    int nblk = (N + PB - 1) / PB, nb = T * nblk, want_p = dgamma || dbias;
    float s = sqrtf((float)C);
    float *part = want_p ? pp_zalloc_floats((size_t)nb * 2 * C) : NULL; /* [block][dgamma C, dbias C] */
#pragma omp parallel for schedule(static) if ((size_t)T * C * N > PP_PAR_MIN)
    for (int it = 0; it < nb; it++) {
        int t = it / nblk, p0 = (it % nblk) * PB, n = N - p0 < PB ? N - p0 : PB;
        size_t off = (size_t)t * C * N + p0;
        const float *xt = x + off, *dyt = dy + off, *r = rn + (size_t)t * N + p0;
        float dot[PB];
        memset(dot, 0, sizeof dot);
        float *pg = part ? part + (size_t)it * 2 * C : NULL;
        for (int pass = 0; pass < 2; pass++)
            for (int c = 0; c < C; c++) {
                const float *xc = xt + (size_t)c * N, *dyc = dyt + (size_t)c * N;
                float g = gamma[c] * s, bb = bias ? bias[c] : 0.0f, sg = 0, sb = 0;
                float *dxc = dx ? dx + off + (size_t)c * N : NULL;
#pragma omp simd reduction(+ : sg, sb)
                for (int q = 0; q < n; q++) {
                    float u = xc[q] * r[q], d = dyc[q];
                    if (silu) {
                        float v = u * g + bb, sv = sigm(v);
                        d *= sv * (1.0f + v * (1.0f - sv));
                    }
                    sg += d * s * u;
                    sb += d;
                    float du = d * g;
                    if (pass == 0) dot[q] += u * du;
                    else if (dxc) dxc[q] += r[q] * (r[q] >= 1.0f / NORM_EPS ? du : du - u * dot[q]);
                }
                if (pass == 1 && pg) pg[c] += sg, pg[C + c] += sb;
            }
    }
    if (part) {
        float *acc = pp_zalloc_floats(2 * (size_t)C);
        pp_reduce_partials(acc, part, nb, 2 * (size_t)C, 2 * C);
        for (int c = 0; c < C; c++) {
            if (dgamma) dgamma[c] += acc[c];
            if (dbias) dbias[c] += acc[C + c];
        }
        pp_free_aligned(acc), pp_free_aligned(part);
    }
}

void pp_frames_to_tokens(float *t, const float *x, int T, int C, int N) {
#pragma omp parallel for schedule(static) if ((size_t)T * C * N > PP_PAR_MIN)
    for (int f = 0; f < T; f++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < N; p++) t[((size_t)f * N + p) * C + c] = x[((size_t)f * C + c) * N + p];
}

void pp_tokens_to_frames(float *x, const float *t, int T, int C, int N) {
#pragma omp parallel for schedule(static) if ((size_t)T * C * N > PP_PAR_MIN)
    for (int f = 0; f < T; f++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < N; p++) x[((size_t)f * C + c) * N + p] = t[((size_t)f * N + p) * C + c];
}
