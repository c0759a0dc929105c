/* ops.h - the numeric core: every op the DiT and the physical branch use, as
 * forward/backward pairs of free functions over flat float buffers (llm.c style).
 *
 * Conventions
 * - Shapes are in the comments; row-major; the last dim is contiguous.
 * - Backward functions ACCUMULATE (+=) into every gradient they produce, inputs
 *   and parameters alike, unless the comment says "writes". Any gradient pointer
 *   may be NULL when that gradient is not needed.
 * - Threaded with OpenMP; results do not depend on the thread count except for
 *   the order of float reductions across rows in parameter gradients.
 * - Large GEMMs go to OpenBLAS (the OpenMP build, so a call made inside an
 *   OpenMP region runs on one thread); fused kernels are our own, with AVX2 /
 *   AVX-512 paths and a portable fallback. */
#ifndef PP_OPS_H
#define PP_OPS_H
#include <stddef.h>

/* ---- linear: out[M,N] = inp[M,K] @ W[N,K]^T + b[N]; W in PyTorch's [out,in] layout, b may be NULL */
void pp_linear_forward(float *out, const float *inp, const float *W, const float *b, int M, int K, int N);
void pp_linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                        const float *W, int M, int K, int N);

/* ---- LayerNorm over the last dim: x,out [M,C]; w,b [C] or NULL (no affine); saves mean,rstd [M] */
void pp_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int M, int C, float eps);
void pp_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *mean, const float *rstd, const float *w, int M, int C);

/* ---- RMSNorm (Wan): out = x * rsqrt(mean(x^2) + eps) * w; x,out [M,C]; w [C]; saves rstd [M] */
void pp_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int M, int C, float eps);
void pp_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *rstd,
                         const float *w, int M, int C);

/* ---- activations, elementwise over n: GELU (tanh approximation) and SiLU */
void pp_gelu_forward(float *out, const float *x, size_t n);
void pp_gelu_backward(float *dx, const float *dout, const float *x, size_t n);
void pp_silu_forward(float *out, const float *x, size_t n);
void pp_silu_backward(float *dx, const float *dout, const float *x, size_t n);

/* ---- adaLN modulation: out[b,n,c] = x[b,n,c] * (1 + scale[b,c]) + shift[b,c]
 * x,out [B,N,C]; shift,scale: B rows of C floats, row stride ms (so the chunks of
 * a [B,6,C] modulation tensor are passed in place with ms = 6*C). */
void pp_modulate_forward(float *out, const float *x, const float *shift, const float *scale, int B,
                         int N, int C, int ms);
void pp_modulate_backward(float *dx, float *dshift, float *dscale, const float *dout, const float *x,
                          const float *scale, int B, int N, int C, int ms);

/* ---- fused LayerNorm (no affine) + modulation: out = LN(x) * (1 + scale) + shift
 * x,out [B,N,C]; saves mean,rstd [B*N] */
void pp_ln_modulate_forward(float *out, float *mean, float *rstd, const float *x, const float *shift,
                            const float *scale, int B, int N, int C, int ms, float eps);
void pp_ln_modulate_backward(float *dx, float *dshift, float *dscale, const float *dout,
                             const float *x, const float *mean, const float *rstd,
                             const float *scale, int B, int N, int C, int ms);

/* ---- gated residual, in place: x[b,n,c] += y[b,n,c] * gate[b,c]; gate NULL = plain residual
 * backward: dy += dx * gate; dgate[b,c] += sum_n dx * y (the residual path's dx is unchanged) */
void pp_gated_residual_forward(float *x, const float *y, const float *gate, int B, int N, int C, int ms);
void pp_gated_residual_backward(float *dy, float *dgate, const float *dx, const float *y,
                                const float *gate, int B, int N, int C, int ms);

/* ---- multi-head softmax attention, softmax(q k^T / sqrt(D)) v, fused:
 * q [B,Nq,H,D]; k,v [B,Nk,H,D] (a linear's output viewed as heads); out [B,Nq,H,D];
 * lse [B,H,Nq] is the row log-sum-exp kept for the backward. The Nq x Nk score
 * matrix is never stored whole: the backward recomputes it tile by tile. With
 * pp_compute_bf16 set (nn/amx.h) and D a multiple of 32 the forward runs in BF16
 * arithmetic; the backward is always F32. */
