/* train_physics.c - `prophy train --world physics`: the ProPhy model on the
 * physics world. Without --init: stage 1, everything from scratch (mode none by
 * default). With --init STAGE1: stage 2, the stage-1 weights copied, the branch
 * attached (Physical Blocks = copies of the backbone's first blocks, zero
 * injections) and, for seb/reb/full, the backbone and text encoder frozen. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "sim/sim.h"
#include "base/threads.h"
#include "train_args.h"

/* Branch sizes and loss weights from the flags. */
static void apply_branch_flags(pp_prophy_config *c, const train_args *a, pp_branch_mode mode) {
    const pp_dit_config *d = &c->base.dit;
    c->mode = mode;
    c->M = a->M;
    pp_experts_cfg_default(&c->ex, d->dim, d->text_dim, c->base.frames / d->patch[0], c->base.height / d->patch[1],
                           c->base.width / d->patch[2]);
    c->ex.E_s = a->E_s, c->ex.E_r = a->E_r, c->ex.top_k = a->top_k;
    c->w_coarse = a->w_coarse, c->w_fine_align = a->w_fine, c->w_balance = a->w_balance;
}

static int parse_mode(const train_args *a, pp_branch_mode def, pp_branch_mode *mode) {
    *mode = def;
    if (a->branch && pp_branch_mode_parse(a->branch, mode)) return -1;
    if (*mode != PP_BRANCH_NONE && a->M > a->mc.dit.layers)
        PP_FAIL("--pb %d: more Physical Blocks than backbone layers (%d)", a->M, a->mc.dit.layers);
    return 0;
}

/* Stage 1: a fresh model with the simulator's vocabulary. */
static int stage1(train_args *a, pp_prophy *m) {
    pp_branch_mode mode;
    if (parse_mode(a, PP_BRANCH_NONE, &mode)) return -1;
    const char *const *words;
    int nw = pp_sim_vocab(&words);
    pp_vocab v;
    if (pp_vocab_build(&v, words, nw)) return -1;
    pp_prophy_config c;
    pp_prophy_config_default(&c, &a->mc, v.n);
    c.text.layers = a->text_layers;
    apply_branch_flags(&c, a, mode);
    int rc = pp_prophy_config_check(&c) || pp_prophy_create(m, &c, &v) ? -1 : 0;
    pp_vocab_free(&v);
    if (rc) return -1;
    pp_rng r;
    pp_rng_seed(&r, a->tc.base.seed);
    pp_prophy_init_weights(m, m->params, &r);
    return 0;
}

/* Stage 2: the stage-1 model's weights + a freshly attached branch. */
static int stage2(train_args *a, pp_prophy *m) {
    pp_prophy s1;
    if (pp_prophy_load(&s1, a->init)) return -1;
    pp_branch_mode mode;
    a->mc.dit.layers = s1.cfg.base.dit.layers; /* for the --pb check */
    int rc = parse_mode(a, PP_BRANCH_FULL, &mode);
    pp_prophy_config c = s1.cfg;
    if (!rc) {
        apply_branch_flags(&c, a, mode);
        rc = pp_prophy_config_check(&c) || pp_prophy_create(m, &c, &s1.vocab) ? -1 : 0;
    }
    if (!rc) {
        pp_rng r;
        pp_rng_seed(&r, a->tc.base.seed);
        pp_prophy_init_weights(m, m->params, &r);
        rc = pp_prophy_copy_weights(m, m->params, &s1, s1.params, NULL);
        if (!rc) pp_prophy_attach_branch(m, m->params, &r);
        if (rc) pp_prophy_free(m);
    }
    pp_prophy_free(&s1);
    a->tc.freeze_backbone = a->tc.freeze_text = mode != PP_BRANCH_NONE && !a->train_backbone;
    return rc;
}

