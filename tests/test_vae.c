/* test_vae.c - the VAE model: Wan's keys and shapes, chunked streaming passes
 * against the whole-clip pass, the whole model's gradient by directional finite
 * differences, memory that does not grow with the video's length, the real
 * Wan2.1 config loaded from a BF16 file, and one clear error per bad input. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "nn/ops.h"
#include "wan/vae.h"
#include "wan/vae_file.h"
#include "test.h"

typedef struct {
    pp_vae_config c;
    pp_params t;
    pp_vae m;
    float *P;
} rig;

/* random weights, with every tensor non-trivial (gammas off 1, proj non-zero) */
static void rig_make(rig *g, int dim, int z, int L, const int *mult, int nres, const int *td, uint64_t seed) {
    memset(g, 0, sizeof *g);
    pp_vae_config_make(&g->c, dim, z, L, mult, nres, td);
    for (int i = 0; i < z; i++) g->c.latent_mean[i] = 0.1f * i - 0.2f, g->c.latent_std[i] = 0.8f + 0.1f * i;
    CHECK_MSG(pp_vae_init(&g->m, &g->c, &g->t) == 0, "%s", pp_lasterr());
    g->P = pp_zalloc_floats(g->t.total);
    pp_rng r;
    pp_rng_seed(&r, seed);
    pp_vae_init_weights(&g->m, g->P, &r);
    for (int i = 0; i < g->t.n; i++) {
        const pp_param *p = &g->t.p[i];
        float s = strstr(p->name, "gamma") ? 0.2f : strstr(p->name, "time_conv.weight") ? 0.1f
                : strstr(p->name, "bias") || strstr(p->name, "proj") ? 0.05f : 0.0f;
        for (size_t k = 0; k < p->numel; k++) g->P[p->offset + k] += s * pp_rng_normal(&r);
    }
}

static void rig_free(rig *g) {
    pp_free_aligned(g->P);
    pp_vae_free(&g->m);
    pp_params_free(&g->t);
}

static float *rand_video(int T, int H, int W, uint64_t seed) {
    pp_rng r;
    pp_rng_seed(&r, seed);
    size_t n = (size_t)3 * T * H * W;
    float *v = pp_alloc_floats(n);
    for (size_t i = 0; i < n; i++) v[i] = 0.9f * (2.0f * pp_rng_uniform(&r) - 1.0f);
    return v;
}

TEST(vae_wan21_keys_and_shapes) {
    pp_vae_config c;
    pp_vae_config_wan21(&c);
    pp_params t = {0};
    pp_vae m;
    CHECK(pp_vae_init(&m, &c, &t) == 0);
    struct { const char *name; int ndim; int64_t s[5]; } want[] = {
        {"encoder.conv1.weight", 5, {96, 3, 3, 3, 3}},
        {"encoder.downsamples.0.residual.0.gamma", 4, {96, 1, 1, 1}},
        {"encoder.downsamples.2.resample.1.weight", 4, {96, 96, 3, 3}},
        {"encoder.downsamples.3.shortcut.weight", 5, {192, 96, 1, 1, 1}},
        {"encoder.downsamples.5.time_conv.weight", 5, {192, 192, 3, 1, 1}},
        {"encoder.downsamples.10.residual.6.weight", 5, {384, 384, 3, 3, 3}},
        {"encoder.middle.1.norm.gamma", 3, {384, 1, 1}},
        {"encoder.middle.1.to_qkv.weight", 4, {1152, 384, 1, 1}},
        {"encoder.middle.1.proj.weight", 4, {384, 384, 1, 1}},
        {"encoder.head.0.gamma", 4, {384, 1, 1, 1}},
        {"encoder.head.2.weight", 5, {32, 384, 3, 3, 3}},
        {"conv1.weight", 5, {32, 32, 1, 1, 1}},
        {"conv2.weight", 5, {16, 16, 1, 1, 1}},
        {"decoder.conv1.weight", 5, {384, 16, 3, 3, 3}},
        {"decoder.upsamples.3.time_conv.weight", 5, {768, 384, 3, 1, 1}},
        {"decoder.upsamples.3.resample.1.weight", 4, {192, 384, 3, 3}},
        {"decoder.upsamples.4.shortcut.weight", 5, {384, 192, 1, 1, 1}},
        {"decoder.upsamples.11.resample.1.weight", 4, {96, 192, 3, 3}},
        {"decoder.upsamples.14.residual.6.weight", 5, {96, 96, 3, 3, 3}},
        {"decoder.head.2.weight", 5, {3, 96, 3, 3, 3}},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const pp_param *p = pp_params_find(&t, want[i].name);
        CHECK_MSG(p != NULL, "missing %s", want[i].name);
        if (!p) continue;
        CHECK_MSG(p->ndim == want[i].ndim, "%s ndim", want[i].name);
        for (int d = 0; d < p->ndim; d++) CHECK_MSG(p->shape[d] == want[i].s[d], "%s dim %d", want[i].name, d);
    }
    CHECK(pp_params_find(&t, "decoder.upsamples.11.time_conv.weight") == NULL); /* upsample2d */
    CHECK(pp_params_find(&t, "encoder.downsamples.2.time_conv.weight") == NULL); /* downsample2d */
    CHECK(t.n == 194);
    size_t numel = 0;
    for (int i = 0; i < t.n; i++) numel += t.p[i].numel;
    CHECK(numel == 126892531); /* diffusers' AutoencoderKLWan() parameter count */
    char alt[160];
    CHECK(pp_vae_diffusers_name(&m, "decoder.upsamples.4.shortcut.weight", alt, sizeof alt) == 0);
    CHECK(!strcmp(alt, "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"));
    CHECK(pp_vae_diffusers_name(&m, "decoder.upsamples.7.time_conv.bias", alt, sizeof alt) == 0);
    CHECK(!strcmp(alt, "decoder.up_blocks.1.upsamplers.0.time_conv.bias"));
    pp_vae_free(&m);
    pp_params_free(&t);
}

