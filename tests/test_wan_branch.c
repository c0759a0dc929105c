/* test_wan_branch.c - ProPhy's Physical Branch on a Wan2.1 backbone
 * (src/prophy/wan_branch.h), on the tiny random Wan DiT of
 * tools/make_wan_fixture.py (Wan's layout, loaded in F32): the untrained branch
 * is the backbone bit for bit; directional finite differences of every branch
 * tensor with all four losses on, for the first M blocks and for a list; a frozen
 * backbone gets no gradient and does not move under AdamW, and the loss falls. */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/optim.h"
#include "prophy/wan_branch.h"
#include "wan/wan_files.h"
#include "test.h"

typedef struct {
    pp_wan_dit w;
    pp_wan_branch m;
    int B, F, H, W, N;
    float *G, *x, *t, *ctx, *target, *labels, *Qr, *out;
    int lens[2];
    size_t nx;
    pp_wan_branch_batch batch;
} rig;

static int rig_make(rig *g, pp_branch_mode mode, const char *blocks, uint64_t seed) {
    memset(g, 0, sizeof *g);
    char p[1024], c[1024];
    snprintf(p, sizeof p, "%s/wan_tiny_wan/diffusion_pytorch_model.safetensors", pp_fixture_dir());
    snprintf(c, sizeof c, "%s/wan_tiny_wan/config.json", pp_fixture_dir());
    if (pp_wan_dit_open(&g->w, p, c, PP_WAN_F32)) return -1;
    const pp_dit_config *d = &g->w.dit.cfg;
    g->B = 2, g->F = 3, g->H = 4, g->W = 6, g->N = 3 * 2 * 3;
    pp_wan_branch_config bc;
    pp_wan_branch_config_default(&bc, d, 2, 2, 2); /* a reference grid other than 3x2x3: the SEB resamples */
    bc.mode = mode;
    bc.branch.E_s = 3, bc.branch.seb_hidden = 8, bc.branch.E_r = 4, bc.branch.top_k = 2, bc.branch.fine_hidden = 6;
    if (blocks && pp_wan_branch_parse_blocks(&bc, blocks)) return -1;
    if (pp_wan_branch_create(&g->m, &bc) || pp_wan_branch_attach(&g->m, &g->w.table, g->w.P, seed)) return -1;
    pp_rng r;
    pp_rng_seed(&r, seed + 1);
    g->nx = (size_t)g->B * d->in_dim * g->F * g->H * g->W;
    size_t L = (size_t)d->text_len * d->text_dim;
    g->G = pp_zalloc_floats(g->m.table.total);
    g->x = pp_alloc_floats(g->nx), g->target = pp_alloc_floats(g->nx), g->out = pp_alloc_floats(g->nx);
    g->t = pp_alloc_floats(2), g->ctx = pp_zalloc_floats(2 * L);
    g->labels = pp_zalloc_floats(2 * PP_NCAT), g->Qr = pp_alloc_floats((size_t)2 * g->N * PP_NCAT);
    pp_rng_fill_normal(&r, g->x, g->nx, 1.0f);
    pp_rng_fill_normal(&r, g->target, g->nx, 1.0f);
    pp_rng_fill_normal(&r, g->Qr, (size_t)2 * g->N * PP_NCAT, 0.5f);
    g->lens[0] = 7, g->lens[1] = 20; /* trimmed and zero-padded, as umT5's rows come */
    for (int b = 0; b < 2; b++) pp_rng_fill_normal(&r, g->ctx + b * L, (size_t)g->lens[b] * d->text_dim, 1.0f);
    for (int i = 0; i < 2 * PP_NCAT; i++) g->labels[i] = pp_rng_uniform(&r) < 0.4f;
    g->labels[0] = g->labels[PP_NCAT + 1] = 1.0f;
    g->t[0] = 731.0f, g->t[1] = 212.0f;
    g->batch = (pp_wan_branch_batch){g->x, g->t, g->ctx, g->lens, g->target, g->labels, g->Qr};
    return 0;
}

static void rig_free(rig *g) {
    float *bufs[] = {g->G, g->x, g->t, g->ctx, g->target, g->labels, g->Qr, g->out};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    pp_wan_branch_free(&g->m);
    pp_wan_dit_close(&g->w);
}

