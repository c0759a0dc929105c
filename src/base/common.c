/* common.c - see common.h */

#include "base/common.h"

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>

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

void pp_fatal(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "prophy: fatal: %s\n", msg);
    exit(1);
}

static void oom(size_t n, const char *file, int line) {
    pp_fatal("out of memory: cannot allocate %.1f MiB (%s:%d; %.1f MiB available)", n / 1048576.0, file, line,
             pp_mem_available() / 1048576.0);
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

/* ------------------------------------------------------------------ memory */

static size_t read_size_file(const char *path) { /* a number, or SIZE_MAX ("max", missing) */
    FILE *f = fopen(path, "r");
    if (!f) return SIZE_MAX;
    unsigned long long v;
    int ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    return ok ? (size_t)v : SIZE_MAX;
}

size_t pp_mem_available(void) {
    size_t avail = SIZE_MAX;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) avail = (size_t)kb * 1024;
        fclose(f);
    }
    size_t lim = read_size_file("/sys/fs/cgroup/memory.max"), cur = read_size_file("/sys/fs/cgroup/memory.current");
    if (lim != SIZE_MAX && cur != SIZE_MAX) {
        size_t left = lim > cur ? lim - cur : 0;
        if (left < avail) avail = left;
    }
    struct rlimit rl;
    int res[2] = {RLIMIT_AS, RLIMIT_DATA};
    for (int i = 0; i < 2; i++)
        if (getrlimit(res[i], &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (size_t)rl.rlim_cur < avail)
            avail = (size_t)rl.rlim_cur;
    return avail;
}

int pp_mem_check(size_t bytes, const char *what) {
    size_t avail = pp_mem_available(), margin = avail / 16; /* the rest of the process lives there too */
    if (bytes != SIZE_MAX && bytes <= avail - margin) return 0;
    if (bytes == SIZE_MAX) PP_FAIL("%s needs more memory than can be addressed", what);
    PP_FAIL("%s needs %.1f GiB of memory, %.1f GiB are available", what, bytes / 1073741824.0,
            avail / 1073741824.0);
}

size_t pp_mul_size(size_t a, size_t b) { return a && b > SIZE_MAX / a ? SIZE_MAX : a * b; }
size_t pp_mul3_size(size_t a, size_t b, size_t c) { return pp_mul_size(pp_mul_size(a, b), c); }

int pp_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ------------------------------------------------------------------ inputs */

int pp_open_input(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
    if (fd < 0) PP_FAIL("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        PP_FAIL("%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        PP_FAIL("%s: %s, not a file that can be read", path,
                S_ISDIR(st.st_mode) ? "is a directory" : S_ISFIFO(st.st_mode) ? "is a pipe" : "is a device");
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

#define READ_MAX ((size_t)1 << 30)

int pp_read_file(const char *path, char **data, size_t *len) {
    int fd = pp_open_input(path);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size > READ_MAX) {
        close(fd);
        PP_FAIL("%s: larger than the %zu MiB this reader accepts", path, READ_MAX >> 20);
    }
    size_t cap = (size_t)st.st_size + 1, n = 0; /* the size may change while reading: bounded growth */
    char *buf = pp_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > READ_MAX) {
                free(buf), close(fd);
                PP_FAIL("%s: larger than the %zu MiB this reader accepts", path, READ_MAX >> 20);
            }
            buf = pp_realloc(buf, cap *= 2);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf), close(fd);
            PP_FAIL("%s: read error: %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return 0;
}

/* ------------------------------------------------------------------ outputs */

/* A process that still runs: it exists and is not a zombie (a killed writer whose
 * parent has not reaped it yet is gone for our purpose). */
static int process_alive(long pid) {
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 0;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1; /* no /proc: trust kill() */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *close = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return !(close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X'));
}

/* Removes "<name>.tmp.<pid>[.<n>]" in dir whose process is gone (a killed writer's). */
static void remove_stale_temps(const char *dir, const char *name) {
    DIR *d = opendir(dir);
    if (!d) return;
    size_t nl = strlen(name);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (strncmp(s, name, nl) || strncmp(s + nl, ".tmp.", 5)) continue;
        char *end;
        long pid = strtol(s + nl + 5, &end, 10);
        if (end == s + nl + 5 || (*end && *end != '.') || pid <= 0) continue;
        if (*end == '.') {
            strtoul(end + 1, &end, 10);
            if (*end) continue;
        }
        if (pid == (long)getpid() || process_alive(pid)) continue;
        char full[8192];
        if (snprintf(full, sizeof full, "%s/%s", dir, s) < (int)sizeof full) unlink(full);
    }
    closedir(d);
}

