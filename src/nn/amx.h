/* amx.h - BF16 arithmetic: the matrix products of half-precision linear layers
 * and softmax attention, as PyTorch's BF16 layers compute them, on AMX tiles
 * (Intel Sapphire Rapids and later) or on AVX512-BF16 dot products (vdpbf16ps:
 * AMD Zen 4 and later, Intel Cooper Lake) where the CPU has them.
 *
 *   linear:    out[M,N] = bf16(inp[M,K]) @ W[N,K]^T (+ b[N])
 *   attention: softmax(bf16(q / sqrt(D)) bf16(k)^T) v, the probabilities and v
 *              rounded to BF16, the softmax in F32
 *
 * Inputs are rounded to nearest BF16 (ties to even); every product of two BF16
 * numbers is exact in F32 and the sums are F32. Each output element is summed
 * by one thread in a fixed order, so results do not depend on the thread count.
 *
 * The linear computes C^T = W X^T: the weight's rows are the first operand,
 * read from the (mapped) file once per call (AMX: in place for a prompt's few
 * tokens, else copied a chunk at a time into tile order; dot products: in
 * place); the inputs are the second, converted to BF16 and pair-interleaved
 * ("VNNI": word [r][m] = (x[m][2r], x[m][2r+1])) in one pass, 16 tokens per
 * group. On AMX each 32 x 32 output block is 4 F32 accumulator tiles fed by
 * 2 + 2 operand tiles per 32 values of k (TDPBF16PS); with dot products each
 * 48 tokens x 8 weight rows are 24 zmm accumulators fed by a broadcast weight
 * pair and 3 token vectors per pair of k; both written out transposed
 * (amx_gemm.c). Attention is the flash loop of ops_attention.c with both of its
 * products on the same engine (amx_attention.c). */
#ifndef PP_NN_AMX_H
#define PP_NN_AMX_H
#include <stddef.h>

/* The arithmetic switch. 0 (the default): F32 everywhere. 1: the linear layers
 * of BF16 weights (nn/linear_half.h) and softmax attention with a head size
 * that is a multiple of 32 (pp_attention_forward) round their inputs to BF16
 * first, as PyTorch's BF16 layers do, and run on AMX tiles or AVX512-BF16 dot
 * products where the CPU has them; elsewhere the same rounding feeds the F32
 * kernels (the same numbers up to the order of the sums). Set it around
 * inference only: no backward uses it. */
extern int pp_compute_bf16;

/* A copy of x[n] rounded to BF16 (to nearest, ties to even; NaN stays NaN), as
 * floats: the fallback's inputs when pp_compute_bf16 is set without AMX. */
float *pp_bf16_rounded_copy(const float *x, size_t n);

/* What pp_compute_bf16 and this CPU give: "F32", "BF16 (AMX tiles)" or "BF16
 * (rounded inputs, F32 kernels)" (for progress lines). */
const char *pp_compute_name(void);

/* 1 if this build has the AMX kernel, the CPU has AMX-TILE and AMX-BF16, and the
 * kernel let this process use the tile registers; checked once. */
int pp_amx_available(void);
/* 1 if this build has the dot-product kernel and the CPU has AVX512-BF16. */
int pp_bf16_dp_available(void);

/* The engine of the BF16 linear layers and attention: AMX where available
 * (unless pp_bf16_no_amx), else the dot products, else none (rounded inputs, F32). */
typedef enum { PP_BF16_NONE = 0, PP_BF16_DP = 1, PP_BF16_AMX = 2 } pp_bf16_kind;
pp_bf16_kind pp_bf16_engine(void);
/* 1: the dot products even where AMX exists (tests, benchmarks) */
extern int pp_bf16_no_amx;

/* The linear above (K and N multiples of 32, W at any address); only when
 * pp_bf16_engine() is not PP_BF16_NONE. gelu: out = GELU(tanh) of it, applied as
 * each block is stored (the FFN's first Linear without a second pass over its output). */
void pp_bf16_linear_act(float *out, const float *inp, const void *W, const float *b, int M, int K, int N, int gelu);
static inline void pp_bf16_linear(float *out, const float *inp, const void *W, const float *b, int M, int K, int N) {
    pp_bf16_linear_act(out, inp, W, b, M, K, N, 0);
}

/* pp_attention_forward's softmax attention (q [B,Nq,H,D], k, v [B,Nk,H,D], out
 * [B,Nq,H,D], lse [B,H,Nq] or NULL) with q / sqrt(D), k, v and the
 * probabilities rounded to BF16, F32 sums and softmax; D a multiple of 32; on
 * pp_bf16_engine()'s engine, only when it is not PP_BF16_NONE. */
void pp_bf16_attention(float *out, float *lse, const float *q, const float *k, const float *v, int B, int Nq, int Nk,
                       int H, int D);

#endif
