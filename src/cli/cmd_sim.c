/* cmd_sim.c - `prophy sim`: simulate and render one labelled physics video.
 *
 *   prophy sim --list
 *   prophy sim --scene NAME --seed N [-W W -H H --video-frames F] [--split id|ood]
 *              [--param NAME=VALUE ...] [--radius R] [--speed V] [--upscale K]
 *              -o OUT.y4m|.gif|.png [--spec OUT.json] [--maps OVERLAY.gif|.png|.y4m]
 *   prophy sim --contact-sheet OUT.png [-W W -H H --video-frames F] [--seed N] */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "io/font.h"
#include "sim/sim.h"
#include "io/json.h"

typedef struct {
    const char *scene, *out, *spec, *maps, *sheet;
    uint64_t seed;
    int split, frames, height, width, upscale, list, verbose;
    const char *sets[32]; /* "name=value" overrides, applied after sampling */
    int nsets;
    const char *radius, *speed;
} sim_opts;

static void sim_usage(FILE *f) {
    fprintf(f,
            "usage: prophy sim --list\n"
            "       prophy sim --scene NAME --seed N [-W W -H H --video-frames F] [--split id|ood]\n"
            "                  [--param NAME=VALUE ...] [--radius R] [--speed V] [--upscale K]\n"
            "                  -o OUT.y4m|.gif|.png [--spec OUT.json] [--maps OVERLAY.gif|.png|.y4m]\n"
            "       prophy sim --contact-sheet OUT.png [-W W -H H --video-frames F] [--seed N]\n"
            "defaults: %dx%d pixels, %d frames, split id, seed 0. World 10x10 units, 0.1 s/frame.\n",
            PP_SIM_DEF_W, PP_SIM_DEF_H, PP_SIM_DEF_FRAMES);
}

static int parse_split(const char *s, int *out) {
    if (!strcmp(s, "id")) *out = PP_SPLIT_ID;
    else if (!strcmp(s, "ood")) *out = PP_SPLIT_OOD;
    else PP_FAIL("--split must be 'id' or 'ood', got '%s'", s);
    return 0;
}

/* Parse one flag at argv[*i]; 1 = handled, 0 = unknown, -1 = error (printed). */
static int parse_flag(sim_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
#define VAL() do { if (!(v = cli_value(argc, argv, i))) return -1; } while (0)
    if (!strcmp(a, "--list")) o->list = 1;
    else if (!strcmp(a, "-v")) o->verbose = 1;
    else if (!strcmp(a, "--scene")) { VAL(); o->scene = v; }
    else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { VAL(); o->out = v; }
    else if (!strcmp(a, "--spec")) { VAL(); o->spec = v; }
    else if (!strcmp(a, "--maps")) { VAL(); o->maps = v; }
    else if (!strcmp(a, "--contact-sheet")) { VAL(); o->sheet = v; }
    else if (!strcmp(a, "--radius")) { VAL(); o->radius = v; }
    else if (!strcmp(a, "--speed")) { VAL(); o->speed = v; }
    else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) {
        VAL();
        if (pp_parse_seed(v, &o->seed)) return cli_lib_error(), -1;
    } else if (!strcmp(a, "--split")) {
        VAL();
        if (parse_split(v, &o->split)) return cli_lib_error(), -1;
    } else if (!strcmp(a, "-W") || !strcmp(a, "--width")) {
        VAL();
        if (pp_parse_int(v, "-W", 1, 1 << 20, &o->width)) return cli_lib_error(), -1;
    } else if (!strcmp(a, "-H") || !strcmp(a, "--height")) {
        VAL();
        if (pp_parse_int(v, "-H", 1, 1 << 20, &o->height)) return cli_lib_error(), -1;
    } else if (!strcmp(a, "--video-frames") || !strcmp(a, "-F")) {
        VAL();
        if (pp_parse_int(v, "--video-frames", 0, 1 << 20, &o->frames)) return cli_lib_error(), -1;
    } else if (!strcmp(a, "--upscale")) {
        VAL();
        if (pp_parse_int(v, "--upscale", 1, 16, &o->upscale)) return cli_lib_error(), -1;
    } else if (!strcmp(a, "--param")) {
        VAL();
        if (o->nsets == 32) return cli_error("too many --param flags"), -1;
        o->sets[o->nsets++] = v;
    } else return 0;
    return 1;
