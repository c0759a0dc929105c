/* test_prophy_sample.c - text-to-video with a tiny random ProPhy model
 * (src/prophy_sample.h): determinism, seeds, given frames, routing maps, and the
 * errors (empty prompt, sizes, no conditioning channels). */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "prophy/generate.h"
#include "test.h"

typedef struct {
    pp_vocab voc;
    pp_prophy m;
} tiny;

/* dim 24, 2 layers, patch 1,4,4, 4 frames of 16x16, text ctx 6; random weights,
 * with the zero-initialised injections and head made small random so the branch
 * and the prompt change the output. */
static void tiny_make(tiny *g, pp_branch_mode mode, int cond) {
    memset(g, 0, sizeof *g);
    const char *t[] = {"a red ball falls and bounces", "the blue ball rolls left right on water"};
    pp_vocab_build(&g->voc, t, 2);
    pp_model_config base = {.dit = {.dim = 24, .ffn_dim = 48, .heads = 2, .layers = 2,
                                    .patch = {1, 4, 4}, .out_dim = 3, .text_dim = 16,
                                    .text_len = 6, .freq_dim = 16, .eps = 1e-6f,
                                    .rope_theta = 10000.0f},
                            .frames = 4, .height = 16, .width = 16, .fps = 10, .cond = cond};
    pp_prophy_config c;
    pp_prophy_config_default(&c, &base, g->voc.n);
    c.mode = mode;
    if (pp_prophy_create(&g->m, &c, &g->voc)) {
        printf("    create: %s\n", pp_lasterr());
        abort();
    }
    pp_rng r;
    pp_rng_seed(&r, 3);
    pp_prophy_init_weights(&g->m, g->m.params, &r);
    for (int i = 0; i < g->m.table.n; i++) {
        const pp_param *p = &g->m.table.p[i];
        if (!strncmp(p->name, "branch.inject.", 14) || !strncmp(p->name, "branch.reb_inject.", 18) ||
            !strncmp(p->name, "head.head.", 10))
            pp_rng_fill_normal(&r, g->m.params + p->offset, p->numel, 0.05f);
    }
}

static void tiny_free(tiny *g) {
    pp_prophy_free(&g->m);
    pp_vocab_free(&g->voc);
}

static pp_gen_config quick(uint64_t seed) {
    pp_gen_config c = pp_gen_defaults();
    c.steps = 3, c.seed = seed;
    return c;
}

static int gen(const tiny *g, const char *prompt, const pp_gen_config *c, pp_gen_result *r) {
    int rc = pp_prophy_generate(&g->m, g->m.params, prompt, c, r);
    if (rc) printf("    generate: %s\n", pp_lasterr());
    return rc;
}

static size_t nvideo(const pp_gen_result *r) { return (size_t)3 * r->F * r->H * r->W; }

TEST(prophy_sample_seed_determinism) {
    tiny g;
    tiny_make(&g, PP_BRANCH_FULL, 1);
    pp_gen_config c = quick(7), c2 = quick(8);
    pp_gen_result a, b, d;
    CHECK(gen(&g, "a red ball falls", &c, &a) == 0);
    CHECK(gen(&g, "a red ball falls", &c, &b) == 0);
    CHECK(gen(&g, "a red ball falls", &c2, &d) == 0);
    CHECK(a.F == 4 && a.H == 16 && a.W == 16 && a.video && b.video && d.video);
    if (!pp_test_failed()) {
        CHECK(memcmp(a.video, b.video, nvideo(&a) * sizeof(float)) == 0);
        CHECK(memcmp(a.video, d.video, nvideo(&a) * sizeof(float)) != 0);
        for (size_t i = 0; i < nvideo(&a); i++) CHECK_MSG(isfinite(a.video[i]), "non-finite at %zu", i);
    }
    /* routes only observe: the video is the same with them on */
    pp_gen_result e;
    c.routes = 1;
    CHECK(gen(&g, "a red ball falls", &c, &e) == 0);
    if (!pp_test_failed()) CHECK(memcmp(a.video, e.video, nvideo(&a) * sizeof(float)) == 0);
    /* the prompt matters */
    pp_gen_result p;
    c.routes = 0;
    CHECK(gen(&g, "the blue ball rolls on water", &c, &p) == 0);
    if (!pp_test_failed()) CHECK(memcmp(a.video, p.video, nvideo(&a) * sizeof(float)) != 0);
    pp_gen_result *rs[] = {&a, &b, &d, &e, &p};
    for (int i = 0; i < 5; i++) pp_gen_result_free(rs[i]);
    tiny_free(&g);
}

