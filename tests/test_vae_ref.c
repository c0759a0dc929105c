/* test_vae_ref.c - the C VAE against diffusers' AutoencoderKLWan (fixture written
 * by tools/make_vae_fixture.py in float64): chunked encode, chunked decode, the
 * whole-clip training forward, and the training loss with every gradient.
 * Relative L2 error per tensor must be <= 1e-4 (fp32 against fp64). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "wan/vae.h"
#include "test.h"

#define REL_TOL 1e-4

typedef struct {
    pp_st_file f;
    pp_vae_config c;
    pp_params t;
    pp_vae m;
    int T, H, W;
    float w[4]; /* loss weights: l1, mse, edge, kl */
    float *P;
    cJSON *names;
} ref;

static double worst;

static int ref_open(ref *r) {
    memset(r, 0, sizeof *r);
    char path[512];
    snprintf(path, sizeof path, "%s/vae_ref.safetensors", pp_fixture_dir());
    if (pp_st_open(&r->f, path)) return -1;
    cJSON *j = cJSON_Parse(pp_st_meta(&r->f, "config"));
    if (!j) return -1;
#define NUM(k) cJSON_GetObjectItem(j, k)->valuedouble
    int mult[PP_VAE_MAX_LEVELS], td[PP_VAE_MAX_LEVELS];
    cJSON *dm = cJSON_GetObjectItem(j, "dim_mult"), *tdj = cJSON_GetObjectItem(j, "temperal_downsample");
    int L = cJSON_GetArraySize(dm);
    for (int i = 0; i < L; i++) mult[i] = cJSON_GetArrayItem(dm, i)->valueint;
    for (int i = 0; i + 1 < L; i++) td[i] = cJSON_IsTrue(cJSON_GetArrayItem(tdj, i));
    pp_vae_config_make(&r->c, (int)NUM("base_dim"), (int)NUM("z_dim"), L, mult, (int)NUM("num_res_blocks"), td);
    for (int i = 0; i < r->c.z_dim; i++) {
        r->c.latent_mean[i] = (float)cJSON_GetArrayItem(cJSON_GetObjectItem(j, "latents_mean"), i)->valuedouble;
        r->c.latent_std[i] = (float)cJSON_GetArrayItem(cJSON_GetObjectItem(j, "latents_std"), i)->valuedouble;
    }
    r->T = (int)NUM("frames"), r->H = (int)NUM("height"), r->W = (int)NUM("width");
    r->w[0] = (float)NUM("w_l1"), r->w[1] = (float)NUM("w_mse"), r->w[2] = (float)NUM("w_edge");
    r->w[3] = (float)NUM("w_kl");
#undef NUM
    cJSON_Delete(j);
    r->names = cJSON_Parse(pp_st_meta(&r->f, "diffusers_names"));
    if (pp_vae_init(&r->m, &r->c, &r->t)) return -1;
    r->P = pp_zalloc_floats(r->t.total);
    return pp_vae_load(&r->m, &r->t, r->P, path);
}

static void ref_close(ref *r) {
    pp_free_aligned(r->P);
    pp_vae_free(&r->m);
    pp_params_free(&r->t);
    cJSON_Delete(r->names);
    pp_st_close(&r->f);
}

static float *load(ref *r, const char *name, size_t *n) {
    const pp_st_tensor *t = pp_st_find(&r->f, name);
    if (!t) {
        pp_test_fail(__FILE__, __LINE__, "fixture lacks %s", name);
        return pp_zalloc_floats(1 << 20);
    }
    float *d = pp_alloc_floats(t->numel);
    pp_st_to_f32(&r->f, t, d);
    if (n) *n = t->numel;
    return d;
}

static void check_rel(const char *what, const float *got, const float *want, size_t n) {
    double e = pp_rel_err(got, want, n);
    if (e > worst) worst = e;
    CHECK_MSG(e <= REL_TOL, "%s: relative error %.3g", what, e);
}

TEST(vae_ref_keys_are_wan_and_map_to_diffusers) {
    ref r;
    CHECK_MSG(ref_open(&r) == 0, "%s", pp_lasterr());
    /* every parameter of the fixture is one of ours: none missing, none extra */
    int nparam = 0;
    for (int i = 0; i < pp_st_count(&r.f); i++) {
        const char *nm = pp_st_at(&r.f, i)->name;
        if (strncmp(nm, "input.", 6) && strncmp(nm, "enc.", 4) && strncmp(nm, "dec.", 4) &&
            strncmp(nm, "train.", 6) && strncmp(nm, "grad.", 5)) {
            nparam++;
            CHECK_MSG(pp_params_find(&r.t, nm) != NULL, "fixture tensor %s not declared", nm);
        }
    }
    CHECK(nparam == r.t.n);
    /* our diffusers names are diffusers' own */
    int n = 0;
    for (cJSON *it = r.names ? r.names->child : NULL; it; it = it->next, n++) {
        char alt[160];
        CHECK_MSG(pp_vae_diffusers_name(&r.m, it->string, alt, sizeof alt) == 0 && !strcmp(alt, it->valuestring),
                  "%s -> %s, diffusers has %s", it->string, alt, it->valuestring);
    }
    CHECK(n == r.t.n);
    ref_close(&r);
}