#undef VAL
}

static int parse_args(sim_opts *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->frames = PP_SIM_DEF_FRAMES, o->height = PP_SIM_DEF_H, o->width = PP_SIM_DEF_W, o->upscale = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            sim_usage(stdout);
            exit(0);
        }
        int r = parse_flag(o, argc, argv, &i);
        if (r < 0) return -1;
        if (r == 0) return cli_error("sim: unknown option '%s' (try 'prophy sim --help')", argv[i]), -1;
    }
    return 0;
}

/* Set every parameter whose name is one of names[] to the value text s. */
static int set_alias(const pp_sim_scene *sc, pp_sim_params *p, const char *flag, const char *s,
                     const char *const *names) {
    float v;
    if (pp_parse_float(s, flag, -1e9, 1e9, &v)) return -1;
    int hit = 0;
    for (int k = 0; names[k]; k++)
        if (!isnan(pp_sim_param(p, names[k]))) {
            if (pp_sim_params_set(sc, p, names[k], v)) return -1;
            hit = 1;
        }
    if (!hit) PP_FAIL("%s: scene %s has no such parameter", flag, sc->name);
    return 0;
}

static int apply_overrides(const sim_opts *o, const pp_sim_scene *sc, pp_sim_params *p) {
    static const char *const radii[] = {"r", "r1", "r2", NULL}, *const speeds[] = {"v", "v1", NULL};
    if (o->radius && set_alias(sc, p, "--radius", o->radius, radii)) return -1;
    if (o->speed && set_alias(sc, p, "--speed", o->speed, speeds)) return -1;
    for (int k = 0; k < o->nsets; k++) {
        char name[64];
        const char *eq = strchr(o->sets[k], '=');
        if (!eq || eq == o->sets[k] || (size_t)(eq - o->sets[k]) >= sizeof name)
            PP_FAIL("--param expects NAME=VALUE, got '%s'", o->sets[k]);
        memcpy(name, o->sets[k], (size_t)(eq - o->sets[k]));
        name[eq - o->sets[k]] = 0;
        float v;
        if (pp_parse_float(eq + 1, name, -1e9, 1e9, &v) || pp_sim_params_set(sc, p, name, v)) return -1;
    }
    return 0;
}

static int write_spec(const pp_sim_out *out, const char *path) {
    char *txt = pp_json_print(out->spec, 1);
    int rc = pp_write_file_atomic(path, txt, strlen(txt));
    cJSON_free(txt);
    return rc;
}

/* ---- contact sheet: one row per scene (its name, 8 frames of video, then the
 * same frames with the phenomenon-map overlay), and a legend of the overlay colours ---- */

static void put_text(pp_video *img, int x0, int y0, const char *t, int scale, const uint8_t rgb[3]) {
    pp_font_draw(img->rgb, img->width, img->height, x0, y0, t, scale, rgb);
}

static void blit(pp_video *dst, const pp_video *src, int f, int x0, int y0) {
    for (int y = 0; y < src->height; y++)
        memcpy(dst->rgb + ((size_t)(y0 + y) * dst->width + x0) * 3,
               pp_video_frame(src, f) + (size_t)y * src->width * 3, (size_t)src->width * 3);
}

static void legend(pp_video *sheet, int y0) {
    static const uint8_t ink[3] = {235, 235, 235};
    int x = 4;
    for (int c = 0; c < PP_NCAT; c++) {
        int used = 0;
        for (int s = 0; s < pp_sim_nscenes(); s++)
            for (int k = 0; k < pp_sim_scene_at(s)->ncat; k++) used |= pp_sim_scene_at(s)->cats[k] == c;
        if (!used) continue;
        int w = 12 + 8 * (int)strlen(pp_cat_names[c]) + 14;
        if (x + w > sheet->width) x = 4, y0 += 16;
        uint8_t rgb[3];
        pp_sim_cat_color(c, rgb);
        for (int y = 0; y < 10; y++)
            for (int d = 0; d < 10; d++) memcpy(sheet->rgb + ((size_t)(y0 + y) * sheet->width + x + d) * 3, rgb, 3);
        put_text(sheet, x + 14, y0, pp_cat_names[c], 2, ink);
        x += w;
    }
}

