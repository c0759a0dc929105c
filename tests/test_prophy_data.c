/* test_prophy_data.c - training examples: dataset / simulator sources, external maps,
 * label noise (src/prophy_data.h). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/common.h"
#include "prophy/data.h"
#include "sim/dataset.h"
#include "sim/sim.h"
#include "test.h"

#define DF 4
#define DH 16
#define DW 16
#define DPLANE ((size_t)DF * DH * DW)

/* ---------------------------------------------------------------- helpers */

#define tpath pp_test_path

/* The shared tiny dataset: 4 samples of 4 frames 16x16, every scene, seed 5. */
static const char *tiny_dataset(void) {
    static char dir[256];
    if (dir[0]) return dir;
    snprintf(dir, sizeof dir, "%s", tpath("ds"));
    pp_dataset_cfg cfg;
    pp_dataset_cfg_default(&cfg);
    cfg.count = 4, cfg.seed = 5, cfg.frames = DF, cfg.height = DH, cfg.width = DW, cfg.threads = 1;
    if (pp_dataset_write(dir, &cfg, NULL)) {
        fprintf(stderr, "tiny_dataset: %s\n", pp_lasterr());
        abort();
    }
    return dir;
}

/* Writes a maps file: header C F H W, then n floats of v (n < C*F*H*W: truncated). */
static void write_maps(const char *path, int C, int F, int H, int W, const float *v, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fprintf(f, "prophy-maps %d %d %d %d\n", C, F, H, W);
    if (n) fwrite(v, sizeof(float), n, f);
    fclose(f);
}

static int has_err(const char *needle) {
    return pp_lasterr()[0] && (!needle || strstr(pp_lasterr(), needle));
}

/* ---------------------------------------------------------------- sources */

TEST(prophy_data_dataset_get) {
    const char *dir = tiny_dataset();
    pp_phys_source_cfg c = {.data_dir = dir, .frames = 8, .height = 8, .width = 8};
    pp_phys_source *s = pp_phys_source_open(&c);
    CHECK(s != NULL);
    if (!s) return;
    int F, H, W;
    pp_phys_source_size(s, &F, &H, &W);
    CHECK(F == DF && H == DH && W == DW);
    CHECK(pp_phys_source_count(s) == 4);
    pp_dataset *ds = pp_dataset_open(dir);
    pp_sample m = {0};
    pp_phys_example ex;
    for (int i = 3; i >= 0; i--) {
        CHECK(pp_phys_source_get(s, i, &ex) == 0 && pp_dataset_get(ds, i, &m) == 0);
        CHECK(ex.index == i && ex.scene == m.scene && ex.scene == i % pp_sim_nscenes());
        CHECK(!strcmp(ex.prompt, m.prompt) && !memcmp(ex.cats, m.cats, sizeof ex.cats));
        int bad = 0;
        for (size_t p = 0; p < DPLANE; p++)
            for (int k = 0; k < 3; k++) bad += ex.video[k * DPLANE + p] != (float)m.video[p * 3 + k] / 127.5f - 1.0f;
        for (size_t p = 0; p < DPLANE * PP_NCAT; p++) bad += ex.maps[p] != (float)m.maps[p] / 255.0f;
        for (size_t p = 0; p < DPLANE; p++) {
            int mx = 0;
            for (int k = 0; k < PP_NCAT; k++) mx = m.maps[k * DPLANE + p] > mx ? m.maps[k * DPLANE + p] : mx;
            bad += fabsf(ex.bg[p] - (1.0f - mx / 255.0f)) > 1e-6f;
        }
        CHECK_MSG(!bad, "sample %d: %d values differ", i, bad);
    }
    CHECK(pp_phys_source_get(s, 4, &ex) == -1 && has_err(NULL));
    CHECK(pp_phys_source_get(s, -1, &ex) == -1);
    pp_sample_free(&m);
    pp_dataset_close(ds);
    pp_phys_source_close(s);
    pp_phys_source_cfg bad = {.data_dir = "/nonexistent/prophy-ds"};
    CHECK(pp_phys_source_open(&bad) == NULL && has_err(NULL));
}

