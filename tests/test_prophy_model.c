/* test_prophy_model.c - the assembled ProPhy model (src/prophy_model.h): zero
 * injections reproduce the backbone bitwise, directional finite-difference checks
 * of every tensor with all four losses on, freezing, token targets, the model
 * file and the sampler adapter. */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "wan/flow.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "prophy/model.h"
#include "io/safetensors.h"
#include "test.h"

/* ---------------------------------------------------------------- rig */

static void tiny_vocab(pp_vocab *v) {
    const char *t[] = {"a red ball falls and bounces", "the blue ball rolls left right"};
    pp_vocab_build(v, t, 2);
}

static pp_prophy_config tiny_config(pp_branch_mode mode, int M, int vocab) {
    pp_model_config base = {.dit = {.dim = 24, .ffn_dim = 40, .heads = 2, .layers = 2,
                                    .patch = {1, 2, 2}, .out_dim = 3, .text_dim = 10,
                                    .text_len = 5, .freq_dim = 16, .eps = 1e-6f,
                                    .rope_theta = 10000.0f},
                            .frames = 2, .height = 4, .width = 4, .fps = 10, .cond = 1};
    pp_prophy_config c;
    pp_prophy_config_default(&c, &base, vocab);
    c.text.layers = 1;
    c.mode = mode, c.branch.M = M;
    c.branch.E_s = 3, c.branch.seb_hidden = 8, c.branch.E_r = 4, c.branch.top_k = 2, c.branch.fine_hidden = 6;
    return c;
}

typedef struct {
    pp_vocab voc;
    pp_prophy m;
    float *P, *G;
    int B, F, H, W, N;
    float *x, *t, *target, *labels, *Qr, *out;
    int *ids;
    size_t nx, nout;
    pp_prophy_batch batch;
} rig;

static void rig_make(rig *g, pp_branch_mode mode, int M, int F, int H, int W, uint64_t seed) {
    memset(g, 0, sizeof *g);
    tiny_vocab(&g->voc);
    pp_prophy_config c = tiny_config(mode, M, g->voc.n);
    if (pp_prophy_create(&g->m, &c, &g->voc)) {
        printf("    create: %s\n", pp_lasterr());
        abort();
    }
    const pp_prophy_config *cc = &g->m.cfg;
    g->B = 2, g->F = F, g->H = H, g->W = W;
    g->N = F / 1 * (H / 2) * (W / 2);
    g->P = g->m.params;
    g->G = pp_zalloc_floats(g->m.table.total);
    pp_rng r;
    pp_rng_seed(&r, seed);
    for (int i = 0; i < g->m.table.n; i++)
        pp_rng_fill_normal(&r, g->P + g->m.table.p[i].offset, g->m.table.p[i].numel, 0.2f);
    size_t vox = (size_t)F * H * W, L = (size_t)cc->text.ctx;
    g->nx = (size_t)g->B * cc->base.dit.in_dim * vox;
    g->nout = (size_t)g->B * cc->base.dit.out_dim * vox;
    g->x = pp_alloc_floats(g->nx), g->target = pp_alloc_floats(g->nout), g->out = pp_alloc_floats(g->nout);
    g->t = pp_alloc_floats((size_t)g->B);
    g->labels = pp_zalloc_floats((size_t)g->B * PP_NCAT);
    g->Qr = pp_alloc_floats((size_t)g->B * g->N * PP_NCAT);
    pp_rng_fill_normal(&r, g->x, g->nx, 1.0f);
    pp_rng_fill_normal(&r, g->target, g->nout, 1.0f);
    pp_rng_fill_normal(&r, g->Qr, (size_t)g->B * g->N * PP_NCAT, 0.5f);
    for (int i = 0; i < g->B * PP_NCAT; i++) g->labels[i] = pp_rng_uniform(&r) < 0.4f;
    g->labels[0] = g->labels[PP_NCAT + 1] = 1.0f;
    for (int b = 0; b < g->B; b++) g->t[b] = 1000.0f * pp_rng_uniform(&r);
    g->ids = pp_calloc((size_t)g->B * L, sizeof(int));
    pp_tok_encode(&g->voc, "a red ball falls", (int)L, g->ids, NULL);
    pp_tok_encode(&g->voc, "blue ball rolls", (int)L, g->ids + L, NULL);
    g->batch = (pp_prophy_batch){.x = g->x, .t = g->t, .ids = g->ids, .target = g->target, .labels = g->labels, .Qr = g->Qr};
}

static void rig_free(rig *g) {
    float *bufs[] = {g->G, g->x, g->t, g->target, g->labels, g->Qr, g->out};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(g->ids);
    pp_prophy_free(&g->m);
    pp_vocab_free(&g->voc);
}