TEST(prophy_sample_given_frames_kept) {
    tiny g;
    tiny_make(&g, PP_BRANCH_FULL, 1);
    pp_gen_config c = quick(1);
    pp_gen_result src, a, b;
    CHECK(gen(&g, "a red ball falls", &c, &src) == 0);
    if (pp_test_failed()) return;
    size_t hw = 16 * 16, vox = 4 * hw;
    c.cond_frames = 2, c.first = src.video, c.seed = 5;
    CHECK(gen(&g, "a red ball falls", &c, &a) == 0);
    c.seed = 6;
    CHECK(gen(&g, "a red ball falls", &c, &b) == 0);
    if (!pp_test_failed()) {
        for (int ch = 0; ch < 3; ch++) {
            CHECK(memcmp(a.video + ch * vox, src.video + ch * vox, 2 * hw * sizeof(float)) == 0);
            CHECK(memcmp(b.video + ch * vox, src.video + ch * vox, 2 * hw * sizeof(float)) == 0);
        }
        CHECK(memcmp(a.video + 3 * hw, b.video + 3 * hw, hw * sizeof(float)) != 0); /* frame 3 */
    }
    c.cond_frames = 4; /* nothing left to predict */
    pp_gen_result e;
    CHECK(pp_prophy_generate(&g.m, g.m.params, "a red ball", &c, &e) != 0);
    pp_gen_result_free(&src), pp_gen_result_free(&a), pp_gen_result_free(&b);
    tiny_free(&g);
}

TEST(prophy_sample_routes) {
    tiny g;
    tiny_make(&g, PP_BRANCH_FULL, 1);
    pp_gen_config c = quick(2);
    c.routes = 1;
    pp_gen_result r;
    CHECK(gen(&g, "the blue ball rolls left", &c, &r) == 0);
    if (pp_test_failed()) return;
    CHECK(r.gf == 4 && r.gh == 4 && r.gw == 4 && r.N == 64);
    CHECK(r.E_r == g.m.cfg.branch.E_r && r.E_s == g.m.cfg.branch.E_s);
    CHECK(r.cat_maps && r.top_expert && r.rho_r && r.rho_s && r.coarse);
    if (pp_test_failed()) return;
    int finite = 1, in_range = 1;
    for (int i = 0; i < PP_NCAT * r.N; i++) finite &= isfinite(r.cat_maps[i]) != 0;
    for (int n = 0; n < r.N; n++) {
        in_range &= r.top_expert[n] >= 0 && r.top_expert[n] < r.E_r;
        double s = 0;
        for (int e = 0; e < r.E_r; e++) s += r.rho_r[n * r.E_r + e];
        CHECK_NEAR(s, 1.0, 1e-4); /* a mean of softmaxes */
    }
    CHECK(finite && in_range);
    double s = 0;
    for (int e = 0; e < r.E_s; e++) s += r.rho_s[e];
    CHECK_NEAR(s, 1.0, 1e-5);
    for (int k = 0; k < PP_NCAT; k++) CHECK(isfinite(r.coarse[k]));
    CHECK(r.t_sample > 0 && r.t_encode >= 0);
    pp_gen_result_free(&r);
    CHECK(r.video == NULL && r.cat_maps == NULL);
    tiny_free(&g);
}

TEST(prophy_sample_prompt_report_and_errors) {
    tiny g;
    tiny_make(&g, PP_BRANCH_FULL, 1);
    pp_gen_config c = quick(2);
    c.steps = 1;
    pp_gen_result r;
    CHECK(pp_prophy_generate(&g.m, g.m.params, "", &c, &r) != 0);
    CHECK(strstr(pp_lasterr(), "the prompt is empty") != NULL);
    CHECK(r.video == NULL);
    CHECK(pp_prophy_generate(&g.m, g.m.params, " ,. ", &c, &r) != 0);
    CHECK(gen(&g, "a purple ball foo", &c, &r) == 0);
    CHECK(r.rep.n_unknown == 2 && !strcmp(r.rep.unknown, "purple, foo") && !r.rep.truncated);
    pp_gen_result_free(&r);
    CHECK(gen(&g, "a red ball falls and bounces on water", &c, &r) == 0); /* 8 words, L = 6 */
    CHECK(r.rep.truncated && r.rep.n_words == 8);
    pp_gen_result_free(&r);
    c.W = 18;
    CHECK(pp_prophy_generate(&g.m, g.m.params, "a red ball", &c, &r) != 0);
    CHECK(strstr(pp_lasterr(), "not divisible") != NULL);
    c.W = 0, c.steps = 0;
    CHECK(pp_prophy_generate(&g.m, g.m.params, "a red ball", &c, &r) != 0);
    tiny_free(&g);
}

/* mode none, no conditioning channels: routes stay NULL, first frames are an error */
TEST(prophy_sample_plain_model) {
    tiny g;
    tiny_make(&g, PP_BRANCH_NONE, 0);
    pp_gen_config c = quick(2);
    c.routes = 1, c.W = 32; /* another size than the training one */
    pp_gen_result r;
    CHECK(gen(&g, "a red ball", &c, &r) == 0);
    CHECK(r.video && r.W == 32 && !r.cat_maps && !r.top_expert && !r.rho_s && !r.coarse);
    float *first = r.video;
    pp_gen_result r2;
    c.cond_frames = 1, c.first = first;
    CHECK(pp_prophy_generate(&g.m, g.m.params, "a red ball", &c, &r2) != 0);
    CHECK(strstr(pp_lasterr(), "first-frame") != NULL);
    pp_gen_result_free(&r);
    tiny_free(&g);
}
