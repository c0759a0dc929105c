/* cmd_generate_wan.c - `prophy generate --wan DIR ...`: Wan2.1 text-to-video on a
 * user's files (src/pipeline/t2v.h), flags after stable-diffusion.cpp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/threads.h"
#include "cli.h"
#include "io/safetensors.h"
#include "io/video.h"
#include "nn/amx.h"
#include "pipeline/t2v.h"

typedef struct {
    pp_t2v_opts o;
    const char *dir, *dit, *dit_config, *t5, *tokenizer, *vae, *vae_config, *out, *latent_out;
    int threads, upscale, seed, compute; /* compute: -1 auto, 0 f32, 1 bf16 */
    float fps;
} wan_args;

static void usage(void) {
    printf("usage: prophy generate --wan DIR -p PROMPT -o OUT.mp4|.webm|.y4m|.gif|out_%%03d.png [options]\n"
           "  Wan2.1 text-to-video on a model folder: diffusers' (transformer/, text_encoder/, tokenizer/, vae/),\n"
           "  Wan's (config.json, diffusion_pytorch_model*.safetensors, google/umt5-xxl/) or ComfyUI's models/\n"
           "  (diffusion_models/, text_encoders/, vae/); or name the files (each overrides DIR's):\n"
           "  --wan-dit F          DiT: .safetensors or a shard index .json    --wan-dit-config F  its config.json\n"
           "  --wan-t5 F           umT5-XXL encoder (.safetensors or index)    --wan-tokenizer F   tokenizer.json\n"
           "  --wan-vae F          VAE (.safetensors)                          --wan-vae-config F  diffusers' vae/config.json\n"
           "  -p, --prompt TEXT    -n, --negative-prompt TEXT (default: Wan2.1's own negative prompt)\n"
           "  -W W -H H            video size (832 x 480; multiples of 16)    --video-frames F (81; 1+4k)\n"
           "  --steps N (50)       --cfg-scale X (5; 1 = no guidance)        --flow-shift X (5)\n"
           "  --sampler unipc|euler (unipc)   --schedule default|unipc|wan|fm-euler|flow (default)\n"
           "  -s, --seed N (42)    --noise F.safetensors  the starting latent [16, 1+(F-1)/4, H/8, W/8] instead\n"
           "  --save-latent F.safetensors   also write the final latent      --fps X (16)\n"
           "  --f32                convert the weights to F32 in memory (default: half precision read in place)\n"
           "  --keep-weights       keep the weights read in place resident between passes (default: each layer's\n"
           "                       pages go back to the page cache once it has run, so the process holds ~1 layer)\n"
           "  --compute auto|f32|bf16   arithmetic of the encoder and the DiT: bf16 rounds the inputs of the BF16\n"
           "                       layers and of attention to BF16 (PyTorch's BF16) and uses AMX tiles or AVX512-BF16\n"
           "                       where the CPU has them; auto: bf16 on such a CPU with the weights read in place\n"
           "  --upscale N          enlarge GIF/PNG pixels N times (1)      -t, --threads N\n");
}