TEST(prophy_data_sim_stream) {
    pp_phys_source_cfg c = {.seed = 7, .frames = DF, .height = DH, .width = DW};
    pp_phys_source *s = pp_phys_source_open(&c);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(pp_phys_source_count(s) == INT64_MAX);
    const int64_t idx[] = {0, 5, 123456789, ((int64_t)1 << 40) - 1};
    for (int t = 0; t < 4; t++) {
        pp_phys_example ex;
        pp_sim_out o;
        int scene = (int)(idx[t] % pp_sim_nscenes());
        CHECK(pp_phys_source_get(s, idx[t], &ex) == 0);
        CHECK(pp_sim_run(pp_sim_scene_at(scene), pp_dataset_sample_seed(7, idx[t]), PP_SPLIT_ID, DF, DH, DW, &o) == 0);
        CHECK(ex.index == idx[t] && ex.scene == scene && !strcmp(ex.prompt, o.prompt));
        CHECK(!memcmp(ex.cats, o.cats, sizeof ex.cats));
        CHECK(!memcmp(ex.maps, o.maps, DPLANE * PP_NCAT * sizeof(float)));
        CHECK(!memcmp(ex.bg, o.bg, DPLANE * sizeof(float)));
        float *v = malloc(3 * DPLANE * sizeof(float));
        pp_video_to_float(&o.video, v);
        CHECK(!memcmp(ex.video, v, 3 * DPLANE * sizeof(float)));
        CHECK(ex.video[0] >= -1.0f && ex.video[0] <= 1.0f);
        free(v);
        pp_sim_free(&o);
    }
    pp_phys_source_close(s);
    pp_phys_source_cfg tiny = {.frames = 4, .height = 4, .width = 16};
    CHECK(pp_phys_source_open(&tiny) == NULL && has_err(NULL));
    pp_phys_source_cfg nodata = {.maps_dir = "/tmp", .frames = DF, .height = DH, .width = DW};
    CHECK(pp_phys_source_open(&nodata) == NULL && has_err(NULL));
}

TEST(prophy_data_draw_determinism) {
    pp_phys_source_cfg c = {.seed = 3, .frames = DF, .height = DH, .width = DW};
    CHECK(pp_label_noise_parse("blur=1,noise=0.1,shift=2", &c.noise) == 0);
    pp_phys_source *a = pp_phys_source_open(&c), *b = pp_phys_source_open(&c);
    CHECK(a && b);
    if (!a || !b) return;
    pp_rng ra, rb;
    pp_rng_seed(&ra, 11), pp_rng_seed(&rb, 11);
    float *keep = malloc(DPLANE * PP_NCAT * sizeof(float));
    for (int t = 0; t < 3; t++) {
        pp_phys_example ea, eb;
        CHECK(pp_phys_source_draw(a, &ra, &ea) == 0 && pp_phys_source_draw(b, &rb, &eb) == 0);
        CHECK(ea.index == eb.index && ea.index >= 0 && ea.index < ((int64_t)1 << 40));
        CHECK(!memcmp(ea.maps, eb.maps, DPLANE * PP_NCAT * sizeof(float)));
        CHECK(!memcmp(ea.bg, eb.bg, DPLANE * sizeof(float)));
        /* the noise did something: the maps differ from the clean ones */
        memcpy(keep, ea.maps, DPLANE * PP_NCAT * sizeof(float));
        CHECK(pp_phys_source_get(a, ea.index, &ea) == 0);
        CHECK(memcmp(keep, ea.maps, DPLANE * PP_NCAT * sizeof(float)) != 0);
    }
    free(keep);
    pp_phys_source_close(b);
    /* without noise a draw takes exactly one number: idx = u64 >> 24 */
    c.noise = (pp_label_noise){0, 0, 0};
    b = pp_phys_source_open(&c);
    pp_rng_seed(&ra, 99), pp_rng_seed(&rb, 99);
    pp_phys_example e;
    CHECK(pp_phys_source_draw(b, &ra, &e) == 0);
    CHECK(e.index == (int64_t)(pp_rng_u64(&rb) >> 24));
    CHECK(!memcmp(&ra, &rb, sizeof ra));
    pp_phys_source_close(b);
    pp_phys_source_close(a);
    /* dataset draws: every index in [0, 4) over 40 draws, the same sequence twice */
    pp_phys_source_cfg d = {.data_dir = tiny_dataset()};
    a = pp_phys_source_open(&d);
    CHECK(a != NULL);
    if (!a) return;
    int seen[4] = {0}, seq[40];
    pp_rng_seed(&ra, 1);
    for (int t = 0; t < 40; t++) {
        CHECK(pp_phys_source_draw(a, &ra, &e) == 0 && e.index >= 0 && e.index < 4);
        seq[t] = (int)e.index, seen[e.index & 3]++;
    }
    CHECK(seen[0] && seen[1] && seen[2] && seen[3]);
    pp_rng_seed(&ra, 1);
    for (int t = 0; t < 40; t++) CHECK(pp_phys_source_draw(a, &ra, &e) == 0 && e.index == seq[t]);
    pp_phys_source_close(a);
}