static void identity_case(pp_branch_mode mode, const char *blocks) {
    rig g;
    int rc = rig_make(&g, mode, blocks, 11);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) return;
    pp_dit_acts *da = pp_dit_acts_new(&g.w.dit, g.B, g.F, g.H, g.W, 0);
    float *want = pp_alloc_floats(g.nx);
    pp_dit_forward(&g.w.dit, g.w.P, da, g.x, g.t, g.ctx, want);
    for (int train = 0; train < 2; train++) {
        pp_wan_branch_acts *a = pp_wan_branch_acts_new(&g.m, g.B, g.F, g.H, g.W, train);
        CHECK(a && pp_wan_branch_forward(&g.m, g.m.params, a, g.x, g.t, g.ctx, g.lens, g.out) == 0);
        CHECK_MSG(!memcmp(g.out, want, g.nx * sizeof(float)), "mode %s blocks %s train %d: not the backbone",
                  pp_branch_mode_name(mode), blocks ? blocks : "first M", train);
        if (mode == PP_BRANCH_FULL) CHECK(pp_wan_branch_acts_rho_r(a) != NULL); /* the branch did run */
        pp_wan_branch_acts_free(a);
    }
    pp_free_aligned(want);
    pp_dit_acts_free(da);
    rig_free(&g);
}

TEST(wan_branch_untrained_is_the_backbone_bitwise) {
    identity_case(PP_BRANCH_FULL, NULL);
    identity_case(PP_BRANCH_FULL, "1");
    identity_case(PP_BRANCH_SEB, "0");
    identity_case(PP_BRANCH_REB, "0,1");
}

/* ---------------------------------------------------------------- gradient check */

static double total_loss(rig *g, pp_wan_branch_acts *a, const int *sel0, size_t nsel, int *changed) {
    pp_prophy_losses L;
    pp_wan_branch_step(&g->m, g->m.params, NULL, a, &g->batch, g->out, &L);
    const int *sel = pp_wan_branch_acts_sel(a);
    if (sel0 && memcmp(sel, sel0, nsel * sizeof(int))) *changed = 1;
    return (double)L.total;
}

static void gradcheck_case(pp_branch_mode mode, const char *blocks) {
    rig g;
    int rc = rig_make(&g, mode, blocks, 21);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) return;
    pp_wan_branch_config *c = &g.m.cfg;
    c->branch.w_coarse = 0.5f, c->branch.w_fine_align = 0.3f, c->branch.w_balance = 0.2f;
    /* injections away from zero, so that the PBs' and the REB's gradients are not zero */
    pp_rng r;
    pp_rng_seed(&r, 4);
    float *P = g.m.params;
    for (int i = 0; i < g.m.table.n; i++) {
        const pp_param *p = &g.m.table.p[i];
        if (!strncmp(p->name, "branch.inject.", 14) || !strncmp(p->name, "branch.reb_inject.", 18))
            pp_rng_fill_normal(&r, P + p->offset, p->numel, 0.2f);
    }
    /* the REB's router biased away from ties (logit gaps of 2), so that no token's
     * top-k changes under the finite differences: the Wan stream is large, and its
     * router logits move fast */
    const pp_param *rb = pp_params_find(&g.m.table, "branch.reb.router.bias");
    for (int e = 0; rb && e < (int)rb->numel; e++) P[rb->offset + e] = 4.0f - 2.0f * (float)e;
    pp_wan_branch_acts *a = pp_wan_branch_acts_new(&g.m, g.B, g.F, g.H, g.W, 1);
    pp_prophy_losses L;
    CHECK(pp_wan_branch_step(&g.m, P, g.G, a, &g.batch, g.out, &L) == 0);
    size_t nsel = (size_t)g.B * g.N * c->branch.top_k;
    int *sel0 = NULL, changed = 0;
    if (mode == PP_BRANCH_FULL || mode == PP_BRANCH_REB) {
        sel0 = pp_malloc(nsel * sizeof(int));
        memcpy(sel0, pp_wan_branch_acts_sel(a), nsel * sizeof(int));
    }
    int bad = 0, nbranch = 0;
    for (int i = 0; i < g.m.table.n; i++) {
        const pp_param *p = &g.m.table.p[i];
        if (strncmp(p->name, "branch.", 7)) { /* the frozen backbone: no gradient */
            double s = 0;
            for (size_t k = 0; k < p->numel; k++) s += fabs(g.G[p->offset + k]);
            if (s != 0) bad++, printf("    frozen %s got a gradient\n", p->name);
            continue;
        }
        nbranch++;
        float *w = P + p->offset, *d = pp_alloc_floats(p->numel), *keep = pp_alloc_floats(p->numel);
        pp_rng_fill_normal(&r, d, p->numel, 1.0f);
        memcpy(keep, w, p->numel * sizeof(float));
        double ana = 0, num = 0;
        for (size_t k = 0; k < p->numel; k++) ana += (double)g.G[p->offset + k] * d[k];
        float hs[3] = {2e-2f, 4e-3f, 1e-3f};
        for (int h = 0; h < 3 && (h == 0 || changed); h++) {
            changed = 0;
            double v[4], st[4] = {hs[h], -hs[h], 2 * hs[h], -2 * hs[h]};
            for (int q = 0; q < 4; q++) {
                for (size_t k = 0; k < p->numel; k++) w[k] = keep[k] + (float)st[q] * d[k];
                v[q] = total_loss(&g, a, sel0, nsel, &changed);
            }
            memcpy(w, keep, p->numel * sizeof(float));
            num = (8.0 * (v[0] - v[1]) - (v[2] - v[3])) / (12.0 * hs[h]);
        }
        if (fabs(num - ana) > 1e-2 * (fabs(num) + fabs(ana)) + 3e-4 || changed)
            bad++, printf("    %s: numeric %.7g analytic %.7g%s\n", p->name, num, ana, changed ? " (top-k changed)" : "");
        pp_free_aligned(d), pp_free_aligned(keep);
    }
    CHECK_MSG(bad == 0, "mode %s blocks %s: %d tensors disagree", pp_branch_mode_name(mode), blocks ? blocks : "first M", bad);
    CHECK(nbranch > 10);
    free(sel0);
    pp_wan_branch_acts_free(a);
    rig_free(&g);
}

