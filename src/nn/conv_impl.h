/* conv_impl.h - internal to conv.c and conv_kernel.c: the direct GEMM kernel. */
#ifndef PP_CONV_IMPL_H
#define PP_CONV_IMPL_H

/* Rows of output channels (MR) and positions (NT) of one call of the direct
 * kernel; NT = 0 when this build has no SIMD kernel (conv.c then uses sgemm). */
extern const int pp_conv_mr, pp_conv_nt;

/* tmp[r][q] = bias[r] + sum_k A[k*MR + r] * rows[k][p0 + q] for r < MR, q < n
 * (n <= NT; lanes q >= n are neither read nor meaningful). A is one block of MR
 * output channels packed k-major; rows are the K shifted views. */
void pp_conv_kernel(float *tmp, const float *A, const float *const *rows, int K, int p0, int n,
                    const float *bias);
#endif
