/* cpu.c - see cpu.h. The FMA loops are compiled for their ISA with target
 * attributes and chosen at run time, so a portable build measures the same peak. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include "base/common.h"
#include "base/cpu.h"

pp_isa pp_cpu_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return PP_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return PP_ISA_AVX2;
    if (__builtin_cpu_supports("avx")) return PP_ISA_AVX;
    return PP_ISA_SSE;
}

const char *pp_isa_name(pp_isa isa) {
    static const char *const names[] = {"sse", "avx", "avx2+fma", "avx512"};
    return (unsigned)isa < 4 ? names[isa] : "?";
}

int pp_cpu_is_amd(void) {
    __builtin_cpu_init();
    return __builtin_cpu_is("amd");
}

/* CPUID leaf 7 sub-leaf 1, EAX bit 5 */
int pp_cpu_has_avx512_bf16(void) {
    unsigned a = 7, b, c = 1, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return pp_cpu_isa() == PP_ISA_AVX512 && (a >> 5 & 1);
}

const char *pp_cpu_model(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return buf;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = 0;
        snprintf(buf, cap, "%s", colon);
        break;
    }
    fclose(f);
    return buf;
}

/* ---- register-only FMA loops: 12 independent accumulators hide the FMA latency */
#define NACC 12
#define ITERS 20000000L

__attribute__((target("avx512f"))) static float fma_avx512(long n) {
    __m512 a[NACC], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < NACC; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < NACC; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    __m512 s = a[0];
    for (int i = 1; i < NACC; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long n) {
    __m256 a[NACC], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < NACC; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < NACC; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    float out[8], s = 0;
    for (int i = 1; i < NACC; i++) a[0] = _mm256_add_ps(a[0], a[i]);
    _mm256_storeu_ps(out, a[0]);
    for (int i = 0; i < 8; i++) s += out[i];
    return s;
}

/* no FMA: a multiply and an add count as one FMA's two flops */
static float fma_plain(long n) {
    float a[NACC][4];
    for (int i = 0; i < NACC; i++)
        for (int j = 0; j < 4; j++) a[i][j] = (float)(i + j);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < NACC; i++)
            for (int j = 0; j < 4; j++) a[i][j] = a[i][j] * 0.999999f + 1e-7f;
    float s = 0;
    for (int i = 0; i < NACC; i++)
        for (int j = 0; j < 4; j++) s += a[i][j];
    return s;
}

double pp_fma_peak_gflops(int threads) {
    pp_isa isa = pp_cpu_isa();
    int lanes = isa == PP_ISA_AVX512 ? 16 : isa == PP_ISA_AVX2 ? 8 : 4;
    long n = isa == PP_ISA_AVX512 ? ITERS / 2 : isa == PP_ISA_AVX2 ? ITERS : ITERS / 2;
    if (threads < 1) threads = 1;
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 3; rep++) { /* the best of three: a busy machine only slows a run */
        double t0 = pp_now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += isa == PP_ISA_AVX512 ? fma_avx512(n) : isa == PP_ISA_AVX2 ? fma_avx2(n) : fma_plain(n);
        double dt = pp_now() - t0, g = 2.0 * NACC * lanes * (double)n * threads / dt / 1e9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}
