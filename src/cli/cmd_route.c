/* cmd_route.c - `prophy route`: generate a video with a ProPhy model and show what
 * its experts did. The GIF has two panels side by side:
 *   left   the video, each pixel blended 50% toward the colour of its token's top
 *          refinement expert (argmax of rho_r averaged over the sampling steps);
 *   right  the fine-align head's category maps: each pixel takes the colour of the
 *          strongest shown category at its token (pp_sim_cat_color), by how strong
 *          it is (clamped to [0,1]), over the video dimmed to grey.
 * Shown categories: the top 3 by coarse-head score (models with a SEB), else the
 * top 3 by mean category map. A seb-only model has no token routing: the GIF is
 * the plain video and only the semantic weights are reported. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "prophy/generate.h"
#include "sim/sim.h"
#include "base/threads.h"
#include "io/video.h"
#include "io/json.h"

#define ROUTE_SHOW 3 /* categories on the right panel */

typedef struct {
    const char *prompt, *model, *out, *vae;
    int json, seed, steps, threads, upscale;
    float cfg;
} route_args;

static void usage(void) {
    printf("usage: prophy route -p PROMPT -o OUT.gif [options]\n"
           "  generates the video and draws which experts handled which tokens: left, the video\n"
           "  tinted by each token's top refinement expert (16 colours, expert e gets colour e%%16);\n"
           "  right, the category map of the strongest categories (coarse-head top 3 with a SEB,\n"
           "  else the top 3 by mean map). A seb-only model gets the plain video and the\n"
           "  semantic weights only; a model without branch (mode none) is an error.\n"
           "  --json              print the routing summary as JSON on stdout (else a table on stderr)\n"
           "  -m MODEL            ProPhy model (models/" CLI_SHIPPED_MODEL ")\n"
           "  --vae VAE           a latent model's VAE (models/" CLI_SHIPPED_VAE ")\n"
           "  -s, --seed N (42)   --steps N (20)   --cfg-scale X (3 on a latent model, 5 on a pixel one)\n"
           "  --upscale N         enlarge GIF pixels N times (1)     -t, --threads N\n");
}

static int parse(route_args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) return usage(), 2;
        if (!strcmp(f, "--json")) {
            a->json = 1;
            continue;
        }
        if (!(v = cli_value(argc, argv, &i))) return 1;
        int rc = 0;
        if (!strcmp(f, "-p") || !strcmp(f, "--prompt")) a->prompt = v;
        else if (!strcmp(f, "-m") || !strcmp(f, "--model")) a->model = v;
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) a->out = v;
        else if (!strcmp(f, "--vae")) a->vae = v;
        else if (!strcmp(f, "-s") || !strcmp(f, "--seed")) rc = pp_parse_int(v, f, 0, 2147483647, &a->seed);
        else if (!strcmp(f, "--steps")) rc = pp_parse_int(v, f, 1, 1000, &a->steps);
        else if (!strcmp(f, "--cfg-scale")) rc = pp_parse_float(v, f, 0, 100, &a->cfg);
        else if (!strcmp(f, "--upscale")) rc = pp_parse_int(v, f, 1, 64, &a->upscale);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) rc = pp_parse_int(v, f, 1, 1024, &a->threads);
        else return cli_error("route: unknown option '%s' (see prophy route --help)", f);
        if (rc) return cli_lib_error();
    }
    return 0;
}

/* 16 distinct expert colours */
static const uint8_t g_palette[16][3] = {
    {230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},  {245, 130, 48}, {145, 30, 180},
    {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212}, {0, 128, 128}, {220, 190, 255},
    {170, 110, 40}, {255, 250, 200}, {128, 0, 0},   {0, 0, 128},
};

/* mass[17] = mean over the N tokens of cat_maps [17,N] */
static void cat_mass(const pp_gen_result *r, float *mass) {
    for (int c = 0; c < PP_NCAT; c++) {
        double s = 0;
        for (int n = 0; n < r->N; n++) s += r->cat_maps[(size_t)c * r->N + n];
        mass[c] = (float)(s / r->N);
    }
}

/* share[E_r] = fraction of tokens whose top expert is e */
static void expert_share(const pp_gen_result *r, float *share) {
    for (int e = 0; e < r->E_r; e++) share[e] = 0;
    for (int n = 0; n < r->N; n++) share[r->top_expert[n]] += 1.0f / r->N;
}