/* ---------------------------------------------------------------- label noise */

static float sum_of(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return (float)s;
}

TEST(prophy_data_noise_shift) {
    float *maps = calloc(DPLANE * PP_NCAT, sizeof(float)), *bg = malloc(DPLANE * sizeof(float));
    /* two bright pixels: channel 3 frame 1 at (8,8), channel 9 frame 3 at (5,10) */
    maps[3 * DPLANE + 1 * DH * DW + 8 * DW + 8] = 1;
    maps[9 * DPLANE + 3 * DH * DW + 5 * DW + 10] = 0.5f;
    pp_label_noise n = {.shift = 3};
    pp_rng r, pr;
    pp_rng_seed(&r, 4);
    int moved = 0;
    for (int t = 0; t < 4; t++) {
        pr = r;
        int dy = (int)pp_rng_below(&pr, 7) - 3, dx = (int)pp_rng_below(&pr, 7) - 3;
        moved += dy != 0 || dx != 0;
        float *m = malloc(DPLANE * PP_NCAT * sizeof(float));
        memcpy(m, maps, DPLANE * PP_NCAT * sizeof(float));
        pp_label_noise_apply(&n, &r, m, bg, DF, DH, DW);
        CHECK_NEAR(m[3 * DPLANE + 1 * DH * DW + (8 + dy) * DW + 8 + dx], 1.0, 0);
        CHECK_NEAR(m[9 * DPLANE + 3 * DH * DW + (5 + dy) * DW + 10 + dx], 0.5, 0);
        CHECK_NEAR(sum_of(m, DPLANE * PP_NCAT), 1.5, 1e-6);
        CHECK_NEAR(bg[1 * DH * DW + (8 + dy) * DW + 8 + dx], 0.0, 0);
        CHECK_NEAR(bg[3 * DH * DW + (5 + dy) * DW + 10 + dx], 0.5, 0);
        CHECK_NEAR(sum_of(bg, DPLANE), DPLANE - 1.5, 1e-3);
        free(m);
    }
    CHECK(moved > 0);
    free(maps), free(bg);
}

TEST(prophy_data_noise_blur_and_values) {
    float *maps = calloc(DPLANE * PP_NCAT, sizeof(float)), *bg = malloc(DPLANE * sizeof(float));
    maps[5 * DPLANE + 2 * DH * DW + 8 * DW + 7] = 1;
    pp_label_noise n = {.blur = 2.2f};
    pp_rng r;
    pp_rng_seed(&r, 1);
    pp_label_noise_apply(&n, &r, maps, bg, DF, DH, DW);
    const float *f2 = maps + 5 * DPLANE + 2 * DH * DW;
    CHECK_NEAR(sum_of(maps, DPLANE * PP_NCAT), 1.0, 1e-5);  /* mass kept */
    CHECK_NEAR(sum_of(f2, DH * DW), 1.0, 1e-5);              /* in its own frame */
    CHECK_NEAR(f2[8 * DW + 7], 1.0 / 25, 1e-6);               /* radius round(2.2) = 2 */
    CHECK_NEAR(f2[10 * DW + 9], 1.0 / 25, 1e-6);
    CHECK_NEAR(f2[11 * DW + 7], 0.0, 0);
    /* noise: values stay in [0, 1], and they do change */
    float *m = malloc(DPLANE * PP_NCAT * sizeof(float));
    for (size_t i = 0; i < DPLANE * PP_NCAT; i++) m[i] = (float)(i % 11) / 10.0f;
    n = (pp_label_noise){.noise = 0.5f, .blur = 1, .shift = 2};
    pp_label_noise_apply(&n, &r, m, bg, DF, DH, DW);
    int out = 0, same = 0;
    for (size_t i = 0; i < DPLANE * PP_NCAT; i++) out += !(m[i] >= 0 && m[i] <= 1), same += m[i] == (float)(i % 11) / 10.0f;
    for (size_t i = 0; i < DPLANE; i++) out += !(bg[i] >= 0 && bg[i] <= 1);
    CHECK(out == 0 && same < (int)(DPLANE * PP_NCAT / 2));
    free(m), free(maps), free(bg);
}

