/* fuzz_parse_num.c - the command line's number parsing: pp_parse_int,
 * pp_parse_float, pp_parse_seed, pp_parse_ints (src/base/common.c) and the --label-noise parser
 * (pp_label_noise_parse). Accepted values must lie in the requested range. */
#include <math.h>
#include "fuzz_util.h"
#include "prophy/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n == 0) return 0;
    /* first byte picks the range, the rest is the argument */
    static const long ilo[4] = {0, 1, -2147483647L - 1, -5}, ihi[4] = {1, 100000000, 2147483647L, 5};
    static const double flo[4] = {0, 1e-8, -1e9, 0.01}, fhi[4] = {1, 1.0, 1e9, 100};
    int k = data[0] & 3;
    char *s = fz_cstr(data + 1, n - 1);
    int iv;
    fz_clear_err();
    if (pp_parse_int(s, "--n", ilo[k], ihi[k], &iv) == 0) {
        if (iv < ilo[k] || iv > ihi[k]) abort();
    } else {
        fz_check_err("--n");
    }
    float fv;
    fz_clear_err();
    if (pp_parse_float(s, "--x", flo[k], fhi[k], &fv) == 0) {
        if (!isfinite(fv) || fv < (float)flo[k] || fv > (float)fhi[k]) abort();
    } else {
        fz_check_err("--x");
    }
    uint64_t seed;
    fz_clear_err();
    if (pp_parse_seed(s, &seed) == 0) {
        if (seed >= (1ull << 53)) abort();
    } else {
        fz_check_err("--seed");
    }
    int p3[3];
    fz_clear_err();
    if (pp_parse_ints(s, "--patch", 3, 1, 64, p3) == 0) {
        for (int i = 0; i < 3; i++)
            if (p3[i] < 1 || p3[i] > 64) abort();
    } else {
        fz_check_err("--patch");
    }
    pp_label_noise ln;
    fz_clear_err();
    if (pp_label_noise_parse(s, &ln) == 0) {
        if (!(ln.blur >= 0 && ln.noise >= 0 && ln.shift >= 0)) abort();
    } else {
        fz_check_err("--label-noise");
    }
    free(s);
    return 0;
}
