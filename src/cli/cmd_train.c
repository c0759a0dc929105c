/* cmd_train.c - `prophy train`: the flags of ProPhy training on the physics world
 * (train_physics.c runs it: stage 1 from scratch, stage 2 with --init). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "base/threads.h"
#include "train_args.h"

static void usage(void) {
    pp_branch_cfg b = pp_branch_defaults();
    printf("usage: prophy train [options] -o MODEL.safetensors\n"
           "  --world physics          the data: the built-in physics world (the only one)\n"
           "  --data DIR               a dataset made by `prophy dataset` (default: simulate on the fly, split id)\n"
           "  --init STAGE1.safetensors  stage 2: start from a stage-1 model and attach the branch\n"
           "  --branch none|seb|reb|full the physical branch (default: none from scratch, full with --init;\n"
           "                           none with --init continues the backbone: the equal-compute baseline)\n"
           "  --train-backbone         stage 2: also train the backbone and text encoder (default: frozen)\n"
           "  --pb M --semantic-experts E --refine-experts E --top-k K   branch sizes (%d, %d, %d, %d)\n"
           "  --w-coarse X --w-fine X --w-balance X   loss weights (%g, %g, %g)\n"
           "  --maps DIR               external token maps (docs/BRANCH.md) instead of the simulator's\n"
           "  --label-noise blur=R,noise=S,shift=P   degrade the maps like a VLM's would be\n"
           "  --text-layers N          text encoder layers (2)     --plot FILE.png  loss curve (MODEL.loss.png)\n"
           "  --steps N                optimiser steps (1000)      --batch B   batch size (8)\n"
           "  --lr X --warmup N --wd X --clip X --ema X            AdamW (1e-3, 50, 0.01, 1.0, 0 = off)\n"
           "  --lr-decay N             a cosine from lr to lr/10 ending at step N (0: constant lr)\n"
           "  --ema-warmup 0|1         1: the EMA's decay is min(X, (1+t)/(10+t)) at update t (diffusers'),\n"
           "                           so a short run's average forgets the initial weights (0)\n"
           "  --s-dist logit-normal|uniform|mix --s-shift X       flow-matching noise levels (mix: half each)\n"
           "  --drop-text P            probability of an empty prompt (0.1), for CFG\n"
           "  --fg-weight K            weigh the diffusion loss by 1 + K x the maps' coverage of each voxel\n"
           "                           (the moving objects; 0 = plain MSE, the default; --resume keeps the run's)\n"
           "  --dim --layers --heads --ffn --patch t,h,w --text-len --text-dim --freq-dim   model shape\n"
           "  --frame-emb N            a learned embedding per token frame (N frames; 0 = none, Wan)\n"
           "  --video-frames F -W W -H H   training video size    --cond 0|1  first-frame conditioning (1)\n"
           "  --max-cond-frames K --p-cond P   samples get 1..K clean first frames with probability P (3, 0.5)\n"
           "  --ckpt PATH --ckpt-every N   checkpoints (MODEL.ckpt, every 200 steps)\n"
           "  --resume CKPT            continue a run exactly      --time-limit SEC   stop early, checkpointed\n"
           "  --log FILE.csv  -s/--seed S  -t/--threads N  -q/--quiet\n"
           "Model defaults: physics dim 96, 4 layers, 4 heads, ffn 384, patch 2,4,4, text 64 x 48 tokens,\n"
           "16 frames of 32x32 (a dataset's own size wins).\n",
           b.M, b.E_s, b.E_r, b.top_k, (double)b.w_coarse, (double)b.w_fine_align, (double)b.w_balance);
}


enum { SET_SHAPE, SET_SIZE, SET_TEXT, SET_PATCH };

/* Shape and video-size flags. 1 = handled, 0 = not one of these, -1 = error. */
static int parse_shape(train_args *a, const char *f, const char *v) {
    pp_dit_config *d = &a->mc.dit;
    int rc = 0, kind = SET_SHAPE;
    if (!strcmp(f, "--dim")) rc = pp_parse_int(v, f, 6, 8192, &d->dim);
    else if (!strcmp(f, "--layers")) rc = pp_parse_int(v, f, 1, 256, &d->layers);
    else if (!strcmp(f, "--heads")) rc = pp_parse_int(v, f, 1, 256, &d->heads);
    else if (!strcmp(f, "--ffn")) rc = pp_parse_int(v, f, 1, 65536, &d->ffn_dim);
    else if (!strcmp(f, "--freq-dim")) rc = pp_parse_int(v, f, 2, 4096, &d->freq_dim);
    else if (!strcmp(f, "--frame-emb")) rc = pp_parse_int(v, f, 0, PP_DIT_MAX_FRAME_EMB, &d->frame_emb);
    else if (!strcmp(f, "--patch")) rc = pp_parse_ints(v, f, 3, 1, 64, d->patch), kind = SET_PATCH;
    else if (!strcmp(f, "--text-len")) rc = pp_parse_int(v, f, 1, 4096, &d->text_len), kind = SET_TEXT;
    else if (!strcmp(f, "--text-dim")) rc = pp_parse_int(v, f, 1, 16384, &d->text_dim), kind = SET_TEXT;
    else if (!strcmp(f, "--video-frames")) rc = pp_parse_int(v, f, 1, 1024, &a->mc.frames), kind = SET_SIZE;
    else if (!strcmp(f, "-W")) rc = pp_parse_int(v, f, 1, 4096, &a->mc.width), kind = SET_SIZE;
    else if (!strcmp(f, "-H")) rc = pp_parse_int(v, f, 1, 4096, &a->mc.height), kind = SET_SIZE;
    else if (!strcmp(f, "--cond")) rc = pp_parse_int(v, f, 0, 1, &a->mc.cond);
    else return 0;
    a->set[kind] = 1;
    return rc ? -1 : 1;
}

