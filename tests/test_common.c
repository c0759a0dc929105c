/* test_common.c - rng determinism and the small helpers of common.c */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
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

TEST(parse_ints_exactly_n) {
    int p[3];
    CHECK(pp_parse_ints("2,4,4", "--patch", 3, 1, 64, p) == 0 && p[0] == 2 && p[1] == 4 && p[2] == 4);
    const char *bad[] = {"1,4,4,9", "1,4", "1,4,", ",1,4,4", "1,4, 4", "1,x,4", "1;4;4", "", "1,4,4 ", "+1,4,4",
                         "1,4,4x", "1,-4,4", "99999999999999999999,1,1", "1,4,99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK_MSG(pp_parse_ints(bad[i], "--patch", 3, 1, 64, p) != 0, "'%s'", bad[i]);
    CHECK(pp_parse_ints("1,65,4", "--patch", 3, 1, 64, p) != 0 && strstr(pp_lasterr(), "out of range"));
    CHECK(pp_parse_ints(NULL, "--patch", 3, 1, 64, p) != 0);
}

/* --seed: digits only (strtoull would take a sign or leading spaces), below 2^53 */
TEST(parse_seed_digits_only) {
    uint64_t seed;
    CHECK(pp_parse_seed(" -5", &seed) != 0 && strstr(pp_lasterr(), "not a non-negative integer"));
    CHECK(pp_parse_seed(" 5", &seed) != 0 && pp_parse_seed("+5", &seed) != 0 && pp_parse_seed("", &seed) != 0);
    CHECK(pp_parse_seed("5", &seed) == 0 && seed == 5);
    CHECK(pp_parse_seed("9007199254740992", &seed) != 0 && strstr(pp_lasterr(), "too large"));
}

TEST(mem_check_and_size_overflow) {
    CHECK(pp_mem_check(1 << 20, "a small buffer") == 0);
    CHECK(pp_mem_check((size_t)1 << 62, "a huge buffer") != 0 && strstr(pp_lasterr(), "a huge buffer needs"));
    CHECK(pp_mul_size((size_t)1 << 40, (size_t)1 << 40) == SIZE_MAX);
    CHECK(pp_mul3_size(2, 3, 4) == 24 && pp_mul_size(0, SIZE_MAX) == 0);
    CHECK(pp_mem_check(SIZE_MAX, "an overflowed size") != 0);
    CHECK(pp_mem_available() > 0 && pp_cpu_count() >= 1);
}

TEST(inputs_must_be_regular_files) {
    const char *fifo = pp_test_path("a_fifo");
    CHECK(mkfifo(fifo, 0600) == 0);
    double t0 = pp_now();
    CHECK(pp_open_input(fifo) < 0 && strstr(pp_lasterr(), "is a pipe")); /* at once, no writer needed */
    char *data;
    CHECK(pp_read_file(fifo, &data, NULL) != 0);
    CHECK(pp_now() - t0 < 5);
    CHECK(pp_read_file("/dev/zero", &data, NULL) != 0 && strstr(pp_lasterr(), "is a device"));
    CHECK(pp_read_file("/tmp", &data, NULL) != 0 && strstr(pp_lasterr(), "is a directory"));
    CHECK(pp_read_file(pp_test_path("missing"), &data, NULL) != 0 && strstr(pp_lasterr(), "cannot open"));
}

static int count_entries_with(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
    if (d) closedir(d);
    return n;
}

TEST(outputs_written_atomically_and_only_over_regular_files) {
    const char *path = pp_test_path("out.txt"), *fifo = pp_test_path("out_fifo"), *dir = pp_test_path("out_dir");
    CHECK(pp_write_file_atomic(path, "one", 3) == 0);
    /* a stale temporary of a writer that died (pid 2^22 - 3 is above any running one here,
     * or gone) is removed by the next write; a live process's (ours) is kept */
    char stale[4200], live[4200];
    snprintf(stale, sizeof stale, "%s.tmp.%d.7", path, 4194301);
    snprintf(live, sizeof live, "%s.tmp.%d.999", path, (int)getpid());
    FILE *f = fopen(stale, "w");
    fclose(f), f = fopen(live, "w"), fclose(f);
    CHECK(pp_write_file_atomic(path, "two", 3) == 0);
    CHECK(access(stale, F_OK) != 0 && access(live, F_OK) == 0);
    unlink(live);
    char *data;
    CHECK(pp_read_file(path, &data, NULL) == 0 && !strcmp(data, "two"));
    free(data);
    /* never over a FIFO, a directory or a device */
    CHECK(mkfifo(fifo, 0600) == 0 && mkdir(dir, 0700) == 0);
    CHECK(pp_write_file_atomic(fifo, "x", 1) != 0 && strstr(pp_lasterr(), "is a pipe"));
    CHECK(pp_write_file_atomic(dir, "x", 1) != 0 && strstr(pp_lasterr(), "is a directory"));
    CHECK(pp_write_file_atomic("/dev/null", "x", 1) != 0 && strstr(pp_lasterr(), "is a device"));
    struct stat st;
    CHECK(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode) && stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    /* through a symlink: the target is replaced, the link stays */
    const char *link = pp_test_path("out_link");
    CHECK(symlink(path, link) == 0);
    CHECK(pp_write_file_atomic(link, "three", 5) == 0);
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(pp_read_file(path, &data, NULL) == 0 && !strcmp(data, "three"));
    free(data);
    /* a failed write leaves the old file and no temporary */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old, lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    static char big[65536];
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int rc = pp_write_file_atomic(path, big, sizeof big);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK(rc != 0 && strstr(pp_lasterr(), "write failed"));
    CHECK(pp_read_file(path, &data, NULL) == 0 && !strcmp(data, "three"));
    free(data);
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    *strrchr(d, '/') = 0;
    CHECK(count_entries_with(d, "out.txt.tmp.") == 0);
}