/* cats[ROUTE_SHOW] = the indices of the largest scores, best first */
static void top_cats(const float *score, int *cats) {
    int used[PP_NCAT] = {0};
    for (int k = 0; k < ROUTE_SHOW; k++) {
        int best = -1;
        for (int c = 0; c < PP_NCAT; c++)
            if (!used[c] && (best < 0 || score[c] > score[best])) best = c;
        cats[k] = best, used[best] = 1;
    }
}

/* token of pixel (f,h,w) in (f,h,w) row-major token order */
static int token_of(const pp_gen_result *r, int f, int h, int w) {
    return (pp_gen_token_frame(r, f) * r->gh + h * r->gh / r->H) * r->gw + w * r->gw / r->W;
}

static void blend(uint8_t *dst, const uint8_t *base, const uint8_t *col, float a) {
    for (int i = 0; i < 3; i++) dst[i] = (uint8_t)(base[i] * (1 - a) + col[i] * a + 0.5f);
}

/* right-panel pixel: the strongest shown category at token n over dimmed grey */
static void cat_pixel(uint8_t *dst, const uint8_t *src, const pp_gen_result *r, const int *cats, int n) {
    uint8_t grey = (uint8_t)((src[0] + src[1] + src[2]) / 6), base[3] = {grey, grey, grey}, col[3];
    int best = cats[0];
    for (int k = 1; k < ROUTE_SHOW; k++)
        if (r->cat_maps[(size_t)cats[k] * r->N + n] > r->cat_maps[(size_t)best * r->N + n]) best = cats[k];
    float a = r->cat_maps[(size_t)best * r->N + n];
    a = a < 0 ? 0 : a > 1 ? 1 : a;
    pp_sim_cat_color(best, col);
    blend(dst, base, col, a);
}

/* out [F, H, 2W] (or the plain video without token routing) */
static int draw(pp_video *out, const pp_video *v, const pp_gen_result *r, const int *cats) {
    int two = r->top_expert != NULL, W = v->width;
    if (pp_video_alloc(out, v->frames, v->height, two ? 2 * W : W, v->fps)) return -1;
    for (int f = 0; f < v->frames; f++)
        for (int h = 0; h < v->height; h++)
            for (int w = 0; w < W; w++) {
                const uint8_t *src = pp_video_frame(v, f) + ((size_t)h * W + w) * 3;
                uint8_t *dst = pp_video_frame(out, f) + ((size_t)h * out->width + w) * 3;
                if (!two) {
                    memcpy(dst, src, 3);
                    continue;
                }
                int n = token_of(r, f, h, w);
                blend(dst, src, g_palette[r->top_expert[n] % 16], 0.5f);
                cat_pixel(dst + (size_t)W * 3, src, r, cats, n);
            }
    return 0;
}

static cJSON *cat_object(const float *v) {
    cJSON *o = cJSON_CreateObject();
    for (int c = 0; c < PP_NCAT; c++) cJSON_AddNumberToObject(o, pp_cat_names[c], v[c]);
    return o;
}

static cJSON *float_array(const float *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void print_json(const route_args *a, const pp_gen_result *r, const float *share, const float *mass) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "prompt", a->prompt);
    if (r->rho_s) cJSON_AddItemToObject(j, "semantic_weights", float_array(r->rho_s, r->E_s));
    if (r->coarse) cJSON_AddItemToObject(j, "categories", cat_object(r->coarse));
    if (r->top_expert) cJSON_AddItemToObject(j, "expert_share", float_array(share, r->E_r));
    if (r->cat_maps) cJSON_AddItemToObject(j, "category_mass", cat_object(mass));
    char *s = pp_json_print(j, 1);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

static void print_table(const pp_gen_result *r, const float *share, const float *mass) {
    if (r->rho_s) {
        fprintf(stderr, "semantic experts (rho_s):");
        for (int e = 0; e < r->E_s; e++) fprintf(stderr, " %.3f", r->rho_s[e]);
        fputc('\n', stderr);
    }
    fprintf(stderr, "  %-26s %8s %8s\n", "category", r->coarse ? "coarse" : "", r->cat_maps ? "mass" : "");
    for (int c = 0; c < PP_NCAT; c++) {
        fprintf(stderr, "  %-26s", pp_cat_names[c]);
        if (r->coarse) fprintf(stderr, " %8.3f", r->coarse[c]);
        else fprintf(stderr, " %8s", "");
        if (r->cat_maps) fprintf(stderr, " %8.3f", mass[c]);
        fputc('\n', stderr);
    }
    if (!r->top_expert) return;
    fprintf(stderr, "refinement experts, share of tokens:");
    for (int e = 0; e < r->E_r; e++) fprintf(stderr, " e%d %.0f%%", e, 100 * share[e]);
    fputc('\n', stderr);
}

