/* cmd_vae.c - `prophy vae train|encode|decode|recon`: the physics world's video VAE
 * (Wan2.1's architecture, src/wan/vae.h). The shipped VAE (models/vae.safetensors)
 * is used when no -m is given; Wan's own wan_2.1_vae.safetensors works too. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/threads.h"
#include "cli.h"
#include "io/safetensors.h"
#include "io/video.h"
#include "prophy/vae_train.h"


static void usage(void) {
    pp_vae_train_config d = pp_vae_train_defaults();
    printf("usage: prophy vae train -o VAE.safetensors [--data DIR] [options]\n"
           "       prophy vae encode VIDEO -o LATENT.safetensors [-m VAE]\n"
           "       prophy vae decode LATENT.safetensors -o VIDEO [-m VAE] [--upscale N]\n"
           "       prophy vae recon VIDEO -o VIDEO [-m VAE] [--upscale N]   (prints the PSNR)\n"
           "VIDEO: .y4m, .mp4, .webm, a PNG frame pattern (out_%%03d.png) or, to write, .gif / a PNG strip.\n"
           "Videos have 1+4k frames (1, 5, 9, ..., 33) and sizes that are multiples of 8; other\n"
           "frame counts are refused, not padded. -m defaults to %s.\n"
           "train:\n"
           "  --data DIR          videos from a dataset (prophy dataset), else simulated at -W/-H/--video-frames\n"
           "  -W W -H H --video-frames F   simulated video size (128, 128, 33)\n"
           "  --config small|wan21 --dim D --z-dim Z   the architecture (small: dim 16, z 16, [1,2,4,4])\n"
           "  --crop F,H,W        training crops (%d,%d,%d)      --batch B   crops per step (%d)\n"
           "                      (F = 1: an image VAE with zero older time taps, to start a video run from)\n"
           "  --init VAE          start from a VAE file's weights and architecture (not with --resume)\n"
           "  --per-frame         with --init: zero its older time taps and set its time convolutions to\n"
           "                      identity first (a video run from an image VAE trained without them)\n"
           "  --decoder-only      with --init: train the decoder side only; the encoder, so the latents\n"
           "                      and their normalisation, stay --init's (its latent models still work)\n"
           "  --steps N --lr X --warmup N --clip X --ema X   AdamW (1000, %g, %d, %g, 0)\n"
           "  --ema-warmup 0|1     1: the EMA's decay is min(X, (1+t)/(10+t)) at update t (0; as prophy train)\n"
           "  --lr-decay N        a cosine from lr to lr/10 ending at step N (0: constant lr)\n"
           "  --l1 X --mse X --edge X --kl X   loss weights (%g, %g, %g, %g)\n"
           "  --fg X              extra L1/MSE weight of pixels that are not white background (%g)\n"
           "  --color-aug 0|1     permute and sign-flip each crop's colour channels at random (0)\n"
           "  --min-std X         redraw a crop (up to 8 times) whose pixel std is below X (0.05)\n"
           "  --stats N           videos that set the latent normalisation at the end (32)\n"
           "  --ckpt P --ckpt-every N --resume CKPT --log F.csv --plot F.png --time-limit S -s SEED -t N -q\n",
           "models/" CLI_SHIPPED_VAE, d.crop[0], d.crop[1], d.crop[2], d.base.batch, (double)d.base.opt.lr, d.base.opt.warmup,
           (double)d.base.opt.clip_norm, (double)d.loss.w_l1, (double)d.loss.w_mse, (double)d.loss.w_edge,
           (double)d.loss.w_kl, (double)d.loss.w_fg);
}

/* ------------------------------------------------------------------ encode / decode / recon */

typedef struct {
    const char *in, *out, *model;
    int upscale, threads;
} io_args;

