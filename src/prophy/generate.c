/* generate.c - text-to-video with a ProPhy model and its routing maps
 * (generate.h), in pixel space or in a VAE's latent space. */
#include "prophy/generate.h"
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "base/rng.h"
#include "branch/align.h"
#include "prophy/latents.h"
#include "wan/flow.h"

pp_gen_config pp_gen_defaults(void) {
    return (pp_gen_config){.steps = 20, .cfg = 5.0f, .shift = 3.0f, .seed = 42};
}

float pp_gen_default_cfg(const pp_prophy *m) { return m->cfg.base.latent ? 3.0f : 5.0f; }

/* The pixel video (F, H, W) and the grid the DiT samples (gF, gH, gW): the same
 * for a pixel model; the VAE's latent grid of the video for a latent model. */
typedef struct {
    int F, H, W, gF, gH, gW, C;
} gen_grid;

static gen_grid gen_size(const pp_prophy *m, const pp_gen_config *c) {
    const pp_model_config *b = &m->cfg.base;
    gen_grid g = {.C = b->dit.out_dim};
    if (b->latent) {
        g.F = c->F ? c->F : b->vframes, g.H = c->H ? c->H : b->vheight, g.W = c->W ? c->W : b->vwidth;
        g.gF = g.F >= 1 ? 1 + (g.F - 1) / 4 : 0, g.gH = g.H / 8, g.gW = g.W / 8;
        if (c->vae) g.gF = pp_vae_latent_frames(&c->vae->m, g.F), g.gH = g.H / c->vae->m.sdown, g.gW = g.W / c->vae->m.sdown;
    } else {
        g.F = g.gF = c->F ? c->F : b->frames, g.H = g.gH = c->H ? c->H : b->height;
        g.W = g.gW = c->W ? c->W : b->width;
    }
    return g;
}

/* a latent model's video: the VAE's rules and the patch on the latent grid */
static int check_latent(const pp_prophy *m, const pp_gen_config *c, const gen_grid *g) {
    const pp_model_config *b = &m->cfg.base;
    const int *p = b->dit.patch;
    if (!c->vae) PP_FAIL("this model diffuses a VAE's latents: it needs its VAE (--vae, default models/vae.safetensors)");
    if (!pp_vae_checksum_matches(c->vae, b->vae_checksum))
        PP_FAIL("the VAE is not the one this model was trained with (checksum %016llx, the model's %016llx)",
                (unsigned long long)pp_vae_checksum(c->vae), (unsigned long long)b->vae_checksum);
    if (c->vae->m.cfg.z_dim != b->dit.out_dim)
        PP_FAIL("the VAE has %d latent channels, the model %d", c->vae->m.cfg.z_dim, b->dit.out_dim);
    if (pp_vae_check_video(&c->vae->m, g->F, g->H, g->W)) return -1;
    if (g->gF % p[0] || g->gH % p[1] || g->gW % p[2])
        PP_FAIL("video %d frames x %dx%d: its latent grid %dx%dx%d is not divisible by the patch %d,%d,%d (-W and -H "
                "must be multiples of %d)", g->F, g->W, g->H, g->gF, g->gH, g->gW, p[0], p[1], p[2],
                c->vae->m.sdown * (p[1] > p[2] ? p[1] : p[2]));
    return 0;
}

