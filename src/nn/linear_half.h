/* linear_half.h - linear layers whose weights stay in half precision (BF16 or
 * F16), e.g. inside a memory-mapped safetensors file.
 *
 * out[M,N] = inp[M,K] @ W[N,K]^T + b[N], W in PyTorch's [out,in] layout as
 * 16-bit words. The weight is converted to F32 a panel of rows at a time into a
 * per-thread buffer (about 4 MiB: larger panels amortise sgemm's repacking of
 * the inputs), and each panel is one single-threaded sgemm. The panel split depends only on N and K, never on the
 * thread count, so neither do the results. The arithmetic is F32 throughout: the
 * result is that of pp_linear_forward on the exactly converted weights, up to
 * the BLAS kernel's summation order. With many rows (>= 2048, video tokens) the
 * panels go one after another, each converted once and shared by all threads,
 * which split the rows (a weight of few panels keeps every thread busy).
 *
 * With AVX-512 and at most ~100 rows of input (a text prompt), a register-
 * blocked kernel reads the 16-bit weights directly instead (no F32 copy, no
 * packing; each weight read once), summing each dot product in 16 lanes then in
 * a fixed order: again F32 arithmetic, thread-count independent.
 *
 * W may be unaligned (any byte address). The conversion has AVX-512 and AVX2
 * (F16C) paths and a portable fallback (pp_ops_portable = 1 forces it and the
 * panel path). */
#ifndef PP_LINEAR_HALF_H
#define PP_LINEAR_HALF_H
#include <stddef.h>
#include <stdint.h>

typedef enum { PP_HALF_BF16, PP_HALF_F16 } pp_half_kind;

/* dst[i] = float(src[i]) for n 16-bit words at src (any alignment); exact. */
void pp_half_to_f32(float *dst, const void *src, size_t n, pp_half_kind kind);

/* With pp_compute_bf16 set (nn/amx.h), BF16 weights multiply inputs rounded to
 * BF16 (on AMX tiles or AVX512-BF16 dot products where the CPU has them and K
 * and N are multiples of 32).
 * F16 weights and the backward always use F32. */
void pp_linear_forward_half(float *out, const float *inp, const void *W, pp_half_kind kind,
                            const float *b, int M, int K, int N);
/* out = GELU(tanh) of the linear above; on a BF16 engine applied as the blocks are stored. */
void pp_linear_forward_half_gelu(float *out, const float *inp, const void *W, pp_half_kind kind,
                                 const float *b, int M, int K, int N);
static inline void pp_linear_forward_bf16(float *out, const float *inp, const void *W,
                                          const float *b, int M, int K, int N) {
    pp_linear_forward_half(out, inp, W, PP_HALF_BF16, b, M, K, N);
}
static inline void pp_linear_forward_f16(float *out, const float *inp, const void *W,
                                         const float *b, int M, int K, int N) {
    pp_linear_forward_half(out, inp, W, PP_HALF_F16, b, M, K, N);
}

/* din[M,K] += dout[M,N] @ W[N,K]: the input gradient of that layer (frozen
 * weights), on panels as above; thread-count independent. */
void pp_linear_backward_input_half(float *din, const float *dout, const void *W, pp_half_kind kind, int M,
                                   int K, int N);

/* Rows per panel for a K-wide weight (a multiple of 16, at least 16). */
int pp_linear_half_panel_rows(int K);
#endif
