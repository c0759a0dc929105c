/* test_heldout.c - the held-out benchmark's statistics (the table's intervals);
 * the benchmark itself runs end to end in tests/cli_heldout.sh. */
#include "benchmark/heldout.h"
#include "test.h"

/* The 95 % Wilson score interval: textbook values, the bounds, and its symmetry
 * (k of n successes mirrors n - k failures). */
TEST(wilson_interval_known_values) {
    double lo, hi;
    pp_wilson95(0, 10, &lo, &hi); /* 0 of 10: [0, z^2 / (n + z^2)] */
    CHECK_NEAR(lo, 0.0, 1e-12);
    CHECK_NEAR(hi, 0.2775327998628892, 1e-12);
    pp_wilson95(6, 22, &lo, &hi);
    CHECK_NEAR(lo, 0.1315076028798947, 1e-12);
    CHECK_NEAR(hi, 0.4815173401240238, 1e-12);
    pp_wilson95(10, 10, &lo, &hi);
    CHECK_NEAR(lo, 0.7224672001371107, 1e-12);
    CHECK(hi <= 1.0);
    for (int n = 1; n <= 300; n += 13)
        for (int k = 0; k <= n; k++) {
            double l2, h2, p = (double)k / n;
            pp_wilson95(k, n, &lo, &hi);
            pp_wilson95(n - k, n, &l2, &h2);
            CHECK(lo >= 0 && lo <= p && p <= hi && hi <= 1);
            CHECK_NEAR(lo, 1 - h2, 1e-12);
        }
}
