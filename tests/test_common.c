/* test_common.c - rng determinism and the small helpers of common.c */
#include <string.h>
#include "base/common.h"
#include "base/rng.h"
#include "test.h"

TEST(rng_deterministic_and_normal) {
    pp_rng a, b;
    pp_rng_seed(&a, 42);
    pp_rng_seed(&b, 42);
    double sum = 0, sq = 0;
    int n = 200000, same = 1;
    for (int i = 0; i < n; i++) {
        float x = pp_rng_normal(&a), y = pp_rng_normal(&b);
        same &= (memcmp(&x, &y, sizeof x) == 0);
        sum += x;
        sq += (double)x * x;
    }
    CHECK(same);
    CHECK_NEAR(sum / n, 0.0, 0.01);
    CHECK_NEAR(sq / n, 1.0, 0.02);
}

TEST(parse_flags_reject_bad_values) {
    int i;
    float f;
    CHECK(pp_parse_int("12", "--steps", 1, 100, &i) == 0 && i == 12);
    CHECK(pp_parse_int("0", "--steps", 1, 100, &i) != 0);
    CHECK(strstr(pp_lasterr(), "--steps") != NULL);
    CHECK(pp_parse_int("12x", "--steps", 1, 100, &i) != 0);
    CHECK(pp_parse_float("-1", "--cfg-scale", 0, 100, &f) != 0);
    CHECK(pp_parse_float("nan", "--cfg-scale", 0, 100, &f) != 0);
    CHECK(pp_parse_float("5.5", "--cfg-scale", 0, 100, &f) == 0 && f == 5.5f);
}
