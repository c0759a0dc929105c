/* blas_shim.c - a stand-in for OpenBLAS's openblas_get_corename, preloaded by
 * tests/cli_blas.sh: it reports the "Prescott" fallback that Debian's OpenBLAS
 * picks on CPUs newer than it knows, unless OPENBLAS_CORETYPE is set. So the
 * command's choice of a better kernel can be tested on any machine. */
#include <stdlib.h>

char *openblas_get_corename(void) {
    char *c = getenv("OPENBLAS_CORETYPE");
    return c ? c : "Prescott";
}