/* streaming encode/decode == the whole-clip forward, for 0, 1 and 2 temporal downsamples */
/* the resamplers' time convolutions start as Wan's training code sets them: the
 * encoder's pass the middle frame through, the decoder's copy the newest frame into
 * both output frames (weight [cout, cin, 3, 1, 1]: one 1 per output channel) */
TEST(vae_init_time_conv_identity) {
    static const int mult[4] = {1, 2, 4, 4}, td[3] = {0, 1, 1};
    pp_vae_config c;
    pp_params t = {0};
    pp_vae m;
    pp_vae_config_make(&c, 4, 4, 4, mult, 1, td);
    CHECK_MSG(pp_vae_init(&m, &c, &t) == 0, "%s", pp_lasterr());
    float *P = pp_zalloc_floats(t.total);
    pp_rng r;
    pp_rng_seed(&r, 3);
    pp_vae_init_weights(&m, P, &r);
    int seen = 0;
    for (int i = 0; i < t.n; i++) {
        const pp_param *p = &t.p[i];
        if (!strstr(p->name, "time_conv.weight")) continue;
        int co = (int)p->shape[0], ci = (int)p->shape[1], kt = (int)p->shape[2];
        int tap = strstr(p->name, "encoder.") ? 1 : kt - 1, bad = 0;
        for (int o = 0; o < co; o++)
            for (int j = 0; j < ci; j++)
                for (int k = 0; k < kt; k++)
                    bad += P[p->offset + ((size_t)o * ci + j) * kt + k] != (j == o % ci && k == tap ? 1.0f : 0.0f);
        CHECK_MSG(!bad && kt == 3 && (co == ci || co == 2 * ci), "%s: %d entries off", p->name, bad);
        seen++;
    }
    CHECK_MSG(seen == 4, "%d time convolutions", seen); /* two in the encoder, two in the decoder */
    pp_free_aligned(P);
    pp_vae_free(&m);
    pp_params_free(&t);
}

/* with the older time taps zeroed (and the time convolutions at their identity
 * init) the VAE is a per-frame one: a still video encodes to equal latent frames,
 * and a latent constant in time decodes to equal frames; with random taps it does not */
TEST(vae_init_per_frame) {
    static const int mult[3] = {1, 2, 2}, td[2] = {1, 1};
    for (int per_frame = 0; per_frame < 2; per_frame++) {
        pp_vae_config c;
        pp_params t = {0};
        pp_vae m;
        pp_vae_config_make(&c, 4, 3, 3, mult, 1, td);
        CHECK_MSG(pp_vae_init(&m, &c, &t) == 0, "%s", pp_lasterr());
        float *P = pp_zalloc_floats(t.total);
        pp_rng r;
        pp_rng_seed(&r, 5);
        pp_vae_init_weights(&m, P, &r);
        if (per_frame) pp_vae_init_per_frame(&m, P, 1);
        int T = 9, H = 8, W = 8, lt = pp_vae_latent_frames(&m, T), hw = (H / 4) * (W / 4);
        float *one = rand_video(1, H, W, 7), *video = pp_alloc_floats((size_t)3 * T * H * W);
        for (int ch = 0; ch < 3; ch++)
            for (int f = 0; f < T; f++) memcpy(video + ((size_t)ch * T + f) * H * W, one + (size_t)ch * H * W, H * W * sizeof(float));
        float *z = pp_alloc_floats((size_t)3 * lt * hw), *dec = pp_alloc_floats((size_t)3 * T * H * W);
        CHECK(pp_vae_encode(&m, P, video, T, H, W, z, NULL) == 0);
        double dz = 0, dd = 0;
        for (int ch = 0; ch < 3; ch++)
            for (int f = 1; f < lt; f++)
                for (int i = 0; i < hw; i++) dz = fmax(dz, fabs(z[((size_t)ch * lt + f) * hw + i] - z[(size_t)ch * lt * hw + i]));
        for (int ch = 0; ch < 3; ch++) /* decode the first latent frame repeated */
            for (int f = 1; f < lt; f++) memcpy(z + ((size_t)ch * lt + f) * hw, z + (size_t)ch * lt * hw, hw * sizeof(float));
        CHECK(pp_vae_decode(&m, P, z, 3, lt, H / 4, W / 4, dec) == 0);
        for (int ch = 0; ch < 3; ch++)
            for (int f = 1; f < T; f++)
                for (int i = 0; i < H * W; i++) dd = fmax(dd, fabs(dec[((size_t)ch * T + f) * H * W + i] - dec[(size_t)ch * T * H * W + i]));
        if (per_frame) CHECK_MSG(dz < 1e-5 && dd < 1e-5, "per frame: latent frames differ by %.3g, frames by %.3g", dz, dd);
        else CHECK_MSG(dz > 1e-3 && dd > 1e-3, "random taps: latent frames differ by only %.3g, frames by %.3g", dz, dd);
        pp_free_aligned(one), pp_free_aligned(video), pp_free_aligned(z), pp_free_aligned(dec), pp_free_aligned(P);
        pp_vae_free(&m);
        pp_params_free(&t);
    }
}

