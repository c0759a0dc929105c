/* threads.h - one knob for OpenMP and OpenBLAS threads. */
#ifndef PP_THREADS_H
#define PP_THREADS_H
void pp_set_threads(int n); /* n <= 0: leave the defaults */
int pp_get_threads(void);
#endif
