/* test_blas.c - the rule that picks OpenBLAS's kernel: a kernel below the CPU's
 * widest vector ISA is replaced, one at or above it is kept (nn/blas.h). */
#include <string.h>
#include "base/cpu.h"
#include "nn/blas.h"
#include "test.h"

static int is(const char *a, const char *b) { return a && b && !strcmp(a, b); }

TEST(blas_kernel_choice_rule) {
    /* the fallback of Debian's OpenBLAS 0.3.21 on CPUs newer than it knows */
    CHECK(is(pp_blas_advise_for("Prescott", PP_ISA_AVX512, 0, 0), "SkylakeX"));
    CHECK(is(pp_blas_advise_for("Prescott", PP_ISA_AVX512, 0, 1), "Cooperlake"));
    CHECK(is(pp_blas_advise_for("Prescott", PP_ISA_AVX2, 0, 0), "Haswell"));
    CHECK(is(pp_blas_advise_for("Prescott", PP_ISA_AVX2, 1, 0), "Zen"));
    CHECK(is(pp_blas_advise_for("Nehalem", PP_ISA_AVX, 0, 0), "Sandybridge"));
    CHECK(is(pp_blas_advise_for("Haswell", PP_ISA_AVX512, 0, 0), "SkylakeX"));
    /* right already, or better than the CPU can use: kept */
    CHECK(pp_blas_advise_for("SkylakeX", PP_ISA_AVX512, 0, 0) == NULL);
    CHECK(pp_blas_advise_for("Cooperlake", PP_ISA_AVX512, 0, 1) == NULL);
    CHECK(pp_blas_advise_for("Zen", PP_ISA_AVX2, 1, 0) == NULL);
    CHECK(pp_blas_advise_for("Haswell", PP_ISA_AVX2, 0, 0) == NULL);
    CHECK(pp_blas_advise_for("Prescott", PP_ISA_SSE, 0, 0) == NULL);
    CHECK(pp_blas_advise_for(NULL, PP_ISA_AVX512, 0, 0) == NULL);
    /* what runs here is named */
    CHECK(pp_blas_core() && pp_blas_core()[0]);
}