TEST(wan_branch_gradcheck_full_first_m) { gradcheck_case(PP_BRANCH_FULL, NULL); }
TEST(wan_branch_gradcheck_full_block_list) { gradcheck_case(PP_BRANCH_FULL, "1"); }
TEST(wan_branch_gradcheck_seb_two_blocks) { gradcheck_case(PP_BRANCH_SEB, "0,1"); }

TEST(wan_branch_frozen_backbone_trains) {
    rig g;
    int rc = rig_make(&g, PP_BRANCH_FULL, NULL, 5);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) return;
    float *P = g.m.params;
    float *before = pp_alloc_floats(g.m.table.total);
    memcpy(before, P, g.m.table.total * sizeof(float));
    pp_adamw_config oc = pp_adamw_defaults();
    oc.lr = 3e-3f, oc.weight_decay = 0.0f, oc.warmup = 0;
    pp_adamw o;
    pp_adamw_init(&o, &oc, g.m.table.total, P);
    pp_wan_branch_acts *a = pp_wan_branch_acts_new(&g.m, g.B, g.F, g.H, g.W, 1);
    pp_prophy_losses L;
    float first = 0, last = 0;
    for (int s = 0; s < 12; s++) {
        memset(g.G, 0, g.m.table.total * sizeof(float));
        CHECK(pp_wan_branch_step(&g.m, P, g.G, a, &g.batch, NULL, &L) == 0);
        if (!s) first = L.total;
        last = L.total;
        CHECK(pp_adamw_step(&o, &g.m.table, P, g.G, NULL) == 0);
    }
    printf("    frozen Wan backbone, branch trained 12 steps on one batch: loss %.4f -> %.4f\n", first, last);
    CHECK(last < first);
    int moved = 0;
    for (int i = 0; i < g.m.table.n; i++) {
        const pp_param *p = &g.m.table.p[i];
        int same = !memcmp(before + p->offset, P + p->offset, p->numel * sizeof(float));
        if (p->frozen) CHECK_MSG(same, "frozen %s changed", p->name);
        else moved += !same;
    }
    CHECK(moved > 10);
    pp_adamw_free(&o);
    pp_free_aligned(before);
    pp_wan_branch_acts_free(a);
    rig_free(&g);
}

TEST(wan_branch_config_errors) {
    pp_dit_config d = {.dim = 48, .heads = 2, .layers = 2, .ffn_dim = 64, .patch = {1, 2, 2}, .in_dim = 16, .out_dim = 16,
                       .text_dim = 32, .text_len = 512, .freq_dim = 32, .eps = 1e-6f, .rope_theta = 10000.0f};
    pp_wan_branch_config c;
    pp_wan_branch_config_default(&c, &d, 2, 2, 2);
    CHECK(pp_wan_branch_parse_blocks(&c, "1,0") == -1 && strstr(pp_lasterr(), "increasing"));
    CHECK(pp_wan_branch_parse_blocks(&c, "2") == -1);
    CHECK(pp_wan_branch_parse_blocks(&c, "0,x") == -1);
    CHECK(pp_wan_branch_parse_blocks(&c, "0,1") == 0 && c.branch.M == 2 && c.src[1] == 1);
    pp_wan_branch m;
    CHECK(pp_wan_branch_create(&m, &c) == 0);
    /* the branch's tensors are the first `trainable` floats, the backbone's after */
    for (int i = 0; i < m.table.n; i++) {
        const pp_param *p = &m.table.p[i];
        if (!strncmp(p->name, "branch.", 7)) CHECK(p->offset + p->numel <= m.trainable);
        else CHECK(p->offset >= m.trainable);
    }
    pp_params other = {0};
    pp_dit od;
    pp_dit_config d2 = d;
    d2.dim = 64;
    CHECK(pp_dit_init(&od, &d2, &other) == 0);
    float *P = pp_zalloc_floats(other.total);
    CHECK(pp_wan_branch_attach(&m, &other, P, 1) == -1 && strstr(pp_lasterr(), "another shape"));
    pp_free_aligned(P);
    pp_dit_free(&od);
    pp_params_free(&other);
    pp_wan_branch_free(&m);
}