static void split_path(const char *path, char *dir, size_t dcap, const char **base) {
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash) snprintf(dir, dcap, ".");
    else if (slash == path) snprintf(dir, dcap, "/");
    else snprintf(dir, dcap, "%.*s", (int)(slash - path), path);
}

static atomic_uint g_tmp_seq;

int pp_out_open(pp_out_file *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (snprintf(o->path, sizeof o->path, "%s", path) >= (int)sizeof o->path) PP_FAIL("%s: path too long", path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) { /* write where the link points */
        char *real = realpath(path, NULL);
        if (real && stat(real, &st) == 0 && S_ISREG(st.st_mode) && strlen(real) < sizeof o->path)
            snprintf(o->path, sizeof o->path, "%s", real);
        else if (!real && errno != ENOENT) {
            free(real);
            PP_FAIL("%s: cannot resolve the link: %s", path, strerror(errno));
        }
        free(real);
    }
    if (stat(o->path, &st) == 0 && !S_ISREG(st.st_mode))
        PP_FAIL("%s: %s; an output must be a regular file and is never written over anything else", path,
                S_ISDIR(st.st_mode) ? "is a directory" : S_ISFIFO(st.st_mode) ? "is a pipe" : "is a device");
    char dir[4096];
    const char *base;
    split_path(o->path, dir, sizeof dir, &base);
    remove_stale_temps(dir, base);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld.%u", o->path, (long)getpid(), atomic_fetch_add(&g_tmp_seq, 1));
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (o->fd < 0) PP_FAIL("%s: cannot create: %s", o->tmp, strerror(errno));
    return 0;
}

int pp_out_write(pp_out_file *o, const void *data, size_t len) {
    const char *p = data;
    while (len) {
        ssize_t w = write(o->fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) PP_FAIL("%s: write failed: %s", o->path, strerror(w < 0 ? errno : EIO));
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void pp_out_abort(pp_out_file *o) {
    if (o->fd >= 0) close(o->fd);
    if (o->tmp[0]) unlink(o->tmp);
    o->fd = -1, o->tmp[0] = 0;
}

int pp_out_commit(pp_out_file *o) {
    int rc = 0;
    if (fsync(o->fd) != 0) rc = -1, pp_seterr("%s: write failed: %s", o->path, strerror(errno));
    if (close(o->fd) != 0 && !rc) rc = -1, pp_seterr("%s: write failed: %s", o->path, strerror(errno));
    o->fd = -1;
    if (!rc && rename(o->tmp, o->path) != 0) rc = -1, pp_seterr("%s: cannot rename the temporary over it: %s", o->path, strerror(errno));
    if (rc) {
        pp_out_abort(o);
        return -1;
    }
    o->tmp[0] = 0;
    char dir[4096];
    const char *base;
    split_path(o->path, dir, sizeof dir, &base);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* best effort: the rename is durable once the directory is */
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int pp_write_file_atomic(const char *path, const void *data, size_t len) {
    pp_out_file o;
    if (pp_out_open(&o, path)) return -1;
    if (pp_out_write(&o, data, len)) {
        pp_out_abort(&o);
        return -1;
    }
    return pp_out_commit(&o);
}

static double status_mb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0.0;
    char line[256];
    double kb = 0.0;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) kb = atof(line + n);
    fclose(f);
    return kb / 1024.0;
}

double pp_peak_rss_mb(void) { return status_mb("VmHWM:"); }
double pp_rss_mb(void) { return status_mb("VmRSS:"); }

size_t pp_map_drop(pp_map_range m, const void *p, size_t n) {
    uintptr_t lo = (uintptr_t)m.base, hi = lo + m.len, a = (uintptr_t)p, b = a + n;
    if (!m.base || !p || !n || a >= hi || b <= lo) return 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    a = (a < lo ? lo : a) & ~(page - 1); /* the mapping starts on a page */
    b = b > hi ? hi : b;
    b = (b + page - 1) & ~(page - 1);    /* its last page is mapped whole */
    return madvise((void *)a, b - a, MADV_DONTNEED) == 0 ? (size_t)(b - a) : 0;
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

int pp_parse_ints(const char *s, const char *what, int n, long lo, long hi, int *out) {
    const char *p = s ? s : "";
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        int sep_ok = i < n - 1 ? *end == ',' : *end == 0;
        if (end == p || errno || !sep_ok || *p == ' ' || *p == '+')
            PP_FAIL("%s: '%s' is not %d comma-separated integers", what, s ? s : "", n);
        if (v < lo || v > hi) PP_FAIL("%s: %ld is out of range [%ld, %ld]", what, v, lo, hi);
        out[i] = (int)v;
        p = end + 1;
    }
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
