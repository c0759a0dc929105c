/* cmd_eval_loss.c - `prophy eval -m MODEL --loss DATA`: the model's flow-matching
 * loss on a held-out dataset at fixed noise levels (src/prophy/val_loss.h), the one
 * measure that compares recipes drawing s differently. Prints a one-row Markdown
 * table (samples, the loss at each level, their mean), or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "prophy/val_loss.h"

typedef struct {
    const char *model, *data;
    int json, threads, seed;
    pp_val_loss_cfg c;
} loss_args;

static void usage(void) {
    printf("usage: prophy eval -m MODEL --loss DATA [--count N (64)] [--levels S,S,... (0.05,0.1,0.2,0.3,0.5,0.7,0.9)]\n"
           "                   [--seed S (0)] [--batch B (8)] [--json] [-t N]\n"
           "  the flow-matching loss of MODEL on the first N samples of the dataset DATA (pixels or\n"
           "  latents, what the model diffuses; use one it was not trained on) at each noise level s,\n"
           "  with the same noise for every model: x_t = (1-s) x0 + s eps, |v - (eps - x0)|^2\n");
}

/* "0.05,0.2,0.9" -> levels; one error line naming the bad part. */
static int parse_levels(const char *v, pp_val_loss_cfg *c) {
    char buf[512];
    if (strlen(v) >= sizeof buf) return cli_error("--levels: the list is too long");
    strcpy(buf, v);
    c->n_levels = 0;
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (c->n_levels == PP_VAL_MAX_LEVELS) return cli_error("--levels: more than %d levels", PP_VAL_MAX_LEVELS);
        if (pp_parse_float(p, "--levels", 1e-4, 0.9999, &c->levels[c->n_levels++])) return cli_lib_error();
    }
    return c->n_levels ? 0 : cli_error("--levels: no level in '%s'", v);
}

static int parse(loss_args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) return usage(), 2;
        if (!strcmp(f, "--json")) { a->json = 1; continue; }
        if (!(v = cli_value(argc, argv, &i))) return 1;
        int rc = 0;
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) a->model = v;
        else if (!strcmp(f, "--loss")) a->data = v;
        else if (!strcmp(f, "--levels")) { if (parse_levels(v, &a->c)) return 1; }
        else if (!strcmp(f, "--count")) rc = pp_parse_int(v, f, 1, 1000000, &a->c.count);
        else if (!strcmp(f, "--batch")) rc = pp_parse_int(v, f, 1, 1024, &a->c.batch);
        else if (!strcmp(f, "--seed")) rc = pp_parse_int(v, f, 0, 2147483647, &a->seed);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) rc = pp_parse_int(v, f, 1, 1024, &a->threads);
        else return cli_error("eval --loss: unknown option '%s' (see prophy eval --help)", f);
        if (rc) return cli_lib_error();
    }
    if (!a->model) return cli_error("eval --loss needs -m MODEL");
    if (!a->data) return cli_error("eval --loss needs a dataset directory");
    return 0;
}

static void print_result(const loss_args *a, const double *loss, int n) {
    double mean = 0;
    for (int k = 0; k < a->c.n_levels; k++) mean += loss[k] / a->c.n_levels;
    if (a->json) {
        printf("{\"samples\": %d, \"levels\": [", n);
        for (int k = 0; k < a->c.n_levels; k++) printf("%s%g", k ? ", " : "", (double)a->c.levels[k]);
        printf("], \"loss\": [");
        for (int k = 0; k < a->c.n_levels; k++) printf("%s%.6f", k ? ", " : "", loss[k]);
        printf("], \"mean\": %.6f}\n", mean);
        return;
    }
    printf("| samples |");
    for (int k = 0; k < a->c.n_levels; k++) printf(" s %g |", (double)a->c.levels[k]);
    printf(" mean |\n|---:|");
    for (int k = 0; k < a->c.n_levels; k++) printf("---:|");
    printf("---:|\n| %d |", n);
    for (int k = 0; k < a->c.n_levels; k++) printf(" %.4f |", loss[k]);
    printf(" %.4f |\n", mean);
}

int cmd_eval_loss(int argc, char **argv) {
    loss_args a = {.c = pp_val_loss_defaults()};
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : rc;
    a.c.seed = (uint64_t)a.seed;
    cli_set_threads(a.threads);
    pp_prophy m;
    if (pp_prophy_load(&m, a.model)) return cli_lib_error();
    pp_phys_source_cfg sc = {.data_dir = a.data};
    pp_phys_source *src = pp_phys_source_open(&sc);
    double loss[PP_VAL_MAX_LEVELS];
    int n = 0;
    rc = !src || pp_prophy_val_loss(&m, m.params, src, &a.c, loss, &n);
    if (rc) cli_lib_error();
    else print_result(&a, loss, n);
    if (src) pp_phys_source_close(src);
    pp_prophy_free(&m);
    return rc;
}