TEST(vae_chunked_equals_whole_clip) {
    static const int mult[3] = {1, 2, 2}, tds[3][2] = {{1, 1}, {0, 1}, {0, 0}};
    for (int k = 0; k < 3; k++) {
        rig g;
        rig_make(&g, 6, 3, 3, mult, k == 0 ? 2 : 1, tds[k], 10 + k);
        int T = 13, H = 16, W = 12, t = pp_vae_latent_frames(&g.m, T), h = H / 4, w = W / 4;
        size_t nv = (size_t)3 * T * H * W, nz = (size_t)3 * t * h * w;
        float *video = rand_video(T, H, W, 20 + k), *z = pp_alloc_floats(nz), *lv = pp_alloc_floats(nz);
        float *enc = pp_alloc_floats(2 * nz), *dec = pp_alloc_floats(nv), *rec = pp_alloc_floats(nv);
        CHECK(pp_vae_encode(&g.m, g.P, video, T, H, W, z, lv) == 0);
        CHECK(pp_vae_forward_whole(&g.m, g.P, video, T, H, W, enc, NULL, NULL) == 0);
        size_t per = (size_t)t * h * w;
        for (int c = 0; c < 3; c++) /* normalise the whole-clip mu as encode does */
            for (size_t i = 0; i < per; i++)
                enc[c * per + i] = (enc[c * per + i] - g.c.latent_mean[c]) / g.c.latent_std[c];
        CHECK_MSG(pp_rel_err(z, enc, nz) < 1e-6, "config %d: z %.3g", k, pp_rel_err(z, enc, nz));
        CHECK_MSG(pp_rel_err(lv, enc + nz, nz) < 1e-6, "config %d: logvar", k);
        CHECK(pp_vae_decode(&g.m, g.P, z, 3, t, h, w, dec) == 0);
        /* the whole-clip decoder takes the raw latent */
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < per; i++) z[c * per + i] = z[c * per + i] * g.c.latent_std[c] + g.c.latent_mean[c];
        CHECK(pp_vae_forward_whole(&g.m, g.P, video, T, H, W, NULL, z, rec) == 0);
        for (size_t i = 0; i < nv; i++) rec[i] = rec[i] < -1 ? -1 : rec[i] > 1 ? 1 : rec[i];
        CHECK_MSG(pp_rel_err(dec, rec, nv) < 1e-6, "config %d: decode %.3g", k, pp_rel_err(dec, rec, nv));
        pp_free_aligned(video), pp_free_aligned(z), pp_free_aligned(lv), pp_free_aligned(enc);
        pp_free_aligned(dec), pp_free_aligned(rec);
        rig_free(&g);
    }
}

TEST(vae_forward_bitwise_independent_of_threads) {
    static const int mult[4] = {1, 2, 4, 4}, td[3] = {0, 1, 1};
    rig g;
    rig_make(&g, 8, 4, 4, mult, 1, td, 30);
    int T = 5, H = 32, W = 48, t = 2, h = 4, w = 6;
    size_t nv = (size_t)3 * T * H * W, nz = (size_t)4 * t * h * w;
    float *video = rand_video(T, H, W, 31), *z1 = pp_alloc_floats(nz), *z3 = pp_alloc_floats(nz);
    float *d1 = pp_alloc_floats(nv), *d3 = pp_alloc_floats(nv);
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK(pp_vae_encode(&g.m, g.P, video, T, H, W, z1, NULL) == 0);
    CHECK(pp_vae_decode(&g.m, g.P, z1, 4, t, h, w, d1) == 0);
    omp_set_num_threads(3);
    CHECK(pp_vae_encode(&g.m, g.P, video, T, H, W, z3, NULL) == 0);
    CHECK(pp_vae_decode(&g.m, g.P, z1, 4, t, h, w, d3) == 0);
    omp_set_num_threads(nt);
    CHECK(memcmp(z1, z3, nz * sizeof(float)) == 0);
    CHECK(memcmp(d1, d3, nv * sizeof(float)) == 0);
    pp_free_aligned(video), pp_free_aligned(z1), pp_free_aligned(z3), pp_free_aligned(d1), pp_free_aligned(d3);
    rig_free(&g);
}