/* ---------------------------------------------------------------- zero injections */

/* prophy forward (train and inference acts) == backbone forward on the text encoder's ctx */
static void identity_case(pp_branch_mode mode, int M) {
    rig g;
    rig_make(&g, mode, M, 2, 4, 6, 11);
    pp_rng r;
    pp_rng_seed(&r, 5);
    pp_prophy_attach_branch(&g.m, g.P, &r);
    const pp_prophy_config *c = &g.m.cfg;
    pp_text_acts ta;
    pp_text_acts_alloc(&ta, &c->text, g.B);
    CHECK(pp_text_encoder_forward(&g.m.te, g.P, g.ids, g.B, NULL, &ta) == 0);
    pp_dit_acts *da = pp_dit_acts_new(&g.m.dit, g.B, g.F, g.H, g.W, 0);
    float *want = pp_alloc_floats(g.nout);
    pp_dit_forward(&g.m.dit, g.P, da, g.x, g.t, ta.out, want);
    for (int train = 0; train < 2; train++) {
        pp_prophy_acts *a = pp_prophy_acts_new(&g.m, g.B, g.F, g.H, g.W, train);
        CHECK(pp_prophy_forward(&g.m, g.P, a, g.x, g.t, g.ids, g.out) == 0);
        CHECK_MSG(memcmp(g.out, want, g.nout * sizeof(float)) == 0, "mode %s M %d train %d differs",
                  pp_branch_mode_name(mode), M, train);
        /* the branch did run: the REB's router weights are there */
        if (pp_prophy_has_reb(c)) CHECK(pp_prophy_acts_rho_r(a) != NULL);
        pp_prophy_acts_free(a);
    }
    double s = 0;
    for (size_t i = 0; i < g.nout; i++) s += fabs(want[i]);
    CHECK(s > 0); /* a non-trivial output (random head) */
    pp_free_aligned(want);
    pp_dit_acts_free(da);
    pp_text_acts_free(&ta);
    rig_free(&g);
}

TEST(prophy_zero_injection_is_backbone_exactly) {
    identity_case(PP_BRANCH_NONE, 0);
    identity_case(PP_BRANCH_SEB, 2);
    identity_case(PP_BRANCH_REB, 1);
    identity_case(PP_BRANCH_FULL, 2);
    identity_case(PP_BRANCH_FULL, 1);
}

TEST(prophy_branch_changes_output_when_injections_nonzero) {
    rig g;
    rig_make(&g, PP_BRANCH_FULL, 2, 2, 4, 4, 12);
    pp_prophy_acts *a = pp_prophy_acts_new(&g.m, g.B, g.F, g.H, g.W, 0);
    pp_prophy_forward(&g.m, g.P, a, g.x, g.t, g.ids, g.out);
    float *o1 = pp_alloc_floats(g.nout);
    memcpy(o1, g.out, g.nout * sizeof(float));
    const pp_param *p = pp_params_find(&g.m.table, "branch.reb_inject.weight");
    CHECK(p != NULL);
    memset(g.P + p->offset, 0, p->numel * sizeof(float));
    pp_prophy_forward(&g.m, g.P, a, g.x, g.t, g.ids, g.out);
    CHECK(memcmp(o1, g.out, g.nout * sizeof(float)) != 0);
    pp_free_aligned(o1);
    pp_prophy_acts_free(a);
    rig_free(&g);
}

/* ---------------------------------------------------------------- gradient check */

typedef struct {
    rig *g;
    pp_prophy_acts *a;
    int *sel0; /* the selection at the unperturbed point */
    size_t nsel;
    int sel_changed;
} fd_ctx;

static double total_loss(fd_ctx *f) {
    pp_prophy_losses L;
    pp_prophy_step(&f->g->m, f->g->P, NULL, f->a, &f->g->batch, f->g->out, &L);
    const int *sel = pp_prophy_acts_sel(f->a);
    if (f->sel0 && memcmp(sel, f->sel0, f->nsel * sizeof(int))) f->sel_changed = 1;
    return (double)L.total;
}

/* directional derivative along d by a 4-point stencil (as tests/test_dit.c) */
static double fd_dir(fd_ctx *f, float *p, const float *d, size_t n, float h) {
    float *keep = pp_alloc_floats(n);
    memcpy(keep, p, n * sizeof(float));
    double v[4], hs[4] = {h, -h, 2 * h, -2 * h};
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < n; i++) p[i] = keep[i] + (float)hs[k] * d[i];
        v[k] = total_loss(f);
    }
    memcpy(p, keep, n * sizeof(float));
    pp_free_aligned(keep);
    return (8.0 * (v[0] - v[1]) - (v[2] - v[3])) / (12.0 * h);
}

