/* fuzz_util.h - helpers shared by the libFuzzer harnesses (fuzz/fuzz_*.c).
 *
 * Readers that take a path get the input written to a file in a private scratch
 * directory (on /dev/shm when it exists), removed when the fuzzer exits normally.
 * Every harness also checks the library's error contract: a reader that fails
 * must have set one error line (pp_lasterr), and for a file reader that line must
 * name the file. A broken contract aborts, so libFuzzer records it as a finding. */
#ifndef PP_FUZZ_UTIL_H
#define PP_FUZZ_UTIL_H
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"

static char g_fz_dir[96];

static inline void fz_cleanup(void) {
    DIR *d = opendir(g_fz_dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) /* one level of subdirectories at most */
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", g_fz_dir, e->d_name);
            DIR *sub = opendir(p);
            if (sub) {
                struct dirent *f;
                char q[768];
                while ((f = readdir(sub)))
                    if (strcmp(f->d_name, ".") && strcmp(f->d_name, "..")) {
                        snprintf(q, sizeof q, "%s/%s", p, f->d_name);
                        unlink(q);
                    }
                closedir(sub);
                rmdir(p);
            } else {
                unlink(p);
            }
        }
    closedir(d);
    rmdir(g_fz_dir);
}

/* The scratch directory (created on first use). */
static inline const char *fz_dir(void) {
    if (!g_fz_dir[0]) {
        struct stat st;
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(g_fz_dir, sizeof g_fz_dir, "%s/ppfuzz.XXXXXX", base);
        if (!mkdtemp(g_fz_dir)) abort();
        atexit(fz_cleanup);
    }
    return g_fz_dir;
}

/* DIR/name in a ring of static buffers (the 8 most recent stay valid). */
static inline const char *fz_path(const char *name) {
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", fz_dir(), name);
    return p;
}

/* Writes n bytes to DIR/name (replacing it) and returns the path. */
static inline const char *fz_write(const char *name, const uint8_t *data, size_t n) {
    const char *path = fz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) abort();
    while (n) {
        ssize_t w = write(fd, data, n);
        if (w <= 0) abort();
        data += w;
        n -= (size_t)w;
    }
    close(fd);
    return path;
}

static inline void fz_mkdir(const char *name) {
    if (mkdir(fz_path(name), 0700) != 0 && access(fz_path(name), F_OK) != 0) abort();
}

/* A NUL-terminated malloc'd copy of the input. */
static inline char *fz_cstr(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = 0;
    return s;
}

/* Clears the error line before a call, so a failure that sets none is seen. */
static inline void fz_clear_err(void) { pp_seterr("%s", ""); }

/* A call failed: it must have set an error line, naming `name` when not NULL. */
static inline void fz_check_err(const char *name) {
    const char *e = pp_lasterr();
    if (!strcmp(e, "unknown error")) {
        fprintf(stderr, "fuzz: a reader failed without setting an error line\n");
        abort();
    }
    if (name && !strstr(e, name)) {
        fprintf(stderr, "fuzz: error line does not name '%s': %s\n", name, e);
        abort();
    }
}
#endif