/* ---------------- the whole model's gradient ---------------- */

typedef struct {
    rig g;
    int T, H, W;
    float *video, *eps, *G;
    pp_vae_loss_cfg lc;
} gc;

static double gc_loss(gc *c) {
    pp_vae_losses lo;
    memset(c->G, 0, c->g.t.total * sizeof(float));
    pp_vae_train_step(&c->g.m, c->g.P, c->G, c->video, c->T, c->H, c->W, &c->lc, c->eps, NULL, &lo, NULL, NULL);
    return lo.loss;
}

/* directional derivative along d by a 4-point central stencil */
static double fd_dir(gc *c, float *p, const float *d, size_t n, float h) {
    float *keep = pp_alloc_floats(n);
    memcpy(keep, p, n * sizeof(float));
    double f[4], hs[4] = {h, -h, 2 * h, -2 * h};
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < n; i++) p[i] = keep[i] + (float)hs[k] * d[i];
        f[k] = gc_loss(c);
    }
    memcpy(p, keep, n * sizeof(float));
    pp_free_aligned(keep);
    return (8.0 * (f[0] - f[1]) - (f[2] - f[3])) / (12.0 * h);
}

TEST(vae_gradcheck_every_tensor) {
    static const int mult[3] = {1, 2, 2}, td[2] = {1, 1};
    gc c = {.T = 9, .H = 8, .W = 12};
    rig_make(&c.g, 8, 3, 3, mult, 1, td, 40);
    /* the smooth terms (L1 and edge have kinks; test_vae_ref checks them against autograd) */
    c.lc = (pp_vae_loss_cfg){.w_mse = 1.0f, .w_kl = 0.5f, .sample = 1};
    size_t nv = (size_t)3 * c.T * c.H * c.W, nz = (size_t)3 * 3 * 2 * 3;
    c.video = rand_video(c.T, c.H, c.W, 41);
    c.eps = pp_alloc_floats(nz);
    pp_rng r;
    pp_rng_seed(&r, 42);
    pp_rng_fill_normal(&r, c.eps, nz, 1.0f);
    float *G = pp_zalloc_floats(c.g.t.total), *dv = pp_zalloc_floats(nv);
    c.G = pp_zalloc_floats(c.g.t.total);
    pp_vae_losses lo;
    CHECK(pp_vae_train_step(&c.g.m, c.g.P, G, c.video, c.T, c.H, c.W, &c.lc, c.eps, NULL, &lo, NULL, dv) == 0);
    int bad = 0;
    double worst = 0;
    for (int i = 0; i <= c.g.t.n; i++) {
        int isv = i == c.g.t.n;
        const pp_param *p = isv ? NULL : &c.g.t.p[i];
        size_t n = isv ? nv : p->numel;
        float *x = isv ? c.video : c.g.P + p->offset, *g = isv ? dv : G + p->offset;
        float *d = pp_alloc_floats(n);
        pp_rng_fill_normal(&r, d, n, 1.0f);
        double num = fd_dir(&c, x, d, n, 1e-3f), ana = 0;
        for (size_t k = 0; k < n; k++) ana += (double)g[k] * d[k];
        /* 1% relative, plus a floor of 1e-4: the float32 loss's rounding noise over h */
        double err = fabs(num - ana) / (fabs(num) + fabs(ana) + 1e-2);
        worst = err > worst ? err : worst;
        if (fabs(num - ana) > 1e-2 * (fabs(num) + fabs(ana)) + 1e-4) {
            bad++;
            printf("    %s: numeric %.7g analytic %.7g\n", isv ? "video" : p->name, num, ana);
        }
        pp_free_aligned(d);
    }
    printf("      vae gradcheck: %d tensors + the video, worst relative disagreement %.3g\n", c.g.t.n, worst);
    CHECK_MSG(bad == 0, "%d of %d tensors disagree", bad, c.g.t.n + 1);
    pp_free_aligned(G), pp_free_aligned(dv), pp_free_aligned(c.G), pp_free_aligned(c.video), pp_free_aligned(c.eps);
    rig_free(&c.g);
}

/* the foreground weight: pixels within one pixel of a non-white one weigh 1 + w_fg in
 * L1 and MSE; l1/mse stay plain means; on an all-dark video the gradient scales by 1 + w_fg */