TEST(vae_ref_chunked_encode_and_decode) {
    ref r;
    CHECK_MSG(ref_open(&r) == 0, "%s", pp_lasterr());
    size_t nv = 0, nz = 0;
    float *video = load(&r, "input.video", &nv), *zref = load(&r, "enc.z", &nz);
    float *lvref = load(&r, "enc.logvar", NULL), *muref = load(&r, "enc.mu", NULL);
    float *decref = load(&r, "dec.out", NULL);
    int t = pp_vae_latent_frames(&r.m, r.T), h = r.H / r.m.sdown, w = r.W / r.m.sdown;
    CHECK(nz == (size_t)r.c.z_dim * t * h * w);
    float *z = pp_alloc_floats(nz), *lv = pp_alloc_floats(nz), *dec = pp_alloc_floats(nv);
    CHECK(pp_vae_encode(&r.m, r.P, video, r.T, r.H, r.W, z, lv) == 0);
    check_rel("encode z", z, zref, nz);
    check_rel("encode logvar", lv, lvref, nz);
    CHECK(pp_vae_decode(&r.m, r.P, zref, r.c.z_dim, t, h, w, dec) == 0);
    check_rel("decode", dec, decref, nv);
    /* the whole-clip forward (training's) gives the same mu | logvar */
    float *enc = pp_alloc_floats(2 * nz), *mu = pp_alloc_floats(nz);
    CHECK(pp_vae_forward_whole(&r.m, r.P, video, r.T, r.H, r.W, enc, NULL, NULL) == 0);
    size_t per = nz / r.c.z_dim; /* [2z, t, h, w]: mu is the first z channels */
    memcpy(mu, enc, nz * sizeof(float));
    check_rel("whole-clip mu", mu, muref, nz);
    check_rel("whole-clip logvar", enc + (size_t)r.c.z_dim * per, lvref, nz);
    printf("      vae_ref: worst relative error so far %.3g\n", worst);
    pp_free_aligned(video);
    pp_free_aligned(zref), pp_free_aligned(lvref), pp_free_aligned(muref), pp_free_aligned(decref);
    pp_free_aligned(z), pp_free_aligned(lv), pp_free_aligned(dec), pp_free_aligned(enc), pp_free_aligned(mu);
    ref_close(&r);
}

TEST(vae_ref_training_loss_and_gradients) {
    ref r;
    CHECK_MSG(ref_open(&r) == 0, "%s", pp_lasterr());
    size_t nv = 0;
    float *video = load(&r, "input.video", &nv), *eps = load(&r, "train.eps", NULL);
    float *lref = load(&r, "train.losses", NULL), *dvref = load(&r, "grad.input.video", NULL);
    float *G = pp_zalloc_floats(r.t.total), *dv = pp_zalloc_floats(nv);
    pp_vae_loss_cfg lc = {.w_l1 = r.w[0], .w_mse = r.w[1], .w_edge = r.w[2], .w_kl = r.w[3], .sample = 1};
    pp_vae_losses lo;
    CHECK(pp_vae_train_step(&r.m, r.P, G, video, r.T, r.H, r.W, &lc, eps, NULL, &lo, NULL, dv) == 0);
    float got[5] = {lo.loss, lo.l1, lo.mse, lo.edge, lo.kl};
    const char *tn[5] = {"loss", "l1", "mse", "edge", "kl"};
    for (int i = 0; i < 5; i++) check_rel(tn[i], &got[i], &lref[i], 1);
    double gworst = 0;
    const char *gname = "";
    for (int i = 0; i < r.t.n; i++) {
        const pp_param *p = &r.t.p[i];
        char nm[160];
        snprintf(nm, sizeof nm, "grad.%s", p->name);
        float *g = load(&r, nm, NULL);
        double e = pp_rel_err(G + p->offset, g, p->numel);
        if (e > gworst) gworst = e, gname = p->name;
        check_rel(nm, G + p->offset, g, p->numel);
        pp_free_aligned(g);
    }
    check_rel("grad.input.video", dv, dvref, nv);
    printf("      vae_ref: worst gradient error %.3g (%s), worst overall %.3g\n", gworst, gname, worst);
    pp_free_aligned(video), pp_free_aligned(eps), pp_free_aligned(lref), pp_free_aligned(dvref);
    pp_free_aligned(G), pp_free_aligned(dv);
    ref_close(&r);
}