static int check_dir(fd_ctx *f, const char *name, float *p, const float *grad, size_t n, pp_rng *r) {
    float *d = pp_alloc_floats(n);
    pp_rng_fill_normal(r, d, n, 1.0f);
    double ana = 0;
    for (size_t i = 0; i < n; i++) ana += (double)grad[i] * d[i];
    double num = 0;
    float hs[3] = {2e-2f, 4e-3f, 1e-3f}; /* a token's top-k changed: retry closer */
    for (int k = 0; k < 3 && (k == 0 || f->sel_changed); k++) {
        f->sel_changed = 0;
        num = fd_dir(f, p, d, n, hs[k]);
    }
    pp_free_aligned(d);
    int bad = fabs(num - ana) > 1e-2 * (fabs(num) + fabs(ana)) + 3e-4 || f->sel_changed;
    if (bad) printf("    %s: numeric %.7g analytic %.7g%s\n", name, num, ana, f->sel_changed ? " (top-k changed)" : "");
    return bad;
}

static void gradcheck_case(pp_branch_mode mode, int M, int F, int H, int W, int weighted) {
    rig g;
    rig_make(&g, mode, M, F, H, W, 21);
    /* larger auxiliary weights so their paths weigh in the check */
    g.m.cfg.branch.w_coarse = 0.5f, g.m.cfg.branch.w_fine_align = 0.3f, g.m.cfg.branch.w_balance = 0.2f;
    float *wvox = NULL; /* weighted: the diffusion loss of --fg-weight, 1 + 10 u per voxel */
    if (weighted) {
        size_t nv = (size_t)g.B * g.F * g.H * g.W;
        wvox = pp_alloc_floats(nv);
        pp_rng rw;
        pp_rng_seed(&rw, 77);
        for (size_t i = 0; i < nv; i++) wvox[i] = 1.0f + 10.0f * pp_rng_uniform(&rw);
        g.batch.wvox = wvox;
    }
    pp_prophy_acts *a = pp_prophy_acts_new(&g.m, g.B, g.F, g.H, g.W, 1);
    pp_prophy_losses L;
    CHECK(pp_prophy_step(&g.m, g.P, g.G, a, &g.batch, g.out, &L) == 0);
    if (pp_prophy_has_seb(&g.m.cfg)) CHECK(L.coarse > 0);
    if (pp_prophy_has_reb(&g.m.cfg)) CHECK(L.fine_align > 0 && L.balance > 0);
    fd_ctx f = {.g = &g, .a = a};
    if (pp_prophy_has_reb(&g.m.cfg)) {
        f.nsel = (size_t)g.B * g.N * g.m.cfg.branch.top_k;
        f.sel0 = pp_malloc(f.nsel * sizeof(int));
        memcpy(f.sel0, pp_prophy_acts_sel(a), f.nsel * sizeof(int));
        int E = g.m.cfg.branch.E_r, k = g.m.cfg.branch.top_k;
        const float *rho = pp_prophy_acts_rho_r(a);
        double gap = 1;
        for (int t = 0; t < g.B * g.N; t++) {
            double lo = rho[t * E + f.sel0[t * k + k - 1]], hi = 0;
            for (int e = 0; e < E; e++) {
                int in = 0;
                for (int j = 0; j < k; j++) in |= f.sel0[t * k + j] == e;
                if (!in && rho[t * E + e] > hi) hi = rho[t * E + e];
            }
            if (lo - hi < gap) gap = lo - hi;
        }
        CHECK(gap > 0); /* no exact tie at the base point */
    }
    pp_rng r;
    pp_rng_seed(&r, 3);
    int bad = 0;
    for (int i = 0; i < g.m.table.n; i++) {
        const pp_param *p = &g.m.table.p[i];
        bad += check_dir(&f, p->name, g.P + p->offset, g.G + p->offset, p->numel, &r);
    }
    CHECK_MSG(bad == 0, "mode %s: %d of %d tensors disagree", pp_branch_mode_name(mode), bad, g.m.table.n);
    free(f.sel0);
    pp_free_aligned(wvox);
    pp_prophy_acts_free(a);
    rig_free(&g);
}