TEST(vae_train_step_foreground_weight) {
    static const int mult[2] = {1, 2}, td[1] = {1};
    rig g;
    rig_make(&g, 4, 2, 2, mult, 1, td, 52);
    int T = 5, H = 8, W = 8;
    size_t N = (size_t)H * W, nv = 3 * T * N;
    float *video = pp_alloc_floats(nv), *rec = pp_alloc_floats(nv);
    for (size_t i = 0; i < nv; i++) video[i] = 1.0f; /* white, one dark pixel at (2, 5) in frame 1 */
    video[((size_t)(1 * T + 1)) * N + 2 * W + 5] = -0.5f; /* channel 1, frame 1 */
    pp_vae_loss_cfg lc = {.w_l1 = 1, .w_mse = 2, .w_fg = 3, .sample = 0};
    pp_vae_losses lo;
    float *G = pp_zalloc_floats(g.t.total);
    CHECK(pp_vae_train_step(&g.m, g.P, G, video, T, H, W, &lc, NULL, NULL, &lo, rec, NULL) == 0);
    double l1 = 0, w1 = 0, w2 = 0;
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < T; f++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    size_t i = ((size_t)(c * T + f) * H + y) * W + x;
                    double d = rec[i] - video[i], k = f == 1 && abs(y - 2) <= 1 && abs(x - 5) <= 1 ? 4 : 1;
                    l1 += fabs(d), w1 += k * fabs(d), w2 += k * d * d;
                }
    CHECK_NEAR(lo.l1, l1 / nv, 1e-5);
    CHECK_NEAR(lo.wl1, w1 / nv, 1e-5);
    CHECK_NEAR(lo.wmse, w2 / nv, 1e-5);
    CHECK_NEAR(lo.loss, lo.wl1 + 2 * lo.wmse, 1e-5);
    /* every pixel dark: the weighted gradient is 4x the plain one */
    for (size_t i = 0; i < nv; i++) video[i] = -0.25f + 0.5f * (float)(i % 7) / 7.0f;
    float *G0 = pp_zalloc_floats(g.t.total);
    memset(G, 0, g.t.total * sizeof(float));
    CHECK(pp_vae_train_step(&g.m, g.P, G, video, T, H, W, &lc, NULL, NULL, &lo, NULL, NULL) == 0);
    lc.w_fg = 0;
    CHECK(pp_vae_train_step(&g.m, g.P, G0, video, T, H, W, &lc, NULL, NULL, &lo, NULL, NULL) == 0);
    pp_scale_inplace(G0, 4.0f, g.t.total);
    CHECK(pp_rel_err(G, G0, g.t.total) < 1e-5);
    pp_free_aligned(video), pp_free_aligned(rec), pp_free_aligned(G), pp_free_aligned(G0);
    rig_free(&g);
}

/* a frozen encoder: no gradient reaches encoder.* or conv1.*, the decoder side's
 * gradient and the loss are those of the full step; d/dvideo is refused */
TEST(vae_train_step_frozen_encoder) {
    static const int mult[2] = {1, 2}, td[1] = {1};
    rig g;
    rig_make(&g, 4, 2, 2, mult, 1, td, 53);
    int T = 5, H = 8, W = 8;
    float *video = rand_video(T, H, W, 54), *G = pp_zalloc_floats(g.t.total), *G1 = pp_zalloc_floats(g.t.total);
    size_t ne = (size_t)2 * pp_vae_latent_frames(&g.m, T) * (H / g.m.sdown) * (W / g.m.sdown); /* [z, t, h, w] */
    float *eps = pp_alloc_floats(ne);
    for (size_t i = 0; i < ne; i++) eps[i] = 0.1f * (float)(i % 5) - 0.2f;
    pp_vae_loss_cfg lc = {.w_l1 = 1, .w_mse = 1, .w_edge = 0.5f, .w_kl = 1e-3f, .sample = 1};
    pp_vae_losses a, b;
    CHECK(pp_vae_train_step(&g.m, g.P, G, video, T, H, W, &lc, eps, NULL, &a, NULL, NULL) == 0);
    lc.frozen_encoder = 1;
    CHECK(pp_vae_train_step(&g.m, g.P, G1, video, T, H, W, &lc, eps, NULL, &b, NULL, NULL) == 0);
    CHECK(a.loss == b.loss);
    int enc = 0, dec = 0;
    for (int i = 0; i < g.t.n; i++) {
        const pp_param *p = &g.t.p[i];
        int frozen = pp_vae_encoder_side(p->name);
        double n1 = 0, diff = 0;
        for (size_t k = 0; k < p->numel; k++) {
            float x = G[p->offset + k], y = G1[p->offset + k];
            n1 += fabs(y), diff += fabs(frozen ? y : x - y);
        }
        if (frozen) {
            CHECK_MSG(n1 == 0, "%s has a gradient", p->name);
            enc++;
        } else {
            CHECK_MSG(diff == 0, "%s: the decoder's gradient differs by %g", p->name, diff);
            dec++;
        }
    }
    CHECK(enc > 5 && dec > 5);
    CHECK(pp_vae_train_step(&g.m, g.P, G1, video, T, H, W, &lc, eps, NULL, &b, NULL, G) != 0);
    CHECK(strstr(pp_lasterr(), "not frozen") != NULL);
    pp_free_aligned(video), pp_free_aligned(G), pp_free_aligned(G1), pp_free_aligned(eps);
    rig_free(&g);
}

/* the checksum names the latent space: the encoder side's weights and the latent
 * normalisation, not the decoder's; files that hold the whole-weight hash still match */
