/* cmd_generate.c - `prophy generate`: text-to-video (and first-frame prediction)
 * with a trained model, flags after stable-diffusion.cpp. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/threads.h"
#include "cli.h"
#include "io/video.h"
#include "prophy/generate.h"
#include "sim/sim.h"
#include "io/json.h"


typedef struct {
    const char *prompt, *model, *out, *spec, *init, *vae;
    int seed, steps, W, H, F, cond_frames, threads, upscale;
    float cfg, shift;
} gen_args;

static void usage(void) {
    printf("usage: prophy generate -p PROMPT -o OUT.gif|.mp4|.webm|.y4m|.png [options]\n"
           "  -m MODEL            model file (default: the shipped model in models/)\n"
           "  -s, --seed N        noise seed (42)              --steps N       sampling steps (20)\n"
           "  --cfg-scale X       classifier-free guidance (3 on a latent model, 5 on a pixel one;\n"
           "                      1 = off)                     --flow-shift X  (3)\n"
           "  -W W -H H --video-frames F   video size (the model's training size)\n"
           "  --init VIDEO.y4m --cond-frames K   predict the rest of a video from its first K frames\n"
           "  --spec OUT.json     write the spec prophy eval needs beside the video\n"
           "  --vae VAE           a latent model's VAE (default %s)\n"
           "  --upscale N         enlarge GIF/PNG pixels N times for viewing (1)\n"
           "  -t, --threads N\n"
           "Wan2.1 text-to-video on a user's model files: prophy generate --wan DIR -p PROMPT -o OUT.mp4\n"
           "  (prophy generate --wan DIR --help for its options)\n", "models/" CLI_SHIPPED_VAE);
}

static int parse(gen_args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) return usage(), 2;
        if (!(v = cli_value(argc, argv, &i))) return 1;
        int rc = 0;
        if (!strcmp(f, "-p") || !strcmp(f, "--prompt")) a->prompt = v;
        else if (!strcmp(f, "-m") || !strcmp(f, "--model")) a->model = v;
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) a->out = v;
        else if (!strcmp(f, "--spec")) a->spec = v;
        else if (!strcmp(f, "--init")) a->init = v;
        else if (!strcmp(f, "--vae")) a->vae = v;
        else if (!strcmp(f, "-s") || !strcmp(f, "--seed")) rc = pp_parse_int(v, f, 0, 2147483647, &a->seed);
        else if (!strcmp(f, "--steps")) rc = pp_parse_int(v, f, 1, 1000, &a->steps);
        else if (!strcmp(f, "--cfg-scale")) rc = pp_parse_float(v, f, 0, 100, &a->cfg);
        else if (!strcmp(f, "--flow-shift")) rc = pp_parse_float(v, f, 0.01, 100, &a->shift);
        else if (!strcmp(f, "-W") || !strcmp(f, "--width")) rc = pp_parse_int(v, f, 1, 2048, &a->W);
        else if (!strcmp(f, "-H") || !strcmp(f, "--height")) rc = pp_parse_int(v, f, 1, 2048, &a->H);
        else if (!strcmp(f, "--video-frames")) rc = pp_parse_int(v, f, 1, 512, &a->F);
        else if (!strcmp(f, "--cond-frames")) rc = pp_parse_int(v, f, 1, 512, &a->cond_frames);
        else if (!strcmp(f, "--upscale")) rc = pp_parse_int(v, f, 1, 64, &a->upscale);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) rc = pp_parse_int(v, f, 1, 1024, &a->threads);
        else return cli_error("generate: unknown option '%s' (see prophy generate --help)", f);
        if (rc) return cli_lib_error();
    }
    return 0;
}

static void progress(void *user, int step, int steps) {
    double t0 = *(double *)user, el = pp_now() - t0;
    int w = 30, done = w * step / steps;
    fprintf(stderr, "\r  [%.*s%*s] %d/%d  %.2f s/it ", done, "##############################", w - done, "",
            step, steps, el / step);
    if (step == steps) fputc('\n', stderr);
}

/* The first K frames of --init: first [3,F,H,W] (zeros after frame K). */
static int read_first(const gen_args *a, int F, int H, int W, float *first) {
    pp_video v;
    if (pp_video_read(&v, a->init)) return -1;
    int rc = 0;
    if (v.width != W || v.height != H) rc = -1, pp_seterr("%s: frames are %dx%d, the video to generate is %dx%d (-W/-H)", a->init, v.width, v.height, W, H);
    else if (v.frames < a->cond_frames) rc = -1, pp_seterr("%s: has %d frames, --cond-frames asks for %d", a->init, v.frames, a->cond_frames);
    else if (a->cond_frames >= F) rc = -1, pp_seterr("--cond-frames %d leaves nothing to predict in %d frames", a->cond_frames, F);
    if (!rc) {
        pp_video tmp = v;
        tmp.frames = a->cond_frames; /* only the first K frames are read */
        float *xk = pp_alloc_floats((size_t)3 * a->cond_frames * H * W);
        pp_video_to_float(&tmp, xk);
        memset(first, 0, (size_t)3 * F * H * W * sizeof(float));
        for (int c = 0; c < 3; c++)
            memcpy(first + (size_t)c * F * H * W, xk + (size_t)c * a->cond_frames * H * W,
                   (size_t)a->cond_frames * H * W * sizeof(float));
        pp_free_aligned(xk);
    }
    pp_video_free(&v);
    return rc;
}