TEST(prophy_gradcheck_full_every_tensor) { gradcheck_case(PP_BRANCH_FULL, 2, 2, 4, 4, 0); }
/* a video grid other than the reference one: the SEB resamples its maps */
TEST(prophy_gradcheck_seb_resampled) { gradcheck_case(PP_BRANCH_SEB, 1, 3, 4, 6, 0); }
TEST(prophy_gradcheck_reb_m1) { gradcheck_case(PP_BRANCH_REB, 1, 2, 4, 4, 0); }
TEST(prophy_gradcheck_none) { gradcheck_case(PP_BRANCH_NONE, 0, 2, 4, 4, 0); }
/* the diffusion loss weighted per voxel (--fg-weight) */
TEST(prophy_gradcheck_none_weighted_loss) { gradcheck_case(PP_BRANCH_NONE, 0, 2, 4, 4, 1); }

TEST(prophy_declared_names_per_mode) {
    struct { pp_branch_mode mode; int M; const char *has[4]; const char *lacks[3]; } cases[] = {
        {PP_BRANCH_NONE, 2, {"text_encoder.norm.weight", "blocks.1.ffn.2.weight", 0, 0},
         {"branch.pb.0.modulation", "branch.seb.basis", "branch.reb.router.weight"}},
        {PP_BRANCH_SEB, 1, {"branch.seb.basis", "branch.pb.0.modulation", "branch.align.coarse.weight", "branch.inject.0.bias"},
         {"branch.pb.1.modulation", "branch.reb.router.weight", "branch.align.fine.0.weight"}},
        {PP_BRANCH_REB, 2, {"branch.reb.experts.3.weight", "branch.reb_inject.weight", "branch.align.fine.2.bias", "branch.pb.1.ffn.0.weight"},
         {"branch.seb.basis", "branch.align.coarse.weight", 0}},
        {PP_BRANCH_FULL, 2, {"branch.seb.router.2.weight", "branch.inject.1.weight", "branch.reb.router.bias", "branch.align.coarse.bias"},
         {"branch.pb.2.modulation", 0, 0}},
    };
    pp_vocab v;
    tiny_vocab(&v);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        pp_prophy_config c = tiny_config(cases[k].mode, cases[k].M, v.n);
        pp_prophy m;
        CHECK(pp_prophy_create(&m, &c, &v) == 0);
        for (int i = 0; i < 4; i++)
            if (cases[k].has[i]) CHECK_MSG(pp_params_find(&m.table, cases[k].has[i]), "missing %s", cases[k].has[i]);
        for (int i = 0; i < 3; i++)
            if (cases[k].lacks[i]) CHECK_MSG(!pp_params_find(&m.table, cases[k].lacks[i]), "unexpected %s", cases[k].lacks[i]);
        const pp_param *p = pp_params_find(&m.table, "text_encoder.token_embedding.weight");
        CHECK(p && p->shape[0] == v.n && p->shape[1] == 10);
        pp_prophy_free(&m);
    }
    pp_prophy_config c = tiny_config(PP_BRANCH_FULL, 3, v.n); /* M > layers */
    pp_prophy m;
    CHECK(pp_prophy_create(&m, &c, &v) != 0 && strstr(pp_lasterr(), "Physical Blocks") != NULL);
    pp_vocab_free(&v);
}

TEST(prophy_attach_copies_blocks_and_zeroes_injections) {
    rig g;
    rig_make(&g, PP_BRANCH_FULL, 2, 2, 4, 4, 4);
    pp_rng r;
    pp_rng_seed(&r, 1);
    pp_prophy_attach_branch(&g.m, g.P, &r);
    int n = 0;
    for (int i = 0; i < g.m.table.n; i++) {
        const pp_param *p = &g.m.table.p[i];
        int j;
        char rest[PP_NAME_MAX], src[PP_NAME_MAX + 16];
        if (sscanf(p->name, "branch.pb.%d.%95s", &j, rest) == 2) {
            snprintf(src, sizeof src, "blocks.%d.%s", j, rest);
            const pp_param *s = pp_params_find(&g.m.table, src);
            CHECK(s && !memcmp(g.P + s->offset, g.P + p->offset, p->numel * sizeof(float)));
            n++;

        }
        if (!strncmp(p->name, "branch.inject.", 14) || !strncmp(p->name, "branch.reb_inject.", 18))
            for (size_t k = 0; k < p->numel; k++) CHECK(g.P[p->offset + k] == 0.0f);
    }
    int per_block = 0;
    for (int i = 0; i < g.m.table.n; i++) per_block += !strncmp(g.m.table.p[i].name, "blocks.0.", 9);
    CHECK_MSG(n == 2 * per_block && per_block == 27, "n = %d", n);
    rig_free(&g);
}

/* ---------------------------------------------------------------- freezing */

/* is `name` a tensor of a REB expert that no token selected (so it gets no gradient)? */
static int unused_expert(const rig *g, const pp_prophy_acts *a, const char *name) {
    int e;
    if (sscanf(name, "branch.reb.experts.%d.", &e) != 1) return 0;
    const int *sel = pp_prophy_acts_sel(a);
    for (int i = 0; i < g->B * g->N * g->m.cfg.branch.top_k; i++)
        if (sel[i] == e) return 0;
    return 1;
}