TEST(vae_checksum_is_the_encoder_side) {
    static const int mult[2] = {1, 2}, td[1] = {1};
    rig g;
    rig_make(&g, 4, 2, 2, mult, 1, td, 55);
    pp_vae_model v = {.m = g.m, .table = g.t, .params = g.P};
    uint64_t s0 = pp_vae_checksum(&v), w0 = pp_vae_checksum_whole(&v);
    CHECK(s0 != w0 && pp_vae_checksum_matches(&v, s0) && pp_vae_checksum_matches(&v, w0));
    const pp_param *dec = pp_params_find(&g.t, "decoder.head.2.weight"), *enc = pp_params_find(&g.t, "conv1.bias");
    CHECK(dec && enc);
    g.P[dec->offset] += 0.5f; /* the decoder changed: same latents */
    CHECK(pp_vae_checksum(&v) == s0 && pp_vae_checksum_whole(&v) != w0);
    CHECK(pp_vae_checksum_matches(&v, s0) && !pp_vae_checksum_matches(&v, w0));
    float keep = g.P[enc->offset];
    g.P[enc->offset] += 0.5f; /* the encoder changed */
    CHECK(pp_vae_checksum(&v) != s0 && !pp_vae_checksum_matches(&v, s0));
    g.P[enc->offset] = keep;
    CHECK(pp_vae_checksum(&v) == s0);
    v.m.cfg.latent_std[1] *= 2.0f; /* the normalisation changed */
    CHECK(pp_vae_checksum(&v) != s0);
    rig_free(&g);
}

/* the L1 and edge terms against their definitions (their kinks keep them out of the gradcheck) */
TEST(vae_train_step_loss_terms) {
    static const int mult[2] = {1, 2}, td[1] = {1};
    rig g;
    rig_make(&g, 4, 2, 2, mult, 1, td, 50);
    int T = 5, H = 6, W = 4;
    size_t nv = (size_t)3 * T * H * W;
    float *video = rand_video(T, H, W, 51), *rec = pp_alloc_floats(nv), *G = pp_zalloc_floats(g.t.total);
    pp_vae_loss_cfg lc = {.w_l1 = 1, .w_mse = 2, .w_edge = 3, .w_kl = 4, .sample = 0};
    pp_vae_losses lo;
    CHECK(pp_vae_train_step(&g.m, g.P, G, video, T, H, W, &lc, NULL, NULL, &lo, rec, NULL) == 0);
    double l1 = 0, mse = 0, eh = 0, ev = 0;
    for (size_t i = 0; i < nv; i++) l1 += fabs(rec[i] - video[i]), mse += pow(rec[i] - video[i], 2);
    for (int p = 0; p < 3 * T; p++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t i = ((size_t)p * H + y) * W + x;
                if (x + 1 < W) eh += fabs((rec[i + 1] - video[i + 1]) - (rec[i] - video[i]));
                if (y + 1 < H) ev += fabs((rec[i + W] - video[i + W]) - (rec[i] - video[i]));
            }
    CHECK_NEAR(lo.l1, l1 / nv, 1e-5);
    CHECK_NEAR(lo.mse, mse / nv, 1e-5);
    CHECK_NEAR(lo.edge, eh / (3.0 * T * H * (W - 1)) + ev / (3.0 * T * (H - 1) * W), 1e-5);
    CHECK_NEAR(lo.loss, lo.l1 + 2 * lo.mse + 3 * lo.edge + 4 * lo.kl, 1e-5);
    /* z = mu (no sampling): the reconstruction is the decode of mu */
    float *enc = pp_alloc_floats((size_t)2 * 2 * pp_vae_latent_frames(&g.m, T) * (H / 2) * (W / 2)), *r2 = pp_alloc_floats(nv);
    CHECK(pp_vae_forward_whole(&g.m, g.P, video, T, H, W, enc, NULL, NULL) == 0);
    CHECK(pp_vae_forward_whole(&g.m, g.P, video, T, H, W, NULL, enc, r2) == 0);
    CHECK(pp_rel_err(rec, r2, nv) < 1e-6);
    pp_free_aligned(video), pp_free_aligned(rec), pp_free_aligned(G), pp_free_aligned(enc), pp_free_aligned(r2);
    rig_free(&g);
}

/* ---------------- memory ---------------- */

static double rss_hwm_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double mb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) mb = atof(line + 6) / 1024.0;
    if (f) fclose(f);
    return mb;
}

static int rss_hwm_reset(void) { /* Linux: writing 5 to clear_refs resets the peak RSS */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* decoding 33, 65 and 129 frames at 128x128 holds the same activations; the
 * process's peak RSS stays within 1.25x (a narrow variant of the small config
 * keeps the test fast: the activations scale with the width, not the length) */