static int parse(wan_args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) return usage(), 2;
        if (!strcmp(f, "--f32")) {
            a->o.keep_half = 0;
            continue;
        }
        if (!strcmp(f, "--keep-weights")) {
            a->o.keep_resident = 1;
            continue;
        }
        if (!(v = cli_value(argc, argv, &i))) return 1;
        int rc = 0;
        if (!strcmp(f, "--wan")) a->dir = v;
        else if (!strcmp(f, "--wan-dit")) a->dit = v;
        else if (!strcmp(f, "--wan-dit-config")) a->dit_config = v;
        else if (!strcmp(f, "--wan-t5")) a->t5 = v;
        else if (!strcmp(f, "--wan-tokenizer")) a->tokenizer = v;
        else if (!strcmp(f, "--wan-vae")) a->vae = v;
        else if (!strcmp(f, "--wan-vae-config")) a->vae_config = v;
        else if (!strcmp(f, "-p") || !strcmp(f, "--prompt")) a->o.prompt = v;
        else if (!strcmp(f, "-n") || !strcmp(f, "--negative-prompt")) a->o.negative = v;
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) a->out = v;
        else if (!strcmp(f, "--noise")) a->o.noise_path = v;
        else if (!strcmp(f, "--compute")) {
            if (!strcmp(v, "auto")) a->compute = -1;
            else if (!strcmp(v, "f32")) a->compute = 0;
            else if (!strcmp(v, "bf16")) a->compute = 1;
            else return cli_error("generate --wan: --compute: '%s' is not auto, f32 or bf16", v);
        }
        else if (!strcmp(f, "--save-latent")) a->latent_out = v;
        else if (!strcmp(f, "-s") || !strcmp(f, "--seed")) rc = pp_parse_int(v, f, 0, 2147483647, &a->seed);
        else if (!strcmp(f, "--steps")) rc = pp_parse_int(v, f, 1, 1000, &a->o.steps);
        else if (!strcmp(f, "--cfg-scale")) rc = pp_parse_float(v, f, 0, 100, &a->o.cfg);
        else if (!strcmp(f, "--flow-shift")) rc = pp_parse_float(v, f, 0.01, 100, &a->o.shift);
        else if (!strcmp(f, "--sampler")) rc = pp_sched_kind_parse(v, &a->o.sampler);
        else if (!strcmp(f, "--schedule")) rc = pp_sigmas_kind_parse(v, &a->o.sigmas);
        else if (!strcmp(f, "-W") || !strcmp(f, "--width")) rc = pp_parse_int(v, f, 16, 8192, &a->o.width);
        else if (!strcmp(f, "-H") || !strcmp(f, "--height")) rc = pp_parse_int(v, f, 16, 8192, &a->o.height);
        else if (!strcmp(f, "--video-frames")) rc = pp_parse_int(v, f, 1, 4097, &a->o.frames);
        else if (!strcmp(f, "--fps")) rc = pp_parse_float(v, f, 0.1, 1000, &a->fps);
        else if (!strcmp(f, "--upscale")) rc = pp_parse_int(v, f, 1, 64, &a->upscale);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) rc = pp_parse_int(v, f, 1, 1024, &a->threads);
        else return cli_error("generate --wan: unknown option '%s' (see prophy generate --wan x --help)", f);
        if (rc) return cli_lib_error();
    }
    return 0;
}

static void progress(void *user, int step, int steps) {
    double t0 = *(double *)user, el = pp_now() - t0;
    int w = 30, done = w * step / steps;
    fprintf(stderr, "\r  [%.*s%*s] %d/%d  %.2f s/it ", done, "##############################", w - done, "", step,
            steps, el / step);
    if (step == steps) fputc('\n', stderr);
}

static void note(void *user, const char *line) {
    double *t0 = user;
    fprintf(stderr, "%s\n", line);
    *t0 = pp_now(); /* the progress bar times the steps from the last note */
}

static int paths_of(const wan_args *a, pp_wan_paths *p) {
    memset(p, 0, sizeof *p);
    if (a->dir && pp_wan_find(p, a->dir)) return -1;
    if (!a->dir) {
        snprintf(p->dit.why, sizeof p->dit.why, "no DiT: pass --wan DIR or --wan-dit FILE");
        snprintf(p->t5.why, sizeof p->t5.why, "no umT5 encoder: pass --wan DIR or --wan-t5 FILE");
        snprintf(p->tokenizer.why, sizeof p->tokenizer.why, "no tokenizer: pass --wan DIR or --wan-tokenizer FILE");
        snprintf(p->vae.why, sizeof p->vae.why, "no VAE: pass --wan DIR or --wan-vae FILE");
    }
    struct { pp_wan_part *part; const char *path; } set[] = {
        {&p->dit, a->dit}, {&p->dit_config, a->dit_config}, {&p->t5, a->t5}, {&p->tokenizer, a->tokenizer},
        {&p->vae, a->vae}, {&p->vae_config, a->vae_config}};
    for (size_t i = 0; i < sizeof set / sizeof *set; i++)
        if (set[i].path && pp_wan_set_part(set[i].part, set[i].path)) return -1;
    /* a VAE file named alone carries its own config (metadata or Wan2.1's) */
    if (a->vae && !a->vae_config) p->vae_config.path[0] = 0;
    if (a->dit && !a->dit_config && a->dir) p->dit_config.path[0] = 0;
    return pp_wan_paths_check(p);
}

