/* threads.c - see threads.h */
#include <cblas.h>
#include <omp.h>
#include "base/threads.h"

void pp_set_threads(int n) {
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int pp_get_threads(void) { return omp_get_max_threads(); }