TEST(prophy_freeze_backbone_adamw) {
    rig g;
    rig_make(&g, PP_BRANCH_FULL, 2, 2, 4, 4, 8);
    pp_rng r;
    pp_rng_seed(&r, 2);
    pp_prophy_attach_branch(&g.m, g.P, &r); /* a "trained" random backbone + a fresh branch */
    int nb = pp_prophy_freeze_backbone(&g.m, 1, 1), ntext = 0, nbranch = 0;
    for (int i = 0; i < g.m.table.n; i++) {
        const char *nm = g.m.table.p[i].name;
        ntext += !strncmp(nm, "text_encoder.", 13);
        nbranch += !strncmp(nm, "branch.", 7);
    }
    CHECK(nb == g.m.table.n - nbranch);
    CHECK(pp_prophy_freeze_backbone(&g.m, 0, 0) == nb - ntext); /* unfreeze the backbone only */
    CHECK(pp_prophy_freeze_backbone(&g.m, 1, 1) == nb);
    float *before = pp_alloc_floats(g.m.table.total);
    memcpy(before, g.P, g.m.table.total * sizeof(float));
    pp_prophy_acts *a = pp_prophy_acts_new(&g.m, g.B, g.F, g.H, g.W, 1);
    pp_prophy_losses L;
    CHECK(pp_prophy_step(&g.m, g.P, g.G, a, &g.batch, NULL, &L) == 0);
    /* the frozen backbone and text encoder get no weight gradients (their slots stay
     * zero), and the branch's gradients are those of the unfrozen model: the
     * gradient flows through the frozen parts unchanged */
    float *Gall = pp_zalloc_floats(g.m.table.total);
    pp_prophy_freeze_backbone(&g.m, 0, 1);
    CHECK(pp_prophy_step(&g.m, g.P, Gall, a, &g.batch, NULL, &L) == 0);
    pp_prophy_freeze_backbone(&g.m, 1, 1);
    for (int i = 0; i < g.m.table.n; i++) {
        const pp_param *p = &g.m.table.p[i];
        double gs = 0;
        for (size_t k = 0; k < p->numel; k++) gs += fabs(g.G[p->offset + k]);
        if (p->frozen) CHECK_MSG(gs == 0, "frozen %s got a gradient", p->name);
        else CHECK_MSG(!memcmp(g.G + p->offset, Gall + p->offset, p->numel * sizeof(float)),
                       "%s: its gradient depends on whether the backbone is frozen", p->name);
    }
    pp_free_aligned(Gall);
    pp_adamw_config oc = pp_adamw_defaults();
    oc.weight_decay = 0.0f; /* so that a change can only come from a gradient */
    pp_adamw o;
    pp_adamw_init(&o, &oc, g.m.table.total, g.P);
    /* Step 1 moves what the zero injections let through (injections, the SEB and
     * REB routers, the PBs via the routers' losses); the REB experts sit behind the
     * zero reb_inject and start moving at step 2 (ControlNet-style). */
    for (int step = 0; step < 2; step++) {
        if (step) {
            memset(g.G, 0, g.m.table.total * sizeof(float));
            CHECK(pp_prophy_step(&g.m, g.P, g.G, a, &g.batch, NULL, &L) == 0);
        }
        CHECK(pp_adamw_step(&o, &g.m.table, g.P, g.G, NULL) == 0);
        for (int i = 0; i < g.m.table.n; i++) {
            const pp_param *p = &g.m.table.p[i];
            int same = !memcmp(before + p->offset, g.P + p->offset, p->numel * sizeof(float));
            if (p->frozen) CHECK_MSG(same, "frozen %s changed", p->name);
            else if (step == 0 && same) CHECK_MSG(!strncmp(p->name, "branch.reb.experts.", 19), "%s unchanged", p->name);
            else if (step == 1 && same) CHECK_MSG(unused_expert(&g, a, p->name), "%s unchanged after 2 steps", p->name);
        }
    }
    pp_adamw_free(&o);
    pp_free_aligned(before);
    pp_prophy_acts_free(a);
    rig_free(&g);
}

/* ---------------------------------------------------------------- token targets */