/* The physics world's flags. 1 = handled, 0 = not one of these, -1 = error. */
static int parse_physics(train_args *a, const char *f, const char *v) {
    int rc = 0;
    if (!strcmp(f, "--data")) a->data = v;
    else if (!strcmp(f, "--maps")) a->maps = v;
    else if (!strcmp(f, "--init")) a->init = v;
    else if (!strcmp(f, "--branch")) a->branch = v;
    else if (!strcmp(f, "--plot")) snprintf(a->plot, sizeof a->plot, "%s", v);
    else if (!strcmp(f, "--label-noise")) rc = pp_label_noise_parse(v, &a->noise);
    else if (!strcmp(f, "--text-layers")) rc = pp_parse_int(v, f, 1, 64, &a->text_layers);
    else if (!strcmp(f, "--pb")) rc = pp_parse_int(v, f, 1, 256, &a->branch_cfg.M);
    else if (!strcmp(f, "--semantic-experts")) rc = pp_parse_int(v, f, 1, 256, &a->branch_cfg.E_s);
    else if (!strcmp(f, "--refine-experts")) rc = pp_parse_int(v, f, 1, 256, &a->branch_cfg.E_r);
    else if (!strcmp(f, "--top-k")) rc = pp_parse_int(v, f, 1, 256, &a->branch_cfg.top_k);
    else if (!strcmp(f, "--w-coarse")) rc = pp_parse_float(v, f, 0, 1000, &a->branch_cfg.w_coarse);
    else if (!strcmp(f, "--w-fine")) rc = pp_parse_float(v, f, 0, 1000, &a->branch_cfg.w_fine_align);
    else if (!strcmp(f, "--w-balance")) rc = pp_parse_float(v, f, 0, 1000, &a->branch_cfg.w_balance);
    else return 0;
    return rc ? -1 : 1;
}