TEST(vae_decode_memory_independent_of_length) {
    pp_vae_config sc;
    pp_vae_config_small(&sc);
    rig g;
    rig_make(&g, 4, sc.z_dim, sc.nlevels, sc.dim_mult, 1, sc.temporal_down, 60);
    int h = 16, w = 16, lens[3] = {33, 65, 129};
    size_t peak[3];
    double rss[3];
    float *z = pp_alloc_floats((size_t)sc.z_dim * h * w), *frames = pp_alloc_floats((size_t)4 * 3 * 128 * 128);
    pp_rng r;
    pp_rng_seed(&r, 61);
    int can_rss = 1;
#if defined(__SANITIZE_ADDRESS__)
    can_rss = 0; /* ASan's quarantine holds freed memory: RSS grows with every allocation */
#endif
    for (int k = 0; k < 3; k++) {
        can_rss &= rss_hwm_reset() == 0;
        pp_vae_dec *d = pp_vae_dec_new(&g.m, g.P, h, w);
        int t = pp_vae_latent_frames(&g.m, lens[k]), total = 0;
        for (int i = 0; i < t; i++) {
            int got;
            pp_rng_fill_normal(&r, z, (size_t)sc.z_dim * h * w, 1.0f);
            CHECK(pp_vae_dec_push(d, z, frames, &got) == 0);
            total += got;
        }
        CHECK(total == lens[k]);
        peak[k] = pp_vae_dec_peak_bytes(d);
        pp_vae_dec_free(d);
        rss[k] = rss_hwm_mb();
    }
    printf("      decode 33/65/129 frames: activations %.1f/%.1f/%.1f MB, peak RSS %.0f/%.0f/%.0f MB\n",
           peak[0] / 1048576.0, peak[1] / 1048576.0, peak[2] / 1048576.0, rss[0], rss[1], rss[2]);
    CHECK(peak[0] > 0 && peak[1] == peak[0] && peak[2] == peak[0]);
    if (can_rss) CHECK(rss[2] <= 1.25 * rss[0] && rss[1] <= 1.25 * rss[0]);
    pp_free_aligned(z), pp_free_aligned(frames);
    rig_free(&g);
}

/* ---------------- real files ---------------- */

/* The Wan2.1 config with random weights, written as BF16 and loaded back; decodes
 * one latent frame of 2x2 into a 16x16 frame. */
TEST(vae_wan21_bf16_file_loads_and_decodes) {
    pp_vae_config c;
    pp_vae_config_wan21(&c);
    pp_params t = {0};
    pp_vae m;
    CHECK(pp_vae_init(&m, &c, &t) == 0);
    float *P = pp_alloc_floats(t.total);
    pp_rng r;
    pp_rng_seed(&r, 70);
    pp_vae_init_weights(&m, P, &r);
    for (int i = 0; i < t.n; i++) /* non-zero attention projections */
        if (strstr(t.p[i].name, "proj.weight"))
            for (size_t k = 0; k < t.p[i].numel; k++) P[t.p[i].offset + k] = 0.02f * (pp_rng_uniform(&r) - 0.5f);
    const char *path = pp_test_path("wan21_vae_bf16.safetensors");
    CHECK_MSG(pp_vae_save(&m, &t, P, path, PP_BF16) == 0, "%s", pp_lasterr());
    /* expected: the same weights rounded to BF16; kept as a sum per tensor (one copy of
     * the 127M weights in memory at a time) */
    double *sum = pp_calloc((size_t)t.n, sizeof *sum);
    for (int i = 0; i < t.n; i++)
        for (size_t k = 0; k < t.p[i].numel; k++)
            sum[i] += (double)pp_bf16_to_f32(pp_f32_to_bf16(P[t.p[i].offset + k])) * (double)(k % 7 + 1);
    float *Q = P; /* loaded over the originals */
    memset(Q, 0, t.total * sizeof(float));
    CHECK_MSG(pp_vae_load(&m, &t, Q, path) == 0, "%s", pp_lasterr());
    int same = 1;
    for (int i = 0; i < t.n; i++) {
        double s = 0;
        for (size_t k = 0; k < t.p[i].numel; k++) s += (double)Q[t.p[i].offset + k] * (double)(k % 7 + 1);
        same &= s == sum[i];
    }
    CHECK(same);
    free(sum);
    float z[16 * 4], frame[3 * 16 * 16];
    for (int i = 0; i < 64; i++) z[i] = pp_rng_normal(&r);
    CHECK_MSG(pp_vae_decode(&m, Q, z, 16, 1, 2, 2, frame) == 0, "%s", pp_lasterr());
    int ok = 1;
    double s = 0;
    for (int i = 0; i < 3 * 256; i++) ok &= frame[i] >= -1 && frame[i] <= 1, s += fabs(frame[i]);
    CHECK(ok && s > 0);
    remove(path);
    pp_free_aligned(P);
    pp_vae_free(&m);
    pp_params_free(&t);
}

