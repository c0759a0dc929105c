/* threads.h - one knob for OpenMP and OpenBLAS threads.
 *
 * The ops thread their GEMMs themselves (fixed panels of sgemm calls in one
 * OpenMP region, nn/ops_linear.c). OpenBLAS's OpenMP build runs a call single-
 * threaded inside an active parallel region; outside one it may split a product
 * among its own threads, differently for each thread count, and some of its
 * kernels round edge tiles differently from full ones. So every GEMM large enough
 * for OpenBLAS to thread runs inside a parallel region, and results do not depend
 * on the thread count. (openblas_set_num_threads also sets OpenMP's count in that
 * build: the two are set together here.) */
#ifndef PP_THREADS_H
#define PP_THREADS_H
void pp_set_threads(int n); /* n <= 0: leave the defaults */
int pp_get_threads(void);
#endif