static int parse_io(io_args *a, int argc, char **argv) {
    a->upscale = 1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) return usage(), 2;
        if (f[0] != '-' || !f[1]) {
            if (a->in) return cli_error("vae: more than one input ('%s' and '%s')", a->in, f);
            a->in = f;
            continue;
        }
        if (!(v = cli_value(argc, argv, &i))) return 1;
        int rc = 0;
        if (!strcmp(f, "-o")) a->out = v;
        else if (!strcmp(f, "-m") || !strcmp(f, "--model")) a->model = v;
        else if (!strcmp(f, "--upscale")) rc = pp_parse_int(v, f, 1, 64, &a->upscale);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) rc = pp_parse_int(v, f, 1, 1024, &a->threads);
        else return cli_error("vae: unknown option '%s' (see prophy vae --help)", f);
        if (rc) return cli_lib_error();
    }
    if (!a->in) return cli_error("vae: an input file is required");
    if (!a->out) return cli_error("vae: -o OUT is required");
    static char shipped[4096];
    a->model = cli_shipped(a->model, CLI_SHIPPED_VAE, shipped, sizeof shipped);
    if (pp_check_output_dir(a->out)) return cli_lib_error();
    cli_set_threads(a->threads);
    return 0;
}

/* a video file as floats [3,T,H,W] in [-1,1], checked against the VAE's rules */
static int read_video(const pp_vae_model *v, const char *path, pp_video *vid, float **x) {
    if (pp_video_read(vid, path)) return -1;
    if (pp_vae_check_video(&v->m, vid->frames, vid->height, vid->width)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        pp_video_free(vid);
        PP_FAIL("%s: %s", path, msg);
    }
    *x = pp_alloc_floats((size_t)3 * vid->frames * vid->height * vid->width);
    pp_video_to_float(vid, *x);
    return 0;
}

static int write_video(const float *x, int T, int H, int W, float fps, const char *path, int upscale) {
    pp_video v;
    if (pp_video_alloc(&v, T, H, W, fps)) return -1;
    pp_video_from_float(&v, x);
    int rc = pp_video_write(&v, path, upscale);
    pp_video_free(&v);
    return rc;
}

/* A latent file: tensor "latent" [C,t,h,w] and metadata "prophy.latent" with the
 * video's frame count, size and frame rate. */
static int write_latent(const char *path, const float *z, int C, int t, int h, int w, const pp_video *v) {
    pp_st_writer *wr = pp_st_writer_new();
    int64_t shape[4] = {C, t, h, w};
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "frames", v->frames);
    cJSON_AddNumberToObject(j, "height", v->height);
    cJSON_AddNumberToObject(j, "width", v->width);
    cJSON_AddNumberToObject(j, "fps", v->fps);
    int rc = pp_st_add_f32(wr, "latent", PP_F32, 4, shape, z) || pp_st_set_meta_json(wr, "prophy.latent", j);
    cJSON_Delete(j);
    if (!rc) rc = pp_st_save(wr, path);
    pp_st_writer_free(wr);
    return rc;
}

