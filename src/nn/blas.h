/* blas.h - which OpenBLAS kernel runs, and choosing the right one.
 *
 * Debian 12's OpenBLAS 0.3.21 (a DYNAMIC_ARCH build) picks its kernels from the
 * CPUID model number. On CPUs newer than it knows (Intel Sapphire / Emerald
 * Rapids, family 6 model 207, say) it falls back to its SSE3 "Prescott" kernels,
 * about a fifth of the speed the CPU has. OpenBLAS reads OPENBLAS_CORETYPE once,
 * when it is loaded, so the choice has to be in the environment before the
 * process starts:
 *
 *   pp_blas_advise() compares the running kernel with the widest vector ISA the
 *   CPU has and names a better kernel (AVX-512: SkylakeX, or Cooperlake with
 *   AVX512-BF16; AVX2+FMA: Haswell, or Zen on AMD; AVX: Sandybridge), or NULL
 *   when the running one is right or the user set OPENBLAS_CORETYPE (the user
 *   always wins);
 *   pp_blas_reexec() sets OPENBLAS_CORETYPE to that kernel and re-executes the
 *   program (argv as given); it returns only when nothing needs to change or the
 *   exec failed. The prophy command does this first thing in main(); a program
 *   that links libprophy can call it the same way. */
#ifndef PP_NN_BLAS_H
#define PP_NN_BLAS_H

const char *pp_blas_core(void);    /* the kernel OpenBLAS runs ("SkylakeX", "Prescott", ...) */
const char *pp_blas_config(void);  /* OpenBLAS's build line */
/* The kernel to use instead of `running` on this CPU, or NULL. */
const char *pp_blas_advise(const char *running);
/* The pure rule behind it: `running` on a CPU of ISA level isa (base/cpu.h). */
const char *pp_blas_advise_for(const char *running, int isa, int amd, int bf16);
/* Where the running kernel came from: "default", "OPENBLAS_CORETYPE (user)" or
 * "chosen by prophy (OpenBLAS picked X)". */
const char *pp_blas_origin(void);
/* Sets OPENBLAS_CORETYPE to the advised kernel; 1 when it did (the process must
 * re-execute itself for OpenBLAS to see it), 0 when nothing needs to change. */
int pp_blas_prepare_env(void);
void pp_blas_reexec(char **argv);
#endif
