/* common.h - error reporting, checked allocation, timing.
 *
 * Library convention: a function that can fail returns int (0 = ok, -1 = error)
 * and records one human-readable line with pp_seterr(); the caller (usually the
 * CLI) prints it with pp_lasterr(). Out-of-memory is fatal (pp_malloc aborts with
 * file:line), everything a user can cause is a reported error, never a crash. */
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

/* Checked allocation: aborts with the call site on failure (OOM is not a user error). */
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

/* Wall clock in seconds (monotonic). */
double pp_now(void);

/* Whole-file helpers. pp_read_file returns a malloc'd, NUL-terminated buffer; a
 * directory, or a file (or pipe, or device) longer than PP_READ_FILE_MAX bytes, is
 * an error. */
#define PP_READ_FILE_MAX ((uint64_t)5 << 30)
int pp_read_file(const char *path, char **data, size_t *len);
/* Checks, before any long work, that the directory `path` would be written into
 * exists and is writable; the error names the path. */
int pp_check_output_dir(const char *path);
/* Atomic write: writes path.tmp.<pid>, fsyncs, renames over path. */
int pp_write_file_atomic(const char *path, const void *data, size_t len);

/* Peak resident set size of this process in MiB (from /proc/self/status). */
double pp_peak_rss_mb(void);

/* Parse helpers for CLI flags: return -1 and set an error naming `what` on bad input. */
int pp_parse_int(const char *s, const char *what, long lo, long hi, int *out);
int pp_parse_float(const char *s, const char *what, double lo, double hi, float *out);
/* Exactly n comma-separated decimal integers in [lo, hi] ("2,4,4"), no spaces or signs. */
int pp_parse_ints(const char *s, const char *what, int n, long lo, long hi, int *out);
/* A --seed value: a non-negative integer below 2^53 (exact in JSON specs). */
int pp_parse_seed(const char *s, uint64_t *out);

#endif