static int contact_sheet(const sim_opts *o) {
    const int K = 8, gap = 2, mid = 8, label = 150;
    static const uint8_t ink[3] = {235, 235, 235};
    int ns = pp_sim_nscenes(), W = o->width, H = o->height;
    int width = label + 2 * K * (W + gap) + mid + gap, legend_h = 52;
    pp_video sheet;
    if (pp_video_alloc(&sheet, 1, ns * (H + gap) + gap + legend_h, width, 10)) return -1;
    memset(sheet.rgb, 60, (size_t)sheet.height * sheet.width * 3);
    for (int s = 0; s < ns; s++) {
        pp_sim_out out;
        pp_video ov;
        int y = gap + s * (H + gap);
        if (pp_sim_run(pp_sim_scene_at(s), o->seed, PP_SPLIT_ID, o->frames, H, W, &out)) {
            pp_video_free(&sheet);
            return -1;
        }
        if (pp_sim_overlay(&out, &ov)) {
            pp_sim_free(&out);
            pp_video_free(&sheet);
            return -1;
        }
        put_text(&sheet, 4, y + (H - 10) / 2, out.scene->name, 2, ink);
        for (int k = 0; k < K; k++) {
            int f = o->frames > 1 ? k * (o->frames - 1) / (K - 1) : 0;
            blit(&sheet, &out.video, f, label + k * (W + gap), y);
            blit(&sheet, &ov, f, label + K * (W + gap) + mid + k * (W + gap), y);
        }
        pp_video_free(&ov);
        pp_sim_free(&out);
    }
    legend(&sheet, ns * (H + gap) + gap + 8);
    int rc = pp_video_write(&sheet, o->sheet, 1);
    pp_video_free(&sheet);
    return rc;
}

static int run_one(const sim_opts *o) {
    const pp_sim_scene *sc = pp_sim_find(o->scene);
    if (!sc) return cli_lib_error();
    if (!o->out) return cli_error("sim: -o OUT.y4m|.gif|.png is required");
    if (pp_sim_check_size(o->frames, o->height, o->width)) return cli_lib_error();
    pp_sim_params p;
    pp_sim_params_sample(sc, o->seed, o->split, &p);
    if (apply_overrides(o, sc, &p)) return cli_lib_error();
    pp_sim_out out;
    if (pp_sim_run_params(sc, &p, o->seed, o->split, o->frames, o->height, o->width, &out))
        return cli_lib_error();
    int rc = pp_video_write(&out.video, o->out, o->upscale);
    if (!rc && o->spec) rc = write_spec(&out, o->spec);
    if (!rc && o->maps) {
        pp_video ov;
        rc = pp_sim_overlay(&out, &ov);
        if (!rc) rc = pp_video_write(&ov, o->maps, o->upscale);
        pp_video_free(&ov);
    }
    if (!rc && o->verbose) printf("%s\n", out.prompt);
    pp_sim_free(&out);
    return rc ? cli_lib_error() : 0;
}

int cmd_sim(int argc, char **argv) {
    sim_opts o;
    if (parse_args(&o, argc, argv)) return 1;
    if (o.list) {
        for (int i = 0; i < pp_sim_nscenes(); i++) {
            const pp_sim_scene *s = pp_sim_scene_at(i);
            if (o.verbose) printf("%-18s %s\n", s->name, s->summary);
            else printf("%s\n", s->name);
        }
        return 0;
    }
    if (o.sheet) {
        if (pp_sim_check_size(o.frames, o.height, o.width)) return cli_lib_error();
        return contact_sheet(&o) ? cli_lib_error() : 0;
    }
    if (!o.scene) return cli_error("sim: --scene NAME is required (or --list, --contact-sheet)");
    return run_one(&o);
}
