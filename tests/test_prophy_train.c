/* test_prophy_train.c - the ProPhy trainer: a killed run resumes to the same bytes,
 * stage 2 moves only the branch (the frozen backbone and text encoder stay bitwise
 * the same), mode none moves the backbone, and the trainer really reads external
 * token maps (all-background maps leave nothing for the fine alignment to fit);
 * the held-out loss at fixed noise levels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/common.h"
#include "prophy/train.h"
#include "prophy/val_loss.h"
#include "sim/dataset.h"
#include "sim/sim.h"
#include "test.h"

/* tiny model: 4 frames of 16x16, patch 1,4,4 -> 4x4x4 tokens */
static void tiny_cfg(pp_prophy_config *c, pp_vocab *v, pp_branch_mode mode) {
    const char *const *words;
    int nw = pp_sim_vocab(&words);
    pp_vocab_build(v, words, nw);
    pp_model_config b = {.dit = {.dim = 24, .ffn_dim = 48, .heads = 2, .layers = 2, .patch = {1, 4, 4},
                                 .out_dim = 3, .text_dim = 16, .text_len = 48, .freq_dim = 32, .eps = 1e-6f,
                                 .rope_theta = 10000.0f},
                         .frames = 4, .height = 16, .width = 16, .fps = 10, .cond = 1};
    strcpy(b.world, "physics");
    pp_prophy_config_default(c, &b, v->n);
    c->mode = mode;
    pp_prophy_config_check(c);
}

static pp_phys_source *sim_source(void) {
    pp_phys_source_cfg sc = {.seed = 3, .frames = 4, .height = 16, .width = 16};
    return pp_phys_source_open(&sc);
}

static pp_prophy_train_config quick(long steps) {
    pp_prophy_train_config t = pp_prophy_train_defaults();
    t.base.batch = 2, t.base.steps = steps, t.base.seed = 9, t.base.quiet = 1;
    t.base.opt.warmup = 2, t.base.opt.lr = 3e-3f, t.base.opt.ema_decay = 0.9f;
    return t;
}

/* A model of the given mode with stage-1-like weights (branch attached). */
static void make_model(pp_prophy *m, pp_branch_mode mode) {
    pp_prophy_config c;
    pp_vocab v;
    tiny_cfg(&c, &v, mode);
    CHECK(pp_prophy_create(m, &c, &v) == 0);
    pp_vocab_free(&v);
    pp_rng r;
    pp_rng_seed(&r, 1);
    pp_prophy_init_weights(m, m->params, &r);
}

static int same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof(float)); }

TEST(prophy_train_resume_is_exact) {
    char ck[300];
    snprintf(ck, sizeof ck, "%s", pp_test_path("resume.ckpt"));
    pp_phys_source *src = sim_source();
    pp_prophy_train_config tc = quick(4);
    tc.freeze_backbone = tc.freeze_text = 1; /* stage 2: the frozen set must survive the resume */
    pp_prophy a, b, b2;
    make_model(&a, PP_BRANCH_FULL);
    pp_prophy_trainer *ta = pp_prophy_trainer_new(&a, &tc, src);
    pp_prophy_losses L;
    for (int i = 0; i < 4; i++) CHECK(pp_prophy_trainer_step(ta, &L) == 0);
    make_model(&b, PP_BRANCH_FULL);
    pp_prophy_trainer *tb = pp_prophy_trainer_new(&b, &tc, src);
    for (int i = 0; i < 2; i++) pp_prophy_trainer_step(tb, &L);
    CHECK(pp_prophy_trainer_save_checkpoint(tb, ck) == 0);
    pp_prophy_trainer_free(tb);
    pp_prophy_free(&b);
    pp_prophy_train_config tr = quick(4); /* no freeze flags: they come from the checkpoint */
    pp_prophy_trainer *tb2 = pp_prophy_trainer_resume(&b2, ck, &tr, src);
    CHECK(tb2 != NULL);
    if (tb2) {
        CHECK(pp_prophy_trainer_steps_done(tb2) == 2);
        for (int i = 0; i < 2; i++) pp_prophy_trainer_step(tb2, &L);
        CHECK_MSG(same(a.params, b2.params, a.table.total), "resumed weights differ");
        CHECK(same(pp_prophy_trainer_final_weights(ta), pp_prophy_trainer_final_weights(tb2), a.table.total));
        pp_prophy_trainer_free(tb2);
        pp_prophy_free(&b2);
    }
    pp_prophy_trainer_free(ta);
    pp_prophy_free(&a);
    pp_phys_source_close(src);
}

