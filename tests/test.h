/* test.h - a tiny self-registering test framework.
 *
 *   TEST(layernorm_grad) { CHECK(x > 0); CHECK_NEAR(a, b, 1e-5); }
 *
 * Tests register themselves at load time; tests/test_main.c runs them all (or the
 * ones whose name contains argv[1]) and ends with "N passed, N failed". */
#ifndef PP_TEST_H
#define PP_TEST_H
#include <math.h>
#include <stdio.h>

typedef void (*pp_test_fn)(void);
void pp_test_register(const char *name, pp_test_fn fn);
void pp_test_fail(const char *file, int line, const char *fmt, ...);
int pp_test_failed(void); /* has the running test failed so far */
/* A path in this run's scratch directory (created on first use, removed with its
 * contents at exit); the 8 most recent results stay valid. */
const char *pp_test_path(const char *name);

#define TEST(name)                                                                      \
    static void test_##name(void);                                                      \
    __attribute__((constructor)) static void register_##name(void) {                    \
        pp_test_register(#name, test_##name);                                           \
    }                                                                                   \
    static void test_##name(void)

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) pp_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);              \
    } while (0)

#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        if (!(cond)) pp_test_fail(__FILE__, __LINE__, __VA_ARGS__);                     \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                           \
    do {                                                                                \
        double a_ = (a), b_ = (b);                                                      \
        if (!(fabs(a_ - b_) <= (tol)))                                                  \
            pp_test_fail(__FILE__, __LINE__, "%s = %.9g, %s = %.9g, |diff| > %g", #a,   \
                         a_, #b, b_, (double)(tol));                                    \
    } while (0)

/* Relative L2 error ||a - b|| / max(||b||, tiny), accumulated in double. */
double pp_rel_err(const float *a, const float *b, size_t n);

/* Directory of committed fixtures (tests/fixtures), overridable by PP_FIXTURES. */
const char *pp_fixture_dir(void);
#endif