/* a small model's file: under Wan's keys, under diffusers' names, one missing, one misshapen */
static int write_variant(const rig *g, const char *path, int variant) {
    pp_st_writer *w = pp_st_writer_new();
    int rc = 0;
    for (int i = 0; i < g->t.n && !rc; i++) {
        const pp_param *p = &g->t.p[i];
        char alt[160];
        const char *name = p->name;
        int64_t shape[5];
        memcpy(shape, p->shape, sizeof shape);
        if (variant == 1 && pp_vae_diffusers_name(&g->m, p->name, alt, sizeof alt) == 0) name = alt;
        if (variant == 2 && !strcmp(p->name, "decoder.head.2.weight")) continue;
        if (variant == 3 && !strcmp(p->name, "encoder.middle.1.to_qkv.weight")) shape[0] -= 1;
        rc = pp_st_add_f32(w, name, PP_F32, p->ndim, shape, g->P + p->offset);
    }
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

TEST(vae_loader_names_and_errors) {
    static const int mult[2] = {1, 2}, td[1] = {1};
    rig g;
    rig_make(&g, 4, 2, 2, mult, 1, td, 80);
    float *Q = pp_zalloc_floats(g.t.total);
    const char *path = pp_test_path("vae_small.safetensors");
    for (int v = 0; v < 4; v++) {
        CHECK(write_variant(&g, path, v) == 0);
        int rc = pp_vae_load(&g.m, &g.t, Q, path);
        if (v < 2) {
            CHECK_MSG(rc == 0, "variant %d: %s", v, pp_lasterr());
            CHECK(memcmp(Q, g.P, g.t.total * sizeof(float)) == 0);
        } else {
            CHECK(rc == -1);
            const char *e = pp_lasterr();
            CHECK_MSG(strstr(e, path) != NULL, "%s", e);
            if (v == 2) CHECK_MSG(strstr(e, "missing tensor 'decoder.head.2.weight'") && strstr(e, "decoder.conv_out.weight"), "%s", e);
            if (v == 3) CHECK_MSG(strstr(e, "encoder.middle.1.to_qkv.weight") && strstr(e, "shape"), "%s", e);
        }
    }
    remove(path);
    pp_free_aligned(Q);
    rig_free(&g);
}

TEST(vae_bad_inputs_one_clear_error) {
    static const int mult[4] = {1, 2, 2, 2}, td[3] = {0, 1, 1};
    rig g;
    rig_make(&g, 4, 4, 4, mult, 1, td, 90);
    float *buf = pp_zalloc_floats((size_t)3 * 13 * 24 * 24);
    CHECK(pp_vae_encode(&g.m, g.P, buf, 8, 16, 16, buf, NULL) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "8 frames") && strstr(pp_lasterr(), "1+4k"), "%s", pp_lasterr());
    CHECK(pp_vae_encode(&g.m, g.P, buf, 5, 20, 16, buf, NULL) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "16x20") && strstr(pp_lasterr(), "multiples of 8"), "%s", pp_lasterr());
    CHECK(pp_vae_decode(&g.m, g.P, buf, 16, 2, 2, 2, buf) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "16 channels") && strstr(pp_lasterr(), "z_dim is 4"), "%s", pp_lasterr());
    CHECK(pp_vae_decode(&g.m, g.P, buf, 4, 0, 2, 2, buf) == -1);
    CHECK(pp_vae_train_step(&g.m, g.P, buf, buf, 6, 16, 16, &(pp_vae_loss_cfg){.w_mse = 1}, NULL, NULL, NULL,
                            NULL, NULL) == -1);
    CHECK(strstr(pp_lasterr(), "6 frames") != NULL);
    pp_vae_enc *e = pp_vae_enc_new(&g.m, g.P, 16, 16);
    int n;
    CHECK(pp_vae_enc_push(e, buf, 4, buf, NULL, &n) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "first push takes 1 frame, got 4"), "%s", pp_lasterr());
    CHECK(pp_vae_enc_push(e, buf, 1, buf, NULL, &n) == 0 && n == 1);
    CHECK(pp_vae_enc_push(e, buf, 3, buf, NULL, &n) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "takes 4 frames, got 3"), "%s", pp_lasterr());
    pp_vae_enc_free(e);
    CHECK(pp_vae_enc_new(&g.m, g.P, 12, 16) == NULL);
    /* a frame too large for the conv's offsets is refused before any allocation */
    pp_vae_config big;
    static const int m1[1] = {1};
    pp_vae_config_make(&big, 1024, 4, 1, m1, 1, NULL);
    pp_params tb = {0};
    pp_vae mb;
    CHECK(pp_vae_init(&mb, &big, &tb) == 0);
    CHECK(pp_vae_check_video(&mb, 1, 2048, 1024) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "too large") != NULL, "%s", pp_lasterr());
    CHECK(pp_vae_check_video(&mb, 1, 512, 512) == 0);
    pp_vae_free(&mb);
    pp_params_free(&tb);
    /* configs */
    pp_vae_config c;
    static const int td3[3] = {1, 1, 1};
    pp_vae_config_make(&c, 8, 4, 4, mult, 1, td3);
    CHECK(pp_vae_config_check(&c) == -1 && strstr(pp_lasterr(), "3 temporal downsamples"));
    pp_vae_config_make(&c, 8, 4, 4, mult, 1, td);
    c.latent_std[2] = 0;
    CHECK(pp_vae_config_check(&c) == -1 && strstr(pp_lasterr(), "std[2]"));
    pp_free_aligned(buf);
    rig_free(&g);
}