/* Stage 2 and --resume simulate at the size of the model they start from. */
static int size_from_model(train_args *a, const char *path) {
    pp_st_file f;
    if (pp_st_open(&f, path)) return -1;
    pp_prophy_config c;
    const char *json = pp_st_meta(&f, "prophy.config");
    int rc = json ? pp_prophy_config_from_json(&c, json, path) : -1;
    if (!json) pp_seterr("%s: not a ProPhy model (no 'prophy.config' metadata)", path);
    pp_st_close(&f);
    if (!rc) a->mc.frames = c.base.frames, a->mc.height = c.base.height, a->mc.width = c.base.width;
    return rc;
}

static pp_phys_source *open_source(train_args *a) {
    const char *from = a->resume ? a->resume : a->init;
    if (from && !a->data && !a->set[1] && size_from_model(a, from)) return NULL;
    pp_phys_source_cfg sc = {.data_dir = a->data, .maps_dir = a->maps, .noise = a->noise,
                             .seed = a->tc.base.seed, .frames = a->mc.frames, .height = a->mc.height,
                             .width = a->mc.width};
    return pp_phys_source_open(&sc);
}

/* The model's training size must be the data's. */
static int check_size(const pp_prophy *m, const pp_phys_source *src) {
    int F, H, W;
    pp_phys_source_size(src, &F, &H, &W);
    const pp_model_config *b = &m->cfg.base;
    if (F != b->frames || H != b->height || W != b->width)
        PP_FAIL("the data's videos are %d frames of %dx%d, the model's are %d frames of %dx%d", F, W, H, b->frames,
                b->width, b->height);
    return 0;
}

static pp_prophy_trainer *make_trainer(train_args *a, pp_prophy *m, pp_phys_source *src) {
    if (a->resume) {
        pp_prophy_trainer *t = pp_prophy_trainer_resume(m, a->resume, &a->tc, src);
        if (t) fprintf(stderr, "resuming %s at step %ld\n", a->resume, pp_prophy_trainer_steps_done(t));
        return t;
    }
    int F, H, W;
    pp_phys_source_size(src, &F, &H, &W);
    a->mc.frames = F, a->mc.height = H, a->mc.width = W;
    if (a->init ? stage2(a, m) : stage1(a, m)) return NULL;
    pp_prophy_trainer *t = check_size(m, src) ? NULL : pp_prophy_trainer_new(m, &a->tc, src);
    if (!t) pp_prophy_free(m);
    return t;
}

static void describe(const pp_prophy *m, const train_args *a) {
    const pp_prophy_config *c = &m->cfg;
    size_t frozen = 0;
    for (int i = 0; i < m->table.n; i++)
        if (m->table.p[i].frozen) frozen += m->table.p[i].numel;
    fprintf(stderr,
            "model: %zu parameters (%zu trainable), branch %s, %d layers, dim %d; video %dx%dx%d; batch %d; "
            "%d threads\n",
            m->table.total, m->table.total - frozen, pp_branch_mode_name(c->mode), c->base.dit.layers,
            c->base.dit.dim, c->base.frames, c->base.height, c->base.width, a->tc.base.batch, pp_get_threads());
}

int train_physics(train_args *a) {
    if (a->resume && (a->init || a->branch)) PP_FAIL("--resume continues a run: --init and --branch come from it");
    if (!a->plot[0]) snprintf(a->plot, sizeof a->plot, "%s.loss.png", a->out);
    if (a->tc.base.log_path) a->tc.base.plot_path = a->plot;
    if (pp_check_output_dir(a->plot)) return -1;
    pp_phys_source *src = open_source(a);
    if (!src) return -1;
    pp_prophy m;
    pp_prophy_trainer *t = make_trainer(a, &m, src);
    if (!t) {
        pp_phys_source_close(src);
        return -1;
    }
    describe(&m, a);
    int rc = pp_prophy_trainer_run(t);
    if (!rc) rc = pp_prophy_save(&m, a->out, pp_prophy_trainer_final_weights(t), PP_F32);
    if (!rc)
        fprintf(stderr, "wrote %s after %ld steps (checkpoint %s)\n", a->out, pp_prophy_trainer_steps_done(t),
                a->ckpt);
    pp_prophy_trainer_free(t);
    pp_prophy_free(&m);
    pp_phys_source_close(src);
    return rc;
}
