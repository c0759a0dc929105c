/* cpu.h - what this CPU is and what it can do: its model name, its widest FP32
 * vector ISA, and its FP32 FMA peak measured with a register-only loop (the
 * ceiling every throughput figure is a fraction of). */
#ifndef PP_BASE_CPU_H
#define PP_BASE_CPU_H
#include <stddef.h>

typedef enum {
    PP_ISA_SSE = 0,    /* 4 lanes, no FMA */
    PP_ISA_AVX = 1,    /* 8 lanes, no FMA */
    PP_ISA_AVX2 = 2,   /* 8 lanes, FMA */
    PP_ISA_AVX512 = 3, /* 16 lanes, FMA (F, DQ, BW, VL: what AVX-512 GEMM kernels need) */
} pp_isa;

pp_isa pp_cpu_isa(void);
const char *pp_isa_name(pp_isa isa);           /* "sse", "avx", "avx2+fma", "avx512" */
int pp_cpu_is_amd(void);
int pp_cpu_has_avx512_bf16(void);
/* "model name" of /proc/cpuinfo ("unknown" if absent) into buf. */
const char *pp_cpu_model(char *buf, size_t cap);
/* FP32 GFLOP/s of independent FMAs in registers on `threads` threads (one loop per
 * thread, summed), with the widest ISA the CPU has; about 0.3 s. */
double pp_fma_peak_gflops(int threads);
#endif