static int save_latent(const char *path, const float *x, const pp_t2v_report *r) {
    pp_st_writer *w = pp_st_writer_new();
    int64_t sh[4] = {r->z, r->t, r->h, r->w};
    int rc = pp_st_add_f32(w, "latent", PP_F32, 4, sh, x);
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

int cmd_generate_wan(int argc, char **argv) {
    wan_args a = {.o = pp_t2v_defaults(), .seed = 42, .upscale = 1, .fps = 16.0f, .compute = -1};
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    a.o.compute_bf16 = a.compute >= 0 ? a.compute : a.o.keep_half && pp_bf16_engine() != PP_BF16_NONE;
    if (!a.o.prompt) return cli_error("generate --wan: -p PROMPT is required");
    if (!a.o.prompt[0]) return cli_error("generate --wan: the prompt is empty");
    if (!a.out) return cli_error("generate --wan: -o OUT.mp4|.webm|.y4m|.gif|out_%%03d.png is required");
    if (pp_video_check_output(a.out)) return cli_lib_error();
    if (a.latent_out && pp_check_output_dir(a.latent_out)) return cli_lib_error();
    a.o.seed = (uint64_t)a.seed;
    pp_wan_paths p;
    if (paths_of(&a, &p) || pp_t2v_check(&p, &a.o, NULL)) return cli_lib_error();
    cli_set_threads(a.threads);
    double t0 = pp_now(), ts = t0;
    a.o.progress = progress, a.o.note = note, a.o.user = &ts;
    fprintf(stderr, "Wan2.1 text-to-video (%s layout): %d frames of %dx%d, %d steps, guidance %.1f, shift %.1f, %s, "
                    "seed %d%s, %d threads\n",
            pp_wan_layout_name(p.layout), a.o.frames, a.o.width, a.o.height, a.o.steps, a.o.cfg, a.o.shift,
            a.o.sampler == PP_SCHED_UNIPC ? "UniPC" : "Euler", a.seed, a.o.noise_path ? " (noise from file)" : "",
            pp_get_threads());
    float *video = NULL, *latent = NULL;
    pp_t2v_report r;
    rc = pp_t2v_run(&p, &a.o, &video, a.latent_out ? &latent : NULL, &r);
    double t1 = pp_now();
    if (!rc && a.latent_out) rc = save_latent(a.latent_out, latent, &r);
    if (!rc) {
        pp_video v = {0};
        rc = pp_video_alloc(&v, a.o.frames, a.o.height, a.o.width, a.fps);
        if (!rc) {
            pp_video_from_float(&v, video);
            rc = pp_video_write(&v, a.out, a.upscale);
        }
        pp_video_free(&v);
    }
    double t2 = pp_now();
    if (!rc)
        fprintf(stderr,
                "wrote %s: text encoder load %.2f s, encode %.2f s; DiT load %.2f s, sample %.2f s (%.2f s/step); "
                "VAE load %.2f s, decode %.2f s; write %.2f s; total %.2f s; peak RSS %.0f MiB\n",
                a.out, r.t_text_load, r.t_encode, r.t_dit_load, r.t_sample, r.t_sample / a.o.steps, r.t_vae_load,
                r.t_decode, t2 - t1, t2 - t0, pp_peak_rss_mb());
    pp_free_aligned(video);
    pp_free_aligned(latent);
    return rc ? cli_lib_error() : 0;
}
