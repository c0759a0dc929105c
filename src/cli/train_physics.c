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
#include "prophy/stages.h"
#include "train_args.h"

static pp_stage_opts stage_opts(const train_args *a, int stage) {
    pp_stage_opts o = pp_stage_defaults(stage);
    if (a->branch) o.mode = a->mode;
    o.branch = a->branch_cfg;
    o.text_layers = a->text_layers;
    return o;
}

/* Stage 1: a fresh model; stage 2: the stage-1 model's weights + a freshly attached branch. */
static int make_model(train_args *a, pp_prophy *m) {
    uint64_t seed = a->tc.base.seed;
    if (!a->init) {
        pp_stage_opts o = stage_opts(a, 1);
        return pp_prophy_stage1(m, &a->mc, &o, seed);
    }
    pp_prophy s1;
    if (pp_prophy_load(&s1, a->init)) return -1;
    pp_stage_opts o = stage_opts(a, 2);
    int rc = pp_prophy_stage2(m, &s1, &o, seed);
    pp_prophy_free(&s1);
    a->tc.freeze_backbone = a->tc.freeze_text = o.mode != PP_BRANCH_NONE && !a->train_backbone;
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

static pp_prophy_trainer *make_trainer(train_args *a, pp_prophy *m, pp_phys_source *src) {
    if (a->resume) {
        pp_prophy_trainer *t = pp_prophy_trainer_resume(m, a->resume, &a->tc, src);
        if (t) fprintf(stderr, "resuming %s at step %ld\n", a->resume, pp_prophy_trainer_steps_done(t));
        return t;
    }
    int F, H, W, C, lt, lh, lw;
    uint64_t sum;
    pp_phys_source_size(src, &F, &H, &W);
    a->mc.frames = F, a->mc.height = H, a->mc.width = W;
    if (pp_phys_source_latent(src, &C, &lt, &lh, &lw, &sum)) { /* a latent model of the data's grid and VAE */
        pp_model_config *mc = &a->mc;
        mc->latent = 1, mc->vae_checksum = sum, mc->vframes = F, mc->vheight = H, mc->vwidth = W;
        mc->frames = lt, mc->height = lh, mc->width = lw, mc->dit.out_dim = C;
        if (mc->cond) mc->cond = PP_COND_LATENT;
        if (!a->set[3]) mc->dit.patch[0] = 1, mc->dit.patch[1] = 2, mc->dit.patch[2] = 2;
    }
    if (make_model(a, m)) return NULL;
    pp_prophy_trainer *t = pp_prophy_trainer_new(m, &a->tc, src);
    if (!t) pp_prophy_free(m);
    return t;
}

static void describe(const pp_prophy *m, const train_args *a) {
    const pp_prophy_config *c = &m->cfg;
    size_t frozen = 0;
    for (int i = 0; i < m->table.n; i++)
        if (m->table.p[i].frozen) frozen += m->table.p[i].numel;
    fprintf(stderr,
            "model: %zu parameters (%zu trainable), branch %s, %d layers, dim %d; %s %dx%dx%d; batch %d; "
            "%d threads\n",
            m->table.total, m->table.total - frozen, pp_branch_mode_name(c->mode), c->base.dit.layers,
            c->base.dit.dim, c->base.latent ? "latent" : "video", c->base.frames, c->base.height, c->base.width,
            a->tc.base.batch, pp_get_threads());
}

int train_physics(train_args *a) {
    if (a->resume && (a->init || a->branch)) PP_FAIL("--resume continues a run: --init and --branch come from it");
    if (a->branch && pp_branch_mode_parse(a->branch, &a->mode)) return -1;
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