int pp_gen_check(const pp_prophy *m, const char *prompt, const pp_gen_config *c, int *ids,
                 pp_tok_report *rep) {
    const pp_model_config *b = &m->cfg.base;
    const pp_dit_config *d = &b->dit;
    int L = m->cfg.text.ctx;
    gen_grid g = gen_size(m, c);
    if (!b->latent && d->out_dim != 3) PP_FAIL("the model outputs %d channels, not RGB (3)", d->out_dim);
    if (g.F < 1 || g.H < 1 || g.W < 1) PP_FAIL("video %d frames x %dx%d: every size must be positive", g.F, g.W, g.H);
    if (b->latent && check_latent(m, c, &g)) return -1;
    if (!b->latent && (g.F % d->patch[0] || g.H % d->patch[1] || g.W % d->patch[2]))
        PP_FAIL("video %d frames x %dx%d is not divisible by the model's patch %d,%d,%d", g.F, g.H, g.W,
                d->patch[0], d->patch[1], d->patch[2]);
    if (c->steps < 1) PP_FAIL("sampling needs at least 1 step (got %d)", c->steps);
    if (!(c->cfg >= 0) || !(c->shift > 0)) PP_FAIL("cfg scale must be >= 0 and shift > 0");
    if (c->cond_frames < 0 || c->cond_frames >= g.F)
        PP_FAIL("%d given frames leave nothing to predict in %d frames", c->cond_frames, g.F);
    if (c->cond_frames > 0 && b->cond == PP_COND_NONE) PP_FAIL("this model was trained without first-frame conditioning");
    if (c->cond_frames > 0 && !c->first) PP_FAIL("first frames are missing");
    char what[96];
    snprintf(what, sizeof what, "generating %d frames of %dx%d", g.F, g.W, g.H);
    size_t acts = pp_prophy_acts_bytes_for(m, c->cfg > 1.0f ? 2 : 1, g.gF, g.gH, g.gW, 0);
    size_t bufs = (size_t)g.gF * g.gH * g.gW * sizeof(float) * ((size_t)g.C * 4 + (size_t)d->in_dim * 2) +
                  (size_t)g.F * g.H * g.W * 3 * sizeof(float);
    if (pp_mem_check(acts == SIZE_MAX ? SIZE_MAX : acts + bufs, what)) return -1;
    pp_tok_report tmp;
    int *own = ids ? NULL : pp_malloc((size_t)L * sizeof(int));
    int rc = pp_tok_encode(&m->vocab, prompt ? prompt : "", L, ids ? ids : own, rep ? rep : &tmp);
    free(own);
    if (rc) PP_FAIL("the prompt is empty");
    return 0;
}

void pp_gen_video_size(const pp_prophy *m, const pp_gen_config *c, int *F, int *H, int *W) {
    gen_grid g = gen_size(m, c);
    *F = g.F, *H = g.H, *W = g.W;
}

int pp_gen_load_vae(const pp_prophy *m, const char *path, pp_vae_model *v, int *loaded) {
    *loaded = 0;
    if (!m->cfg.base.latent) return 0;
    if (pp_vae_model_open(v, path)) return -1;
    if (!pp_vae_checksum_matches(v, m->cfg.base.vae_checksum)) {
        uint64_t have = pp_vae_checksum(v); /* before the weights are freed */
        pp_vae_model_free(v);
        PP_FAIL("%s: not the VAE this model was trained with (checksum %016llx, the model's %016llx)", path,
                (unsigned long long)have, (unsigned long long)m->cfg.base.vae_checksum);
    }
    *loaded = 1;
    return 0;
}

int pp_gen_token_frame(const pp_gen_result *r, int f) {
    int j = r->latent ? (f == 0 ? 0 : (f + 3) / 4) : f; /* the latent (or pixel) frame */
    int tf = j / (r->pt > 0 ? r->pt : 1);
    return tf < r->gf ? tf : r->gf - 1;
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
    pp_fine_predict(&r->run.m->br.align, r->run.params, r->cat_tmp, rho, r->N);
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
    pp_coarse_predict(&m->br.align, P, r->coarse, r->rho_s, 1);
}

/* The conditioning channels [Cc, gF, gH, gW] of the given frames (NULL when Cc = 0):
 * pixel frames and a mask, or (latent models) the given frames' latent and masks. */
static int make_cond(const pp_prophy *m, const pp_gen_config *c, const gen_grid *g, float **out) {
    const pp_dit_config *d = &m->cfg.base.dit;
    int Cc = d->in_dim - d->out_dim;
    *out = NULL;
    if (!Cc) return 0;
    size_t vox = (size_t)g->gF * g->gH * g->gW;
    float *cond = *out = pp_zalloc_floats((size_t)Cc * vox);
    if (c->cond_frames <= 0) {
        if (m->cfg.base.cond == PP_COND_LATENT) pp_latent_make_cond(cond, NULL, 0, 0, g->C, g->gF, g->gH, g->gW);
        return 0;
    }
    if (m->cfg.base.cond == PP_COND_PIXEL) {
        pp_flow_make_cond(cond, c->first, 1, 3, g->F, (size_t)g->H * g->W, c->cond_frames);
        return 0;
    }
    int given = pp_latent_given_frames(c->cond_frames);
    float *zk = pp_alloc_floats((size_t)g->C * given * g->gH * g->gW);
    int rc = pp_latent_encode_given(c->vae, c->first, g->F, g->H, g->W, c->cond_frames, zk);
    if (!rc) pp_latent_make_cond(cond, zk, given, c->cond_frames, g->C, g->gF, g->gH, g->gW);
    pp_free_aligned(zk);
    return rc;
}

