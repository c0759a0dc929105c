/* test_train.c - the trainer: the loss falls, non-finite steps are skipped, a
 * checkpoint resumes to the same bytes, sampling is deterministic, and the
 * square world renders what its parameters say. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "square/square.h"
#include "test.h"
#include "train/trainer.h"

static pp_model_config small_cfg(void) {
    pp_model_config c = {.dit = {.dim = 32, .ffn_dim = 64, .heads = 2, .layers = 2, .patch = {1, 2, 2},
                                 .out_dim = 3, .text_dim = 8, .text_len = 2, .freq_dim = 32,
                                 .eps = 1e-6f, .rope_theta = 10000.0f},
                         .frames = 4, .height = 8, .width = 8, .fps = 10, .cond = 1};
    strcpy(c.world, "square");
    return c;
}

static pp_train_config quick_train(long steps) {
    pp_train_config t = pp_train_defaults();
    t.batch = 4, t.steps = steps, t.seed = 5, t.quiet = 1;
    t.opt.warmup = 2, t.opt.lr = 3e-3f, t.opt.ema_decay = 0.9f;
    return t;
}

TEST(train_loss_decreases_on_squares) {
    pp_model m;
    pp_model_config c = small_cfg();
    CHECK(pp_model_create(&m, &c) == 0);
    pp_train_config tc = quick_train(60);
    pp_trainer *t = pp_trainer_new(&m, &tc, pp_square_source());
    double first = 0, last = 0;
    for (int i = 0; i < 60; i++) {
        float l = pp_trainer_step(t);
        if (i < 10) first += l / 10;
        if (i >= 50) last += l / 10;
    }
    CHECK_MSG(last < 0.8 * first, "loss %.4f -> %.4f", first, last);
    pp_trainer_free(t);
    pp_model_free(&m);
}

TEST(train_resume_is_exact) {
    char ck[64];
    snprintf(ck, sizeof ck, "/tmp/prophy-ck-%d.safetensors", (int)getpid());
    pp_model_config c = small_cfg();
    pp_train_config tc = quick_train(6);
    /* straight through: 6 steps */
    pp_model a;
    pp_model_create(&a, &c);
    pp_trainer *ta = pp_trainer_new(&a, &tc, pp_square_source());
    for (int i = 0; i < 6; i++) pp_trainer_step(ta);
    /* 3 steps, checkpoint, a new trainer resumes and does 3 more */
    pp_model b, b2;
    pp_model_create(&b, &c);
    pp_trainer *tb = pp_trainer_new(&b, &tc, pp_square_source());
    for (int i = 0; i < 3; i++) pp_trainer_step(tb);
    CHECK(pp_trainer_save_checkpoint(tb, ck) == 0);
    pp_trainer_free(tb);
    pp_model_free(&b);
    pp_trainer *tr = pp_trainer_resume(&b2, ck, &tc, pp_square_source());
    CHECK(tr != NULL);
    if (!tr) return;
    CHECK(pp_trainer_steps_done(tr) == 3);
    for (int i = 0; i < 3; i++) pp_trainer_step(tr);
    CHECK(memcmp(a.params, b2.params, a.table.total * sizeof(float)) == 0);
    CHECK(memcmp(pp_trainer_final_weights(ta), pp_trainer_final_weights(tr), a.table.total * sizeof(float)) == 0);
    pp_trainer_free(ta), pp_trainer_free(tr);
    pp_model_free(&a), pp_model_free(&b2);
    unlink(ck);
}

TEST(train_skips_non_finite_gradient) {
    pp_model m;
    pp_model_config c = small_cfg();
    pp_model_create(&m, &c);
    pp_train_config tc = quick_train(3);
    pp_trainer *t = pp_trainer_new(&m, &tc, pp_square_source());
    pp_trainer_step(t);
    const pp_param *p = pp_params_find(&m.table, "blocks.0.ffn.0.weight");
    m.params[p->offset] = NAN; /* poison one weight: loss and gradient become NaN */
    float *before = pp_alloc_floats(m.table.total);
    memcpy(before, m.params, m.table.total * sizeof(float));
    fprintf(stderr, "(the next warning is expected) ");
    float l = pp_trainer_step(t);
    CHECK(isnan(l));
    /* the weights were not touched by the skipped step */
    CHECK(memcmp(before, m.params, m.table.total * sizeof(float)) == 0);
    pp_free_aligned(before);
    pp_trainer_free(t);
    pp_model_free(&m);
}

TEST(square_world_moves_as_told) {
    pp_rng r;
    pp_rng_seed(&r, 1);
    int F = 8, H = 16, W = 16;
    float *v = pp_alloc_floats((size_t)3 * F * H * W);
    for (int k = 0; k < 20; k++) {
        pp_square s;
        pp_square_draw(&s, &r, F, H, W);
        pp_square_render(&s, v, F, H, W);
        float x0, y0, x1, y1;
        CHECK(pp_square_centroid(v, F, H, W, 0, &x0, &y0) > 0);
        CHECK(pp_square_centroid(v, F, H, W, F - 1, &x1, &y1) > 0);
        float want = s.speed * (F - 1), dx = x1 - x0, dy = y1 - y0;
        float along = s.dir == 0 ? dx : s.dir == 1 ? -dx : s.dir == 2 ? -dy : dy;
        CHECK_NEAR(along, want, 0.3);
    }
    pp_square s;
    CHECK(pp_square_parse(&s, "A Blue square moving leftward") == 0 && s.color == 2 && s.dir == 1);
    CHECK(pp_square_parse(&s, "a purple square moves left") != 0);
    CHECK(pp_square_parse(&s, "") != 0);
    pp_free_aligned(v);
}

/* Writes the model's config (possibly altered) and its tensors, optionally
 * leaving one out, as a model file. */
static int write_variant(const pp_model *m, const pp_model_config *cfg, const char *skip, const char *path) {
    pp_st_writer *w = pp_st_writer_new();
    cJSON *j = pp_model_config_to_json(cfg);
    int rc = pp_st_set_meta_json(w, "prophy.config", j);
    cJSON_Delete(j);
    for (int i = 0; i < m->table.n && !rc; i++) {
        const pp_param *p = &m->table.p[i];
        if (skip && !strcmp(p->name, skip)) continue;
        rc = pp_st_add_f32(w, p->name, PP_F32, p->ndim, p->shape, m->params + p->offset);
    }
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

TEST(model_file_rejects_missing_or_misshapen_tensors) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/prophy-model-%d.safetensors", (int)getpid());
    pp_model m, back;
    pp_model_config c = small_cfg();
    CHECK(pp_model_create(&m, &c) == 0);
    CHECK(write_variant(&m, &m.cfg, NULL, path) == 0);
    CHECK(pp_model_load(&back, path) == 0); /* the faithful file loads */
    pp_model_free(&back);
    CHECK(write_variant(&m, &m.cfg, "blocks.1.ffn.0.weight", path) == 0);
    CHECK(pp_model_load(&back, path) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "missing tensor 'blocks.1.ffn.0.weight'"), "%s", pp_lasterr());
    pp_model_config wider = m.cfg;
    wider.dit.ffn_dim = 2 * m.cfg.dit.ffn_dim; /* the config disagrees with the tensors */
    CHECK(write_variant(&m, &wider, NULL, path) == 0);
    CHECK(pp_model_load(&back, path) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "blocks.0.ffn.0.weight") && strstr(pp_lasterr(), "expects"), "%s", pp_lasterr());
    pp_model_free(&m);
    unlink(path);
}
