/* cmd_eval.c - `prophy eval`: measure a video's adherence to physical law.
 *
 *   prophy eval VIDEO.y4m|FRAMES_%03d.png --spec SPEC.json [--cond-frames K] [--json]
 *               [--parser soft|threshold] [--maps MAPS.bin]
 *   prophy eval --selftest --scene NAME|all [--count N] [--seed S] [--split id|ood]
 *               [-W W -H H --video-frames F] [--cond-frames K] [--parser P]
 *               [--corrupt all|NAME] [--json]
 *   prophy eval -m MODEL --heldout N [--split id|ood|both] [--seed S] [--cond-frames K]
 *               [--steps N] [--cfg-scale X] [--exclude-data DIR] [--jsonl FILE]
 *               [--table FILE.md] [-t N]
 *   prophy eval -m MODEL --loss DATA [--count N] [--levels S,...]   (cmd_eval_loss.c)
 * The selftest simulates N videos per scene (seeds S .. S+N-1), evaluates each
 * against its own spec and reports the share passing every check (pc), the
 * semantic detectors (sa), the velocity error and, with --corrupt, the share of
 * corrupted videos caught (pc_pass false). The held-out benchmark (src/eval/heldout.h)
 * generates with a ProPhy model and evaluates what it made. See docs/EVAL.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval/eval.h"
#include "io/maps.h"
#include "benchmark/heldout.h"
#include "prophy/generate.h"
#include "prophy/model.h"
#include "sim/sim.h"
#include "base/threads.h"
#include "io/json.h"

typedef struct {
    const char *video, *spec, *maps, *scene, *corrupt;
    int cond, json, selftest, count, frames, height, width, split, verbose;
    long long seed;
    pp_eval_parser parser;
    /* held-out benchmark */
    const char *model, *exclude, *jsonl, *table, *vae;
    pp_vae_model *recon;     /* --selftest --vae: judge each video's reconstruction */
    int heldout, cond_given, steps, threads;
    float cfg;
} eval_opts;

static void eval_usage(FILE *f) {
    fprintf(f, "usage: prophy eval VIDEO.y4m|FRAMES_%%03d.png --spec SPEC.json [--cond-frames K] [--json]\n"
               "                   [--parser soft|threshold] [--maps MAPS.bin]\n"
               "       prophy eval --selftest --scene NAME|all [--count N] [--seed S] [--split id|ood]\n"
               "                   [-W W -H H --video-frames F] [--cond-frames K] [--corrupt all|NAME] [--json] [-v]\n"
               "                   [--vae VAE: judge each video's reconstruction by the VAE, and its PSNR]\n"
               "       prophy eval -m MODEL --heldout N [--split id|ood|both] [--seed S] [--cond-frames K (3)]\n"
               "                   [--steps N (20)] [--cfg-scale X (3 latent, 5 pixel model)] [--exclude-data DIR] [--jsonl FILE]\n"
               "                   [--table FILE.md] [--vae VAE (a latent model's)] [-t N]\n"
               "       prophy eval -m MODEL --loss DATA [--count N] [--levels S,...]: the loss at fixed noise levels\n");
}