TEST(prophy_token_targets_hand_computed) {
    /* B=1, F=2, H=2, W=4, patch (1,2,2): grid 2x1x2, N = 4 tokens */
    int B = 1, F = 2, H = 2, W = 4, vox = F * H * W;
    float *maps = pp_zalloc_floats((size_t)PP_NCAT * vox), bg[16], Q[4 * PP_NCAT];
    for (int i = 0; i < vox; i++) {
        maps[3 * vox + i] = (float)i;        /* category 3: pixel index */
        maps[5 * vox + i] = 1.0f;            /* category 5: constant 1 */
        bg[i] = i < 8 ? 0.5f : 0.0f;         /* frame 0: 0.5 */
    }
    pp_prophy_token_targets(Q, maps, bg, B, F, H, W, 1, 2, 2);
    /* token (f,w): pixels f*8 + {2w, 2w+1, 4+2w, 5+2w}; mean = f*8 + 2w + 2.5 */
    float want3[4] = {2.5f - 0.5f, 4.5f - 0.5f, 10.5f, 12.5f}, want5[4] = {0.5f, 0.5f, 1.0f, 1.0f};
    for (int n = 0; n < 4; n++) {
        CHECK_NEAR(Q[n * PP_NCAT + 3], want3[n], 1e-6);
        CHECK_NEAR(Q[n * PP_NCAT + 5], want5[n], 1e-6);
        CHECK_NEAR(Q[n * PP_NCAT + 0], n < 2 ? -0.5 : 0.0, 1e-6);
    }
    pp_prophy_token_targets(Q, maps, NULL, B, F, H, W, 1, 2, 2);
    CHECK_NEAR(Q[2 * PP_NCAT + 3], 10.5, 1e-6);
    pp_free_aligned(maps);
}

/* ---------------------------------------------------------------- model file */

TEST(prophy_model_file_roundtrip) {
    rig g;
    rig_make(&g, PP_BRANCH_FULL, 2, 2, 4, 4, 9);
    g.m.cfg.branch.w_balance = 0.03f;
    const char *path = "/tmp/prophy_test_model.safetensors";
    CHECK(pp_prophy_save(&g.m, path, NULL, PP_F32) == 0);
    pp_prophy m2;
    CHECK_MSG(pp_prophy_load(&m2, path) == 0, "%s", pp_lasterr());
    CHECK(m2.table.total == g.m.table.total && m2.table.n == g.m.table.n);
    CHECK(memcmp(m2.params, g.P, g.m.table.total * sizeof(float)) == 0);
    CHECK(m2.cfg.mode == PP_BRANCH_FULL && m2.cfg.branch.M == 2 && m2.cfg.branch.E_r == 4 && m2.cfg.branch.top_k == 2);
    CHECK(m2.cfg.branch.gf0 == 2 && m2.cfg.branch.gh0 == 2 && m2.cfg.branch.gw0 == 2);
    CHECK(m2.cfg.branch.w_balance == 0.03f && m2.cfg.text.layers == 1 && m2.cfg.base.cond == 1);
    CHECK(m2.vocab.n == g.voc.n && !strcmp(pp_vocab_word(&m2.vocab, 5), pp_vocab_word(&g.voc, 5)));
    pp_prophy_free(&m2);
    /* the backbone's tensors are stored under Wan's names */
    pp_st_file f;
    CHECK(pp_st_open(&f, path) == 0);
    const pp_param *q = pp_params_find(&g.m.table, "blocks.1.ffn.0.weight");
    float *w = pp_alloc_floats(q->numel);
    CHECK(pp_st_load_f32(&f, q->name, w, q->ndim, q->shape) == 0);
    CHECK(!memcmp(w, g.P + q->offset, q->numel * sizeof(float)));
    pp_free_aligned(w);
    pp_st_close(&f);
    remove(path);
    rig_free(&g);
}

TEST(prophy_model_file_non_finite_weights_refused) {
    rig g;
    rig_make(&g, PP_BRANCH_FULL, 2, 2, 4, 4, 9);
    const char *path = pp_test_path("nan_model.safetensors");
    const pp_param *q = pp_params_find(&g.m.table, "blocks.0.self_attn.q.weight");
    for (int k = 0; k < 2; k++) {
        g.P[q->offset + 3] = k ? INFINITY : NAN;
        CHECK(pp_prophy_save(&g.m, path, g.P, PP_F32) == 0);
        pp_prophy m2;
        CHECK(pp_prophy_load(&m2, path) != 0);
        CHECK_MSG(strstr(pp_lasterr(), "'blocks.0.self_attn.q.weight'") && strstr(pp_lasterr(), "non-finite"), "%s",
                  pp_lasterr());
    }
    rig_free(&g);
}