/* Which tensors moved after a few steps: returns 1 if every tensor with the prefix
 * class (backbone = neither branch. nor text_encoder.) kept its bytes. */
static int kept(const pp_prophy *m, const float *before, const char *cls) {
    for (int i = 0; i < m->table.n; i++) {
        const pp_param *p = &m->table.p[i];
        int is_branch = !strncmp(p->name, "branch.", 7), is_text = !strncmp(p->name, "text_encoder.", 13);
        int in = !strcmp(cls, "branch") ? is_branch : !strcmp(cls, "text") ? is_text : !is_branch && !is_text;
        if (in && !same(m->params + p->offset, before + p->offset, p->numel)) return 0;
    }
    return 1;
}

static void run_steps(pp_prophy *m, const pp_prophy_train_config *tc, int steps, float *before) {
    pp_phys_source *src = sim_source();
    memcpy(before, m->params, m->table.total * sizeof(float));
    pp_prophy_trainer *t = pp_prophy_trainer_new(m, tc, src);
    pp_prophy_losses L;
    for (int i = 0; i < steps; i++) CHECK(pp_prophy_trainer_step(t, &L) == 0);
    pp_prophy_trainer_free(t);
    pp_phys_source_close(src);
}

TEST(prophy_train_stage2_freezes_backbone) {
    pp_prophy m;
    make_model(&m, PP_BRANCH_FULL);
    float *before = pp_alloc_floats(m.table.total);
    pp_prophy_train_config tc = quick(3);
    tc.freeze_backbone = tc.freeze_text = 1;
    run_steps(&m, &tc, 3, before);
    CHECK_MSG(kept(&m, before, "backbone"), "a frozen backbone tensor moved");
    CHECK_MSG(kept(&m, before, "text"), "a frozen text-encoder tensor moved");
    CHECK_MSG(!kept(&m, before, "branch"), "the branch did not train");
    pp_free_aligned(before);
    pp_prophy_free(&m);
}

TEST(prophy_train_mode_none_trains_backbone) {
    pp_prophy m;
    make_model(&m, PP_BRANCH_NONE);
    float *before = pp_alloc_floats(m.table.total);
    pp_prophy_train_config tc = quick(3);
    run_steps(&m, &tc, 3, before);
    CHECK(!kept(&m, before, "backbone"));
    CHECK(!kept(&m, before, "text"));
    pp_free_aligned(before);
    pp_prophy_free(&m);
}

/* ---- external maps: the trainer's fine-align loss comes from the files */

static void write_bg_only_maps(const char *dir, int count, int F, int H, int W) {
    size_t plane = (size_t)F * H * W, n = 18 * plane;
    float *m = pp_zalloc_floats(n);
    for (size_t i = 0; i < plane; i++) m[17 * plane + i] = 1.0f; /* background everywhere */
    for (int i = 0; i < count; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%08d.maps", dir, i);
        FILE *f = fopen(path, "wb");
        fprintf(f, "prophy-maps 18 %d %d %d\n", F, H, W);
        fwrite(m, sizeof(float), n, f);
        fclose(f);
    }
    pp_free_aligned(m);
}

/* Mean fine-align loss of `steps` steps of a full model on the dataset (maps_dir or not). */
static double fine_loss(const char *data, const char *maps, int steps) {
    pp_phys_source_cfg sc = {.data_dir = data, .maps_dir = maps};
    pp_phys_source *src = pp_phys_source_open(&sc);
    CHECK(src != NULL);
    if (!src) return NAN;
    pp_prophy m;
    make_model(&m, PP_BRANCH_FULL);
    pp_prophy_train_config tc = quick(steps);
    pp_prophy_trainer *t = pp_prophy_trainer_new(&m, &tc, src);
    double sum = 0;
    for (int i = 0; i < steps; i++) {
        pp_prophy_losses L;
        CHECK(pp_prophy_trainer_step(t, &L) == 0);
        sum += L.fine_align;
    }
    pp_prophy_trainer_free(t);
    pp_prophy_free(&m);
    pp_phys_source_close(src);
    return sum / steps;
}