TEST(prophy_data_noise_identity) {
    pp_sim_out o;
    CHECK(pp_sim_run(pp_sim_scene_at(2), 17, PP_SPLIT_ID, DF, DH, DW, &o) == 0);
    float *m = malloc(DPLANE * PP_NCAT * sizeof(float)), *bg = malloc(DPLANE * sizeof(float));
    memcpy(m, o.maps, DPLANE * PP_NCAT * sizeof(float));
    pp_label_noise n;
    CHECK(pp_label_noise_parse("blur=0,noise=0,shift=0", &n) == 0);
    pp_rng r, r0;
    pp_rng_seed(&r, 2), r0 = r;
    pp_label_noise_apply(&n, &r, m, bg, DF, DH, DW);
    CHECK(!memcmp(m, o.maps, DPLANE * PP_NCAT * sizeof(float)));
    for (size_t i = 0; i < DPLANE; i++) CHECK_NEAR(bg[i], o.bg[i], 1e-6);
    CHECK(!memcmp(&r, &r0, sizeof r)); /* nothing drawn */
    free(m), free(bg);
    pp_sim_free(&o);
}

/* Latent token targets ql [t,h,w,17] (LT x LH x LW latent pixels, 8 video pixels each). */
#define LT 3
#define LH 8
#define LW 8
#define LN ((size_t)LT * LH * LW * PP_NCAT)
#define QL(j, y, x, c) ((((size_t)(j) * LH + (y)) * LW + (x)) * PP_NCAT + (c))

TEST(prophy_data_noise_latent) {
    float *q = malloc(LN * sizeof(float)), *q0 = malloc(LN * sizeof(float));
    for (size_t i = 0; i < LN; i++) q0[i] = (float)(i % 7) / 7.0f - 0.5f;
    memcpy(q, q0, LN * sizeof(float));
    pp_rng r, r0;
    pp_rng_seed(&r, 3), r0 = r;
    /* a blur of 3 pixels rounds to radius 0, a shift of 3 pixels to 0 latent pixels:
     * the values come back where they were, through the transposes */
    pp_label_noise n = {.blur = 3, .shift = 3};
    pp_label_noise_apply_latent(&n, &r, q, LT, LH, LW, 8);
    CHECK(!memcmp(q, q0, LN * sizeof(float)));
    CHECK(memcmp(&r, &r0, sizeof r)); /* the shift's two draws were taken */
    /* one phenomenon token (+1) on a background of -1 in frame 1, category 4 */
    for (size_t i = 0; i < LN; i++) q[i] = -1.0f;
    q[QL(1, 4, 4, 4)] = 1.0f;
    n = (pp_label_noise){.blur = 8}; /* radius 1 latent pixel */
    pp_label_noise_apply_latent(&n, &r, q, LT, LH, LW, 8);
    CHECK_NEAR(q[QL(1, 4, 4, 4)], (1.0 - 8.0) / 9.0, 1e-6);
    CHECK_NEAR(q[QL(1, 5, 3, 4)], (1.0 - 8.0) / 9.0, 1e-6);
    CHECK_NEAR(q[QL(1, 6, 4, 4)], -1.0, 1e-6);
    CHECK_NEAR(q[QL(0, 4, 4, 4)], -1.0, 1e-6); /* other frames and categories untouched */
    CHECK_NEAR(q[QL(1, 4, 4, 5)], -1.0, 1e-6);
    /* a shift of 16 pixels moves the token by at most 2 latent pixels, and it does move */
    int moved = 0;
    for (int k = 0; k < 20; k++) {
        for (size_t i = 0; i < LN; i++) q[i] = -1.0f;
        q[QL(1, 4, 4, 4)] = 1.0f;
        n = (pp_label_noise){.shift = 16};
        pp_label_noise_apply_latent(&n, &r, q, LT, LH, LW, 8);
        int at = -1, cnt = 0;
        for (int y = 0; y < LH; y++)
            for (int x = 0; x < LW; x++)
                if (q[QL(1, y, x, 4)] == 1.0f) at = y * LW + x, cnt++;
        CHECK(cnt == 1 && abs(at / LW - 4) <= 2 && abs(at % LW - 4) <= 2);
        moved += at != 4 * LW + 4;
    }
    CHECK(moved > 0);
    /* noise: every value changes and stays in [-1, 1] */
    memcpy(q, q0, LN * sizeof(float));
    n = (pp_label_noise){.noise = 0.5f};
    pp_label_noise_apply_latent(&n, &r, q, LT, LH, LW, 8);
    int out = 0, same = 0;
    for (size_t i = 0; i < LN; i++) out += !(q[i] >= -1 && q[i] <= 1), same += q[i] == q0[i];
    CHECK(out == 0 && same < (int)(LN / 10));
    free(q), free(q0);
}