static int parse_flag(eval_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
#define VAL() do { if (!(v = cli_value(argc, argv, i))) return -1; } while (0)
#define INT(what, lo, hi, dst) do { VAL(); if (pp_parse_int(v, what, lo, hi, dst)) return cli_lib_error(), -1; } while (0)
    if (!strcmp(a, "--spec")) { VAL(); o->spec = v; }
    else if (!strcmp(a, "--json")) o->json = 1;
    else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) o->verbose = 1;
    else if (!strcmp(a, "--selftest")) o->selftest = 1;
    else if (!strcmp(a, "--maps")) { VAL(); o->maps = v; }
    else if (!strcmp(a, "--scene")) { VAL(); o->scene = v; }
    else if (!strcmp(a, "--corrupt")) { VAL(); o->corrupt = v; }
    else if (!strcmp(a, "--cond-frames")) { INT("--cond-frames", 0, 100000, &o->cond); o->cond_given = 1; }
    else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); o->model = v; }
    else if (!strcmp(a, "--vae")) { VAL(); o->vae = v; }
    else if (!strcmp(a, "--heldout")) INT("--heldout", 1, 1000000, &o->heldout);
    else if (!strcmp(a, "--steps")) INT("--steps", 1, 10000, &o->steps);
    else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) INT("--threads", 1, 1024, &o->threads);
    else if (!strcmp(a, "--cfg-scale")) {
        VAL();
        if (pp_parse_float(v, "--cfg-scale", 0, 1000, &o->cfg)) return cli_lib_error(), -1;
    }
    else if (!strcmp(a, "--exclude-data")) { VAL(); o->exclude = v; }
    else if (!strcmp(a, "--jsonl")) { VAL(); o->jsonl = v; }
    else if (!strcmp(a, "--table")) { VAL(); o->table = v; }
    else if (!strcmp(a, "--count")) INT("--count", 1, 1000000, &o->count);
    else if (!strcmp(a, "--video-frames")) INT("--video-frames", 1, PP_SIM_MAX_FRAMES, &o->frames);
    else if (!strcmp(a, "-H")) INT("-H", 8, PP_SIM_MAX_SIZE, &o->height);
    else if (!strcmp(a, "-W")) INT("-W", 8, PP_SIM_MAX_SIZE, &o->width);
    else if (!strcmp(a, "--seed")) {
        int s;
        INT("--seed", 0, 2000000000, &s);
        o->seed = s;
    } else if (!strcmp(a, "--split")) {
        VAL();
        if (strcmp(v, "id") && strcmp(v, "ood") && strcmp(v, "both"))
            return cli_error("--split must be 'id', 'ood' or 'both', got '%s'", v), -1;
        o->split = !strcmp(v, "both") ? 2 : !strcmp(v, "ood");
    } else if (!strcmp(a, "--parser")) {
        VAL();
        if (strcmp(v, "soft") && strcmp(v, "threshold"))
            return cli_error("--parser must be 'soft' or 'threshold', got '%s'", v), -1;
        o->parser = !strcmp(v, "threshold") ? PP_PARSE_THRESHOLD : PP_PARSE_SOFT;
    } else return 0;
    return 1;
#undef INT
#undef VAL
}

static int parse_args(eval_opts *o, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return eval_usage(stdout), 2;
        int rc = parse_flag(o, argc, argv, &i);
        if (rc < 0) return 1;
        if (rc) continue;
        if (argv[i][0] == '-' && argv[i][1]) return cli_error("eval: unknown option '%s' (see prophy eval --help)", argv[i]);
        if (o->video) return cli_error("eval: more than one video given ('%s' and '%s')", o->video, argv[i]);
        o->video = argv[i];
    }
    return 0;
}

static int load_maps(const eval_opts *o, const pp_video *v, pp_eval_opts *eo) {
    if (!o->maps) return 0;
    float *m;
    int c, f, h, w;
    if (pp_maps_load(o->maps, &m, &c, &f, &h, &w)) return cli_lib_error();
    if (f > v->frames || h > v->height || w > v->width) {
        free(m);
        return cli_error("%s: F H W: the maps' %dx%dx%d grid is finer than the video's %dx%dx%d", o->maps, f, h, w,
                         v->frames, v->height, v->width);
    }
    eo->maps = m;
    eo->map_cats = c, eo->map_f = f, eo->map_h = h, eo->map_w = w;
    return 0;
}

static int eval_one(const eval_opts *o) {
    if (!o->video) return cli_error("eval: no video given (see prophy eval --help)");
    if (!o->spec) return cli_error("eval: --spec SPEC.json is required");
    pp_eval_spec s;
    pp_video v;
    pp_eval_report r;
    pp_eval_opts eo = {.cond_frames = o->cond, .parser = o->parser};
    if (pp_eval_spec_load(o->spec, &s)) return cli_lib_error();
    if (pp_video_read(&v, o->video)) {
        pp_eval_spec_free(&s);
        return cli_lib_error();
    }
    int rc = load_maps(o, &v, &eo);
    if (!rc && pp_eval_run(&v, &s, &eo, &r)) rc = cli_lib_error();
    if (!rc && o->json) {
        cJSON *j = pp_eval_report_json(&r, &s);
        char *txt = pp_json_print(j, 0);
        printf("%s\n", txt);
        free(txt);
        cJSON_Delete(j);
    } else if (!rc) {
        pp_eval_report_print(&r, &s, stdout);
    }
    free((void *)eo.maps);
    pp_video_free(&v);
    pp_eval_spec_free(&s);
    return rc;
}

/* ---- selftest ---- */
typedef struct {
    int n, pc, sa, nvel, fails[PP_EVAL_MAX_CHECKS];
    char fail_names[PP_EVAL_MAX_CHECKS][48];
    int nfail_names;
    char val_names[PP_EVAL_MAX_CHECKS][48];
    double val_lo[PP_EVAL_MAX_CHECKS], val_hi[PP_EVAL_MAX_CHECKS];
    int nval_names;
    double vel_sum, vel_max;
    int tried[PP_CORRUPT_N], caught[PP_CORRUPT_N];
    int npsnr;
    double psnr_sum, psnr_min; /* --vae: the reconstructions' PSNR (dB) */
} tally;