TEST(prophy_train_reads_external_maps) {
    char data[300], maps[300]; /* in the run's scratch directory, removed at exit */
    snprintf(data, sizeof data, "%s", pp_test_path("extmaps-data"));
    snprintf(maps, sizeof maps, "%s", pp_test_path("extmaps-maps"));
    pp_dataset_cfg dc;
    pp_dataset_cfg_default(&dc);
    dc.count = 6, dc.frames = 4, dc.height = 16, dc.width = 16, dc.threads = 1;
    CHECK(pp_dataset_write(data, &dc, NULL) == 0);
    CHECK(mkdir(maps, 0755) == 0);
    write_bg_only_maps(maps, 6, 2, 8, 8); /* another resolution: resampled by the source */
    double sim = fine_loss(data, NULL, 3), ext = fine_loss(data, maps, 3);
    CHECK_MSG(sim > 0, "the simulator's maps give fine-align loss %g", sim);
    CHECK_MSG(ext == 0, "all-background external maps give fine-align loss %g (want 0: empty mask)", ext);
}

/* A poisoned weight makes every step non-finite: each is skipped with the weights
 * untouched, and after max_skips in a row the run stops with an error instead of
 * writing a broken model. */
TEST(prophy_train_stops_after_non_finite_steps) {
    pp_prophy m;
    make_model(&m, PP_BRANCH_NONE);
    pp_phys_source *src = sim_source();
    pp_prophy_train_config tc = quick(20);
    tc.base.max_skips = 3;
    pp_prophy_trainer *t = pp_prophy_trainer_new(&m, &tc, src);
    const pp_param *p = pp_params_find(&m.table, "blocks.0.ffn.0.weight");
    m.params[p->offset] = NAN;
    float *before = pp_alloc_floats(m.table.total);
    memcpy(before, m.params, m.table.total * sizeof(float));
    fprintf(stderr, "(the next warnings are expected) ");
    pp_prophy_losses L;
    CHECK(pp_prophy_trainer_step(t, &L) == 0 && isnan(L.total));
    CHECK(memcmp(before, m.params, m.table.total * sizeof(float)) == 0);
    CHECK(pp_prophy_trainer_run(t) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "3 steps in a row"), "%s", pp_lasterr());
    CHECK(pp_prophy_trainer_steps_done(t) == 3);
    pp_free_aligned(before);
    pp_prophy_trainer_free(t);
    pp_prophy_free(&m);
    pp_phys_source_close(src);
}

/* ---- the held-out loss at fixed noise levels (prophy/val_loss.h) */

static int val(const pp_prophy *m, pp_val_loss_cfg *c, double *loss) {
    pp_phys_source *src = sim_source();
    int used = 0, rc = pp_prophy_val_loss(m, m->params, src, c, loss, &used);
    pp_phys_source_close(src);
    return rc ? -1 : used;
}

/* the same numbers whatever the batch (a short last batch counts its own rows only),
 * the same again on a second call, lower after training, and nonsense refused */
TEST(prophy_val_loss) {
    pp_prophy m;
    make_model(&m, PP_BRANCH_FULL);
    pp_val_loss_cfg c = pp_val_loss_defaults();
    c.levels[0] = 0.2f, c.levels[1] = 0.7f, c.n_levels = 2, c.count = 5, c.seed = 4;
    double a[2], b[2], d[2];
    c.batch = 2;
    CHECK(val(&m, &c, a) == 5);
    CHECK(val(&m, &c, b) == 5 && a[0] == b[0] && a[1] == b[1]);
    c.batch = 1;
    CHECK(val(&m, &c, b) == 5);
    c.batch = 8;
    CHECK(val(&m, &c, d) == 5);
    for (int k = 0; k < 2; k++) {
        CHECK(isfinite(a[k]) && a[k] > 0);
        CHECK_NEAR(b[k], a[k], 1e-5 * a[k]);
        CHECK_NEAR(d[k], a[k], 1e-5 * a[k]);
    }
    float *before = pp_alloc_floats(m.table.total);
    pp_prophy_train_config tc = quick(40);
    run_steps(&m, &tc, 40, before);
    CHECK(val(&m, &c, b) == 5);
    CHECK_MSG(b[0] < a[0] && b[1] < a[1], "40 steps did not lower the loss: %g %g -> %g %g", a[0], a[1], b[0], b[1]);
    c.levels[1] = 1.0f;
    CHECK(val(&m, &c, b) < 0);
    c.levels[1] = 0.5f, c.count = 0;
    CHECK(val(&m, &c, b) < 0);
    pp_free_aligned(before);
    pp_prophy_free(&m);
}
