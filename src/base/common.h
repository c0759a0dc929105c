/* common.h - error reporting, checked allocation, memory limits, files, timing.
 *
 * Library convention: a function that can fail returns int (0 = ok, -1 = error)
 * and records one human-readable line with pp_seterr(); the caller (usually the
 * CLI) prints it with pp_lasterr(). Everything a user can cause is a reported
 * error, never a crash:
 * - sizes that come from a file or a flag are checked against a bound, and big
 *   buffers against the memory the machine has (pp_mem_check), before anything
 *   is allocated, so an impossible request is one error line saying what it needs;
 * - should an allocation still fail, pp_malloc & co. print one line naming the
 *   size and the call site and exit with status 1 (pp_fatal, the one place the
 *   library ends the process);
 * - inputs must be regular files (a FIFO or a device is refused, never waited on
 *   or read without end), and outputs are written to a temporary file and renamed
 *   over their name, which must not be anything but a regular file. */
#ifndef PP_COMMON_H
#define PP_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define PP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PP_PRINTF(a, b)
#endif

/* Record the last error (thread-local, one line, truncated to 1 KiB). */
void pp_seterr(const char *fmt, ...) PP_PRINTF(1, 2);
const char *pp_lasterr(void);
#define PP_FAIL(...) do { pp_seterr(__VA_ARGS__); return -1; } while (0)

/* Prints "prophy: fatal: <msg>" and exits with status 1: out of memory after the
 * checks, or a broken internal invariant. The only way the library ends the process. */
void pp_fatal(const char *fmt, ...) PP_PRINTF(1, 2) __attribute__((noreturn));

/* Checked allocation: pp_fatal with the size and call site on failure. */
void *pp_malloc_at(size_t n, const char *file, int line);
void *pp_calloc_at(size_t n, size_t sz, const char *file, int line);
void *pp_realloc_at(void *p, size_t n, const char *file, int line);
char *pp_strdup_at(const char *s, const char *file, int line);
#define pp_malloc(n) pp_malloc_at((n), __FILE__, __LINE__)
#define pp_calloc(n, sz) pp_calloc_at((n), (sz), __FILE__, __LINE__)
#define pp_realloc(p, n) pp_realloc_at((p), (n), __FILE__, __LINE__)
#define pp_strdup(s) pp_strdup_at((s), __FILE__, __LINE__)
/* 64-byte aligned float buffers for vector kernels; free with pp_free_aligned(). */
float *pp_alloc_floats_at(size_t n, int zero, const char *file, int line);
#define pp_alloc_floats(n) pp_alloc_floats_at((n), 0, __FILE__, __LINE__)
#define pp_zalloc_floats(n) pp_alloc_floats_at((n), 1, __FILE__, __LINE__)
void pp_free_aligned(void *p);

/* Memory this process may still use, in bytes: the smallest of the system's
 * MemAvailable, the cgroup's limit minus its use, and RLIMIT_AS / RLIMIT_DATA. */
size_t pp_mem_available(void);
/* 0 when `bytes` fit in what is available (with a margin); else -1 and the error
 * "<what> needs X GiB of memory, Y GiB are available". Overflowed sizes (SIZE_MAX)
 * are reported the same way. */
int pp_mem_check(size_t bytes, const char *what);
/* a*b (and a*b*c) or SIZE_MAX on overflow: sizes computed from untrusted numbers */
size_t pp_mul_size(size_t a, size_t b);
size_t pp_mul3_size(size_t a, size_t b, size_t c);

/* The number of CPUs this process may run on (its affinity mask). */
int pp_cpu_count(void);

/* Wall clock in seconds (monotonic). */
double pp_now(void);

/* Opens an input for reading: a regular file only (a FIFO is not waited on; a
 * directory or a device is refused), one error line naming it. Returns the fd. */
int pp_open_input(const char *path);
/* Whole-file read into a malloc'd, NUL-terminated buffer; files over 1 GiB are refused. */
int pp_read_file(const char *path, char **data, size_t *len);
/* Checks, before any long work, that the directory `path` would be written into
 * exists and is writable; the error names the path. */
int pp_check_output_dir(const char *path);
/* An output written atomically: data goes to a temporary file beside it
 * ("<path>.tmp.<pid>.<n>"), which pp_out_commit fsyncs and renames over the
 * path. A path that exists must be a regular file (a symlink is followed to
 * one); temporaries left by earlier processes that died are removed. */
typedef struct {
    char path[4096], tmp[4200];
    int fd;
} pp_out_file;
int pp_out_open(pp_out_file *o, const char *path);
int pp_out_write(pp_out_file *o, const void *data, size_t len);
int pp_out_commit(pp_out_file *o); /* fsync, close, rename; on failure the temporary is removed */
void pp_out_abort(pp_out_file *o); /* close and remove the temporary */
int pp_write_file_atomic(const char *path, const void *data, size_t len);

/* Peak resident set size of this process in MiB (from /proc/self/status). */
double pp_peak_rss_mb(void);
/* Resident set size now, in MiB (VmRSS). */
double pp_rss_mb(void);

/* A read-only file mapping (PROT_READ, MAP_PRIVATE, never written), e.g. a
 * safetensors file whose weights are read in place; {NULL, 0}: none. */
typedef struct {
    const void *base;
    size_t len;
} pp_map_range;
/* Gives the pages of [p, p+n) that lie in m back to the kernel (madvise
 * MADV_DONTNEED, rounded out to whole pages, clamped to m): the process's
 * resident set shrinks, the file's pages stay in the page cache, and the next
 * read of them faults them in again (no disk read unless the cache dropped them).
 * Safe only because m is a read-only file mapping: on anonymous or written
 * memory it would lose data. Returns the bytes given back (0: outside m, or none). */
size_t pp_map_drop(pp_map_range m, const void *p, size_t n);

/* Parse helpers for CLI flags: return -1 and set an error naming `what` on bad input. */
int pp_parse_int(const char *s, const char *what, long lo, long hi, int *out);
int pp_parse_float(const char *s, const char *what, double lo, double hi, float *out);
/* n integers separated by commas ("2,4,4"), each in [lo, hi], nothing else. */
int pp_parse_ints(const char *s, const char *what, int n, long lo, long hi, int *out);
/* A --seed value: a non-negative integer below 2^53 (exact in JSON specs). */
int pp_parse_seed(const char *s, uint64_t *out);

#endif
