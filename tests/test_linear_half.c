/* test_linear_half.c - the half-precision-weight linear layer: exact
 * conversions (SIMD = portable = the safetensors reader's), the product equal to
 * the F32 linear on the converted weights, unaligned weights, thread-count
 * independence. */
#include <math.h>
#include <omp.h>
#include <string.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "nn/amx.h"
#include "nn/linear_half.h"
#include "nn/ops.h"
#include "nn/ops_util.h"
#include "test_ops_util.h"
#include "test.h"

/* n words of random half data (of floats ~N(0,1)) at a 1-byte-offset address
 * inside *raw (free *raw) */
static unsigned char *half_data(size_t n, uint64_t seed, pp_half_kind kind, unsigned char **raw) {
    float *x = randn(n, seed);
    *raw = pp_malloc(2 * n + 1);
    unsigned char *w = *raw + 1;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = kind == PP_HALF_BF16 ? pp_f32_to_bf16(x[i]) : pp_f32_to_f16(x[i]);
        w[2 * i] = (unsigned char)(h & 0xff), w[2 * i + 1] = (unsigned char)(h >> 8);
    }
    pp_free_aligned(x);
    return w;
}

TEST(half_to_f32_exact_all_words) {
    /* every one of the 65536 words, both kinds, SIMD and portable paths */
    unsigned char *w = pp_malloc(2 * 65536 + 1);
    for (unsigned i = 0; i < 65536; i++) w[1 + 2 * i] = (unsigned char)(i & 0xff), w[2 + 2 * i] = (unsigned char)(i >> 8);
    float *a = pp_alloc_floats(65536), *b = pp_alloc_floats(65536);
    for (int k = 0; k < 2; k++) {
        pp_half_kind kind = k ? PP_HALF_F16 : PP_HALF_BF16;
        pp_half_to_f32(a, w + 1, 65536, kind);
        pp_ops_portable = 1;
        pp_half_to_f32(b, w + 1, 65536, kind);
        pp_ops_portable = 0;
        int bad = 0;
        for (unsigned i = 0; i < 65536; i++) {
            float ref = kind == PP_HALF_BF16 ? pp_bf16_to_f32((uint16_t)i) : pp_f16_to_f32((uint16_t)i);
            uint32_t ua, ub, ur;
            memcpy(&ua, &a[i], 4), memcpy(&ub, &b[i], 4), memcpy(&ur, &ref, 4);
            /* NaNs: the payload may be quieted differently; only require NaN */
            if (ref != ref) bad += !(a[i] != a[i] && b[i] != b[i]);
            else bad += ua != ur || ub != ur;
        }
        CHECK_MSG(bad == 0, "%s: %d words convert differently", k ? "F16" : "BF16", bad);
    }
    free(w);
    pp_free_aligned(a), pp_free_aligned(b);
}

TEST(linear_half_matches_f32_linear) {
    const int shapes[][3] = {{1, 64, 10}, {7, 130, 77}, {33, 512, 300}, {300, 96, 1100}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        for (int k = 0; k < 2; k++) {
            pp_half_kind kind = k ? PP_HALF_F16 : PP_HALF_BF16;
            unsigned char *raw;
            unsigned char *w = half_data((size_t)N * K, 7 + s, kind, &raw);
            float *wf = pp_alloc_floats((size_t)N * K), *x = randn((size_t)M * K, 11 + s);
            float *bias = randn(N, 13 + s), *o1 = zeros((size_t)M * N), *o2 = zeros((size_t)M * N);
            pp_half_to_f32(wf, w, (size_t)N * K, kind);
            for (int wb = 0; wb < 2; wb++) {
                pp_linear_forward(o1, x, wf, wb ? bias : NULL, M, K, N);
                pp_linear_forward_half(o2, x, w, kind, wb ? bias : NULL, M, K, N);
                double e = pp_rel_err(o2, o1, (size_t)M * N);
                CHECK_MSG(e < 1e-6, "[%d,%d,%d] %s bias=%d: rel err %.3g", M, K, N,
                          k ? "F16" : "BF16", wb, e);
            }
            free(raw);
            free_all(5, wf, x, bias, o1, o2);
        }
    }
}