static int vae_encode(int argc, char **argv) {
    io_args a = {0};
    int rc = parse_io(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    pp_vae_model v;
    if (pp_vae_model_open(&v, a.model)) return cli_lib_error();
    pp_video vid;
    float *x = NULL, *z = NULL;
    rc = read_video(&v, a.in, &vid, &x);
    if (!rc) {
        const pp_vae *m = &v.m;
        int t = pp_vae_latent_frames(m, vid.frames), h = vid.height / m->sdown, w = vid.width / m->sdown;
        double t0 = pp_now();
        z = pp_alloc_floats((size_t)m->cfg.z_dim * t * h * w);
        rc = pp_vae_encode(m, v.params, x, vid.frames, vid.height, vid.width, z, NULL) ||
             write_latent(a.out, z, m->cfg.z_dim, t, h, w, &vid);
        if (!rc)
            fprintf(stderr, "wrote %s: %d frames of %dx%d -> latent [%d, %d, %d, %d] in %.2f s\n", a.out, vid.frames,
                    vid.width, vid.height, m->cfg.z_dim, t, h, w, pp_now() - t0);
        pp_video_free(&vid);
    }
    pp_free_aligned(x), pp_free_aligned(z);
    pp_vae_model_free(&v);
    return rc ? cli_lib_error() : 0;
}

static int vae_decode(int argc, char **argv) {
    io_args a = {0};
    int rc = parse_io(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    if (pp_video_check_output(a.out)) return cli_lib_error();
    pp_vae_model v;
    if (pp_vae_model_open(&v, a.model)) return cli_lib_error();
    pp_st_file f;
    float *z = NULL, *x = NULL;
    rc = pp_st_open(&f, a.in);
    const pp_st_tensor *lt = rc ? NULL : pp_st_find(&f, "latent");
    if (!rc && (!lt || lt->ndim != 4)) rc = -1, pp_seterr("%s: no 4-dimensional tensor 'latent' [C,t,h,w]", a.in);
    int C = 0, t = 0, h = 0, w = 0;
    if (!rc) {
        C = (int)lt->shape[0], t = (int)lt->shape[1], h = (int)lt->shape[2], w = (int)lt->shape[3];
        if (pp_vae_check_latent(&v.m, C, t, h, w)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", pp_lasterr());
            rc = -1, pp_seterr("%s: %s (VAE %s)", a.in, msg, a.model);
        }
    }
    if (!rc) {
        z = pp_alloc_floats((size_t)C * t * h * w);
        rc = pp_st_to_f32(&f, lt, z);
    }
    float fps = 10.0f;
    if (!rc) {
        cJSON *j = pp_st_meta(&f, "prophy.latent") ? cJSON_Parse(pp_st_meta(&f, "prophy.latent")) : NULL;
        const cJSON *fp = cJSON_GetObjectItemCaseSensitive(j, "fps");
        if (cJSON_IsNumber(fp) && fp->valuedouble > 0 && fp->valuedouble <= 1000) fps = (float)fp->valuedouble;
        cJSON_Delete(j);
    }
    if (!rc) {
        const pp_vae *m = &v.m;
        int T = pp_vae_video_frames(m, t), H = h * m->sdown, W = w * m->sdown;
        double t0 = pp_now();
        x = pp_alloc_floats((size_t)3 * T * H * W);
        rc = pp_vae_decode(m, v.params, z, C, t, h, w, x) || write_video(x, T, H, W, fps, a.out, a.upscale);
        if (!rc) fprintf(stderr, "wrote %s: %d frames of %dx%d in %.2f s\n", a.out, T, W, H, pp_now() - t0);
    }
    pp_st_close(&f);
    pp_free_aligned(z), pp_free_aligned(x);
    pp_vae_model_free(&v);
    return rc ? cli_lib_error() : 0;
}

/* PSNR of x against ref (both in [-1,1], n values): peak-to-peak 2, as 8-bit PSNR */
static double psnr(const float *x, const float *ref, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) se += (double)(x[i] - ref[i]) * (x[i] - ref[i]);
    return se > 0 ? 10.0 * log10(4.0 / (se / (double)n)) : INFINITY;
}

static int vae_recon(int argc, char **argv) {
    io_args a = {0};
    int rc = parse_io(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    if (pp_video_check_output(a.out)) return cli_lib_error();
    pp_vae_model v;
    if (pp_vae_model_open(&v, a.model)) return cli_lib_error();
    pp_video vid;
    float *x = NULL, *z = NULL, *rec = NULL;
    rc = read_video(&v, a.in, &vid, &x);
    if (!rc) {
        const pp_vae *m = &v.m;
        int T = vid.frames, H = vid.height, W = vid.width, t = pp_vae_latent_frames(m, T);
        size_t n = (size_t)3 * T * H * W;
        z = pp_alloc_floats((size_t)m->cfg.z_dim * t * (H / m->sdown) * (W / m->sdown));
        rec = pp_alloc_floats(n);
        double t0 = pp_now();
        rc = pp_vae_encode(m, v.params, x, T, H, W, z, NULL);
        double t1 = pp_now();
        if (!rc) rc = pp_vae_decode(m, v.params, z, m->cfg.z_dim, t, H / m->sdown, W / m->sdown, rec);
        double t2 = pp_now();
        if (!rc) rc = write_video(rec, T, H, W, vid.fps, a.out, a.upscale);
        if (!rc) {
            printf("psnr %.2f dB\n", psnr(rec, x, n));
            fprintf(stderr, "wrote %s: %d frames of %dx%d, encode %.2f s, decode %.2f s\n", a.out, T, W, H, t1 - t0,
                    t2 - t1);
        }
        pp_video_free(&vid);
    }
    pp_free_aligned(x), pp_free_aligned(z), pp_free_aligned(rec);
    pp_vae_model_free(&v);
    return rc ? cli_lib_error() : 0;
}

/* ------------------------------------------------------------------ train */

typedef struct {
    pp_vae_train_config tc;
    const char *out, *resume, *init, *data, *config;
    char ckpt[1024], plot[1024];
    int threads, dim, z_dim, stats, frames, height, width, config_set, per_frame;
} train_args;

static int parse_train_flag(train_args *a, const char *f, const char *v) {
    pp_train_config *b = &a->tc.base;
    int rc = 0, s;
    float x;
    if (!strcmp(f, "-o")) a->out = v;
    else if (!strcmp(f, "--data")) a->data = v;
    else if (!strcmp(f, "--resume")) a->resume = v;
    else if (!strcmp(f, "--init")) a->init = v;
    else if (!strcmp(f, "--config")) a->config = v, a->config_set = 1;
    else if (!strcmp(f, "--ckpt")) snprintf(a->ckpt, sizeof a->ckpt, "%s", v);
    else if (!strcmp(f, "--plot")) snprintf(a->plot, sizeof a->plot, "%s", v);
    else if (!strcmp(f, "--log")) b->log_path = v;
    else if (!strcmp(f, "--dim")) rc = pp_parse_int(v, f, 1, 1024, &a->dim);
    else if (!strcmp(f, "--z-dim")) rc = pp_parse_int(v, f, 1, PP_VAE_MAX_Z, &a->z_dim);
    else if (!strcmp(f, "--crop")) rc = pp_parse_ints(v, f, 3, 1, 4096, a->tc.crop);
    else if (!strcmp(f, "--batch")) rc = pp_parse_int(v, f, 1, 4096, &b->batch);
    else if (!strcmp(f, "--steps")) rc = pp_parse_int(v, f, 1, 100000000, &s), b->steps = s;
    else if (!strcmp(f, "--lr")) rc = pp_parse_float(v, f, 1e-8, 1.0, &b->opt.lr);
    else if (!strcmp(f, "--warmup")) rc = pp_parse_int(v, f, 0, 10000000, &b->opt.warmup);
    else if (!strcmp(f, "--lr-decay")) rc = pp_parse_int(v, f, 0, 100000000, &s), b->opt.decay_steps = s;
    else if (!strcmp(f, "--clip")) rc = pp_parse_float(v, f, 0, 1e6, &b->opt.clip_norm);
    else if (!strcmp(f, "--ema")) rc = pp_parse_float(v, f, 0, 0.999999, &b->opt.ema_decay);
    else if (!strcmp(f, "--ema-warmup")) rc = pp_parse_int(v, f, 0, 1, &b->opt.ema_warmup);
    else if (!strcmp(f, "--l1")) rc = pp_parse_float(v, f, 0, 1000, &a->tc.loss.w_l1);
    else if (!strcmp(f, "--mse")) rc = pp_parse_float(v, f, 0, 1000, &a->tc.loss.w_mse);
    else if (!strcmp(f, "--edge")) rc = pp_parse_float(v, f, 0, 1000, &a->tc.loss.w_edge);
    else if (!strcmp(f, "--kl")) rc = pp_parse_float(v, f, 0, 1000, &a->tc.loss.w_kl);
    else if (!strcmp(f, "--fg")) rc = pp_parse_float(v, f, 0, 1000, &a->tc.loss.w_fg);
    else if (!strcmp(f, "--color-aug")) rc = pp_parse_int(v, f, 0, 1, &a->tc.color_aug);
    else if (!strcmp(f, "--min-std")) rc = pp_parse_float(v, f, 0, 2, &a->tc.min_std);
    else if (!strcmp(f, "--stats")) rc = pp_parse_int(v, f, 1, 100000, &a->stats);
    else if (!strcmp(f, "-W")) rc = pp_parse_int(v, f, 8, 4096, &a->width);
    else if (!strcmp(f, "-H")) rc = pp_parse_int(v, f, 8, 4096, &a->height);
    else if (!strcmp(f, "--video-frames")) rc = pp_parse_int(v, f, 1, 1024, &a->frames);
    else if (!strcmp(f, "--ckpt-every")) rc = pp_parse_int(v, f, 0, 100000000, &s), b->ckpt_every = s;
    else if (!strcmp(f, "--time-limit")) rc = pp_parse_float(v, f, 0, 1e9, &x), b->time_limit = x;
    else if (!strcmp(f, "-s") || !strcmp(f, "--seed")) rc = pp_parse_int(v, f, 0, 2147483647, &s), b->seed = (uint64_t)s;
    else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) rc = pp_parse_int(v, f, 1, 1024, &a->threads);
    else return 0;
    return rc ? -1 : 1;
}

static int parse_train(train_args *a, int argc, char **argv) {
    a->tc = pp_vae_train_defaults();
    a->tc.base.ckpt_every = 500;
    a->stats = 32, a->frames = 33, a->height = 128, a->width = 128, a->config = "small";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) return usage(), 2;
        if (!strcmp(f, "-q") || !strcmp(f, "--quiet")) {
            a->tc.base.quiet = 1;
            continue;
        }
        if (!strcmp(f, "--per-frame") || !strcmp(f, "--decoder-only")) {
            if (!strcmp(f, "--per-frame")) a->per_frame = 1;
            else a->tc.decoder_only = 1;
            continue;
        }
        if (!(v = cli_value(argc, argv, &i))) return 1;
        int rc = parse_train_flag(a, f, v);
        if (rc == 0) return cli_error("vae train: unknown option '%s' (see prophy vae --help)", f);
        if (rc < 0) return cli_lib_error();
    }
    if (!a->out) return cli_error("vae train: -o VAE.safetensors is required");
    if (strcmp(a->config, "small") && strcmp(a->config, "wan21"))
        return cli_error("vae train: --config must be small or wan21 (got '%s')", a->config);
    if (a->per_frame && !a->init) return cli_error("vae train: --per-frame goes with --init");
    if (a->tc.decoder_only && !a->init)
        return cli_error("vae train: --decoder-only goes with --init (a resume keeps the checkpoint's setting)");
    if (a->tc.decoder_only && a->per_frame)
        return cli_error("vae train: --decoder-only keeps the encoder as it is, --per-frame changes it");
    if (pp_adamw_config_check(&a->tc.base.opt)) return cli_lib_error();
    if (a->init && (a->resume || a->config_set || a->dim || a->z_dim))
        return cli_error("vae train: --init takes the architecture from its file (not with --resume, --config, --dim or --z-dim)");
    if (!a->ckpt[0]) snprintf(a->ckpt, sizeof a->ckpt, "%s.ckpt", a->out);
    if (!a->plot[0]) snprintf(a->plot, sizeof a->plot, "%s.loss.png", a->out);
    a->tc.base.ckpt_path = a->ckpt;
    if (a->tc.base.log_path) a->tc.base.plot_path = a->plot;
    if (pp_check_output_dir(a->out) || pp_check_output_dir(a->ckpt) || pp_check_output_dir(a->plot))
        return cli_lib_error();
    return 0;
}

