/* prophy_sample.c - text-to-video with a ProPhy model and its routing maps
 * (prophy_sample.h). */
#include "prophy/generate.h"
#include <stdlib.h>
#include <string.h>
#include "branch/align.h"
#include "base/common.h"
#include "wan/flow.h"
#include "base/rng.h"

pp_gen_config pp_gen_defaults(void) {
    return (pp_gen_config){.steps = 20, .cfg = 5.0f, .shift = 3.0f, .seed = 42};
}

/* F, H, W of a config (0 = the model's training size) */
static void gen_size(const pp_prophy *m, const pp_gen_config *c, int *F, int *H, int *W) {
    const pp_model_config *b = &m->cfg.base;
    *F = c->F ? c->F : b->frames, *H = c->H ? c->H : b->height, *W = c->W ? c->W : b->width;
}

int pp_gen_check(const pp_prophy *m, const char *prompt, const pp_gen_config *c, int *ids,
                 pp_tok_report *rep) {
    const pp_dit_config *d = &m->cfg.base.dit;
    int F, H, W, L = m->cfg.text.ctx, Cc = d->in_dim - d->out_dim;
    gen_size(m, c, &F, &H, &W);
    if (d->out_dim != 3) PP_FAIL("the model outputs %d channels, not RGB (3)", d->out_dim);
    if (F < 1 || H < 1 || W < 1 || F % d->patch[0] || H % d->patch[1] || W % d->patch[2])
        PP_FAIL("video %d frames x %dx%d is not divisible by the model's patch %d,%d,%d", F, H, W,
                d->patch[0], d->patch[1], d->patch[2]);
    if (c->steps < 1) PP_FAIL("sampling needs at least 1 step (got %d)", c->steps);
    if (!(c->cfg >= 0) || !(c->shift > 0)) PP_FAIL("cfg scale must be >= 0 and shift > 0");
    if (c->cond_frames < 0 || c->cond_frames >= F)
        PP_FAIL("%d given frames leave nothing to predict in %d frames", c->cond_frames, F);
    if (c->cond_frames > 0 && Cc != d->out_dim + 1)
        PP_FAIL("this model was trained without first-frame conditioning");
    if (c->cond_frames > 0 && !c->first) PP_FAIL("first frames are missing");
    char what[96];
    snprintf(what, sizeof what, "generating %d frames of %dx%d", F, W, H);
    size_t acts = pp_prophy_acts_bytes_for(m, c->cfg > 1.0f ? 2 : 1, F, H, W, 0);
    size_t bufs = (size_t)F * H * W * sizeof(float) * (3 * 4 + (size_t)d->in_dim * 2);
    if (pp_mem_check(acts == SIZE_MAX ? SIZE_MAX : acts + bufs, what)) return -1;
    pp_tok_report tmp;
    int *own = ids ? NULL : pp_malloc((size_t)L * sizeof(int));
    int rc = pp_tok_encode(&m->vocab, prompt ? prompt : "", L, ids ? ids : own, rep ? rep : &tmp);
    free(own);
    if (rc) PP_FAIL("the prompt is empty");
    return 0;
}

/* ---- routing accumulation: a velocity fn around pp_prophy_velocity */
typedef struct {
    pp_prophy_runner run;
    int N, E_r, calls;
    float *rho_acc; /* [N,E_r] sum over steps of the conditional pass's rho_r */
    float *cat_acc; /* [N,17] sum over steps of fine-head(rho_r) */
    float *cat_tmp; /* [N,17] */
} route_runner;

static int route_velocity(void *p, const float *xin, const float *t, const void *const *ctx, int B, float *v) {
    route_runner *r = p;
    if (pp_prophy_velocity(&r->run, xin, t, ctx, B, v)) return -1;
    const float *rho = pp_prophy_acts_rho_r(r->run.acts); /* [B*N,E_r]; rows 0..N-1 = cond */
    if (!rho || !r->rho_acc) return 0;
    size_t n = (size_t)r->N * r->E_r, nc = (size_t)r->N * PP_NCAT;
    for (size_t i = 0; i < n; i++) r->rho_acc[i] += rho[i];
    pp_fine_predict(&r->run.m->align, r->run.params, r->cat_tmp, rho, r->N);
    for (size_t i = 0; i < nc; i++) r->cat_acc[i] += r->cat_tmp[i];
    r->calls++;
    return 0;
}

/* Means over the steps: rho_r, top expert, cat_maps (transposed to [17,N]). */
static void routes_finish(const route_runner *rr, pp_gen_result *r) {
    int N = rr->N, E = rr->E_r;
    float inv = rr->calls ? 1.0f / rr->calls : 0.0f;
    r->rho_r = pp_alloc_floats((size_t)N * E);
    r->cat_maps = pp_alloc_floats((size_t)PP_NCAT * N);
    r->top_expert = pp_malloc((size_t)N * sizeof(int));
    for (int n = 0; n < N; n++) {
        int best = 0;
        for (int e = 0; e < E; e++) {
            float x = r->rho_r[(size_t)n * E + e] = rr->rho_acc[(size_t)n * E + e] * inv;
            if (x > r->rho_r[(size_t)n * E + best]) best = e;
        }
        r->top_expert[n] = best;
        for (int c = 0; c < PP_NCAT; c++)
            r->cat_maps[(size_t)c * N + n] = rr->cat_acc[(size_t)n * PP_NCAT + c] * inv;
    }
}