static void thread_case(int M) {
    int K = 700, N = 2000, nt = omp_get_max_threads();
    unsigned char *raw;
    unsigned char *w = half_data((size_t)N * K, 21, PP_HALF_BF16, &raw);
    float *x = randn((size_t)M * K, 22), *o1 = zeros((size_t)M * N), *o3 = zeros((size_t)M * N);
    CHECK(pp_linear_half_panel_rows(K) < N); /* several panels */
    /* 2 and 3 threads: both run active parallel regions, where every sgemm is
     * single-threaded (a team of one would let OpenBLAS thread on its own) */
    omp_set_num_threads(2);
    pp_linear_forward_bf16(o1, x, w, NULL, M, K, N);
    omp_set_num_threads(3);
    pp_linear_forward_bf16(o3, x, w, NULL, M, K, N);
    omp_set_num_threads(nt);
    /* each output element comes from the same single-threaded sgemm call on the
     * same panel whatever the thread count: equal by construction */
    CHECK(memcmp(o1, o3, (size_t)M * N * sizeof(float)) == 0);
    free(raw);
    free_all(3, x, o1, o3);
}

TEST(linear_half_thread_count_independent) {
    thread_case(40);  /* the direct few-rows kernel (AVX-512 builds) */
    thread_case(100); /* converted panels + sgemm */
}

/* ---- BF16 arithmetic (pp_compute_bf16): inputs rounded to BF16, exact
 * products, F32 sums; on AMX tiles where the CPU has them (K, N multiples of 32),
 * else on the F32 path. Both are checked against a double-precision sum of the
 * rounded inputs, and against each other, on every CPU. */

static float round_bf16(float x) { return pp_bf16_to_f32(pp_f32_to_bf16(x)); }

static void bf16_reference(double *ref, const float *x, const unsigned char *w, const float *b, int M, int K,
                           int N) {
    float *wf = pp_alloc_floats((size_t)N * K);
    pp_half_to_f32(wf, w, (size_t)N * K, PP_HALF_BF16);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = b ? b[n] : 0.0;
            for (int k = 0; k < K; k++) s += (double)round_bf16(x[(size_t)m * K + k]) * wf[(size_t)n * K + k];
            ref[(size_t)m * N + n] = s;
        }
    pp_free_aligned(wf);
}

static double rel_err_d(const float *a, const double *ref, size_t n) {
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) e += (a[i] - ref[i]) * (a[i] - ref[i]), r += ref[i] * ref[i];
    return sqrt(e / (r > 0 ? r : 1));
}

/* one shape on engine e: the linear (gelu: GELU(tanh) of it, fused into the
 * engine's store) against the double-precision reference of the rounded inputs,
 * and the portable rounded-input path (a second pass for GELU) against it too */