static pp_vae_trainer *make_trainer(train_args *a, pp_vae_model *v, pp_phys_source *src) {
    if (a->resume) {
        pp_vae_trainer *t = pp_vae_trainer_resume(v, a->resume, &a->tc, src);
        if (t) fprintf(stderr, "resuming %s at step %ld\n", a->resume, pp_vae_trainer_steps_done(t));
        return t;
    }
    if (a->init) {
        if (pp_vae_model_open(v, a->init)) return NULL;
        if (a->per_frame) pp_vae_init_per_frame(&v->m, v->params, 1);
        fprintf(stderr, "starting from the weights of %s%s\n", a->init,
                a->per_frame ? " (older time taps zeroed, time convolutions at identity)" : "");
    } else {
        pp_vae_config c;
        if (!strcmp(a->config, "wan21")) pp_vae_config_wan21(&c);
        else pp_vae_config_small(&c);
        if (a->dim) c.dim = a->dim;
        if (a->z_dim) c.z_dim = a->z_dim;
        if (pp_vae_model_create(v, &c)) return NULL;
        pp_rng r;
        pp_rng_seed(&r, a->tc.base.seed);
        pp_vae_init_weights(&v->m, v->params, &r);
        /* single frames never reach the older time taps: zero them, so the file is a
         * per-frame video VAE for a video run to start from (--init) */
        if (a->tc.crop[0] == 1) pp_vae_init_per_frame(&v->m, v->params, 0);
    }
    pp_vae_trainer *t = pp_vae_trainer_new(v, &a->tc, src);
    if (!t) pp_vae_model_free(v);
    return t;
}

