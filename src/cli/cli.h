/* cli.h - shared pieces of the prophy command. Each subcommand lives in
 * src/cli/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)` (argv[0] is
 * the subcommand name) and returns the process exit status. */
#ifndef PP_CLI_H
#define PP_CLI_H
#include "base/common.h"

int cmd_train(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_generate_wan(int argc, char **argv); /* generate --wan: Wan2.1 on a user's files */
int cmd_bench(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_eval_loss(int argc, char **argv); /* eval --loss: a model's loss at fixed noise levels */
int cmd_route(int argc, char **argv);
int cmd_vae(int argc, char **argv);

/* Print "prophy: error: <msg>" as one line on stderr; returns 1 (the exit status). */
int cli_error(const char *fmt, ...) PP_PRINTF(1, 2);
/* Print the library's last error (pp_lasterr) as one line; returns 1. */
int cli_lib_error(void);
/* -t N: at most the CPUs this process may use (a warning when clamped); n <= 0
 * leaves OpenMP's default. Returns the thread count in effect. */
int cli_set_threads(int n);
/* The shipped files in models/, the defaults of -m and --vae. */
#define CLI_SHIPPED_MODEL "latent_prophy_long.safetensors"
#define CLI_SHIPPED_VAE "vae.safetensors"
/* given when the user named a file; else the shipped models/FILE: under the working
 * directory when it is there, else beside the prophy binary (its folder or the one
 * above it, so that `prophy` runs from any directory), else models/FILE itself (whose
 * open then fails naming it), written to buf [n]. */
const char *cli_shipped(const char *given, const char *file, char *buf, size_t n);
/* For flag parsing: the value after argv[*i], or NULL with an error printed. */
const char *cli_value(int argc, char **argv, int *i);
#endif