/* rho_s [E_s] of the prompt (row 0 = the conditional pass) and coarse [17] */
static void semantic_finish(const pp_prophy *m, const float *P, const pp_prophy_acts *a,
                            pp_gen_result *r) {
    const float *rho = pp_prophy_acts_rho_s(a);
    if (!rho) return;
    r->rho_s = pp_alloc_floats((size_t)r->E_s);
    memcpy(r->rho_s, rho, (size_t)r->E_s * sizeof(float));
    r->coarse = pp_alloc_floats(PP_NCAT);
    pp_coarse_predict(&m->align, P, r->coarse, r->rho_s, 1);
}

/* noise x [3,vox], cond [Cc,vox] (NULL when Cc = 0) */
static float *make_cond(const pp_gen_config *c, int Cc, int F, int H, int W) {
    if (!Cc) return NULL;
    size_t vox = (size_t)F * H * W;
    float *cond = pp_zalloc_floats((size_t)Cc * vox);
    if (c->cond_frames > 0) pp_flow_make_cond(cond, c->first, 1, 3, F, (size_t)H * W, c->cond_frames);
    return cond;
}

int pp_prophy_generate(const pp_prophy *m, const float *P, const char *prompt, const pp_gen_config *c,
                       pp_gen_result *r) {
    double t0 = pp_now();
    memset(r, 0, sizeof *r);
    const pp_prophy_config *mc = &m->cfg;
    const pp_dit_config *d = &mc->base.dit;
    int L = mc->text.ctx, Cc = d->in_dim - d->out_dim, F, H, W;
    int *ids = pp_malloc((size_t)2 * L * sizeof(int)), *empty = ids + L;
    if (pp_gen_check(m, prompt, c, ids, &r->rep)) return free(ids), -1;
    pp_prophy_empty_ids(empty, L);
    gen_size(m, c, &F, &H, &W);
    r->F = F, r->H = H, r->W = W;
    r->gf = F / d->patch[0], r->gh = H / d->patch[1], r->gw = W / d->patch[2];
    r->N = r->gf * r->gh * r->gw;
    size_t vox = (size_t)F * H * W, n = 3 * vox;
    float *cond = make_cond(c, Cc, F, H, W);
    r->video = pp_alloc_floats(n);
    pp_rng rng;
    pp_rng_seed(&rng, c->seed);
    pp_rng_fill_normal(&rng, r->video, n, 1.0f);
    route_runner rr = {.run = {.m = m, .params = P, .F = F, .H = H, .W = W}, .N = r->N};
    int want_reb = c->routes && pp_prophy_has_reb(mc), want_seb = c->routes && pp_prophy_has_seb(mc);
    if (want_reb) {
        rr.E_r = r->E_r = mc->branch.E_r;
        rr.rho_acc = pp_zalloc_floats((size_t)r->N * rr.E_r);
        rr.cat_acc = pp_zalloc_floats((size_t)r->N * PP_NCAT);
        rr.cat_tmp = pp_alloc_floats((size_t)r->N * PP_NCAT);
    }
    if (want_seb) r->E_s = mc->branch.E_s;
    double t1 = pp_now();
    r->t_encode = t1 - t0;
    pp_sample_config sc = {.steps = c->steps, .shift = c->shift, .cfg = c->cfg, .progress = c->progress,
                           .user = c->user};
    const void *ctx[1] = {ids}, *uncond[1] = {empty};
    int rc = pp_flow_sample(route_velocity, &rr, &sc, r->video, cond, ctx, uncond, 1, 3, Cc, vox);
    for (int ch = 0; ch < 3 && c->cond_frames > 0; ch++) /* given frames unchanged */
        memcpy(r->video + ch * vox, c->first + ch * vox, (size_t)c->cond_frames * H * W * sizeof(float));
    if (!rc && want_reb) routes_finish(&rr, r);
    if (!rc && want_seb) semantic_finish(m, P, rr.run.acts, r);
    r->t_sample = pp_now() - t1;
    pp_prophy_runner_free(&rr.run);
    float *bufs[] = {cond, rr.rho_acc, rr.cat_acc, rr.cat_tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(ids);
    if (rc) pp_gen_result_free(r);
    return rc;
}

void pp_gen_result_free(pp_gen_result *r) {
    float *bufs[] = {r->video, r->cat_maps, r->rho_r, r->rho_s, r->coarse};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(r->top_expert);
    memset(r, 0, sizeof *r);
}
