/* linear.h - a Linear layer as two tensors of a parameter table (nn/params.h):
 * weight [out, in] (PyTorch's layout) and bias [out], and its forward, backward
 * and inits over a flat parameter buffer P (and gradient buffer G). */
#ifndef PP_NN_LINEAR_H
#define PP_NN_LINEAR_H
#include <stddef.h>
#include "base/common.h"
#include "base/rng.h"
#include "nn/params.h"

/* Offsets of weight [out,in] and bias [out] in P. xw, when not NULL, says where
 * the weight is instead: outside P, [out,in] row-major as xdtype (PP_F32 4-byte
 * aligned, PP_BF16 or PP_F16 at any address), e.g. inside a mapped safetensors
 * file, converted panel by panel in the product (nn/linear_half.h). Such a
 * layer runs forward, and backward into din; it has no weight gradient. */
typedef struct {
    size_t w, b;
    int in, out;
    const void *xw;
    int xdtype; /* pp_dtype of xw */
} pp_lin;

/* Declares "<name>.weight" [out,in] and "<name>.bias" [out]. */
pp_lin pp_lin_declare(pp_params *t, const char *name, int in, int out);

/* out [M,out] = in [M,in] W^T + b */
void pp_lin_forward(const float *P, pp_lin l, float *out, const float *in, int M);
/* out = GELU(tanh) of the above (fused into the AMX GEMM where it runs) */
void pp_lin_forward_gelu(const float *P, pp_lin l, float *out, const float *in, int M);
/* din [M,in] += dout W (din may be NULL); G's weight and bias += their gradients
 * (G NULL: none, a frozen layer; a layer with xw set must have G NULL) */
void pp_lin_backward(const float *P, float *G, pp_lin l, float *din, const float *dout, const float *in, int M);

/* Gives back the resident pages of l's weight when it is read in place from the
 * file mapping m (base/common.h pp_map_drop; an owned weight is left alone): a
 * pass over a model bigger than it needs to hold at once. Returns the bytes. */
size_t pp_lin_drop(pp_lin l, pp_map_range m);

void pp_lin_zero(float *P, pp_lin l);
/* xavier-uniform weight, zero bias (Wan's Linears) */
void pp_lin_init_xavier(float *P, pp_lin l, pp_rng *r);
/* N(0, std) weight, zero bias (Wan's text and time embeddings) */
void pp_lin_init_normal(float *P, pp_lin l, float std, pp_rng *r);
#endif
