/* ops_modulate.c - adaLN modulation, fused LayerNorm + modulation, gated residual.
 * Per-batch vectors (shift, scale, gate and their gradients) are B rows of C floats
 * with row stride ms, so chunks of a [B,6,C] modulation tensor are used in place. */
#include "nn/ops.h"
#include "nn/ops_util.h"

#define CBLK 64 /* channel block of the (b, channel-block) parallel loops */

/* out[b,n,c] = x[b,n,c] * (1 + scale[b,c]) + shift[b,c] */
void pp_modulate_forward(float *out, const float *x, const float *shift, const float *scale, int B,
                         int N, int C, int ms) {
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * N * C > PP_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)b * N + n) * C;
            const float *sh = shift + (size_t)b * ms, *sc = scale + (size_t)b * ms;
            for (int c = 0; c < C; c++) out[o + c] = x[o + c] * (1.0f + sc[c]) + sh[c];
        }
}

/* dx += dout * (1 + scale); dshift[b,c] += sum_n dout; dscale[b,c] += sum_n dout * x */
void pp_modulate_backward(float *dx, float *dshift, float *dscale, const float *dout, const float *x,
                          const float *scale, int B, int N, int C, int ms) {
    int ncb = (C + CBLK - 1) / CBLK;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * N * C > PP_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int cb = 0; cb < ncb; cb++) {
            int c0 = cb * CBLK, nc = C - c0 < CBLK ? C - c0 : CBLK;
            const float *sc = scale + (size_t)b * ms + c0;
            float ash[CBLK] = {0}, asc[CBLK] = {0};
            for (int n = 0; n < N; n++) {
                size_t o = ((size_t)b * N + n) * C + c0;
                for (int c = 0; c < nc; c++) {
                    float d = dout[o + c];
                    if (dx) dx[o + c] += d * (1.0f + sc[c]);
                    ash[c] += d;
                    asc[c] += d * x[o + c];
                }
            }
            for (int c = 0; c < nc; c++) {
                if (dshift) dshift[(size_t)b * ms + c0 + c] += ash[c];
                if (dscale) dscale[(size_t)b * ms + c0 + c] += asc[c];
            }
        }
}

/* out = LN(x) * (1 + scale) + shift; mean,rstd [B*N] */
void pp_ln_modulate_forward(float *out, float *mean, float *rstd, const float *x, const float *shift,
                            const float *scale, int B, int N, int C, int ms, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)B * N * C > PP_PAR_MIN)
    for (size_t r = 0; r < (size_t)B * N; r++) {
        const float *xr = x + r * C, *sh = shift + r / N * ms, *sc = scale + r / N * ms;
        float *o = out + r * C, mu, rs;
        pp_row_stats(xr, C, eps, 1, &mu, &rs);
#pragma omp simd
        for (int c = 0; c < C; c++) o[c] = (xr[c] - mu) * rs * (1.0f + sc[c]) + sh[c];
        mean[r] = mu;
        rstd[r] = rs;
    }
}

/* One row of the fused backward: g = dout * (1 + scale) is dL/dxhat; adds the
 * row's dshift, dscale terms to p[0..C), p[C..2C). */
static void ln_mod_row(float *dx, float *p, float *g, const float *dr, const float *xr,
                       const float *sc, float mu, float rs, int C) {
#pragma omp simd
    for (int c = 0; c < C; c++) {
        g[c] = dr[c] * (1.0f + sc[c]);
        p[c] += dr[c];
        p[C + c] += dr[c] * (xr[c] - mu) * rs;
    }
    if (dx) pp_row_norm_dx(dx, g, xr, mu, rs, C, 1);
}

/* part [B][chunks of N][2C]: dshift, dscale summed per chunk of a batch's rows */
void pp_ln_modulate_backward(float *dx, float *dshift, float *dscale, const float *dout,
                             const float *x, const float *mean, const float *rstd,
                             const float *scale, int B, int N, int C, int ms) {
    int nch = (N + PP_ROW_CHUNK - 1) / PP_ROW_CHUNK;
    float *part = pp_zalloc_floats((size_t)B * nch * 2 * C);
    float *gbuf = pp_alloc_floats((size_t)pp_nthreads() * C);
#pragma omp parallel if ((size_t)B * N * C > PP_PAR_MIN)
    {
        float *g = gbuf + (size_t)pp_tid() * C;
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int ch = 0; ch < nch; ch++) {
                float *p = part + ((size_t)b * nch + ch) * 2 * C;
                int n1 = (ch + 1) * PP_ROW_CHUNK < N ? (ch + 1) * PP_ROW_CHUNK : N;
                for (int n = ch * PP_ROW_CHUNK; n < n1; n++) {
                    size_t r = (size_t)b * N + n;
                    ln_mod_row(dx ? dx + r * C : NULL, p, g, dout + r * C, x + r * C,
                               scale + (size_t)b * ms, mean[r], rstd[r], C);
                }
            }
    }
    for (int b = 0; b < B; b++) {
        const float *p = part + (size_t)b * nch * 2 * C;
        if (dshift) pp_reduce_partials(dshift + (size_t)b * ms, p, nch, 2 * (size_t)C, C);
        if (dscale) pp_reduce_partials(dscale + (size_t)b * ms, p + C, nch, 2 * (size_t)C, C);
    }
    pp_free_aligned(gbuf);
    pp_free_aligned(part);
}

/* x[b,n,c] += y[b,n,c] * gate[b,c] (gate NULL: x += y) */
void pp_gated_residual_forward(float *x, const float *y, const float *gate, int B, int N, int C,
                               int ms) {
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * N * C > PP_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)b * N + n) * C;
            if (!gate) {
                for (int c = 0; c < C; c++) x[o + c] += y[o + c];
                continue;
            }
            const float *g = gate + (size_t)b * ms;
            for (int c = 0; c < C; c++) x[o + c] += y[o + c] * g[c];
        }
}

/* dy += dx * gate; dgate[b,c] += sum_n dx * y */
void pp_gated_residual_backward(float *dy, float *dgate, const float *dx, const float *y,
                                const float *gate, int B, int N, int C, int ms) {
    int ncb = (C + CBLK - 1) / CBLK;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * N * C > PP_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int cb = 0; cb < ncb; cb++) {
            int c0 = cb * CBLK, nc = C - c0 < CBLK ? C - c0 : CBLK;
            const float *g = gate ? gate + (size_t)b * ms + c0 : NULL;
            float ag[CBLK] = {0};
            for (int n = 0; n < N; n++) {
                size_t o = ((size_t)b * N + n) * C + c0;
                for (int c = 0; c < nc; c++) {
                    if (dy) dy[o + c] += dx[o + c] * (g ? g[c] : 1.0f);
                    ag[c] += dx[o + c] * y[o + c];
                }
            }
            if (dgate && gate)
                for (int c = 0; c < nc; c++) dgate[(size_t)b * ms + c0 + c] += ag[c];
        }
}