static const char *short_name(const char *n) { return strchr(n, '.') ? strchr(n, '.') + 1 : n; }

/* Range of every check's value over the ground-truth videos (for the tolerances). */
static void note_values(tally *t, const pp_eval_report *r) {
    for (int i = 0; i < r->nchecks; i++) {
        const char *nm = short_name(r->checks[i].name);
        int k = 0;
        while (k < t->nval_names && strcmp(t->val_names[k], nm)) k++;
        if (k == PP_EVAL_MAX_CHECKS) continue;
        if (k == t->nval_names) {
            snprintf(t->val_names[t->nval_names++], 48, "%s", nm);
            t->val_lo[k] = INFINITY;
            t->val_hi[k] = -INFINITY;
        }
        t->val_lo[k] = fmin(t->val_lo[k], r->checks[i].value);
        t->val_hi[k] = fmax(t->val_hi[k], r->checks[i].value);
    }
}

static void note_failures(tally *t, const pp_eval_report *r) {
    note_values(t, r);
    for (int i = 0; i < r->nchecks; i++) {
        if (r->checks[i].pass) continue;
        const char *nm = strchr(r->checks[i].name, '.') ? strchr(r->checks[i].name, '.') + 1 : r->checks[i].name;
        int k = 0;
        while (k < t->nfail_names && strcmp(t->fail_names[k], nm)) k++;
        if (k == t->nfail_names && k < PP_EVAL_MAX_CHECKS) snprintf(t->fail_names[t->nfail_names++], 48, "%s", nm);
        if (k < PP_EVAL_MAX_CHECKS) t->fails[k]++;
    }
}

static int corruption_wanted(const eval_opts *o, int c) {
    return o->corrupt && (!strcmp(o->corrupt, "all") || !strcmp(o->corrupt, pp_eval_corruption_names[c]));
}

static int eval_sim(const eval_opts *o, const pp_sim_out *out, pp_eval_spec *s, tally *t) {
    pp_eval_opts eo = {.cond_frames = o->cond, .parser = o->parser};
    pp_eval_report r;
    if (pp_eval_run(&out->video, s, &eo, &r)) return -1;
    t->n++;
    t->pc += r.pc_pass;
    if (o->verbose && !r.pc_pass)
        for (int i = 0; i < r.nchecks; i++)
            if (!r.checks[i].pass)
                printf("  seed %lld: %s = %.4g (tolerance %.4g)\n", (long long)out->seed, r.checks[i].name, r.checks[i].value,
                       r.checks[i].tolerance);
    t->sa += r.sa_pass;
    note_failures(t, &r);
    if (isfinite(r.velocity_error)) {
        t->vel_sum += r.velocity_error;
        t->vel_max = fmax(t->vel_max, r.velocity_error);
        t->nvel++;
    }
    eo.cond_frames = 0;
    for (int c = 0; c < PP_CORRUPT_N; c++) {
        if (!corruption_wanted(o, c)) continue;
        pp_video v;
        if (pp_video_alloc(&v, out->video.frames, out->video.height, out->video.width, out->video.fps)) return -1;
        memcpy(v.rgb, out->video.rgb, (size_t)v.frames * v.height * v.width * 3);
        if (!pp_eval_corrupt(&v, s, (pp_eval_corruption)c, 0)) {
            if (pp_eval_run(&v, s, &eo, &r)) { pp_video_free(&v); return -1; }
            t->tried[c]++;
            t->caught[c] += !r.pc_pass;
            if (o->verbose && r.pc_pass) printf("  seed %lld: %s not caught\n", (long long)out->seed, pp_eval_corruption_names[c]);
        }
        pp_video_free(&v);
    }
    return 0;
}