static int write_gif(const route_args *a, const pp_prophy *m, const pp_gen_result *r, const int *cats) {
    pp_video v = {0}, o = {0};
    int rc = pp_video_alloc(&v, r->F, r->H, r->W, m->cfg.base.fps);
    if (!rc) {
        pp_video_from_float(&v, r->video);
        rc = draw(&o, &v, r, cats);
    }
    if (!rc) rc = pp_video_write(&o, a->out, a->upscale);
    pp_video_free(&v), pp_video_free(&o);
    return rc;
}

static int report(const route_args *a, const pp_prophy *m, const pp_gen_result *r) {
    float mass[PP_NCAT] = {0}, *share = pp_calloc((size_t)(r->E_r ? r->E_r : 1), sizeof(float));
    int cats[ROUTE_SHOW] = {0};
    if (r->cat_maps) cat_mass(r, mass), top_cats(r->coarse ? r->coarse : mass, cats);
    if (r->top_expert) expert_share(r, share);
    int rc = write_gif(a, m, r, cats);
    if (!rc && a->json) print_json(a, r, share, mass);
    if (!rc && a->json && (fflush(stdout) || ferror(stdout)))
        rc = -1, pp_seterr("cannot write to standard output: %s", strerror(errno ? errno : EIO));
    if (!rc && !a->json) print_table(r, share, mass);
    if (!rc) fprintf(stderr, "wrote %s (sample %.2f s)\n", a->out, r->t_sample);
    free(share);
    return rc;
}

static int run(const route_args *a) {
    pp_prophy m;
    if (pp_prophy_load(&m, a->model)) return -1;
    int rc = 0;
    if (m.cfg.mode == PP_BRANCH_NONE)
        rc = -1, pp_seterr("%s: has no physical branch (branch mode %s); route needs a model with seb, reb or full",
                           a->model, pp_branch_mode_name(m.cfg.mode));
    pp_vae_model vae;
    int has_vae = 0;
    char shipped[4096];
    if (!rc) rc = pp_gen_load_vae(&m, cli_shipped(a->vae, CLI_SHIPPED_VAE, shipped, sizeof shipped), &vae, &has_vae);
    pp_gen_config c = pp_gen_defaults();
    c.steps = a->steps, c.cfg = a->cfg >= 0 ? a->cfg : pp_gen_default_cfg(&m);
    c.seed = (uint64_t)a->seed, c.routes = 1, c.vae = has_vae ? &vae : NULL;
    pp_gen_result r = {0};
    if (!rc) rc = pp_prophy_generate(&m, m.params, a->prompt, &c, &r);
    if (!rc && r.rep.n_unknown) fprintf(stderr, "warning: unknown words mapped to <unk>: %s\n", r.rep.unknown);
    if (!rc && r.rep.truncated)
        fprintf(stderr, "warning: prompt has %d words, the model reads the first %d; the rest is ignored\n",
                r.rep.n_words, m.cfg.text.ctx - 1);
    if (!rc) rc = report(a, &m, &r);
    pp_gen_result_free(&r);
    if (has_vae) pp_vae_model_free(&vae);
    pp_prophy_free(&m);
    return rc;
}

int cmd_route(int argc, char **argv) {
    route_args a = {.seed = 42, .steps = 20, .cfg = -1, .upscale = 1}; /* cfg < 0: the model's */
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    if (!a.prompt) return cli_error("route: -p PROMPT is required");
    if (!a.prompt[0]) return cli_error("route: the prompt is empty");
    if (!a.out) return cli_error("route: -o OUT.gif is required");
    if (pp_video_check_output(a.out)) return cli_lib_error();
    char shipped[4096];
    a.model = cli_shipped(a.model, CLI_SHIPPED_MODEL, shipped, sizeof shipped);
    cli_set_threads(a.threads);
    return run(&a) ? cli_lib_error() : 0;
}