void pp_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                          int B, int Nq, int Nk, int H, int D);
void pp_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const float *out, const float *lse,
                           int B, int Nq, int Nk, int H, int D);

/* ---- 3D RoPE (Wan2.1): the head dim D is split into t, h, w parts of
 * D - 4*(D/6), 2*(D/6), 2*(D/6) real dims; within a part, adjacent pairs
 * (x[2i], x[2i+1]) rotate by pos * theta^(-2i/part_dims), pos being the token's
 * frame, row or column index. Tokens are in (f,h,w) row-major order. */
typedef struct {
    int gf, gh, gw, D; /* token grid and head dim */
    float *cos, *sin;  /* [gf*gh*gw, D/2] */
} pp_rope;
void pp_rope_build(pp_rope *r, int gf, int gh, int gw, int D, float theta);
void pp_rope_free(pp_rope *r);
/* x,out [B, N, H, D] with N = gf*gh*gw; writes out (out == x allowed) */
void pp_rope_forward(float *out, const float *x, const pp_rope *r, int B, int H);
/* writes dx = R^T dout (dx == dout allowed) */
void pp_rope_backward(float *dx, const float *dout, const pp_rope *r, int B, int H);

/* ---- sinusoidal timestep embedding (Wan: cos first, then sin): t [B] in [0,1000],
 * out [B,dim]: out[b,i] = cos(t_b * 10000^(-i/half)), out[b,half+i] = sin(...), half = dim/2 */
void pp_timestep_embedding(float *out, const float *t, int B, int dim);

/* ---- 3D patchify (Conv3d with kernel = stride = patch, as a GEMM's input):
 * x [B,C,F,H,W] -> tok [B,N,C*pt*ph*pw], N = (F/pt)(H/ph)(W/pw) tokens in (f,h,w)
 * order, features in (c,kt,kh,kw) order = the Conv3d weight layout [dim,C,pt,ph,pw]. Writes. */
void pp_patchify(float *tok, const float *x, int B, int C, int F, int H, int W, int pt, int ph, int pw);
void pp_patchify_backward(float *dx, const float *dtok, int B, int C, int F, int H, int W, int pt,
                          int ph, int pw); /* accumulates */
/* ---- unpatchify (Wan's head): tok [B,N,pt*ph*pw*C], features in (kt,kh,kw,c)
 * order -> x [B,C,F,H,W]. Writes. */
void pp_unpatchify(float *x, const float *tok, int B, int C, int F, int H, int W, int pt, int ph, int pw);
void pp_unpatchify_backward(float *dtok, const float *dx, int B, int C, int F, int H, int W, int pt,
                            int ph, int pw); /* accumulates */

/* ---- mean squared error over n elements (accumulated in double);
 * backward writes dpred = dloss * 2 (pred - target) / n */
float pp_mse_forward(const float *pred, const float *target, size_t n);
void pp_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss);
/* ---- weighted MSE: pred, target [B,C,V], w [B,V] >= 0 with a positive sum, one
 * weight per voxel shared by the C channels: loss = sum w d^2 / (C sum w), the plain
 * MSE when w is constant (accumulated in double, in an order that does not depend on
 * the thread count); backward writes dpred = dloss * 2 w d / (C sum w) */
float pp_wmse_forward(const float *pred, const float *target, const float *w, int B, int C, size_t V);
void pp_wmse_backward(float *dpred, const float *pred, const float *target, const float *w, int B, int C, size_t V,
                      float dloss);

/* ---- row softmax: x,out [M,C] (routers of the physical branch) */
void pp_softmax_forward(float *out, const float *x, int M, int C);
void pp_softmax_backward(float *dx, const float *dout, const float *out, int M, int C);

/* ---- small helpers */
void pp_add_inplace(float *y, const float *x, size_t n);         /* y += x */
void pp_scale_inplace(float *y, float a, size_t n);              /* y *= a */
#endif