/* Samples x [C, gF, gH, gW] in place from its noise. */
static int sample(const pp_prophy *m, const pp_gen_config *c, const gen_grid *g, const float *cond, const int *ids,
                  route_runner *rr, float *x) {
    int L = m->cfg.text.ctx, Cc = m->cfg.base.dit.in_dim - m->cfg.base.dit.out_dim;
    int *empty = pp_malloc((size_t)L * sizeof(int));
    pp_prophy_empty_ids(empty, L);
    pp_sample_config sc = {.steps = c->steps, .shift = c->shift, .cfg = c->cfg, .progress = c->progress,
                           .user = c->user};
    const void *ctx[1] = {ids}, *uncond[1] = {empty};
    int rc = pp_flow_sample(route_velocity, rr, &sc, x, cond, ctx, uncond, 1, g->C, Cc,
                            (size_t)g->gF * g->gH * g->gW);
    free(empty);
    return rc;
}

int pp_prophy_generate(const pp_prophy *m, const float *P, const char *prompt, const pp_gen_config *c,
                       pp_gen_result *r) {
    double t0 = pp_now();
    memset(r, 0, sizeof *r);
    const pp_prophy_config *mc = &m->cfg;
    const pp_dit_config *d = &mc->base.dit;
    int *ids = pp_malloc((size_t)mc->text.ctx * sizeof(int));
    if (pp_gen_check(m, prompt, c, ids, &r->rep)) return free(ids), -1;
    gen_grid g = gen_size(m, c);
    r->F = g.F, r->H = g.H, r->W = g.W, r->latent = mc->base.latent, r->pt = d->patch[0];
    r->gf = g.gF / d->patch[0], r->gh = g.gH / d->patch[1], r->gw = g.gW / d->patch[2];
    r->N = r->gf * r->gh * r->gw;
    size_t vox = (size_t)g.F * g.H * g.W, gvox = (size_t)g.gF * g.gH * g.gW;
    float *cond = NULL, *x = pp_alloc_floats((size_t)g.C * gvox);
    int rc = make_cond(m, c, &g, &cond);
    pp_rng rng;
    pp_rng_seed(&rng, c->seed);
    pp_rng_fill_normal(&rng, x, (size_t)g.C * gvox, 1.0f);
    route_runner rr = {.run = {.m = m, .params = P, .F = g.gF, .H = g.gH, .W = g.gW}, .N = r->N};
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
    if (!rc) rc = sample(m, c, &g, cond, ids, &rr, x);
    double t2 = pp_now();
    r->t_sample = t2 - t1;
    if (!rc && mc->base.latent) { /* the video, decoded from the latent */
        r->video = pp_alloc_floats(3 * vox);
        rc = pp_vae_decode(&c->vae->m, c->vae->params, x, g.C, g.gF, g.gH, g.gW, r->video);
        pp_free_aligned(x);
    } else {
        r->video = x;
    }
    x = NULL;
    r->t_decode = pp_now() - t2;
    for (int ch = 0; !rc && ch < 3 && c->cond_frames > 0; ch++) /* given frames unchanged */
        memcpy(r->video + ch * vox, c->first + ch * vox, (size_t)c->cond_frames * g.H * g.W * sizeof(float));
    if (!rc && want_reb) routes_finish(&rr, r);
    if (!rc && want_seb) semantic_finish(m, P, rr.run.acts, r);
    pp_prophy_runner_free(&rr.run);
    float *bufs[] = {cond, x, rr.rho_acc, rr.cat_acc, rr.cat_tmp};
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
