/* ops_linear.c - linear layer on OpenBLAS sgemm; W in PyTorch's [out,in] layout.
 * Each GEMM is split into panels inside one OpenMP region (dynamic schedule),
 * each panel a single-threaded sgemm (the OpenMP build of OpenBLAS does not
 * thread inside a parallel region). Panels are row blocks of the output when it
 * has many rows (training: batch * tokens), else column blocks (M = batch). For the skinny
 * shapes of a small DiT this beats OpenBLAS's own threading, and a stalled thread
 * (shared cores) only delays its current panel. The split never depends on the
 * thread count, and neither do the results (db is summed per chunk of rows). */
#include <cblas.h>
#include <string.h>
#include "nn/ops.h"
#include "nn/ops_util.h"

/* OpenBLAS threads a product of at least 4 * 65536 multiply-adds when called
 * outside an active parallel region; every product from this size up runs inside
 * one, so OpenBLAS never threads it (base/threads.h). */
#define IN_REGION_MNK ((size_t)1 << 16)
#define PANEL 256   /* rows per row panel */
#define CPANEL 64   /* columns per column panel */
#define MIN_ROWS 2048 /* fewer output rows than this: column panels */

/* panels of an [M, N] output: row panels when M is large, else column panels */
typedef struct { int by_rows, n; } panels;

static panels plan(int M, int N) {
    panels p;
    p.by_rows = M >= MIN_ROWS || N <= CPANEL;
    p.n = p.by_rows ? (M + PANEL - 1) / PANEL : (N + CPANEL - 1) / CPANEL;
    return p;
}

/* rows [r0, r0+nr) and columns [c0, c0+nc) of panel i of an [M, N] output */
static void panel_of(panels p, int i, int M, int N, int *r0, int *nr, int *c0, int *nc) {
    int s = p.by_rows ? PANEL : CPANEL, a = i * s, len = (p.by_rows ? M : N) - a;
    len = len < s ? len : s;
    *r0 = p.by_rows ? a : 0, *nr = p.by_rows ? len : M;
    *c0 = p.by_rows ? 0 : a, *nc = p.by_rows ? N : len;
}

/* out[M,N] = inp[M,K] @ W[N,K]^T + b[N] */
void pp_linear_forward(float *out, const float *inp, const float *W, const float *b, int M, int K,
                       int N) {
    panels p = plan(M, N);
#pragma omp parallel for schedule(dynamic) if ((size_t)M * N * K >= IN_REGION_MNK)
    for (int i = 0; i < p.n; i++) {
        int r0, nr, c0, nc;
        panel_of(p, i, M, N, &r0, &nr, &c0, &nc);
        float *o = out + (size_t)r0 * N + c0;
        if (b)
            for (int m = 0; m < nr; m++) memcpy(o + (size_t)m * N, b + c0, (size_t)nc * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nc, K, 1.0f, inp + (size_t)r0 * K, K,
                    W + (size_t)c0 * K, K, b ? 1.0f : 0.0f, o, N);
    }
}

/* db[N] += column sums of dout[M,N], summed per chunk of rows, then in chunk order */
static void colsum_acc(float *db, const float *dout, int M, int N) {
    int nch = (M + PP_ROW_CHUNK - 1) / PP_ROW_CHUNK;
    float *part = pp_zalloc_floats((size_t)nch * N);
#pragma omp parallel for schedule(static) if ((size_t)M * N > PP_PAR_MIN)
    for (int ch = 0; ch < nch; ch++) {
        float *p = part + (size_t)ch * N;
        int m1 = (ch + 1) * PP_ROW_CHUNK < M ? (ch + 1) * PP_ROW_CHUNK : M;
        for (int m = ch * PP_ROW_CHUNK; m < m1; m++) {
            const float *row = dout + (size_t)m * N;
#pragma omp simd
            for (int n = 0; n < N; n++) p[n] += row[n];
        }
    }
    pp_reduce_partials(db, part, nch, (size_t)N, N);
    pp_free_aligned(part);
}

/* dinp[M,K] += dout[M,N] @ W[N,K] in panels of dinp; dW[N,K] += dout^T @ inp in
 * row panels of dW (each the full sum over M, so no reduction across threads) */
void pp_linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                        const float *W, int M, int K, int N) {
    panels p = plan(M, K);
    int np = dinp ? p.n : 0, nw = dW ? (N + CPANEL - 1) / CPANEL : 0;
#pragma omp parallel for schedule(dynamic) if ((size_t)M * N * K >= IN_REGION_MNK)
    for (int i = 0; i < np + nw; i++) {
        if (i < np) {
            int r0, nr, c0, nc;
            panel_of(p, i, M, K, &r0, &nr, &c0, &nc);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, nc, N, 1.0f,
                        dout + (size_t)r0 * N, N, W + c0, K, 1.0f, dinp + (size_t)r0 * K + c0, K);
        } else {
            int n0 = (i - np) * CPANEL, nr = N - n0 < CPANEL ? N - n0 : CPANEL;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nr, K, M, 1.0f, dout + n0, N, inp,
                        K, 1.0f, dW + (size_t)n0 * K, K);
        }
    }
    if (db) colsum_acc(db, dout, M, N);
}