static void bf16_case(int M, int K, int N, int gelu, uint64_t seed, pp_bf16_kind e) {
    unsigned char *raw;
    unsigned char *w = half_data((size_t)N * K, seed, PP_HALF_BF16, &raw);
    float *x = randn((size_t)M * K, seed + 6), *bias = randn(N, seed + 10);
    float *o1 = zeros((size_t)M * N), *o2 = zeros((size_t)M * N), *o3 = zeros((size_t)M * N);
    double *ref = pp_malloc((size_t)M * N * sizeof(double));
    bf16_reference(ref, x, w, bias, M, K, N);
    for (size_t i = 0; gelu && i < (size_t)M * N; i++) {
        double v = ref[i];
        ref[i] = 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    }
    void (*fwd)(float *, const float *, const void *, pp_half_kind, const float *, int, int, int) =
        gelu ? pp_linear_forward_half_gelu : pp_linear_forward_half;
    pp_compute_bf16 = 1;
    pp_bf16_no_amx = e != PP_BF16_AMX;
    fwd(o1, x, w, PP_HALF_BF16, bias, M, K, N); /* the engine where it can */
    pp_bf16_no_amx = 0;
    pp_ops_portable = 1;
    fwd(o2, x, w, PP_HALF_BF16, bias, M, K, N); /* rounded inputs, F32 path */
    pp_ops_portable = 0;
    pp_compute_bf16 = 0;
    fwd(o3, x, w, PP_HALF_BF16, bias, M, K, N); /* F32 arithmetic */
    double e1 = rel_err_d(o1, ref, (size_t)M * N), e2 = rel_err_d(o2, ref, (size_t)M * N);
    double e3 = rel_err_d(o3, ref, (size_t)M * N);
    CHECK_MSG(e1 < 1e-6 && e2 < 1e-6, "[%d,%d,%d]%s %s: rel err %.3g (engine), %.3g (portable)", M, K, N,
              gelu ? " gelu" : "", bf16_engine_name(e), e1, e2);
    /* and the rounding did happen: the F32 arithmetic is ~2^-9 away */
    CHECK_MSG(e3 > 1e-4, "[%d,%d,%d]: the F32 path is only %.3g from the rounded one", M, K, N, e3);
    free(raw), free(ref);
    free_all(5, x, bias, o1, o2, o3);
}

TEST(linear_half_bf16_compute_matches_rounded_reference) {
    /* engine shapes (K, N multiples of 32; rows not: 1, 17, 37, 70 and 100 leave
     * a last block of 1, 2 or 3 groups of 16 tokens, partly empty), two pieces of
     * k (2048 + 32), and the fallback shapes (K or N not a multiple of 32) */
    const int shapes[][3] = {{1, 32, 32},   {17, 64, 32},  {37, 96, 64}, {70, 2080, 96},
                             {100, 64, 64}, {130, 64, 33}, {50, 100, 64}};
    pp_bf16_kind eng[2];
    for (int ei = 0, ne = bf16_engines(eng); ei < ne; ei++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            bf16_case(shapes[s][0], shapes[s][1], shapes[s][2], 0, 31 + s, eng[ei]);
}

/* the same with GELU(tanh): fused into the engines' stores, a second pass portably */
TEST(linear_half_bf16_gelu_matches_rounded_reference) {
    const int shapes[][3] = {{37, 96, 64}, {70, 2080, 96}, {50, 100, 64}};
    pp_bf16_kind eng[2];
    for (int ei = 0, ne = bf16_engines(eng); ei < ne; ei++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            bf16_case(shapes[s][0], shapes[s][1], shapes[s][2], 1, 61 + s, eng[ei]);
}

TEST(linear_half_bf16_compute_thread_count_independent) {
    int M = 600, K = 2080, N = 320, nt = omp_get_max_threads();
    unsigned char *raw;
    unsigned char *w = half_data((size_t)N * K, 51, PP_HALF_BF16, &raw);
    float *x = randn((size_t)M * K, 52), *o1 = zeros((size_t)M * N), *o3 = zeros((size_t)M * N);
    pp_bf16_kind eng[2];
    pp_compute_bf16 = 1;
    for (int ei = 0, ne = bf16_engines(eng); ei < ne; ei++) {
        pp_bf16_no_amx = eng[ei] != PP_BF16_AMX;
        omp_set_num_threads(1);
        pp_linear_forward_bf16(o1, x, w, NULL, M, K, N);
        omp_set_num_threads(3);
        pp_linear_forward_bf16(o3, x, w, NULL, M, K, N);
        omp_set_num_threads(nt);
        CHECK_MSG(memcmp(o1, o3, (size_t)M * N * sizeof(float)) == 0, "%s", bf16_engine_name(eng[ei]));
    }
    pp_bf16_no_amx = 0;
    pp_compute_bf16 = 0;
    free(raw);
    free_all(3, x, o1, o3);
}