/* writes a file with the tensors of `m` and the config/vocab JSON given */
static int write_mixed(const char *path, const pp_prophy *m, const char *config, const char *vocab) {
    pp_st_writer *w = pp_st_writer_new();
    int rc = pp_st_set_meta(w, "prophy.config", config) || pp_st_set_meta(w, "prophy.vocab", vocab);
    for (int i = 0; i < m->table.n && !rc; i++) {
        const pp_param *p = &m->table.p[i];
        rc = pp_st_add_f32(w, p->name, PP_F32, p->ndim, p->shape, m->params + p->offset);
    }
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

static char *config_string(pp_prophy_config c) {
    cJSON *j = pp_prophy_config_to_json(&c);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

TEST(prophy_model_file_config_mismatch_errors) {
    rig g;
    rig_make(&g, PP_BRANCH_FULL, 2, 2, 4, 4, 9);
    const char *path = "/tmp/prophy_test_bad.safetensors";
    char *voc = pp_vocab_serialize(&g.voc, NULL);
    pp_prophy m2;
    pp_prophy_config c;
    /* 1: E_r 5 in the config, 4 experts in the file */
    c = g.m.cfg, c.branch.E_r = 5;
    char *s = config_string(c);
    CHECK(write_mixed(path, &g.m, s, voc) == 0);
    CHECK(pp_prophy_load(&m2, path) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "branch.reb") != NULL, "got: %s", pp_lasterr());
    free(s);
    /* 2: dim 32 in the config */
    c = g.m.cfg, c.base.dit.dim = 32, c.branch.seb_hidden = 8;
    s = config_string(c);
    CHECK(write_mixed(path, &g.m, s, voc) == 0);
    CHECK(pp_prophy_load(&m2, path) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "has shape") != NULL, "got: %s", pp_lasterr());
    free(s);
    /* 3: mode none in the config: branch tensors are not part of it */
    c = g.m.cfg, c.mode = PP_BRANCH_NONE;
    s = config_string(c);
    CHECK(write_mixed(path, &g.m, s, voc) == 0);
    CHECK(pp_prophy_load(&m2, path) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "not part of the model") != NULL, "got: %s", pp_lasterr());
    free(s);
    /* 4: a vocabulary of another size */
    s = config_string(g.m.cfg);
    CHECK(write_mixed(path, &g.m, s, "<pad>\n<unk>\n<eos>\nball") == 0);
    CHECK(pp_prophy_load(&m2, path) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "vocabulary has 4 tokens") != NULL, "got: %s", pp_lasterr());
    /* 5: a backbone-only config */
    cJSON *j = pp_model_config_to_json(&g.m.cfg.base);
    char *bs = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    CHECK(write_mixed(path, &g.m, bs, voc) == 0);
    CHECK(pp_prophy_load(&m2, path) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "text_encoder") != NULL, "got: %s", pp_lasterr());
    free(bs), free(s), free(voc);
    remove(path);
    rig_free(&g);
}

TEST(prophy_copy_weights_stage1_to_stage2) {
    rig g;
    rig_make(&g, PP_BRANCH_NONE, 0, 2, 4, 4, 13);
    pp_prophy_config c = g.m.cfg;
    c.mode = PP_BRANCH_FULL, c.branch.M = 2;
    pp_prophy m2;
    CHECK(pp_prophy_create(&m2, &c, &g.voc) == 0);
    int n = 0;
    CHECK(pp_prophy_copy_weights(&m2, m2.params, &g.m, g.P, &n) == 0);
    CHECK(n == g.m.table.n);
    pp_rng r;
    pp_rng_seed(&r, 1);
    pp_prophy_attach_branch(&m2, m2.params, &r);
    /* same output as the stage-1 model */
    pp_prophy_acts *a1 = pp_prophy_acts_new(&g.m, g.B, g.F, g.H, g.W, 0);
    pp_prophy_acts *a2 = pp_prophy_acts_new(&m2, g.B, g.F, g.H, g.W, 0);
    float *o2 = pp_alloc_floats(g.nout);
    pp_prophy_forward(&g.m, g.P, a1, g.x, g.t, g.ids, g.out);
    pp_prophy_forward(&m2, m2.params, a2, g.x, g.t, g.ids, o2);
    CHECK(memcmp(o2, g.out, g.nout * sizeof(float)) == 0);
    CHECK(pp_prophy_copy_weights(&g.m, g.P, &m2, m2.params, &n) == 0); /* back: branch ignored */
    pp_free_aligned(o2);
    pp_prophy_acts_free(a1), pp_prophy_acts_free(a2);
    pp_prophy_free(&m2);
    rig_free(&g);
}

/* ---------------------------------------------------------------- sampler adapter */

