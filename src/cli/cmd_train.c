/* cmd_train.c - `prophy train`: flow-matching training with AdamW, live progress,
 * a CSV log, atomic checkpoints and exact --resume. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "model.h"
#include "square.h"
#include "threads.h"
#include "train.h"

static void usage(void) {
    printf("usage: prophy train [options] -o MODEL.safetensors\n"
           "  --world square           the data (square: one coloured square moving at constant speed)\n"
           "  --steps N                optimiser steps (1000)      --batch B   batch size (8)\n"
           "  --lr X --warmup N --wd X --clip X --ema X            AdamW (1e-3, 50, 0.01, 1.0, 0 = off)\n"
           "  --s-dist logit-normal|uniform --s-shift X           flow-matching time sampling\n"
           "  --drop-text P            probability of an empty text context (0.1), for CFG\n"
           "  --dim --layers --heads --ffn --patch t,h,w --text-len --text-dim --freq-dim   model shape\n"
           "  --video-frames F -W W -H H   training video size    --cond 0|1  first-frame conditioning (1)\n"
           "  --max-cond-frames K --p-cond P   samples get 1..K clean first frames with probability P (3, 0.5)\n"
           "  --ckpt PATH --ckpt-every N   checkpoints (MODEL.ckpt, every 200 steps)\n"
           "  --resume CKPT            continue a run exactly      --time-limit SEC   stop early, checkpointed\n"
           "  --log FILE.csv  -s/--seed S  -t/--threads N  -q/--quiet\n");
}

typedef struct {
    pp_model_config mc;
    pp_train_config tc;
    const char *out, *resume, *world;
    char ckpt[1024];
    int threads;
} train_args;

static int parse_patch(const char *v, int p[3]) {
    if (!v || sscanf(v, "%d,%d,%d", &p[0], &p[1], &p[2]) != 3 || p[0] < 1 || p[1] < 1 || p[2] < 1)
        PP_FAIL("--patch: '%s' is not three positive integers t,h,w", v ? v : "");
    return 0;
}

/* Returns 0 ok, 1 error (printed), 2 help printed. */
static int parse(train_args *a, int argc, char **argv) {
    pp_dit_config *d = &a->mc.dit;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = NULL;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) return usage(), 2;
        if (!strcmp(f, "-q") || !strcmp(f, "--quiet")) { a->tc.quiet = 1; continue; }
        if (!(v = cli_value(argc, argv, &i))) return 1;
        int rc = 0;
        float x;
        if (!strcmp(f, "-o")) a->out = v;
        else if (!strcmp(f, "--world")) a->world = v;
        else if (!strcmp(f, "--resume")) a->resume = v;
        else if (!strcmp(f, "--ckpt")) snprintf(a->ckpt, sizeof a->ckpt, "%s", v);
        else if (!strcmp(f, "--log")) a->tc.log_path = v;
        else if (!strcmp(f, "--steps")) { int s; rc = pp_parse_int(v, f, 1, 100000000, &s); a->tc.steps = s; }
        else if (!strcmp(f, "--batch")) rc = pp_parse_int(v, f, 1, 4096, &a->tc.batch);
        else if (!strcmp(f, "--lr")) rc = pp_parse_float(v, f, 1e-8, 1.0, &a->tc.opt.lr);
        else if (!strcmp(f, "--warmup")) rc = pp_parse_int(v, f, 0, 10000000, &a->tc.opt.warmup);
        else if (!strcmp(f, "--wd")) rc = pp_parse_float(v, f, 0, 1.0, &a->tc.opt.weight_decay);
        else if (!strcmp(f, "--clip")) rc = pp_parse_float(v, f, 0, 1e6, &a->tc.opt.clip_norm);
        else if (!strcmp(f, "--ema")) rc = pp_parse_float(v, f, 0, 0.999999, &a->tc.opt.ema_decay);
        else if (!strcmp(f, "--s-shift")) rc = pp_parse_float(v, f, 0.01, 100, &a->tc.s_shift);
        else if (!strcmp(f, "--drop-text")) rc = pp_parse_float(v, f, 0, 1, &a->tc.p_drop_text);
        else if (!strcmp(f, "--s-dist")) {
            if (!strcmp(v, "logit-normal")) a->tc.s_dist = PP_S_LOGIT_NORMAL;
            else if (!strcmp(v, "uniform")) a->tc.s_dist = PP_S_UNIFORM;
            else return cli_error("--s-dist: unknown distribution '%s' (logit-normal, uniform)", v);
        }
        else if (!strcmp(f, "--dim")) rc = pp_parse_int(v, f, 6, 8192, &d->dim);
        else if (!strcmp(f, "--layers")) rc = pp_parse_int(v, f, 1, 256, &d->layers);
        else if (!strcmp(f, "--heads")) rc = pp_parse_int(v, f, 1, 256, &d->heads);
        else if (!strcmp(f, "--ffn")) rc = pp_parse_int(v, f, 1, 65536, &d->ffn_dim);
        else if (!strcmp(f, "--text-len")) rc = pp_parse_int(v, f, 1, 4096, &d->text_len);
        else if (!strcmp(f, "--text-dim")) rc = pp_parse_int(v, f, 1, 16384, &d->text_dim);
        else if (!strcmp(f, "--freq-dim")) rc = pp_parse_int(v, f, 2, 4096, &d->freq_dim);
        else if (!strcmp(f, "--patch")) rc = parse_patch(v, d->patch);
        else if (!strcmp(f, "--video-frames")) rc = pp_parse_int(v, f, 1, 1024, &a->mc.frames);
        else if (!strcmp(f, "-W")) rc = pp_parse_int(v, f, 1, 4096, &a->mc.width);
        else if (!strcmp(f, "-H")) rc = pp_parse_int(v, f, 1, 4096, &a->mc.height);
        else if (!strcmp(f, "--cond")) rc = pp_parse_int(v, f, 0, 1, &a->mc.cond);
        else if (!strcmp(f, "--max-cond-frames")) rc = pp_parse_int(v, f, 1, 1024, &a->tc.max_cond_frames);
        else if (!strcmp(f, "--p-cond")) rc = pp_parse_float(v, f, 0, 1, &a->tc.p_first_frames);
        else if (!strcmp(f, "--ckpt-every")) { int s; rc = pp_parse_int(v, f, 0, 100000000, &s); a->tc.ckpt_every = s; }
        else if (!strcmp(f, "--time-limit")) { rc = pp_parse_float(v, f, 0, 1e9, &x); a->tc.time_limit = x; }
        else if (!strcmp(f, "-s") || !strcmp(f, "--seed")) { int s; rc = pp_parse_int(v, f, 0, 2147483647, &s); a->tc.seed = (uint64_t)s; }
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) rc = pp_parse_int(v, f, 1, 1024, &a->threads);
        else return cli_error("train: unknown option '%s' (see prophy train --help)", f);
        if (rc) return cli_lib_error();
    }
    return 0;
}

