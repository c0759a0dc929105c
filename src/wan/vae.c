/* vae.c - the VAE's config, parameter layout under Wan's keys, init, FLOP count,
 * size rules, and the safetensors loader (Wan's or diffusers' names) and saver. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "wan/vae_file.h"
#include "wan/vae_impl.h"

/* ------------------------------------------------------------------ config */

static const float WAN_MEAN[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,
                                   -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f,  -0.3632f,
                                   -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
static const float WAN_STD[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f,
                                  2.6052f, 2.0743f, 3.2687f, 2.1526f, 2.8652f, 1.5579f,
                                  1.6382f, 1.1253f, 2.8251f, 1.9160f};

void pp_vae_config_make(pp_vae_config *c, int dim, int z_dim, int nlevels, const int *dim_mult,
                        int num_res_blocks, const int *temporal_down) {
    memset(c, 0, sizeof *c);
    c->dim = dim, c->z_dim = z_dim, c->nlevels = nlevels, c->num_res_blocks = num_res_blocks;
    for (int i = 0; i < nlevels && i < PP_VAE_MAX_LEVELS; i++) c->dim_mult[i] = dim_mult[i];
    for (int i = 0; i + 1 < nlevels && i < PP_VAE_MAX_LEVELS - 1; i++)
        c->temporal_down[i] = temporal_down ? temporal_down[i] : 0;
    for (int i = 0; i < PP_VAE_MAX_Z; i++) c->latent_std[i] = 1.0f;
}

void pp_vae_config_wan21(pp_vae_config *c) {
    static const int mult[4] = {1, 2, 4, 4}, td[3] = {0, 1, 1};
    pp_vae_config_make(c, 96, 16, 4, mult, 2, td);
    memcpy(c->latent_mean, WAN_MEAN, sizeof WAN_MEAN);
    memcpy(c->latent_std, WAN_STD, sizeof WAN_STD);
}

void pp_vae_config_small(pp_vae_config *c) {
    static const int mult[4] = {1, 2, 4, 4}, td[3] = {0, 1, 1};
    pp_vae_config_make(c, 16, 16, 4, mult, 2, td);
}

int pp_vae_config_check(const pp_vae_config *c) {
    if (c->nlevels < 1 || c->nlevels > PP_VAE_MAX_LEVELS)
        PP_FAIL("vae config: %d levels (1 to %d)", c->nlevels, PP_VAE_MAX_LEVELS);
    if (c->dim < 1 || c->dim > 1024) PP_FAIL("vae config: dim %d (1 to 1024)", c->dim);
    if (c->z_dim < 1 || c->z_dim > PP_VAE_MAX_Z) PP_FAIL("vae config: z_dim %d (1 to %d)", c->z_dim, PP_VAE_MAX_Z);
    if (c->num_res_blocks < 1 || c->num_res_blocks > 8)
        PP_FAIL("vae config: num_res_blocks %d (1 to 8)", c->num_res_blocks);
    int nt = 0;
    for (int i = 0; i < c->nlevels; i++) {
        if (c->dim_mult[i] < 1 || c->dim * c->dim_mult[i] > 4096)
            PP_FAIL("vae config: dim_mult[%d] = %d gives %d channels (1 to 4096)", i, c->dim_mult[i],
                    c->dim * c->dim_mult[i]);
        if (i + 1 < c->nlevels) nt += c->temporal_down[i] != 0;
    }
    if (nt > 2)
        PP_FAIL("vae config: %d temporal downsamples; at most 2 (the encoder takes 4 frames per chunk)", nt);
    /* the decoder's upsamplers halve the channels of every level but the last */
    for (int i = 0; i + 1 < c->nlevels; i++) {
        int ch = c->dim * c->dim_mult[c->nlevels - 1 - i];
        if (ch % 2) PP_FAIL("vae config: decoder level %d has %d channels; an upsampler needs an even count", i, ch);
    }
    for (int i = 0; i < c->z_dim; i++)
        if (!(c->latent_std[i] > 0) || !isfinite(c->latent_std[i]) || !isfinite(c->latent_mean[i]))
            PP_FAIL("vae config: latent std[%d] = %g must be finite and > 0 (mean %g finite)", i, c->latent_std[i],
                    c->latent_mean[i]);
    return 0;
}

/* ------------------------------------------------------------------ layout */

static vae_conv conv_add(pp_params *t, const char *name, int cin, int cout, int kt, int k, int st,
                         pp_conv_mode mode, int as2d) {
    vae_conv c = {0, 0, cin, cout, kt, k, st, mode};
    if (as2d) c.w = pp_params_addf(t, 4, cout, cin, k, k, 0, "%s.weight", name);
    else c.w = pp_params_addf(t, 5, cout, cin, kt, k, k, "%s.weight", name);
    c.b = pp_params_addf(t, 1, cout, 0, 0, 0, 0, "%s.bias", name);
    return c;
}

static size_t gamma_add(pp_params *t, const char *name, int c, int images) {
    if (images) return pp_params_addf(t, 3, c, 1, 1, 0, 0, "%s.gamma", name);
    return pp_params_addf(t, 4, c, 1, 1, 1, 0, "%s.gamma", name);
}

static pp_vae_unit *unit_named(pp_vae_unit **list, int *n, vae_kind kind, const char *name) {
    *list = pp_realloc(*list, (size_t)(*n + 1) * sizeof **list);
    pp_vae_unit *u = &(*list)[(*n)++];
    memset(u, 0, sizeof *u);
    u->kind = kind;
    snprintf(u->name, sizeof u->name, "%s", name);
    return u;
}

/* fmt has one %d, the unit's index */
static pp_vae_unit *unit_new(pp_vae_unit **list, int *n, vae_kind kind, const char *fmt, int idx) {
    char name[64];
    snprintf(name, sizeof name, fmt, idx);
    return unit_named(list, n, kind, name);
}

static void res_add(pp_vae_unit **list, int *n, pp_params *t, const char *fmt, int idx, int cin, int cout) {
    pp_vae_unit *u = unit_new(list, n, VU_RES, fmt, idx);
    char nm[96];
    u->cin = cin, u->cout = cout;
    snprintf(nm, sizeof nm, "%s.residual.0", u->name);
    u->g1 = gamma_add(t, nm, cin, 0);
    snprintf(nm, sizeof nm, "%s.residual.2", u->name);
    u->c1 = conv_add(t, nm, cin, cout, 3, 3, 1, PP_CONV_SAME, 0);
    snprintf(nm, sizeof nm, "%s.residual.3", u->name);
    u->g2 = gamma_add(t, nm, cout, 0);
    snprintf(nm, sizeof nm, "%s.residual.6", u->name);
    u->c2 = conv_add(t, nm, cout, cout, 3, 3, 1, PP_CONV_SAME, 0);
    u->has_sc = cin != cout;
    if (u->has_sc) {
        snprintf(nm, sizeof nm, "%s.shortcut", u->name);
        u->sc = conv_add(t, nm, cin, cout, 1, 1, 1, PP_CONV_SAME, 0);
    }
}

static void middle_add(pp_vae_unit **list, int *n, pp_params *t, const char *part, int c) {
    char fmt[64], nm[96];
    snprintf(fmt, sizeof fmt, "%s.middle.%%d", part);
    res_add(list, n, t, fmt, 0, c, c);
    pp_vae_unit *u = unit_new(list, n, VU_ATTN, fmt, 1);
    u->cin = u->cout = c;
    snprintf(nm, sizeof nm, "%s.norm", u->name);
    u->g1 = gamma_add(t, nm, c, 1);
    snprintf(nm, sizeof nm, "%s.to_qkv", u->name);
    u->qkv = conv_add(t, nm, c, 3 * c, 1, 1, 1, PP_CONV_SAME, 1);
    snprintf(nm, sizeof nm, "%s.proj", u->name);
    u->proj = conv_add(t, nm, c, c, 1, 1, 1, PP_CONV_SAME, 1);
    res_add(list, n, t, fmt, 2, c, c);
}

static void head_add(pp_vae_unit **list, int *n, pp_params *t, const char *part, int cin, int cout) {
    char fmt[64], nm[96];
    snprintf(fmt, sizeof fmt, "%s.head", part);
    pp_vae_unit *u = unit_named(list, n, VU_HEAD, fmt);
    u->cin = cin, u->cout = cout;
    snprintf(nm, sizeof nm, "%s.0", u->name);
    u->g1 = gamma_add(t, nm, cin, 0);
    snprintf(nm, sizeof nm, "%s.2", u->name);
    u->c1 = conv_add(t, nm, cin, cout, 3, 3, 1, PP_CONV_SAME, 0);
}

static void conv_unit_add(pp_vae_unit **list, int *n, pp_params *t, const char *name, int cin, int cout, int k) {
    pp_vae_unit *u = unit_named(list, n, VU_CONV, name);
    u->cin = cin, u->cout = cout;
    u->c1 = conv_add(t, name, cin, cout, k, k, 1, PP_CONV_SAME, 0);
}

static void resample_add(pp_vae_unit **list, int *n, pp_params *t, const char *fmt, int idx, int c, int up,
                         int temporal) {
    pp_vae_unit *u = unit_new(list, n, up ? VU_UP : VU_DOWN, fmt, idx);
    char nm[96];
    u->cin = c, u->cout = up ? c / 2 : c, u->temporal = temporal;
    snprintf(nm, sizeof nm, "%s.resample.1", u->name);
    u->c1 = conv_add(t, nm, c, u->cout, 1, 3, 1, up ? PP_CONV_UP2 : PP_CONV_DOWN2, 1);
    if (temporal) {
        snprintf(nm, sizeof nm, "%s.time_conv", u->name);
        u->tc = conv_add(t, nm, c, up ? 2 * c : c, 3, 1, up ? 1 : 2, PP_CONV_SAME, 0);
    }
}

int pp_vae_init(pp_vae *m, const pp_vae_config *cfg, pp_params *t) {
    if (pp_vae_config_check(cfg)) return -1;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int L = cfg->nlevels, nr = cfg->num_res_blocks, D = cfg->dim, z = cfg->z_dim;
    int dims[PP_VAE_MAX_LEVELS + 1];
    dims[0] = D;
    for (int i = 0; i < L; i++) dims[i + 1] = D * cfg->dim_mult[i];
    m->sdown = 1 << (L - 1);
    for (int i = 0; i + 1 < L; i++) m->nt += cfg->temporal_down[i] != 0;
    /* encoder */
    conv_unit_add(&m->enc, &m->nenc, t, "encoder.conv1", 3, dims[0], 3);
    int idx = 0;
    for (int i = 0; i < L; i++) {
        int in = dims[i], out = dims[i + 1];
        for (int r = 0; r < nr; r++, in = out)
            res_add(&m->enc, &m->nenc, t, "encoder.downsamples.%d", idx++, in, out);
        if (i != L - 1)
            resample_add(&m->enc, &m->nenc, t, "encoder.downsamples.%d", idx++, out, 0, cfg->temporal_down[i]);
    }
    middle_add(&m->enc, &m->nenc, t, "encoder", dims[L]);
    head_add(&m->enc, &m->nenc, t, "encoder", dims[L], 2 * z);
    conv_unit_add(&m->enc, &m->nenc, t, "conv1", 2 * z, 2 * z, 1);
    /* decoder: dims dim * [mult[-1], mult reversed]; level i > 0 takes the upsampler's C/2 */
    int dd[PP_VAE_MAX_LEVELS + 1];
    dd[0] = D * cfg->dim_mult[L - 1];
    for (int i = 0; i < L; i++) dd[i + 1] = D * cfg->dim_mult[L - 1 - i];
    conv_unit_add(&m->dec, &m->ndec, t, "conv2", z, z, 1);
    conv_unit_add(&m->dec, &m->ndec, t, "decoder.conv1", z, dd[0], 3);
    middle_add(&m->dec, &m->ndec, t, "decoder", dd[0]);
    idx = 0;
    for (int i = 0; i < L; i++) {
        int in = i > 0 ? dd[i] / 2 : dd[i], out = dd[i + 1];
        for (int r = 0; r < nr + 1; r++, in = out)
            res_add(&m->dec, &m->ndec, t, "decoder.upsamples.%d", idx++, in, out);
        if (i != L - 1)
            resample_add(&m->dec, &m->ndec, t, "decoder.upsamples.%d", idx++, out, 1,
                         cfg->temporal_down[L - 2 - i]);
    }
    head_add(&m->dec, &m->ndec, t, "decoder", dd[L], 3);
    return 0;
}

void pp_vae_free(pp_vae *m) {
    free(m->enc), free(m->dec);
    m->enc = m->dec = NULL;
    m->nenc = m->ndec = 0;
}

/* ------------------------------------------------------------------ init */

static void init_conv(float *P, const vae_conv *c, pp_rng *r) {
    if (!c->cout) return;
    size_t fan = (size_t)c->cin * c->kt * c->k * c->k, n = fan * c->cout;
    float bound = 1.0f / sqrtf((float)fan);
    for (size_t i = 0; i < n; i++) P[c->w + i] = bound * (2.0f * pp_rng_uniform(r) - 1.0f);
    memset(P + c->b, 0, (size_t)c->cout * sizeof(float));
}

static void fill1(float *p, int n) {
    for (int i = 0; i < n; i++) p[i] = 1.0f;
}

/* a resampler's time convolution [cout, cin, 3, 1, 1] as Wan's training code sets it
 * (Resample.init_weight / init_weight2): output channel o copies input channel
 * o mod cin at one tap, bias 0. The 3D downsampler passes its middle frame through,
 * the 3D upsampler copies its newest frame into both of its output frames, so an
 * untrained VAE starts as a per-frame one in time instead of scrambling frames */
static void init_time_identity(float *P, const vae_conv *c, int tap) {
    if (!c->cout || c->k != 1 || tap >= c->kt) return;
    memset(P + c->w, 0, (size_t)c->cout * c->cin * c->kt * sizeof(float));
    for (int o = 0; o < c->cout; o++) P[c->w + ((size_t)o * c->cin + o % c->cin) * c->kt + tap] = 1.0f;
}

static void time_identity_units(const pp_vae_unit *u, int n, float *P) {
    for (int i = 0; i < n; i++, u++)
        if (u->temporal) init_time_identity(P, &u->tc, u->kind == VU_DOWN ? 1 : u->tc.kt - 1);
}

static void init_units(const pp_vae_unit *u, int n, float *P, pp_rng *r) {
    for (int i = 0; i < n; i++, u++) {
        init_conv(P, &u->c1, r), init_conv(P, &u->c2, r), init_conv(P, &u->sc, r);
        init_conv(P, &u->tc, r), init_conv(P, &u->qkv, r), init_conv(P, &u->proj, r);
        if (u->kind == VU_RES) fill1(P + u->g1, u->cin), fill1(P + u->g2, u->cout);
        if (u->kind == VU_HEAD || u->kind == VU_ATTN) fill1(P + u->g1, u->cin);
        if (u->kind == VU_ATTN) { /* Wan zero-initialises the output projection */
            memset(P + u->proj.w, 0, (size_t)u->cin * u->cin * sizeof(float));
            memset(P + u->proj.b, 0, (size_t)u->cin * sizeof(float));
        }
    }
}

void pp_vae_init_weights(const pp_vae *m, float *P, pp_rng *r) {
    init_units(m->enc, m->nenc, P, r);
    init_units(m->dec, m->ndec, P, r);
    time_identity_units(m->enc, m->nenc, P), time_identity_units(m->dec, m->ndec, P);
    /* conv1's log-variance half starts at -6 (posterior std 0.05): trained from
     * scratch, the decoder does not begin on unit-variance noise */
    const pp_vae_unit *q = &m->enc[m->nenc - 1];
    for (int c = m->cfg.z_dim; c < 2 * m->cfg.z_dim; c++) P[q->c1.b + c] = -6.0f;
}

static void zero_older_taps(float *P, const vae_conv *c) {
    if (!c->cout || c->kt != 3 || c->k != 3) return;
    size_t plane = (size_t)c->k * c->k; /* weight [cout, cin, kt, k, k] */
    for (size_t oi = 0; oi < (size_t)c->cout * c->cin; oi++)
        memset(P + c->w + oi * 3 * plane, 0, 2 * plane * sizeof(float));
}

static void per_frame_units(const pp_vae_unit *u, int n, float *P) {
    for (int i = 0; i < n; i++, u++) zero_older_taps(P, &u->c1), zero_older_taps(P, &u->c2);
}

int pp_vae_encoder_side(const char *name) {
    return !strncmp(name, "encoder.", 8) || !strncmp(name, "conv1.", 6);
}

void pp_vae_init_per_frame(const pp_vae *m, float *P, int time_convs) {
    per_frame_units(m->enc, m->nenc, P);
    per_frame_units(m->dec, m->ndec, P);
    if (time_convs) time_identity_units(m->enc, m->nenc, P), time_identity_units(m->dec, m->ndec, P);
}

/* ------------------------------------------------------------------ FLOPs */

static double conv_flops(const vae_conv *c, int To, int ho, int wo) {
    return 2.0 * c->cout * c->cin * c->kt * c->k * c->k * (double)ho * wo * To;
}

/* walks the units over a whole clip of t frames at h x w */
static double units_flops(const pp_vae_unit *u, int n, int t, int h, int w) {
    double f = 0;
    for (int i = 0; i < n; i++, u++) {
        switch (u->kind) {
        case VU_RES:
            f += conv_flops(&u->c1, t, h, w) + conv_flops(&u->c2, t, h, w);
            if (u->has_sc) f += conv_flops(&u->sc, t, h, w);
            break;
        case VU_ATTN: {
            double N = (double)h * w, C = u->cin;
            f += t * (2 * N * C * 4 * C + 4 * N * N * C);
            break;
        }
        case VU_DOWN:
            h /= 2, w /= 2;
            f += conv_flops(&u->c1, t, h, w);
            if (u->temporal) f += conv_flops(&u->tc, (t - 1) / 2, h, w), t = 1 + (t - 1) / 2;
            break;
        case VU_UP:
            if (u->temporal) f += conv_flops(&u->tc, t - 1, h, w), t = 1 + 2 * (t - 1);
            h *= 2, w *= 2;
            f += conv_flops(&u->c1, t, h, w);
            break;
        default: f += conv_flops(&u->c1, t, h, w); break;
        }
    }
    return f;
}

double pp_vae_encode_flops(const pp_vae *m, int T, int H, int W) { return units_flops(m->enc, m->nenc, T, H, W); }

double pp_vae_decode_flops(const pp_vae *m, int T, int H, int W) {
    return units_flops(m->dec, m->ndec, pp_vae_latent_frames(m, T), H / m->sdown, W / m->sdown);
}

/* ------------------------------------------------------------------ size rules */

/* every conv of the units at its frame size passes pp_conv_check (whose int
 * offsets bound a frame's size) */
static int units_fit(const pp_vae_unit *u, int n, int h, int w) {
    for (int i = 0; i < n; i++, u++) {
        const vae_conv *cv[4] = {&u->c1, &u->c2, &u->sc, &u->tc};
        int ho = h, wo = w;
        for (int k = 0; k < 4; k++) {
            if (!cv[k]->cout) continue;
            /* time_conv of an upsampler runs before the spatial conv, at the input size */
            pp_conv_shape s = {.cin = cv[k]->cin, .cout = cv[k]->cout, .kt = cv[k]->kt, .kh = cv[k]->k,
                               .kw = cv[k]->k, .st = cv[k]->st, .mode = cv[k]->mode, .h = h, .w = w};
            if (u->kind == VU_DOWN && k == 3) s.h = h / 2, s.w = w / 2;
            int a, b;
            if (pp_conv_check(&s, &a, &b)) return -1;
            if (k == 0) ho = a, wo = b;
        }
        if (u->kind == VU_ATTN && (size_t)u->cin * h * w >= ((size_t)1 << 31))
            PP_FAIL("attention over %dx%d positions of %d channels is too large", w, h, u->cin);
        h = ho, w = wo;
    }
    return 0;
}

#define MAX_SIDE 16384
#define MAX_FRAMES (1 << 20)

int pp_vae_latent_frames(const pp_vae *m, int T) { return 1 + (T - 1) / 4 * (4 >> m->nt); }
int pp_vae_video_frames(const pp_vae *m, int t) { return 1 + (t - 1) * (1 << m->nt); }

int pp_vae_check_video(const pp_vae *m, int T, int H, int W) {
    if (T < 1 || T > MAX_FRAMES || (T - 1) % 4)
        PP_FAIL("video has %d frames; the VAE takes 1+4k frames (1, 5, 9, 13, ...)", T);
    if (H < 1 || W < 1 || H > MAX_SIDE || W > MAX_SIDE || H % m->sdown || W % m->sdown)
        PP_FAIL("video size %dx%d: height and width must be positive multiples of %d (at most %d)", W, H,
                m->sdown, MAX_SIDE);
    if (units_fit(m->enc, m->nenc, H, W) || units_fit(m->dec, m->ndec, H / m->sdown, W / m->sdown)) {
        char why[256];
        snprintf(why, sizeof why, "%s", pp_lasterr());
        PP_FAIL("video size %dx%d is too large for this VAE (%s)", W, H, why);
    }
    return 0;
}

int pp_vae_check_latent(const pp_vae *m, int C, int t, int h, int w) {
    if (C != m->cfg.z_dim) PP_FAIL("latent has %d channels; the VAE's z_dim is %d", C, m->cfg.z_dim);
    if (t < 1 || t > MAX_FRAMES) PP_FAIL("latent has %d frames (at least 1)", t);
    if (h < 1 || w < 1 || h > MAX_SIDE / m->sdown || w > MAX_SIDE / m->sdown)
        PP_FAIL("latent size %dx%d (1 to %d)", w, h, MAX_SIDE / m->sdown);
    if (units_fit(m->dec, m->ndec, h, w)) {
        char why[256];
        snprintf(why, sizeof why, "%s", pp_lasterr());
        PP_FAIL("latent size %dx%d is too large for this VAE (%s)", w, h, why);
    }
    return 0;
}

/* ------------------------------------------------------------------ names */

/* residual-block suffix in diffusers' spelling; NULL if not one */
static const char *res_suffix(const char *s, char *buf, size_t size) {
    static const char *map[][2] = {{"residual.0.", "norm1."}, {"residual.2.", "conv1."}, {"residual.3.", "norm2."},
                                   {"residual.6.", "conv2."}, {"shortcut.", "conv_shortcut."}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        size_t n = strlen(map[i][0]);
        if (!strncmp(s, map[i][0], n)) {
            snprintf(buf, size, "%s%s", map[i][1], s + n);
            return buf;
        }
    }
    return NULL;
}

int pp_vae_diffusers_name(const pp_vae *m, const char *wan, char *out, size_t size) {
    char rs[96];
    const char *p;
    int n, k;
    if (!strncmp(wan, "conv1.", 6)) return snprintf(out, size, "quant_conv.%s", wan + 6), 0;
    if (!strncmp(wan, "conv2.", 6)) return snprintf(out, size, "post_quant_conv.%s", wan + 6), 0;
    const char *part = !strncmp(wan, "encoder.", 8) ? "encoder" : !strncmp(wan, "decoder.", 8) ? "decoder" : NULL;
    if (!part) return -1;
    p = wan + 8;
    if (!strncmp(p, "conv1.", 6)) return snprintf(out, size, "%s.conv_in.%s", part, p + 6), 0;
    if (!strncmp(p, "head.0.", 7)) return snprintf(out, size, "%s.norm_out.%s", part, p + 7), 0;
    if (!strncmp(p, "head.2.", 7)) return snprintf(out, size, "%s.conv_out.%s", part, p + 7), 0;
    if (sscanf(p, "middle.%d.%n", &n, &k) == 1 && k > 0) {
        if (n == 1) return snprintf(out, size, "%s.mid_block.attentions.0.%s", part, p + k), 0;
        if ((n == 0 || n == 2) && res_suffix(p + k, rs, sizeof rs))
            return snprintf(out, size, "%s.mid_block.resnets.%d.%s", part, n / 2, rs), 0;
        return -1;
    }
    if (sscanf(p, "downsamples.%d.%n", &n, &k) == 1 && k > 0) {
        const char *s = res_suffix(p + k, rs, sizeof rs);
        return snprintf(out, size, "encoder.down_blocks.%d.%s", n, s ? s : p + k), 0;
    }
    if (sscanf(p, "upsamples.%d.%n", &n, &k) == 1 && k > 0) {
        int per = m->cfg.num_res_blocks + 2, blk = n / per, j = n % per;
        if (j < per - 1) {
            if (!res_suffix(p + k, rs, sizeof rs)) return -1;
            return snprintf(out, size, "decoder.up_blocks.%d.resnets.%d.%s", blk, j, rs), 0;
        }
        return snprintf(out, size, "decoder.up_blocks.%d.upsamplers.0.%s", blk, p + k), 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ load / save */

int pp_vae_load(const pp_vae *m, const pp_params *t, float *P, const char *path) {
    pp_st_file f;
    if (pp_st_open(&f, path)) return -1;
    int rc = 0;
    for (int i = 0; i < t->n && !rc; i++) {
        const pp_param *p = &t->p[i];
        char alt[160];
        const char *name = p->name;
        if (!pp_st_find(&f, name)) {
            if (pp_vae_diffusers_name(m, p->name, alt, sizeof alt) == 0 && pp_st_find(&f, alt)) {
                name = alt;
            } else {
                if (pp_vae_diffusers_name(m, p->name, alt, sizeof alt))
                    pp_seterr("%s: missing tensor '%s'", path, p->name);
                else
                    pp_seterr("%s: missing tensor '%s' (diffusers: '%s')", path, p->name, alt);
                rc = -1;
                break;
            }
        }
        if (P) {
            rc = pp_st_load_f32(&f, name, P + p->offset, p->ndim, p->shape);
        } else { /* a check of names, shapes and dtypes alone */
            const pp_st_tensor *x;
            rc = pp_st_expect(&f, name, p->ndim, p->shape, &x);
            if (!rc && !pp_dtype_is_float(x->dtype))
                rc = -1, pp_seterr("%s: tensor '%s' has dtype %s, not a float type", path, name, pp_dtype_name(x->dtype));
        }
    }
    pp_st_close(&f);
    return rc;
}

int pp_vae_save(const pp_vae *m, const pp_params *t, const float *P, const char *path, int dtype) {
    if (dtype != PP_F32 && dtype != PP_F16 && dtype != PP_BF16)
        PP_FAIL("%s: the VAE is saved as F32, F16 or BF16", path);
    pp_st_writer *w = pp_st_writer_new();
    int rc = pp_vae_add_to_writer(m, t, P, w, dtype);
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}