/* the final weights with the latent normalisation of the source's first videos (a
 * decoder fine-tune keeps its starting VAE's) */
static int finish(train_args *a, pp_vae_trainer *t, pp_vae_model *v, pp_phys_source *src) {
    const float *w = pp_vae_trainer_final_weights(t);
    if (pp_vae_trainer_decoder_only(t)) fprintf(stderr, "the encoder and the latent statistics are unchanged\n");
    else {
        fprintf(stderr, "latent statistics from %d videos ...\n", a->stats);
        if (pp_vae_set_latent_stats(v, w, src, a->stats)) return -1;
    }
    if (pp_vae_save(&v->m, &v->table, w, a->out, PP_F32)) return -1;
    pp_vae_model saved = *v;
    saved.params = (float *)w;
    fprintf(stderr, "wrote %s after %ld steps (checkpoint %s); latent checksum %016llx\n", a->out,
            pp_vae_trainer_steps_done(t), a->ckpt, (unsigned long long)pp_vae_checksum(&saved));
    return 0;
}

static int vae_train(int argc, char **argv) {
    train_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_train(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    cli_set_threads(a.threads);
    pp_phys_source_cfg sc = {.data_dir = a.data, .seed = a.tc.base.seed, .frames = a.frames, .height = a.height,
                             .width = a.width, .video_only = 1};
    pp_phys_source *src = pp_phys_source_open(&sc);
    if (!src) return cli_lib_error();
    pp_vae_model v;
    pp_vae_trainer *t = make_trainer(&a, &v, src);
    if (!t) {
        pp_phys_source_close(src);
        return cli_lib_error();
    }
    int F, H, W;
    pp_phys_source_size(src, &F, &H, &W);
    fprintf(stderr, "vae: %.2f M parameters (dim %d, z %d); crops %dx%dx%d of %d frames of %dx%d; batch %d; %d threads\n",
            v.table.total / 1e6, v.m.cfg.dim, v.m.cfg.z_dim, a.tc.crop[0], a.tc.crop[2], a.tc.crop[1], F, W, H,
            a.tc.base.batch, pp_get_threads());
    rc = pp_vae_trainer_run(t);
    if (!rc) rc = finish(&a, t, &v, src);
    pp_vae_trainer_free(t);
    pp_vae_model_free(&v);
    pp_phys_source_close(src);
    return rc ? cli_lib_error() : 0;
}

int cmd_vae(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage();
        return argc < 2 ? 1 : 0;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "train")) return vae_train(argc - 1, argv + 1);
    if (!strcmp(sub, "encode")) return vae_encode(argc - 1, argv + 1);
    if (!strcmp(sub, "decode")) return vae_decode(argc - 1, argv + 1);
    if (!strcmp(sub, "recon")) return vae_recon(argc - 1, argv + 1);
    return cli_error("vae: unknown subcommand '%s' (train, encode, decode, recon)", sub);
}