static void defaults(train_args *a) {
    memset(a, 0, sizeof *a);
    a->mc = (pp_model_config){.dit = {.dim = 64, .ffn_dim = 256, .heads = 4, .layers = 4, .patch = {1, 2, 2},
                                      .out_dim = 3, .text_dim = 8, .text_len = 2, .freq_dim = 64,
                                      .eps = 1e-6f, .rope_theta = 10000.0f},
                              .frames = 8, .height = 16, .width = 16, .fps = 8, .cond = 1};
    a->tc = pp_train_defaults();
    a->tc.ckpt_every = 200;
    a->tc.max_cond_frames = 3;
    a->world = "square";
}

int cmd_train(int argc, char **argv) {
    train_args a;
    defaults(&a);
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    if (!a.out) return cli_error("train: -o MODEL.safetensors is required");
    if (strcmp(a.world, "square")) return cli_error("train: unknown world '%s' (square)", a.world);
    snprintf(a.mc.world, sizeof a.mc.world, "%s", a.world);
    if (!a.ckpt[0]) snprintf(a.ckpt, sizeof a.ckpt, "%s.ckpt", a.out);
    a.tc.ckpt_path = a.ckpt;
    if (pp_check_output_dir(a.out) || pp_check_output_dir(a.ckpt)) return cli_lib_error();
    pp_set_threads(a.threads);
    pp_model m;
    pp_trainer *t;
    if (a.resume) {
        t = pp_trainer_resume(&m, a.resume, &a.tc, pp_square_source());
        if (t) fprintf(stderr, "resuming %s at step %ld\n", a.resume, pp_trainer_steps_done(t));
    } else {
        if (pp_model_create(&m, &a.mc)) return cli_lib_error();
        t = pp_trainer_new(&m, &a.tc, pp_square_source());
        if (!t) pp_model_free(&m);
    }
    if (!t) return cli_lib_error(); /* a failed resume leaves no model behind */
    fprintf(stderr, "model: %zu parameters, %d layers, dim %d; video %dx%dx%d; batch %d; %d threads\n",
            m.table.total, m.cfg.dit.layers, m.cfg.dit.dim, m.cfg.frames, m.cfg.height, m.cfg.width,
            a.tc.batch, pp_get_threads());
    rc = pp_trainer_run(t);
    if (!rc) rc = pp_model_save(&m, a.out, pp_trainer_final_weights(t), PP_F32);
    if (!rc) fprintf(stderr, "wrote %s after %ld steps (checkpoint %s)\n", a.out, pp_trainer_steps_done(t), a.ckpt);
    pp_trainer_free(t);
    pp_model_free(&m);
    return rc ? cli_lib_error() : 0;
}
