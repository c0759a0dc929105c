/* test_main.c - runs every registered TEST, prints one line each and a summary. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"

#define MAX_TESTS 1024
typedef struct { const char *name; pp_test_fn fn; } test_entry;
static test_entry g_tests[MAX_TESTS];
static int g_ntests, g_cur_failed;

void pp_test_register(const char *name, pp_test_fn fn) {
    if (g_ntests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    g_tests[g_ntests].name = name;
    g_tests[g_ntests].fn = fn;
    g_ntests++;
}

void pp_test_fail(const char *file, int line, const char *fmt, ...) {
    if (g_cur_failed < 5) { /* report the first few failures of a test */
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "    %s:%d: ", file, line);
        vfprintf(stdout, fmt, ap);
        fprintf(stdout, "\n");
        va_end(ap);
    }
    g_cur_failed++;
}

int pp_test_failed(void) { return g_cur_failed > 0; }

double pp_rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (den < 1e-30) return sqrt(num);
    return sqrt(num / den);
}

const char *pp_fixture_dir(void) {
    const char *d = getenv("PP_FIXTURES");
    return d ? d : "tests/fixtures";
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const test_entry *)a)->name, ((const test_entry *)b)->name);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    qsort(g_tests, (size_t)g_ntests, sizeof g_tests[0], cmp_name);
    int passed = 0, failed = 0;
    for (int i = 0; i < g_ntests; i++) {
        if (filter && !strstr(g_tests[i].name, filter)) continue;
        g_cur_failed = 0;
        g_tests[i].fn();
        if (g_cur_failed) {
            printf("FAIL %s\n", g_tests[i].name);
            failed++;
        } else {
            printf("ok   %s\n", g_tests[i].name);
            passed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
