/* common.c - see common.h */

#include "base/common.h"

#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char g_err[1024];

void pp_seterr(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    for (char *p = g_err; *p; p++)
        if (*p == '\n') *p = ' ';
}

const char *pp_lasterr(void) { return g_err[0] ? g_err : "unknown error"; }

static void oom(size_t n, const char *file, int line) {
    fprintf(stderr, "prophy: fatal: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *pp_malloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n, file, line);
    return p;
}

void *pp_calloc_at(size_t n, size_t sz, const char *file, int line) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) oom(n * sz, file, line);
    return p;
}

void *pp_realloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n, file, line);
    return q;
}

char *pp_strdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *d = pp_malloc_at(n, file, line);
    memcpy(d, s, n);
    return d;
}

float *pp_alloc_floats_at(size_t n, int zero, const char *file, int line) {
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (!p) oom(bytes, file, line);
    if (zero) memset(p, 0, bytes);
    return p;
}

void pp_free_aligned(void *p) { free(p); }

double pp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int pp_read_file(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) PP_FAIL("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    size_t cap = 1 << 16, n = 0;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        PP_FAIL("%s: is a directory", path);
    }
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > PP_READ_FILE_MAX) {
            fclose(f);
            PP_FAIL("%s: %lld bytes is larger than the %llu-byte limit for a file read whole", path,
                    (long long)st.st_size, (unsigned long long)PP_READ_FILE_MAX);
        }
        if ((size_t)st.st_size + 1 > cap) cap = (size_t)st.st_size + 1;
    }
    char *buf = pp_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (n >= PP_READ_FILE_MAX) { /* a pipe or device that does not end */
                free(buf);
                fclose(f);
                PP_FAIL("%s: more than the %llu-byte limit for a file read whole", path,
                        (unsigned long long)PP_READ_FILE_MAX);
            }
            cap = cap > PP_READ_FILE_MAX / 2 ? (size_t)PP_READ_FILE_MAX + 1 : 2 * cap;
            buf = pp_realloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        PP_FAIL("%s: read error", path);
    }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return 0;
}

int pp_write_file_atomic(const char *path, const void *data, size_t len) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        PP_FAIL("%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) PP_FAIL("%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            PP_FAIL("%s: write failed: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        PP_FAIL("%s: sync failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        PP_FAIL("%s: rename failed: %s", path, strerror(e));
    }
    return 0;
}

double pp_peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0.0;
    char line[256];
    double kb = 0.0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    fclose(f);
    return kb / 1024.0;
}

int pp_parse_int(const char *s, const char *what, long lo, long hi, int *out) {
    if (!s || !*s) PP_FAIL("%s: missing value", what);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end) PP_FAIL("%s: '%s' is not an integer", what, s);
    if (v < lo || v > hi) PP_FAIL("%s: %ld is out of range [%ld, %ld]", what, v, lo, hi);
    *out = (int)v;
    return 0;
}

int pp_parse_ints(const char *s, const char *what, int n, long lo, long hi, int *out) {
    if (!s || !*s) PP_FAIL("%s: missing value", what);
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long v = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : (end = (char *)p, 0);
        if (end == p || errno || *end != (i + 1 < n ? ',' : '\0'))
            PP_FAIL("%s: '%s' is not %d comma-separated integers", what, s, n);
        if (v < lo || v > hi) PP_FAIL("%s: %ld is out of range [%ld, %ld]", what, v, lo, hi);
        out[i] = (int)v;
        p = end + 1;
    }
    return 0;
}

int pp_parse_float(const char *s, const char *what, double lo, double hi, float *out) {
    if (!s || !*s) PP_FAIL("%s: missing value", what);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) PP_FAIL("%s: '%s' is not a number", what, s);
    if (v < lo || v > hi) PP_FAIL("%s: %g is out of range [%g, %g]", what, v, lo, hi);
    *out = (float)v;
    return 0;
}

int pp_parse_seed(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9') PP_FAIL("--seed: '%s' is not a non-negative integer", s ? s : "");
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) PP_FAIL("--seed: '%s' is not a non-negative integer", s);
    if (v >= (1ULL << 53)) PP_FAIL("--seed: %s is too large (seeds are < 2^53, exact in JSON)", s);
    *out = (uint64_t)v;
    return 0;
}

int pp_check_output_dir(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) PP_FAIL("%s: path too long", path);
    const char *dir = dirname(buf);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) PP_FAIL("%s: directory '%s' does not exist", path, dir);
    if (access(dir, W_OK) != 0) PP_FAIL("%s: directory '%s' is not writable", path, dir);
    return 0;
}