/* --vae: out's video becomes its reconstruction (encode + decode); PSNR into t */
static int reconstruct(const eval_opts *o, pp_sim_out *out, tally *t) {
    const pp_vae *m = &o->recon->m;
    pp_video *v = &out->video;
    int F = v->frames, H = v->height, W = v->width;
    size_t n = (size_t)3 * F * H * W;
    if (pp_vae_check_video(m, F, H, W)) return -1;
    float *x = pp_alloc_floats(n), *rec = pp_alloc_floats(n);
    float *z = pp_alloc_floats((size_t)m->cfg.z_dim * pp_vae_latent_frames(m, F) * (H / m->sdown) * (W / m->sdown));
    pp_video_to_float(v, x);
    int rc = pp_vae_encode(m, o->recon->params, x, F, H, W, z, NULL) ||
             pp_vae_decode(m, o->recon->params, z, m->cfg.z_dim, pp_vae_latent_frames(m, F), H / m->sdown, W / m->sdown, rec);
    if (!rc) {
        pp_video_from_float(v, rec);
        double se = 0;
        pp_video_to_float(v, rec); /* the 8-bit video the evaluator sees */
        for (size_t i = 0; i < n; i++) se += (double)(rec[i] - x[i]) * (rec[i] - x[i]);
        double psnr = 10.0 * log10(4.0 / fmax(se / (double)n, 1e-12));
        t->psnr_sum += psnr, t->psnr_min = t->npsnr ? fmin(t->psnr_min, psnr) : psnr, t->npsnr++;
    }
    pp_free_aligned(x), pp_free_aligned(rec), pp_free_aligned(z);
    return rc;
}

static int selftest_scene(const eval_opts *o, const pp_sim_scene *sc, tally *t) {
    for (int k = 0; k < o->count; k++) {
        pp_sim_out out;
        pp_eval_spec s;
        if (pp_sim_run(sc, (uint64_t)(o->seed + k), o->split, o->frames, o->height, o->width, &out)) return -1;
        if (o->recon && reconstruct(o, &out, t)) {
            pp_sim_free(&out);
            return -1;
        }
        int rc = pp_eval_spec_from_json(out.spec, &s) || eval_sim(o, &out, &s, t);
        pp_eval_spec_free(&s);
        pp_sim_free(&out);
        if (rc) return -1;
    }
    return 0;
}

static cJSON *tally_json(const char *scene, const tally *t) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "scene", scene);
    cJSON_AddNumberToObject(j, "videos", t->n);
    cJSON_AddNumberToObject(j, "pc_pass_rate", (double)t->pc / t->n);
    cJSON_AddNumberToObject(j, "sa_pass_rate", (double)t->sa / t->n);
    if (t->nvel) {
        cJSON_AddNumberToObject(j, "velocity_error_mean", t->vel_sum / t->nvel);
        cJSON_AddNumberToObject(j, "velocity_error_max", t->vel_max);
    }
    if (t->npsnr) {
        cJSON_AddNumberToObject(j, "psnr_mean", t->psnr_sum / t->npsnr);
        cJSON_AddNumberToObject(j, "psnr_min", t->psnr_min);
    }
    cJSON *fails = cJSON_AddObjectToObject(j, "check_failures");
    for (int k = 0; k < t->nfail_names; k++) cJSON_AddNumberToObject(fails, t->fail_names[k], t->fails[k]);
    cJSON *vals = cJSON_AddObjectToObject(j, "check_ranges");
    for (int k = 0; k < t->nval_names; k++) {
        double lh[2] = {t->val_lo[k], t->val_hi[k]};
        cJSON_AddItemToObject(vals, t->val_names[k], cJSON_CreateDoubleArray(lh, 2));
    }
    cJSON *cat = cJSON_AddObjectToObject(j, "catch_rate");
    for (int c = 0; c < PP_CORRUPT_N; c++)
        if (t->tried[c]) cJSON_AddNumberToObject(cat, pp_eval_corruption_names[c], (double)t->caught[c] / t->tried[c]);
    return j;
}

static void tally_print(const char *scene, const tally *t) {
    printf("%-18s %5d  pc %6.1f%%  sa %6.1f%%", scene, t->n, 100.0 * t->pc / t->n, 100.0 * t->sa / t->n);
    if (t->npsnr) printf("  psnr %.2f dB (min %.2f)", t->psnr_sum / t->npsnr, t->psnr_min);
    if (t->nvel) printf("  vel_err mean %.4f max %.4f", t->vel_sum / t->nvel, t->vel_max);
    for (int k = 0; k < t->nfail_names; k++) printf("  [%s x%d]", t->fail_names[k], t->fails[k]);
    if (getenv("PROPHY_EVAL_RANGES"))
        for (int k = 0; k < t->nval_names; k++) printf("\n    %-20s [%.4g, %.4g]", t->val_names[k], t->val_lo[k], t->val_hi[k]);
    for (int c = 0; c < PP_CORRUPT_N; c++)
        if (t->tried[c]) printf("  %s %d/%d", pp_eval_corruption_names[c], t->caught[c], t->tried[c]);
    printf("\n");
}

