/* peak_avx512.c - the FMA peak of this machine's AVX-512 units, the figure the
 * GEMM speeds in docs/WAN.md are a fraction of: per thread, 12 independent
 * zmm accumulators (enough to hide the latency) updated in a loop with
 * operands in registers, for vdpbf16ps (AVX512-BF16: 64 FLOP each) and for
 * vfmadd231ps (F32: 32 FLOP each). Not part of the build or the tests.
 *
 *   gcc -O3 -march=native -fopenmp bench/peak_avx512.c -o build/peak_avx512
 *   OMP_NUM_THREADS=2 build/peak_avx512 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>

#define ITERS 200000000L

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    int n = omp_get_max_threads();
    double keep = 0, t0 = now();
#ifdef __AVX512BF16__
#pragma omp parallel reduction(+ : keep)
    {
        __m512 a[12];
        for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
        __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = x;
        for (long it = 0; it < ITERS; it++) {
            for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
            __asm__ volatile("" : "+v"(x)); /* keeps the loop from being folded */
        }
        for (int i = 1; i < 12; i++) a[0] = _mm512_add_ps(a[0], a[i]);
        keep += _mm512_reduce_add_ps(a[0]);
    }
    printf("vdpbf16ps: %.1f GFLOP/s on %d threads\n", ITERS * 12.0 * 64 * n / (now() - t0) / 1e9, n);
#else
    printf("vdpbf16ps: not in this build (no AVX512-BF16)\n");
#endif
    t0 = now();
#pragma omp parallel reduction(+ : keep)
    {
        __m512 a[12];
        for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
        __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999f);
        for (long it = 0; it < ITERS; it++) {
            for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
            __asm__ volatile("" : "+v"(x));
        }
        for (int i = 1; i < 12; i++) a[0] = _mm512_add_ps(a[0], a[i]);
        keep += _mm512_reduce_add_ps(a[0]);
    }
    printf("vfmadd231ps (zmm, F32): %.1f GFLOP/s on %d threads (checksum %g)\n",
           ITERS * 12.0 * 32 * n / (now() - t0) / 1e9, n, keep);
    return 0;
}
