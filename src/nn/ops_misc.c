/* ops_misc.c - timestep embedding, MSE loss and small vector helpers. */
#include <math.h>
#include <stdlib.h>
#include "nn/ops.h"
#include "nn/ops_util.h"

/* t [B], out [B,dim]: cos(t * 10000^(-i/half)) then sin(...), half = dim/2 */
void pp_timestep_embedding(float *out, const float *t, int B, int dim) {
    int half = dim / 2;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < half; i++) {
            double a = (double)t[b] * pow(10000.0, -(double)i / half);
            out[(size_t)b * dim + i] = (float)cos(a);
            out[(size_t)b * dim + half + i] = (float)sin(a);
        }
    if (dim % 2) /* odd dim: the last feature has no frequency */
        for (int b = 0; b < B; b++) out[(size_t)b * dim + dim - 1] = 0.0f;
}

/* summed in double per chunk of MSE_CHUNK elements, then in chunk order, so the
 * loss does not depend on the thread count */
#define MSE_CHUNK 4096
float pp_mse_forward(const float *pred, const float *target, size_t n) {
    size_t nch = (n + MSE_CHUNK - 1) / MSE_CHUNK;
    double *part = pp_malloc((nch ? nch : 1) * sizeof(double)), s = 0;
#pragma omp parallel for schedule(static) if (n > PP_PAR_MIN)
    for (size_t ch = 0; ch < nch; ch++) {
        size_t i1 = (ch + 1) * MSE_CHUNK < n ? (ch + 1) * MSE_CHUNK : n;
        double p = 0;
        for (size_t i = ch * MSE_CHUNK; i < i1; i++) {
            double d = (double)pred[i] - target[i];
            p += d * d;
        }
        part[ch] = p;
    }
    for (size_t ch = 0; ch < nch; ch++) s += part[ch];
    free(part);
    return (float)(s / (double)n);
}

/* writes dpred = dloss * 2 (pred - target) / n */
void pp_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss) {
    float k = (float)(2.0 * dloss / (double)n);
#pragma omp parallel for schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) dpred[i] = k * (pred[i] - target[i]);
}

static double wsum(const float *w, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += w[i];
    return s;
}

float pp_wmse_forward(const float *pred, const float *target, const float *w, int B, int C, size_t V) {
    int rows = B * C;
    double *part = pp_malloc((rows ? (size_t)rows : 1) * sizeof(double)), s = 0;
#pragma omp parallel for schedule(static) if ((size_t)rows * V > PP_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *p = pred + (size_t)r * V, *q = target + (size_t)r * V, *wr = w + (size_t)(r / C) * V;
        double acc = 0;
        for (size_t i = 0; i < V; i++) {
            double d = (double)p[i] - q[i];
            acc += wr[i] * d * d;
        }
        part[r] = acc;
    }
    for (int r = 0; r < rows; r++) s += part[r];
    free(part);
    return (float)(s / ((double)C * wsum(w, (size_t)B * V)));
}

void pp_wmse_backward(float *dpred, const float *pred, const float *target, const float *w, int B, int C, size_t V,
                      float dloss) {
    float k = (float)(2.0 * dloss / ((double)C * wsum(w, (size_t)B * V)));
    int rows = B * C;
#pragma omp parallel for schedule(static) if ((size_t)rows * V > PP_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)(r / C) * V;
        for (size_t i = 0; i < V; i++) {
            size_t j = (size_t)r * V + i;
            dpred[j] = k * wr[i] * (pred[j] - target[j]);
        }
    }
}

void pp_add_inplace(float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void pp_scale_inplace(float *y, float a, size_t n) {
#pragma omp parallel for schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] *= a;
}