TEST(prophy_data_noise_parse) {
    pp_label_noise n;
    CHECK(pp_label_noise_parse("blur=1,noise=0.2,shift=2", &n) == 0);
    CHECK(n.blur == 1.0f && n.noise == 0.2f && n.shift == 2.0f);
    CHECK(pp_label_noise_parse("shift=3", &n) == 0 && n.shift == 3.0f && n.blur == 0 && n.noise == 0);
    CHECK(pp_label_noise_parse("noise=0.5,blur=16", &n) == 0 && n.noise == 0.5f && n.blur == 16.0f && n.shift == 0);
    CHECK(pp_label_noise_parse("0", &n) == 0 && n.blur == 0 && n.noise == 0 && n.shift == 0);
    CHECK(pp_label_noise_parse("none", &n) == 0 && n.blur == 0 && n.noise == 0 && n.shift == 0);
    CHECK(pp_label_noise_parse("shift=64,noise=1", &n) == 0);
    CHECK(pp_label_noise_parse("foo=1", &n) == -1 && has_err("'foo=1'") && has_err("unknown part"));
    CHECK(pp_label_noise_parse("blur=1,foo=1", &n) == -1 && has_err("--label-noise"));
    const char *bad[] = {"", "blur", "blur=", "blur=x", "blur=1x", "blur=-1", "blur=17", "shift=65",
                         "noise=1.5", "noise=nan", "blur=1,", ",blur=1", "blur=1,,noise=0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(pp_label_noise_parse(bad[i], &n) == -1 && has_err("--label-noise"), "'%s' accepted", bad[i]);
}

/* ---------------------------------------------------------------- external maps */

/* Source value of a 18x2x4x4 test file: linear in y and x, so bilinear is exact. */
static float src_val(int c, int f, float y, float x) { return 0.01f * c + 0.1f * f + 0.05f * y + 0.02f * x; }

static void write_linear(const char *path) {
    float v[18 * 2 * 4 * 4];
    for (int c = 0; c < 18; c++)
        for (int f = 0; f < 2; f++)
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++) v[((c * 2 + f) * 4 + y) * 4 + x] = src_val(c, f, (float)y, (float)x);
    write_maps(path, 18, 2, 4, 4, v, sizeof v / sizeof *v);
}

TEST(prophy_data_external_maps) {
    const char *path = tpath("lin.maps");
    write_linear(path);
    float *maps = malloc(DPLANE * PP_NCAT * sizeof(float)), *bg = malloc(DPLANE * sizeof(float));
    CHECK(pp_external_maps_load(path, DF, DH, DW, maps, bg) == 0);
    /* frames 0,1 <- 0 and 2,3 <- 1; y=5 <- 0.875, x=6 <- 1.125; y=0 <- 0 (clamped), x=15 <- 3 */
    const int fs[DF] = {0, 0, 1, 1};
    for (int c = 0; c < 18; c++)
        for (int f = 0; f < DF; f++) {
            const float *p = c < PP_NCAT ? maps + ((size_t)c * DF + f) * DH * DW : bg + (size_t)f * DH * DW;
            CHECK_NEAR(p[5 * DW + 6], src_val(c, fs[f], 0.875f, 1.125f), 1e-5);
            CHECK_NEAR(p[0 * DW + 15], src_val(c, fs[f], 0, 3), 1e-5);
            CHECK_NEAR(p[15 * DW + 0], src_val(c, fs[f], 3, 0), 1e-5);
            CHECK_NEAR(p[9 * DW + 2], src_val(c, fs[f], 1.875f, 0.125f), 1e-5);
        }
    /* bg is channel 17, not 1 - max */
    CHECK(fabsf(bg[0] - (1.0f - maps[16 * DPLANE])) > 0.1f);
    free(maps), free(bg);
}