static int selftest(eval_opts *o) {
    if (!o->scene) return cli_error("eval --selftest needs --scene NAME or --scene all");
    if (o->corrupt && strcmp(o->corrupt, "all")) {
        int ok = 0;
        for (int c = 0; c < PP_CORRUPT_N; c++) ok |= !strcmp(o->corrupt, pp_eval_corruption_names[c]);
        if (!ok) return cli_error("--corrupt: unknown corruption '%s'", o->corrupt);
    }
    if (pp_sim_check_size(o->frames, o->height, o->width)) return cli_lib_error();
    if (o->cond >= o->frames) return cli_error("--cond-frames %d must be below --video-frames %d", o->cond, o->frames);
    int all = !strcmp(o->scene, "all");
    if (!all && !pp_sim_find(o->scene)) return cli_lib_error();
    pp_vae_model vae;
    if (o->vae) { /* judge the VAE's reconstructions of the simulator's videos */
        if (pp_vae_model_open(&vae, o->vae)) return cli_lib_error();
        o->recon = &vae;
    }
    cJSON *arr = cJSON_CreateArray();
    int rc = 0;
    for (int i = 0; i < pp_sim_nscenes() && !rc; i++) {
        const pp_sim_scene *sc = pp_sim_scene_at(i);
        if (!all && strcmp(sc->name, o->scene)) continue;
        tally t;
        memset(&t, 0, sizeof t);
        if (selftest_scene(o, sc, &t)) { rc = cli_lib_error(); break; }
        if (o->json) cJSON_AddItemToArray(arr, tally_json(sc->name, &t));
        else tally_print(sc->name, &t);
        fflush(stdout);
    }
    if (!rc && o->json) {
        char *txt = pp_json_print(arr, 0);
        printf("%s\n", txt);
        free(txt);
    }
    cJSON_Delete(arr);
    if (o->recon) pp_vae_model_free(o->recon);
    return rc;
}

/* ---- held-out benchmark ---- */
static FILE *open_out(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) cli_error("cannot write '%s'", path);
    return f;
}

static int heldout_table(const eval_opts *o, const pp_heldout_result *r) {
    pp_heldout_table(r, stdout);
    if (!o->table) return 0;
    FILE *f = open_out(o->table);
    if (!f) return 1;
    pp_heldout_table(r, f);
    return fclose(f) ? cli_error("cannot write '%s'", o->table) : 0;
}

static int heldout(const eval_opts *o) {
    if (!o->model) return cli_error("eval --heldout needs -m MODEL");
    if (!o->heldout) return cli_error("eval -m MODEL needs --heldout N");
    if (o->video || o->spec || o->selftest) return cli_error("eval --heldout takes no video, --spec or --selftest");
    pp_heldout_cfg c;
    pp_heldout_cfg_default(&c);
    c.n = o->heldout;
    c.splits = o->split == 2 ? 3 : 1 << o->split;
    c.seed = (uint64_t)o->seed;
    if (o->cond_given) c.cond_frames = o->cond;
    if (o->steps) c.steps = o->steps;
    c.exclude_dir = o->exclude;
    c.progress = 1;
    cli_set_threads(o->threads);
    pp_prophy m;
    if (pp_prophy_load(&m, o->model)) return cli_lib_error();
    pp_vae_model vae;
    int has_vae = 0;
    char shipped[4096];
    if (pp_gen_load_vae(&m, cli_shipped(o->vae, CLI_SHIPPED_VAE, shipped, sizeof shipped), &vae, &has_vae)) {
        pp_prophy_free(&m);
        return cli_lib_error();
    }
    c.vae = has_vae ? &vae : NULL;
    c.cfg = o->cfg >= 0 ? o->cfg : pp_gen_default_cfg(&m); /* as generate samples it */
    int rc = 0;
    if (o->jsonl && !(c.jsonl = open_out(o->jsonl))) rc = 1;
    pp_heldout_result r;
    if (!rc && pp_heldout_run(&m, m.params, &c, &r)) rc = (fprintf(stderr, "\n"), cli_lib_error());
    if (c.jsonl && fclose(c.jsonl) && !rc) rc = cli_error("cannot write '%s'", o->jsonl);
    if (!rc) rc = heldout_table(o, &r);
    if (has_vae) pp_vae_model_free(&vae);
    pp_prophy_free(&m);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--loss")) return cmd_eval_loss(argc, argv);
    eval_opts o = {.count = 200, .frames = PP_SIM_DEF_FRAMES, .height = PP_SIM_DEF_H, .width = PP_SIM_DEF_W,
                   .cfg = -1};
    int rc = parse_args(&o, argc, argv);
    if (rc) return rc == 2 ? 0 : rc;
    if (o.heldout || o.model) return heldout(&o);
    if (o.split == 2) return cli_error("--split both is for --heldout");
    if (o.selftest) return selftest(&o);
    return eval_one(&o);
}