/* The trainer's flags. 1 = handled, 0 = not one of these, -1 = error. */
static int parse_trainer(train_args *a, const char *f, const char *v) {
    pp_train_config *t = &a->tc.base;
    int rc = 0, s;
    float x;
    if (!strcmp(f, "--steps")) rc = pp_parse_int(v, f, 1, 100000000, &s), t->steps = s;
    else if (!strcmp(f, "--batch")) rc = pp_parse_int(v, f, 1, 4096, &t->batch);
    else if (!strcmp(f, "--lr")) rc = pp_parse_float(v, f, 1e-8, 1.0, &t->opt.lr);
    else if (!strcmp(f, "--warmup")) rc = pp_parse_int(v, f, 0, 10000000, &t->opt.warmup);
    else if (!strcmp(f, "--lr-decay")) rc = pp_parse_int(v, f, 0, 100000000, &s), t->opt.decay_steps = s;
    else if (!strcmp(f, "--wd")) rc = pp_parse_float(v, f, 0, 1.0, &t->opt.weight_decay);
    else if (!strcmp(f, "--clip")) rc = pp_parse_float(v, f, 0, 1e6, &t->opt.clip_norm);
    else if (!strcmp(f, "--ema")) rc = pp_parse_float(v, f, 0, 0.999999, &t->opt.ema_decay);
    else if (!strcmp(f, "--ema-warmup")) rc = pp_parse_int(v, f, 0, 1, &t->opt.ema_warmup);
    else if (!strcmp(f, "--s-shift")) rc = pp_parse_float(v, f, 0.01, 100, &a->tc.s_shift);
    else if (!strcmp(f, "--fg-weight")) rc = pp_parse_float(v, f, 0, 1000, &a->tc.fg_weight);
    else if (!strcmp(f, "--drop-text")) rc = pp_parse_float(v, f, 0, 1, &a->tc.p_drop_text);
    else if (!strcmp(f, "--max-cond-frames")) rc = pp_parse_int(v, f, 1, 1024, &a->tc.max_cond_frames);
    else if (!strcmp(f, "--p-cond")) rc = pp_parse_float(v, f, 0, 1, &a->tc.p_first_frames);
    else if (!strcmp(f, "--ckpt-every")) rc = pp_parse_int(v, f, 0, 100000000, &s), t->ckpt_every = s;
    else if (!strcmp(f, "--time-limit")) rc = pp_parse_float(v, f, 0, 1e9, &x), t->time_limit = x;
    else if (!strcmp(f, "-s") || !strcmp(f, "--seed")) rc = pp_parse_int(v, f, 0, 2147483647, &s), t->seed = (uint64_t)s;
    else if (!strcmp(f, "--log")) t->log_path = v;
    else if (!strcmp(f, "--s-dist")) {
        if (!strcmp(v, "logit-normal")) a->tc.s_dist = PP_S_LOGIT_NORMAL;
        else if (!strcmp(v, "uniform")) a->tc.s_dist = PP_S_UNIFORM;
        else if (!strcmp(v, "mix")) a->tc.s_dist = PP_S_MIX;
        else return cli_error("--s-dist: unknown distribution '%s' (logit-normal, uniform, mix)", v), -2;
    } else return 0;
    return rc ? -1 : 1;
}

/* Returns 0 ok, 1 error (printed), 2 help printed. */
static int parse(train_args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = NULL;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) return usage(), 2;
        if (!strcmp(f, "-q") || !strcmp(f, "--quiet")) { a->tc.base.quiet = 1; continue; }
        if (!strcmp(f, "--train-backbone")) { a->train_backbone = 1; continue; }
        if (!(v = cli_value(argc, argv, &i))) return 1;
        int rc = 0;
        if (!strcmp(f, "-o")) a->out = v;
        else if (!strcmp(f, "--world")) a->world = v;
        else if (!strcmp(f, "--resume")) a->resume = v;
        else if (!strcmp(f, "--ckpt")) snprintf(a->ckpt, sizeof a->ckpt, "%s", v);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) rc = pp_parse_int(v, f, 1, 1024, &a->threads) ? -1 : 1;
        else if (!(rc = parse_shape(a, f, v)) && !(rc = parse_physics(a, f, v)) && !(rc = parse_trainer(a, f, v)))
            return cli_error("train: unknown option '%s' (see prophy train --help)", f);
        if (rc == -2) return 1;
        if (rc < 0) return cli_lib_error();
    }
    return 0;
}

static void defaults(train_args *a) {
    memset(a, 0, sizeof *a);
    a->mc = (pp_model_config){.dit = {.dim = 96, .ffn_dim = 384, .heads = 4, .layers = 4, .patch = {2, 4, 4},
                                      .out_dim = 3, .text_dim = 64, .text_len = 48, .freq_dim = 64,
                                      .eps = 1e-6f, .rope_theta = 10000.0f},
                              .frames = 16, .height = 32, .width = 32, .fps = 10, .cond = 1};
    a->tc = pp_prophy_train_defaults();
    a->tc.base.ckpt_every = 200;
    a->world = "physics";
    a->text_layers = 2;
    a->branch_cfg = pp_branch_defaults();
}

int cmd_train(int argc, char **argv) {
    train_args a;
    defaults(&a);
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    if (!a.out) return cli_error("train: -o MODEL.safetensors is required");
    if (strcmp(a.world, "physics")) return cli_error("train: unknown world '%s' (physics)", a.world);
    if (pp_adamw_config_check(&a.tc.base.opt)) return cli_lib_error();
    snprintf(a.mc.world, sizeof a.mc.world, "%s", a.world);
    if (!a.ckpt[0]) snprintf(a.ckpt, sizeof a.ckpt, "%s.ckpt", a.out);
    a.tc.base.ckpt_path = a.ckpt;
    if (pp_check_output_dir(a.out) || pp_check_output_dir(a.ckpt)) return cli_lib_error();
    cli_set_threads(a.threads);
    return train_physics(&a) ? cli_lib_error() : 0;
}
