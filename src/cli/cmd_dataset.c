/* cmd_dataset.c - `prophy dataset`: write a labelled training set as shards.
 *
 *   prophy dataset --out DIR --count N [--split id|ood] [--seed S] [-W W -H H]
 *                  [--video-frames F] [--scenes a,b,...] [--shard-size K] [-t THREADS] [-q]
 *                  [--vae VAE: the samples' latents instead of their pixels (prophy/latents.h)] */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "prophy/latents.h"
#include "sim/dataset.h"

static void dataset_usage(FILE *f) {
    fprintf(f, "usage: prophy dataset --out DIR --count N [--split id|ood] [--seed S] [-W W -H H]\n"
               "                      [--video-frames F] [--scenes a,b,...] [--shard-size K] [-t THREADS] [-q]\n"
               "                      [--vae VAE]   store the samples' latents (z, first-3-frame latents, token\n"
               "                                    targets) instead of their pixels, for a latent model\n"
               "Format: docs/DATASET.md. Defaults: every scene, %dx%d, %d frames, split id, seed 0.\n",
            PP_SIM_DEF_W, PP_SIM_DEF_H, PP_SIM_DEF_FRAMES);
}

static int parse_scenes(const char *list, pp_dataset_cfg *cfg) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    cfg->nscenes = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const pp_sim_scene *s = pp_sim_find(tok);
        if (!s) return -1;
        if (cfg->nscenes == 64) PP_FAIL("--scenes: too many scenes");
        cfg->scenes[cfg->nscenes++] = pp_sim_scene_index(s);
    }
    if (cfg->nscenes == 0) PP_FAIL("--scenes: empty list");
    return 0;
}

static int parse_dataset_args(int argc, char **argv, pp_dataset_cfg *cfg, const char **dir, const char **vae) {
    int count = -1, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int needs = strcmp(a, "-q") && strcmp(a, "-h") && strcmp(a, "--help");
        if (needs && !(v = cli_value(argc, argv, &i))) return -1;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) dataset_usage(stdout), exit(0);
        else if (!strcmp(a, "-q")) quiet = 1;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) *dir = v;
        else if (!strcmp(a, "--count") || !strcmp(a, "-n")) bad = pp_parse_int(v, "--count", 1, 100000000, &count);
        else if (!strcmp(a, "--split")) {
            if (!strcmp(v, "id")) cfg->split = PP_SPLIT_ID;
            else if (!strcmp(v, "ood")) cfg->split = PP_SPLIT_OOD;
            else return cli_error("--split must be 'id' or 'ood', got '%s'", v), -1;
        } else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) bad = pp_parse_seed(v, &cfg->seed);
        else if (!strcmp(a, "-W") || !strcmp(a, "--width")) bad = pp_parse_int(v, "-W", 1, 1 << 20, &cfg->width);
        else if (!strcmp(a, "-H") || !strcmp(a, "--height")) bad = pp_parse_int(v, "-H", 1, 1 << 20, &cfg->height);
        else if (!strcmp(a, "--video-frames") || !strcmp(a, "-F"))
            bad = pp_parse_int(v, "--video-frames", 0, 1 << 20, &cfg->frames);
        else if (!strcmp(a, "--scenes")) bad = parse_scenes(v, cfg);
        else if (!strcmp(a, "--vae")) *vae = v;
        else if (!strcmp(a, "--shard-size")) bad = pp_parse_int(v, "--shard-size", 1, 1 << 20, &cfg->shard_size);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) bad = pp_parse_int(v, "--threads", 1, 1024, &cfg->threads);
        else return cli_error("dataset: unknown option '%s' (try 'prophy dataset --help')", a), -1;
        if (bad) return cli_lib_error(), -1;
    }
    if (!*dir) return cli_error("dataset: --out DIR is required"), -1;
    if (count < 1) return cli_error("dataset: --count N (N >= 1) is required"), -1;
    if (pp_sim_check_size(cfg->frames, cfg->height, cfg->width)) return cli_lib_error(), -1;
    cfg->count = count;
    cfg->verbose = !quiet;
    return 0;
}

int cmd_dataset(int argc, char **argv) {
    pp_dataset_cfg cfg;
    const char *dir = NULL, *vae = NULL;
    pp_dataset_cfg_default(&cfg);
    if (parse_dataset_args(argc, argv, &cfg, &dir, &vae)) return 1;
    if (cfg.threads > 0) cfg.threads = cli_set_threads(cfg.threads);
    double secs = 0;
    if (vae) {
        pp_vae_model v;
        if (pp_vae_model_open(&v, vae)) return cli_lib_error();
        int rc = pp_latents_write(dir, &cfg, &v, &secs);
        pp_vae_model_free(&v);
        if (rc) return cli_lib_error();
    } else if (pp_dataset_write(dir, &cfg, &secs)) {
        return cli_lib_error();
    }
    if (cfg.verbose)
        fprintf(stderr, "dataset: wrote %lld samples to %s in %.2f s (%.1f samples/s)\n", (long long)cfg.count,
                dir, secs, (double)cfg.count / (secs > 0 ? secs : 1e-9));
    return 0;
}