static void warn_prompt(const pp_tok_report *rep, int L) {
    if (rep->n_unknown) fprintf(stderr, "warning: unknown words mapped to <unk>: %s\n", rep->unknown);
    if (rep->truncated)
        fprintf(stderr, "warning: prompt has %d words, the model reads the first %d; the rest is ignored\n",
                rep->n_words, L - 1);
}

/* The spec as text, made before sampling so that a prompt with no scene costs nothing. */
static int prophy_spec(const gen_args *a, int F, int H, int W, char **out) {
    cJSON *j = NULL;
    if (pp_sim_spec_for_prompt(a->prompt, (uint64_t)a->seed, F, H, W, &j)) return -1;
    *out = pp_json_print(j, 1);
    cJSON_Delete(j);
    return 0;
}

/* Everything that can fail before sampling: sizes, prompt, --init, --spec. */
static int prophy_prepare(const gen_args *a, const pp_prophy *m, pp_gen_config *c, float **first,
                          char **spec, pp_tok_report *rep) {
    int F, H, W;
    pp_gen_video_size(m, c, &F, &H, &W);
    if (a->init) c->first = *first = pp_zalloc_floats((size_t)3 * F * H * W);
    if (pp_gen_check(m, a->prompt, c, NULL, rep)) return -1;
    if (a->init && read_first(a, F, H, W, *first)) return -1;
    if (a->spec && prophy_spec(a, F, H, W, spec)) return -1;
    return 0;
}

static int write_prophy(const gen_args *a, const pp_prophy *m, const pp_gen_result *r, const char *spec) {
    pp_video v = {0};
    int rc = pp_video_alloc(&v, r->F, r->H, r->W, m->cfg.base.fps);
    if (!rc) {
        pp_video_from_float(&v, r->video);
        rc = pp_video_write(&v, a->out, a->upscale);
    }
    if (!rc && spec) rc = pp_write_file_atomic(a->spec, spec, strlen(spec));
    pp_video_free(&v);
    return rc;
}

static int run_prophy(const gen_args *a) {
    double t0 = pp_now(), ts = 0;
    pp_prophy m;
    if (pp_prophy_load(&m, a->model)) return -1;
    pp_vae_model vae;
    int has_vae = 0;
    char shipped[4096];
    if (pp_gen_load_vae(&m, cli_shipped(a->vae, CLI_SHIPPED_VAE, shipped, sizeof shipped), &vae, &has_vae)) {
        pp_prophy_free(&m);
        return -1;
    }
    pp_gen_config c = pp_gen_defaults();
    c.vae = has_vae ? &vae : NULL;
    c.F = a->F, c.H = a->H, c.W = a->W, c.steps = a->steps, c.shift = a->shift;
    c.cfg = a->cfg >= 0 ? a->cfg : pp_gen_default_cfg(&m);
    c.seed = (uint64_t)a->seed, c.cond_frames = a->cond_frames, c.progress = progress, c.user = &ts;
    float *first = NULL;
    char *spec = NULL;
    pp_tok_report rep;
    pp_gen_result r = {0};
    int rc = prophy_prepare(a, &m, &c, &first, &spec, &rep);
    double t1 = pp_now(), t2 = t1;
    if (!rc) {
        warn_prompt(&rep, m.cfg.text.ctx);
        int F, H, W;
        pp_gen_video_size(&m, &c, &F, &H, &W);
        fprintf(stderr, "generating %dx%dx%d with %s (ProPhy, branch %s%s): %d steps, cfg %.1f, seed %d, %d threads\n",
                F, H, W, a->model, pp_branch_mode_name(m.cfg.mode), m.cfg.base.latent ? ", latent" : "", a->steps,
                c.cfg, a->seed, pp_get_threads());
        ts = pp_now();
        rc = pp_prophy_generate(&m, m.params, a->prompt, &c, &r);
        t2 = pp_now();
    }
    if (!rc) rc = write_prophy(a, &m, &r, spec);
    double t3 = pp_now();
    if (!rc)
        fprintf(stderr,
                "wrote %s: load %.2f s, encode %.3f s, sample %.2f s (%.3f s/step), decode %.2f s, write %.2f s, total "
                "%.2f s\n",
                a->out, t1 - t0, r.t_encode, r.t_sample, r.t_sample / a->steps, r.t_decode, t3 - t2, t3 - t0);
    pp_gen_result_free(&r);
    pp_free_aligned(first);
    free(spec);
    if (has_vae) pp_vae_model_free(&vae);
    pp_prophy_free(&m);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    for (int i = 1; i < argc; i++) /* Wan2.1 on a user's files: its own command */
        if (!strncmp(argv[i], "--wan", 5)) return cmd_generate_wan(argc, argv);
    gen_args a = {.seed = 42, .steps = 20, .cfg = -1, .shift = 3.0f, .upscale = 1}; /* cfg < 0: the model's */
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    if (!a.prompt) return cli_error("generate: -p PROMPT is required");
    if (!a.prompt[0]) return cli_error("generate: the prompt is empty");
    if (!a.out) return cli_error("generate: -o OUT.gif|.y4m|.png is required");
    if (pp_video_check_output(a.out)) return cli_lib_error();
    if (a.init && !a.cond_frames) return cli_error("generate: --init needs --cond-frames K");
    if (a.cond_frames && !a.init) return cli_error("generate: --cond-frames needs --init VIDEO.y4m");
    char shipped[4096];
    if (!a.model && access(cli_shipped(NULL, CLI_SHIPPED_MODEL, shipped, sizeof shipped), R_OK) == 0) a.model = shipped;
    if (!a.model) return cli_error("generate: no model given (-m) and none shipped in models/");
    cli_set_threads(a.threads);
    return run_prophy(&a) ? cli_lib_error() : 0;
}
