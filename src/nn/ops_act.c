/* ops_act.c - elementwise activations (GELU tanh, SiLU) and the row softmax,
 * written as branch-free loops over pp_exp so that they vectorise. */
#include <math.h>
#include "nn/ops.h"
#include "nn/ops_util.h"

void pp_gelu_forward(float *out, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = pp_gelu_tanh(x[i]);
}

/* d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) s (1 + 3 a x^2), t = tanh(s (x + a x^3)) */
void pp_gelu_backward(float *dx, const float *dout, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i], t = pp_tanh_fast(PP_GELU_S * (v + PP_GELU_A * v * v * v));
        float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * PP_GELU_S * (1.0f + 3.0f * PP_GELU_A * v * v);
        dx[i] += dout[i] * d;
    }
}

void pp_silu_forward(float *out, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = x[i] / (1.0f + pp_exp(-x[i]));
}

/* d/dx = s (1 + x (1 - s)), s = sigmoid(x) */
void pp_silu_backward(float *dx, const float *dout, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + pp_exp(-x[i]));
        dx[i] += dout[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

/* x,out [M,C] */
void pp_softmax_forward(float *out, const float *x, int M, int C) {
#pragma omp parallel for schedule(static) if ((size_t)M * C > PP_PAR_MIN)
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * C;
        float *o = out + (size_t)m * C;
        float inv = 1.0f / pp_exp_shifted_sum(o, xr, C, pp_row_max(xr, C, -INFINITY));
        for (int c = 0; c < C; c++) o[c] *= inv;
    }
}

/* dx += out * (dout - sum(dout * out)) */
void pp_softmax_backward(float *dx, const float *dout, const float *out, int M, int C) {
#pragma omp parallel for schedule(static) if ((size_t)M * C > PP_PAR_MIN)
    for (int m = 0; m < M; m++) {
        const float *d = dout + (size_t)m * C, *o = out + (size_t)m * C;
        float *g = dx + (size_t)m * C, s = 0;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += d[c] * o[c];
        for (int c = 0; c < C; c++) g[c] += o[c] * (d[c] - s);
    }
}
