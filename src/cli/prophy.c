/* prophy.c - the command: dispatches `prophy <command> ...` to src/cli/cmd_*.c */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

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

static void usage(FILE *f) {
    fprintf(f, "usage: prophy <command> [options]   (prophy <command> --help for its options)\n\ncommands:\n");
    for (int i = 0; i < NCMDS; i++) fprintf(f, "  %-9s %s\n", g_cmds[i].name, g_cmds[i].help);
}

/* OpenMP's default wait policy spins at every barrier. On a laptop that is doing
 * anything else (or a CI box shared with other jobs) a descheduled spinning thread
 * makes each of the hundreds of parallel regions per step cost milliseconds:
 * measured 10-50x slower training on 2 busy cores. libgomp reads the policy once
 * at load time, so when the user has not chosen one we re-execute ourselves with
 * OMP_WAIT_POLICY=PASSIVE (threads sleep at barriers; ~1% slower when idle). */
static void prefer_passive_waiting(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv); /* returns only on failure: then carry on as we are */
}

int main(int argc, char **argv) {
    prefer_passive_waiting(argv);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (int i = 0; i < NCMDS; i++)
        if (!strcmp(argv[1], g_cmds[i].name)) return g_cmds[i].fn(argc - 1, argv + 1);
    return cli_error("unknown command '%s' (try 'prophy --help')", argv[1]);
}
