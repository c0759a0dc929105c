/* test_attention_bf16.c - pp_attention_forward with pp_compute_bf16 set: on AMX
 * tiles or AVX512-BF16 dot products where the CPU has them (each engine it has:
 * the dot products on an AMX machine too, through pp_bf16_no_amx), else on the
 * F32 kernel with q, k, v rounded. The paths are run on every CPU and compared with a double-precision softmax
 * attention of the unrounded inputs (BF16 carries 8 significant bits, so the
 * outputs agree to a few 1e-3), with each other, and across thread counts. */
#include <math.h>
#include <omp.h>
#include <string.h>
#include "base/common.h"
#include "nn/amx.h"
#include "nn/ops.h"
#include "nn/ops_util.h"
#include "test_ops_util.h"
#include "test.h"

/* softmax(q k^T / sqrt(D)) v in double; lse too */
static void attention_ref(double *out, double *lse, const float *q, const float *k, const float *v, int B, int Nq,
                          int Nk, int H, int D) {
    size_t ld = (size_t)H * D;
    double *s = pp_malloc((size_t)Nk * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Nq; i++) {
                const float *qi = q + ((size_t)b * Nq + i) * ld + (size_t)h * D;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < Nk; j++) {
                    const float *kj = k + ((size_t)b * Nk + j) * ld + (size_t)h * D;
                    double d = 0;
                    for (int c = 0; c < D; c++) d += (double)qi[c] * kj[c];
                    s[j] = d / sqrt((double)D);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < Nk; j++) sum += s[j] = exp(s[j] - mx);
                double *o = out + ((size_t)b * Nq + i) * ld + (size_t)h * D;
                for (int c = 0; c < D; c++) {
                    double a = 0;
                    for (int j = 0; j < Nk; j++) a += s[j] * v[((size_t)b * Nk + j) * ld + (size_t)h * D + c];
                    o[c] = a / sum;
                }
                lse[((size_t)b * H + h) * Nq + i] = mx + log(sum);
            }
    free(s);
}

static double rel_err_vs(const float *a, const double *ref, size_t n) {
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) e += (a[i] - ref[i]) * (a[i] - ref[i]), r += ref[i] * ref[i];
    return sqrt(e / (r > 0 ? r : 1));
}

static double max_abs_vs(const float *a, const double *ref, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(a[i] - ref[i]));
    return e;
}

TEST(attention_bf16_matches_reference) {
    /* Wan's head size; query and key counts off the blocks of 32 and 128; two
     * heads, two videos; a cross-attention shape (few keys) */
    const int shapes[][5] = {{1, 45, 45, 2, 128}, {2, 70, 300, 2, 64}, {1, 33, 7, 3, 32}};
    pp_bf16_kind eng[2];
    for (int ei = 0, ne = bf16_engines(eng); ei < ne; ei++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int B = shapes[s][0], Nq = shapes[s][1], Nk = shapes[s][2], H = shapes[s][3], D = shapes[s][4];
            size_t nq = (size_t)B * Nq * H * D, nk = (size_t)B * Nk * H * D, nl = (size_t)B * H * Nq;
            float *q = randn(nq, 61 + s), *k = randn(nk, 62 + s), *v = randn(nk, 63 + s);
            for (size_t i = 0; i < nq; i++) q[i] *= 2.0f; /* peaked enough that the softmax matters */
            float *o1 = zeros(nq), *o2 = zeros(nq), *l1 = zeros(nl), *l2 = zeros(nl);
            double *ref = pp_malloc(nq * sizeof(double)), *lref = pp_malloc(nl * sizeof(double));
            attention_ref(ref, lref, q, k, v, B, Nq, Nk, H, D);
            pp_compute_bf16 = 1;
            pp_bf16_no_amx = eng[ei] != PP_BF16_AMX;
            pp_attention_forward(o1, l1, q, k, v, B, Nq, Nk, H, D); /* the engine where available */
            pp_bf16_no_amx = 0;
            pp_ops_portable = 1;
            pp_attention_forward(o2, l2, q, k, v, B, Nq, Nk, H, D); /* rounded inputs, F32 kernel */
            pp_ops_portable = 0;
            pp_compute_bf16 = 0;
            double e1 = rel_err_vs(o1, ref, nq), e2 = rel_err_vs(o2, ref, nq);
            double le1 = max_abs_vs(l1, lref, nl), le2 = max_abs_vs(l2, lref, nl);
            CHECK_MSG(e1 < 1e-2 && e2 < 1e-2, "[%d,%d,%d,%d,%d] %s: rel err %.3g (engine), %.3g (portable)", B, Nq,
                      Nk, H, D, bf16_engine_name(eng[ei]), e1, e2);
            CHECK_MSG(e1 > 1e-5, "[%d,%d,%d,%d,%d]: rel err %.3g: no BF16 rounding happened", B, Nq, Nk, H, D, e1);
            CHECK_MSG(le1 < 0.05 && le2 < 0.05, "lse off by %.3g, %.3g", le1, le2);
            double e12 = pp_rel_err(o1, o2, nq);
            CHECK_MSG(e12 < 1e-2, "%s: the two paths differ by %.3g", bf16_engine_name(eng[ei]), e12);
            printf("    [%d,%d,%d,%d,%d] %s: rel err %.2e (engine), %.2e (portable), between %.2e\n", B, Nq, Nk, H,
                   D, bf16_engine_name(eng[ei]), e1, e2, e12);
            free(ref), free(lref);
            free_all(7, q, k, v, o1, o2, l1, l2);
        }
}

TEST(attention_bf16_thread_count_independent) {
    int B = 1, Nq = 100, Nk = 260, H = 3, D = 64, nt = omp_get_max_threads();
    size_t nq = (size_t)B * Nq * H * D, nk = (size_t)B * Nk * H * D, nl = (size_t)B * H * Nq;
    float *q = randn(nq, 71), *k = randn(nk, 72), *v = randn(nk, 73);
    float *o1 = zeros(nq), *o3 = zeros(nq), *l1 = zeros(nl), *l3 = zeros(nl);
    pp_bf16_kind eng[2];
    pp_compute_bf16 = 1;
    for (int ei = 0, ne = bf16_engines(eng); ei < ne; ei++) {
        pp_bf16_no_amx = eng[ei] != PP_BF16_AMX;
        omp_set_num_threads(1);
        pp_attention_forward(o1, l1, q, k, v, B, Nq, Nk, H, D);
        omp_set_num_threads(3);
        pp_attention_forward(o3, l3, q, k, v, B, Nq, Nk, H, D);
        omp_set_num_threads(nt);
        CHECK(memcmp(o1, o3, nq * sizeof(float)) == 0 && memcmp(l1, l3, nl * sizeof(float)) == 0);
    }
    pp_bf16_no_amx = 0;
    pp_compute_bf16 = 0;
    free_all(7, q, k, v, o1, o3, l1, l3);
}
