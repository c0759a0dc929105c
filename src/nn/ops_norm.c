/* ops_norm.c - LayerNorm and RMSNorm over the last dim, forward and backward.
 * Parameter gradients are summed per chunk of rows (see PP_ROW_CHUNK). */
#include "nn/ops.h"
#include "nn/ops_util.h"

/* x,out [M,C]; w,b [C] or NULL; mean,rstd [M] */
void pp_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int M, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)M * C > PP_PAR_MIN)
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * C;
        float *o = out + (size_t)m * C, mu, rs;
        pp_row_stats(xr, C, eps, 1, &mu, &rs);
#pragma omp simd
        for (int c = 0; c < C; c++) o[c] = (xr[c] - mu) * rs * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
        mean[m] = mu;
        rstd[m] = rs;
    }
}

/* one row of the norms' backward: g = dout * w, pw += dout * xhat, pb += dout, dx */
static void norm_row_backward(float *dx, float *pw, float *pb, float *g, const float *dr,
                              const float *xr, const float *w, float mu, float rs, int C,
                              int centre) {
#pragma omp simd
    for (int c = 0; c < C; c++) {
        pw[c] += dr[c] * (xr[c] - mu) * rs;
        pb[c] += dr[c];
        g[c] = w ? dr[c] * w[c] : dr[c];
    }
    if (dx) pp_row_norm_dx(dx, g, xr, mu, rs, C, centre);
}

/* shared backward of both norms: dw += sum dout * xhat; db += sum dout; dx.
 * part [chunks][2C] holds the per-chunk sums of dw, db. */
static void norm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                          const float *mean, const float *rstd, const float *w, int M, int C,
                          int centre) {
    int nch = (M + PP_ROW_CHUNK - 1) / PP_ROW_CHUNK;
    float *part = pp_zalloc_floats((size_t)nch * 2 * C);
    float *gbuf = pp_alloc_floats((size_t)pp_nthreads() * C);
#pragma omp parallel if ((size_t)M * C > PP_PAR_MIN)
    {
        float *g = gbuf + (size_t)pp_tid() * C;
#pragma omp for schedule(static)
        for (int ch = 0; ch < nch; ch++) {
            float *pw = part + (size_t)ch * 2 * C;
            int m1 = (ch + 1) * PP_ROW_CHUNK < M ? (ch + 1) * PP_ROW_CHUNK : M;
            for (int m = ch * PP_ROW_CHUNK; m < m1; m++)
                norm_row_backward(dx ? dx + (size_t)m * C : NULL, pw, pw + C, g, dout + (size_t)m * C,
                                  x + (size_t)m * C, w, centre ? mean[m] : 0.0f, rstd[m], C, centre);
        }
    }
    if (dw) pp_reduce_partials(dw, part, nch, 2 * (size_t)C, C);
    if (db) pp_reduce_partials(db, part + C, nch, 2 * (size_t)C, C);
    pp_free_aligned(gbuf);
    pp_free_aligned(part);
}

void pp_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *mean, const float *rstd, const float *w, int M, int C) {
    norm_backward(dx, dw, db, dout, x, mean, rstd, w, M, C, 1);
}

/* x,out [M,C]; w [C]; rstd [M] */
void pp_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int M, int C,
                        float eps) {
#pragma omp parallel for schedule(static) if ((size_t)M * C > PP_PAR_MIN)
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * C;
        float *o = out + (size_t)m * C, mu, rs;
        pp_row_stats(xr, C, eps, 0, &mu, &rs);
#pragma omp simd
        for (int c = 0; c < C; c++) o[c] = xr[c] * rs * (w ? w[c] : 1.0f);
        rstd[m] = rs;
    }
}

void pp_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *rstd,
                         const float *w, int M, int C) {
    norm_backward(dx, dw, NULL, dout, x, NULL, rstd, w, M, C, 0);
}