/* The backbone read in place from ComfyUI's BF16 file (in_place) against the same
 * weights converted to F32: the same branch, outputs and branch gradients. */
TEST(wan_branch_in_place_backbone_equals_f32) {
    char p[1024];
    snprintf(p, sizeof p, "%s/wan_tiny_comfy/diffusion_models/wan2.1_t2v_tiny_bf16.safetensors", pp_fixture_dir());
    pp_wan_dit wh, wf;
    int rc = pp_wan_dit_open(&wh, p, NULL, PP_WAN_INFER);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) return;
    rc = pp_wan_dit_open(&wf, p, NULL, PP_WAN_F32);
    CHECK(rc == 0);
    pp_wan_branch_config c;
    pp_wan_branch_config_default(&c, &wh.dit.cfg, 3, 2, 3);
    c.branch.E_s = 3, c.branch.seb_hidden = 8, c.branch.E_r = 4, c.branch.top_k = 2, c.branch.fine_hidden = 6;
    CHECK(pp_wan_branch_parse_blocks(&c, "1") == 0);
    pp_wan_branch mh, mf;
    c.in_place = 1;
    CHECK(pp_wan_branch_create(&mh, &c) == 0);
    CHECK(pp_wan_branch_attach(&mh, &wf.table, wf.P, 3) == -1); /* in place needs the mapped DiT */
    CHECK(pp_wan_branch_attach_dit(&mh, &wh, 3) == 0);
    c.in_place = 0;
    CHECK(pp_wan_branch_create(&mf, &c) == 0 && pp_wan_branch_attach_dit(&mf, &wf, 3) == 0);
    CHECK(mh.trainable == mf.trainable && (mh.table.total - mh.trainable) * 4 < mf.table.total - mf.trainable);
    CHECK(!memcmp(mh.params, mf.params, mh.trainable * sizeof(float))); /* the branch, PB copies included */
    pp_rng r;
    pp_rng_seed(&r, 9);
    for (int i = 0; i < mh.table.n; i++) {
        const pp_param *q = &mh.table.p[i];
        if (!strncmp(q->name, "branch.inject.", 14) || !strncmp(q->name, "branch.reb_inject.", 18)) {
            pp_rng_fill_normal(&r, mh.params + q->offset, q->numel, 0.2f);
            memcpy(mf.params + q->offset, mh.params + q->offset, q->numel * sizeof(float));
        }
    }
    int B = 2, lens[2] = {5, 9};
    size_t nx = (size_t)B * 16 * 3 * 4 * 6, L = 512 * 32;
    float *x = pp_alloc_floats(nx), *tg = pp_alloc_floats(nx), *ctx = pp_zalloc_floats(B * L), t[2] = {600, 90};
    float *oh = pp_alloc_floats(nx), *of = pp_alloc_floats(nx);
    float *gh = pp_zalloc_floats(mh.trainable), *gf = pp_zalloc_floats(mf.table.total);
    pp_rng_fill_normal(&r, x, nx, 1.0f);
    pp_rng_fill_normal(&r, tg, nx, 1.0f);
    pp_rng_fill_normal(&r, ctx, 5 * 32, 1.0f);
    pp_rng_fill_normal(&r, ctx + L, 9 * 32, 1.0f);
    pp_wan_branch_batch b = {x, t, ctx, lens, tg, NULL, NULL};
    pp_wan_branch_acts *ah = pp_wan_branch_acts_new(&mh, B, 3, 4, 6, 1), *af = pp_wan_branch_acts_new(&mf, B, 3, 4, 6, 1);
    pp_prophy_losses Lh, Lf;
    CHECK(pp_wan_branch_step(&mh, mh.params, gh, ah, &b, oh, &Lh) == 0);
    CHECK(pp_wan_branch_step(&mf, mf.params, gf, af, &b, of, &Lf) == 0);
    double eo = pp_rel_err(oh, of, nx), eg = pp_rel_err(gh, gf, mh.trainable);
    printf("    branch on the BF16 backbone in place vs on its F32 copy: output rel %.1e, branch gradients rel %.1e\n", eo, eg);
    CHECK(eo < 1e-5 && eg < 1e-4);
    pp_wan_branch_acts_free(ah), pp_wan_branch_acts_free(af);
    float *bufs[] = {x, tg, ctx, oh, of, gh, gf};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    pp_wan_branch_free(&mh), pp_wan_branch_free(&mf);
    pp_wan_dit_close(&wh), pp_wan_dit_close(&wf);
}