TEST(prophy_data_external_maps_errors) {
    float *maps = malloc(DPLANE * PP_NCAT * sizeof(float)), *bg = malloc(DPLANE * sizeof(float));
    float v[18 * 2 * 4 * 4];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) v[i] = 0.25f;
    const char *p = tpath("missing.maps");
    CHECK(pp_external_maps_load(p, DF, DH, DW, maps, bg) == -1 && has_err("missing.maps"));
    p = tpath("c17.maps");
    write_maps(p, 17, 2, 4, 4, v, 17 * 2 * 4 * 4);
    CHECK(pp_external_maps_load(p, DF, DH, DW, maps, bg) == -1 && has_err("c17.maps") && has_err("expected 18"));
    p = tpath("short.maps");
    write_maps(p, 18, 2, 4, 4, v, 100);
    CHECK(pp_external_maps_load(p, DF, DH, DW, maps, bg) == -1 && has_err("short.maps"));
    p = tpath("hdr.maps");
    write_maps(p, 18, 0, 4, 4, v, 0);
    CHECK(pp_external_maps_load(p, DF, DH, DW, maps, bg) == -1 && has_err("hdr.maps"));
    FILE *f = fopen(tpath("junk.maps"), "wb");
    fputs("hello\n", f), fclose(f);
    CHECK(pp_external_maps_load(tpath("junk.maps"), DF, DH, DW, maps, bg) == -1 && has_err("junk.maps"));
    const float badv[] = {2.0f, NAN, -0.01f, 1.01f};
    for (int k = 0; k < 4; k++) {
        v[77] = badv[k];
        p = tpath("bad.maps");
        write_maps(p, 18, 2, 4, 4, v, sizeof v / sizeof *v);
        CHECK_MSG(pp_external_maps_load(p, DF, DH, DW, maps, bg) == -1 && has_err("bad.maps"), "value %g accepted", badv[k]);
    }
    v[77] = 1.0005f; /* within the slack: accepted, clamped */
    write_maps(p, 18, 2, 4, 4, v, sizeof v / sizeof *v);
    CHECK(pp_external_maps_load(p, DF, DH, DW, maps, bg) == 0);
    for (size_t i = 0; i < DPLANE * PP_NCAT; i++) CHECK(maps[i] <= 1.0f);
    free(maps), free(bg);
}

/* A source with --maps draws maps from the files: channel 0 = (idx+1)/10, bg = 0.5. */
TEST(prophy_data_source_external_maps) {
    const char *mdir = tpath("maps");
    mkdir(mdir, 0755);
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s", mdir);
    float v[18 * 1 * 2 * 2];
    for (int i = 0; i < 4; i++) {
        memset(v, 0, sizeof v);
        for (int k = 0; k < 4; k++) v[k] = (float)(i + 1) / 10.0f, v[17 * 4 + k] = 0.5f;
        snprintf(path, sizeof path, "%s/%08d.maps", dir, i);
        if (i != 2) write_maps(path, 18, 1, 2, 2, v, sizeof v / sizeof *v);
    }
    pp_phys_source_cfg c = {.data_dir = tiny_dataset(), .maps_dir = dir};
    pp_phys_source *s = pp_phys_source_open(&c);
    CHECK(s != NULL);
    if (!s) return;
    pp_rng r;
    pp_rng_seed(&r, 8);
    int ok = 0, failed = 0;
    for (int t = 0; t < 20; t++) {
        pp_phys_example ex;
        pp_rng keep = r;
        if (pp_phys_source_draw(s, &r, &ex)) {
            failed++;
            CHECK(has_err("00000002.maps"));
            r = keep;
            (void)pp_rng_u64(&r);
            continue;
        }
        ok++;
        int bad = 0;
        for (size_t i = 0; i < DPLANE; i++) bad += fabsf(ex.maps[i] - (float)(ex.index + 1) / 10.0f) > 1e-6f;
        for (size_t i = DPLANE; i < DPLANE * PP_NCAT; i++) bad += ex.maps[i] != 0;
        for (size_t i = 0; i < DPLANE; i++) bad += ex.bg[i] != 0.5f;
        CHECK_MSG(!bad, "example %lld: %d map values not from its file", (long long)ex.index, bad);
    }
    CHECK(ok > 0 && failed > 0);
    pp_phys_source_close(s);
    pp_phys_source_cfg nodir = {.data_dir = tiny_dataset(), .maps_dir = "/nonexistent/maps"};
    CHECK(pp_phys_source_open(&nodir) == NULL && has_err("/nonexistent/maps"));
}