/* The sampler's batch of 2B: rows 0..B-1 conditioned on the prompts' ids, rows
 * B..2B-1 on the empty prompt's, each as a forward of batch B with those ids.
 * Equal within a tolerance, not bitwise: the batch changes the GEMMs' shapes,
 * and a BLAS kernel may block (and so round) an M-row product differently from a
 * 2M-row one. */
TEST(prophy_velocity_rows_follow_their_contexts) {
    rig g;
    rig_make(&g, PP_BRANCH_FULL, 2, 2, 4, 4, 14);
    int L = g.m.cfg.text.ctx, B = g.B;
    int *empty = pp_malloc((size_t)B * L * sizeof(int));
    for (int b = 0; b < B; b++) pp_prophy_empty_ids(empty + b * L, L);
    CHECK(empty[0] == PP_TOK_EOS && empty[1] == PP_TOK_PAD);
    const void *rows[8];
    CHECK(2 * B <= 8);
    for (int b = 0; b < B; b++) rows[b] = g.ids + b * L, rows[B + b] = empty + b * L;
    float *x2 = pp_alloc_floats(2 * g.nx), t2[8];
    memcpy(x2, g.x, g.nx * sizeof(float)), memcpy(x2 + g.nx, g.x, g.nx * sizeof(float));
    for (int b = 0; b < 2 * B; b++) t2[b] = g.t[b % B];
    float *v = pp_alloc_floats(2 * g.nout);
    pp_prophy_runner run = {.m = &g.m, .params = g.P, .F = g.F, .H = g.H, .W = g.W};
    CHECK(pp_prophy_velocity(&run, x2, t2, rows, 2 * B, v) == 0);
    pp_prophy_acts *a = pp_prophy_acts_new(&g.m, B, g.F, g.H, g.W, 0);
    pp_prophy_forward(&g.m, g.P, a, g.x, g.t, g.ids, g.out);
    double e1 = pp_rel_err(v, g.out, g.nout);
    CHECK_MSG(e1 < 1e-5, "conditional rows: rel. error %.3g", e1);
    pp_prophy_forward(&g.m, g.P, a, g.x, g.t, empty, g.out);
    double e2 = pp_rel_err(v + g.nout, g.out, g.nout);
    CHECK_MSG(e2 < 1e-5, "unconditional rows: rel. error %.3g", e2);
    /* and the two halves differ: the prompt matters */
    CHECK(pp_rel_err(v, v + g.nout, g.nout) > 1e-4);
    free(empty);
    pp_prophy_runner_free(&run);
    pp_prophy_acts_free(a);
    pp_free_aligned(x2), pp_free_aligned(v);
    rig_free(&g);
}

/* A config that is valid JSON with nonsense values is refused before anything is
 * allocated: each field has a bound, and a number is checked before it is cast. */
TEST(prophy_model_file_config_bounds) {
    rig g;
    rig_make(&g, PP_BRANCH_FULL, 2, 2, 4, 4, 9);
    const char *path = pp_test_path("bounds.safetensors");
    char *voc = pp_vocab_serialize(&g.voc, NULL), *good = config_string(g.m.cfg);
    struct { const char *from, *to, *want; } cases[] = {
        {"\"layers\":2", "\"layers\":1000000", "layers = 1000000 is outside"},
        {"\"layers\":2", "\"layers\":1e300", "not an integer in int's range"},
        {"\"layers\":2", "\"layers\":2.5", "not an integer"},
        {"\"dim\":24", "\"dim\":-24", "dim = -24 is outside"},
        {"\"out_dim\":3", "\"out_dim\":2000000000", "out_dim = 2000000000 is outside"},
        {"\"cond\":1", "\"cond\":7", "cond = 7 must be 0 (none)"},
        {"\"text_len\":5", "\"text_len\":100000", "text_len = 100000 is outside"},
        {"\"frames\":2", "\"frames\":99999", "must be in [1, 4096]"},
        {"\"E_r\":4", "\"E_r\":100000", "out of bounds"},
        {"\"vocab\":", "\"vocab\":1e9,\"x\":", "text_encoder vocab 1000000000"},
        {"\"vocab\":", "\"vocab\":1e19,\"x\":", "not an integer in int's range"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char *at = strstr(good, cases[k].from);
        CHECK_MSG(at, "case %zu: '%s' not in the config", k, cases[k].from);
        if (!at) continue;
        char bad[8192];
        snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - good), good, cases[k].to, at + strlen(cases[k].from));
        CHECK(write_mixed(path, &g.m, bad, voc) == 0);
        pp_prophy m2;
        CHECK(pp_prophy_load(&m2, path) != 0);
        CHECK_MSG(strstr(pp_lasterr(), cases[k].want), "case %zu: got: %s", k, pp_lasterr());
    }
    free(voc), free(good);
    rig_free(&g);
}
