/* linear.c - see linear.h */
#include <math.h>
#include <string.h>
#include "base/common.h"
#include "nn/linear.h"
#include "nn/linear_half.h"
#include "nn/ops.h"

pp_lin pp_lin_declare(pp_params *t, const char *name, int in, int out) {
    pp_lin l = {0, 0, in, out, NULL, 0};
    l.w = pp_params_addf(t, 2, out, in, 0, 0, 0, "%s.weight", name);
    l.b = pp_params_addf(t, 1, out, 0, 0, 0, 0, "%s.bias", name);
    return l;
}

static pp_half_kind half_kind(pp_lin l) { return l.xdtype == PP_F16 ? PP_HALF_F16 : PP_HALF_BF16; }

void pp_lin_forward(const float *P, pp_lin l, float *out, const float *in, int M) {
    if (!l.xw) pp_linear_forward(out, in, P + l.w, P + l.b, M, l.in, l.out);
    else if (l.xdtype == PP_F32) pp_linear_forward(out, in, l.xw, P + l.b, M, l.in, l.out);
    else pp_linear_forward_half(out, in, l.xw, half_kind(l), P + l.b, M, l.in, l.out);
}

void pp_lin_forward_gelu(const float *P, pp_lin l, float *out, const float *in, int M) {
    if (l.xw && l.xdtype != PP_F32) {
        pp_linear_forward_half_gelu(out, in, l.xw, half_kind(l), P + l.b, M, l.in, l.out);
        return;
    }
    pp_lin_forward(P, l, out, in, M);
    pp_gelu_forward(out, out, (size_t)M * l.out);
}

void pp_lin_backward(const float *P, float *G, pp_lin l, float *din, const float *dout, const float *in, int M) {
    if (!l.xw) {
        pp_linear_backward(din, G ? G + l.w : NULL, G ? G + l.b : NULL, dout, in, P + l.w, M, l.in, l.out);
        return;
    }
    if (G) pp_fatal("internal error: a weight gradient of a Linear whose weight is outside the parameters");
    if (!din) return;
    if (l.xdtype == PP_F32) pp_linear_backward(din, NULL, NULL, dout, in, l.xw, M, l.in, l.out);
    else pp_linear_backward_input_half(din, dout, l.xw, half_kind(l), M, l.in, l.out);
}

size_t pp_lin_drop(pp_lin l, pp_map_range m) {
    if (!l.xw) return 0;
    return pp_map_drop(m, l.xw, (size_t)l.in * (size_t)l.out * pp_dtype_size((pp_dtype)l.xdtype));
}

void pp_lin_zero(float *P, pp_lin l) {
    memset(P + l.w, 0, (size_t)l.in * l.out * sizeof(float));
    memset(P + l.b, 0, (size_t)l.out * sizeof(float));
}

void pp_lin_init_xavier(float *P, pp_lin l, pp_rng *r) {
    float bound = sqrtf(6.0f / (float)(l.in + l.out));
    float *w = P + l.w;
    for (size_t i = 0; i < (size_t)l.in * l.out; i++) w[i] = bound * (2.0f * pp_rng_uniform(r) - 1.0f);
    memset(P + l.b, 0, (size_t)l.out * sizeof(float));
}

void pp_lin_init_normal(float *P, pp_lin l, float std, pp_rng *r) {
    pp_rng_fill_normal(r, P + l.w, (size_t)l.in * l.out, std);
    memset(P + l.b, 0, (size_t)l.out * sizeof(float));
}
