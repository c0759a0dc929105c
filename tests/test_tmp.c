/* test_tmp.c - one scratch directory per test run (pp_test_path, test.h), removed
 * with everything in it when the run ends. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"

static char g_dir[64];

static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(p);
            else unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

__attribute__((destructor)) static void cleanup(void) {
    if (g_dir[0]) rm_tree(g_dir);
}

const char *pp_test_path(const char *name) {
    static char buf[8][256];
    static int k;
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/pp_test.XXXXXX");
        if (!mkdtemp(g_dir)) abort();
    }
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", g_dir, name);
    return p;
}
