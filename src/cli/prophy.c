/* prophy.c - the command: dispatches `prophy <command> ...` to src/cli/cmd_*.c */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/cpu.h"
#include "base/threads.h"
#include "cli.h"
#include "nn/blas.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} g_cmds[] = {
    {"generate", cmd_generate, "generate a video from a prompt (text-to-video or first-frame prediction)"},
    {"train", cmd_train, "train a model (flow matching, AdamW, atomic checkpoints, --resume)"},
    {"sim", cmd_sim, "simulate and render one labelled physics video"},
    {"dataset", cmd_dataset, "write a labelled training set as shards"},
    {"eval", cmd_eval, "measure a video's adherence to physical law"},
    {"route", cmd_route, "show which experts a ProPhy model routed each token to, as a GIF"},
    {"vae", cmd_vae, "the video VAE: train, encode, decode, recon"},
    {"inspect", cmd_inspect, "validate a safetensors file and list its tensors"},
    {"bench", cmd_bench, "measure training and sampling throughput"},
};
#define NCMDS (int)(sizeof g_cmds / sizeof g_cmds[0])

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("prophy: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_lib_error(void) { return cli_error("%s", pp_lasterr()); }

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_error("%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

const char *cli_shipped(const char *given, const char *file, char *buf, size_t n) {
    if (given) return given;
    snprintf(buf, n, "models/%s", file);
    if (access(buf, R_OK) == 0) return buf;
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        for (int up = 0; slash && up < 2; up++) { /* the binary's folder, then its parent */
            *slash = 0;
            snprintf(buf, n, "%s/models/%s", exe[0] ? exe : "/", file);
            if (access(buf, R_OK) == 0) return buf;
            slash = strrchr(exe, '/');
        }
    }
    snprintf(buf, n, "models/%s", file); /* none found: the name the error will give */
    return buf;
}

static void usage(FILE *f) {
    fprintf(f, "usage: prophy [-v] <command> [options]   (prophy <command> --help for its options)\n"
               "  -v   first print the CPU, the OpenBLAS kernel and the threads\n\ncommands:\n");
    for (int i = 0; i < NCMDS; i++) fprintf(f, "  %-9s %s\n", g_cmds[i].name, g_cmds[i].help);
}

int cli_set_threads(int n) {
    int cpus = pp_cpu_count();
    if (n > cpus) {
        fprintf(stderr, "warning: -t %d: this machine runs %d threads at once; using %d\n", n, cpus, cpus);
        n = cpus;
    }
    pp_set_threads(n);
    return pp_get_threads();
}

/* Two settings that libgomp and OpenBLAS read once, when they are loaded, so the
 * command re-executes itself once with them in the environment:
 * - OpenMP's default wait policy spins at every barrier. On a laptop that is doing
 *   anything else (or a CI box shared with other jobs) a descheduled spinning
 *   thread makes each of the hundreds of parallel regions per step cost
 *   milliseconds: measured 10-50x slower training on 2 busy cores. Unless the user
 *   chose a policy: OMP_WAIT_POLICY=PASSIVE (threads sleep; ~1% slower when idle).
 * - OpenBLAS's kernel, when it fell back to one below what the CPU has (nn/blas.h);
 *   an OPENBLAS_CORETYPE the user set wins. */
static void prepare_environment(char **argv) {
    int again = 0;
    if (!getenv("OMP_WAIT_POLICY")) again = !setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    again |= pp_blas_prepare_env();
    if (again) execv("/proc/self/exe", argv); /* returns only on failure: then carry on as we are */
}

static void describe_machine(void) {
    char model[256];
    fprintf(stderr, "cpu: %s (%s), %d CPUs; OpenBLAS kernel %s (%s); OpenMP %d threads, wait policy %s\n",
            pp_cpu_model(model, sizeof model), pp_isa_name(pp_cpu_isa()), pp_cpu_count(), pp_blas_core(),
            pp_blas_origin(), pp_get_threads(), getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "default");
}

/* A full disk, a closed pipe: what was printed did not arrive. */
static int finish_output(int rc) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (!rc) cli_error("cannot write to standard output: %s", strerror(errno ? errno : EIO));
        return 1;
    }
    return rc;
}

int main(int argc, char **argv) {
    prepare_environment(argv);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit is a write error, not a kill */
    int verbose = argc > 1 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--verbose"));
    if (verbose) {
        describe_machine();
        argc--, argv++;
    }
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return finish_output(argc < 2 && !verbose ? 1 : 0);
    }
    for (int i = 0; i < NCMDS; i++)
        if (!strcmp(argv[1], g_cmds[i].name)) return finish_output(g_cmds[i].fn(argc - 1, argv + 1));
    return cli_error("unknown command '%s' (try 'prophy --help')", argv[1]);
}
