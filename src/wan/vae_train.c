/* vae_train.c - the whole-clip training pass: encoder and decoder forward keeping
 * activations, the loss (L1, MSE, edge, KL) and the backward into every parameter. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "wan/vae_impl.h"

/* channel-first [C,T,N] <-> frame-major [T,C,N] */
static void cf_to_fm(float *dst, const float *src, int C, int T, size_t N) {
    for (int c = 0; c < C; c++)
        for (int t = 0; t < T; t++)
            memcpy(dst + ((size_t)t * C + c) * N, src + ((size_t)c * T + t) * N, N * sizeof(float));
}

static void fm_to_cf(float *dst, const float *src, int C, int T, size_t N, int add) {
    for (int c = 0; c < C; c++)
        for (int t = 0; t < T; t++) {
            float *d = dst + ((size_t)c * T + t) * N;
            const float *s = src + ((size_t)t * C + c) * N;
            if (add)
                for (size_t q = 0; q < N; q++) d[q] += s[q];
            else
                memcpy(d, s, N * sizeof(float));
        }
}

/* forward over a whole clip; acts[i] keeps unit i's activations (NULL: keep none) */
static vt whole_fwd(const pp_vae_unit *u, int n, const float *P, const vt *x, vae_acts *acts) {
    vt cur = *x;
    for (int i = 0; i < n; i++) {
        vt y = pp_vae_unit_forward(&u[i], P, &cur, NULL, acts ? &acts[i] : NULL);
        if (!acts && i > 0) pp_vt_free(&cur);
        cur = y;
    }
    return cur;
}

/* backward from dy (consumed) to the units' input: returns d/dx (zeros-initialised,
 * accumulated), or nothing when want_dx = 0 */
static vt whole_bwd(const pp_vae_unit *u, int n, const float *P, float *G, const vae_acts *acts, vt dy,
                    int want_dx) {
    for (int i = n - 1; i >= 0; i--) {
        const vt *in = &acts[i].in;
        vt dx = {NULL, in->t, in->c, in->h, in->w};
        if (i > 0 || want_dx) {
            dx = pp_vt_new(in->t, in->c, in->h, in->w);
            memset(dx.d, 0, vt_numel(&dx) * sizeof(float));
        }
        pp_vae_unit_backward(&u[i], P, G, &acts[i], &dy, &dx);
        pp_vt_free(&dy);
        dy = dx;
    }
    return dy;
}

static void acts_free(const pp_vae_unit *u, int n, vae_acts *a) {
    for (int i = 0; i < n; i++) pp_vae_acts_free(&u[i], &a[i]);
    free(a);
}

int pp_vae_forward_whole(const pp_vae *m, const float *P, const float *video, int T, int H, int W,
                         float *enc, const float *z, float *rec) {
    if (pp_vae_check_video(m, T, H, W)) return -1;
    int t = pp_vae_latent_frames(m, T), h = H / m->sdown, w = W / m->sdown, zd = m->cfg.z_dim;
    if (enc) {
        vt x = pp_vt_new(T, 3, H, W);
        cf_to_fm(x.d, video, 3, T, (size_t)H * W);
        vt e = whole_fwd(m->enc, m->nenc, P, &x, NULL);
        fm_to_cf(enc, e.d, 2 * zd, t, (size_t)h * w, 0);
        pp_vt_free(&e), pp_vt_free(&x);
    }
    if (rec) {
        vt x = pp_vt_new(t, zd, h, w);
        cf_to_fm(x.d, z, zd, t, (size_t)h * w);
        vt r = whole_fwd(m->dec, m->ndec, P, &x, NULL);
        fm_to_cf(rec, r.d, 3, T, (size_t)H * W, 0);
        pp_vt_free(&r), pp_vt_free(&x);
    }
    pp_vae_buffers_release();
    return 0;
}

#define LV_MIN -30.0f /* the posterior's log-variance clamp (diffusers' DiagonalGaussianDistribution) */
#define LV_MAX 20.0f

static inline float sgn(float v) { return (float)((v > 0) - (v < 0)); }

/* per-pixel weights [T,H,W] of frame-major x [T,3,H,W]: 1 + w_fg on pixels within one
 * pixel (3x3) of one with a channel below PP_VAE_FG_LEVEL, else 1 */
static float *fg_weights(const vt *x, float w_fg) {
    int H = x->h, W = x->w;
    size_t N = (size_t)H * W;
    float *wt = pp_malloc((size_t)x->t * N * sizeof *wt);
    unsigned char *fg = pp_malloc(N);
    for (int f = 0; f < x->t; f++) {
        const float *px = x->d + (size_t)f * 3 * N;
        for (size_t q = 0; q < N; q++)
            fg[q] = px[q] < PP_VAE_FG_LEVEL || px[N + q] < PP_VAE_FG_LEVEL || px[2 * N + q] < PP_VAE_FG_LEVEL;
        float *w = wt + (size_t)f * N;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                int any = 0;
                for (int dy = -1; dy <= 1 && !any; dy++)
                    for (int dx = -1; dx <= 1 && !any; dx++) {
                        int yy = y + dy, x2 = xx + dx;
                        any = yy >= 0 && yy < H && x2 >= 0 && x2 < W && fg[(size_t)yy * W + x2];
                    }
                w[(size_t)y * W + xx] = any ? 1.0f + w_fg : 1.0f;
            }
    }
    free(fg);
    return wt;
}

/* reconstruction loss terms of frame-major r, x [T,3,H,W] and their gradient into dr */
static void recon_loss(const pp_vae_loss_cfg *lc, const vt *r, const vt *x, float *dr, pp_vae_losses *o) {
    size_t n = vt_numel(r);
    int H = r->h, W = r->w, planes = r->t * r->c;
    double s1 = 0, s2 = 0, se = 0, w1 = 0, w2 = 0; /* plain and weighted sums */
    float *wt = lc->w_fg > 0 ? fg_weights(x, lc->w_fg) : NULL;
    for (size_t i = 0; i < n; i++) {
        float d = r->d[i] - x->d[i], k = wt ? wt[i % ((size_t)H * W) + (i / ((size_t)3 * H * W)) * H * W] : 1.0f;
        s1 += fabsf(d), s2 += (double)d * d, w1 += k * fabsf(d), w2 += (double)k * d * d;
        dr[i] = k * (lc->w_l1 * sgn(d) / (float)n + lc->w_mse * 2.0f * d / (float)n);
    }
    free(wt);
    /* edge: neighbour differences of rec - x, horizontally and vertically */
    double nh = (double)planes * H * (W - 1), nv = (double)planes * (H - 1) * W;
    for (int p = 0; p < planes; p++) {
        const float *a = r->d + (size_t)p * H * W, *b = x->d + (size_t)p * H * W;
        float *g = dr + (size_t)p * H * W;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                size_t i = (size_t)y * W + xx;
                if (xx + 1 < W) {
                    float e = (a[i + 1] - a[i]) - (b[i + 1] - b[i]);
                    se += fabsf(e) / nh;
                    float gg = lc->w_edge * sgn(e) / (float)nh;
                    g[i + 1] += gg, g[i] -= gg;
                }
                if (y + 1 < H) {
                    float e = (a[i + W] - a[i]) - (b[i + W] - b[i]);
                    se += fabsf(e) / nv;
                    float gg = lc->w_edge * sgn(e) / (float)nv;
                    g[i + W] += gg, g[i] -= gg;
                }
            }
    }
    o->l1 = (float)(s1 / n), o->mse = (float)(s2 / n), o->edge = (float)se;
    o->wl1 = (float)(w1 / n), o->wmse = (float)(w2 / n);
}

/* the posterior's gradient (dz from the decoder, plus the KL's) through the encoder
 * into G, from its kept activations ea (freed); e = conv1's output [t, 2 zd, h, w]
 * (owned by ea); dvideo (may be NULL) accumulates d/dvideo [3,T,H,W] */
static void encoder_backward(const pp_vae *m, const float *P, float *G, const pp_vae_loss_cfg *lc, vae_acts *ea,
                             const vt *e, const vt *dz, const vt *ep, float *dvideo, int T, size_t N) {
    int t = e->t, zd = m->cfg.z_dim;
    size_t n = (size_t)e->h * e->w, nl = (size_t)t * zd * n;
    vt de = pp_vt_new(e->t, e->c, e->h, e->w);
    for (int f = 0; f < t; f++)
        for (size_t i = 0; i < zd * n; i++) {
            const float *mu = e->d + (size_t)f * 2 * zd * n;
            float *dmu = de.d + (size_t)f * 2 * zd * n, lv = mu[zd * n + i];
            size_t j = (size_t)f * zd * n + i;
            int inside = lv >= LV_MIN && lv <= LV_MAX;
            float kw = lc->w_kl / (float)nl;
            dmu[i] = dz->d[j] + kw * mu[i];
            dmu[zd * n + i] = inside ? (lc->sample ? dz->d[j] * ep->d[j] * 0.5f * expf(0.5f * lv) : 0.0f) +
                                           kw * 0.5f * (expf(lv) - 1.0f)
                                     : 0.0f;
        }
    vt dx = whole_bwd(m->enc, m->nenc, P, G, ea, de, dvideo != NULL);
    if (dvideo) fm_to_cf(dvideo, dx.d, 3, T, N, 1);
    pp_vt_free(&dx);
    acts_free(m->enc, m->nenc, ea);
}

int pp_vae_train_step(const pp_vae *m, const float *P, float *G, const float *video, int T, int H,
                      int W, const pp_vae_loss_cfg *lc, const float *eps, pp_rng *rng,
                      pp_vae_losses *out, float *rec, float *dvideo) {
    if (pp_vae_check_video(m, T, H, W)) return -1;
    if (!eps && lc->sample && !rng) PP_FAIL("vae train step: sampling needs eps or an rng");
    if (lc->frozen_encoder && dvideo) PP_FAIL("vae train step: d/dvideo needs the encoder's backward (not frozen)");
    int t = pp_vae_latent_frames(m, T), h = H / m->sdown, w = W / m->sdown, zd = m->cfg.z_dim;
    size_t N = (size_t)H * W, n = (size_t)h * w;
    vt x = pp_vt_new(T, 3, H, W);
    cf_to_fm(x.d, video, 3, T, N);
    int enc_bwd = !lc->frozen_encoder;
    vae_acts *ea = enc_bwd ? pp_calloc((size_t)m->nenc, sizeof *ea) : NULL;
    vae_acts *da = pp_calloc((size_t)m->ndec, sizeof *da);
    vt e = whole_fwd(m->enc, m->nenc, P, &x, ea); /* [t, 2 zd, h, w], owned by ea (if kept) */
    /* z = mu + e^(lv/2) eps, lv clamped; KL per latent element */
    vt z = pp_vt_new(t, zd, h, w), ep = pp_vt_new(t, zd, h, w);
    size_t nl = vt_numel(&z);
    if (eps) cf_to_fm(ep.d, eps, zd, t, n);
    else if (lc->sample) pp_rng_fill_normal(rng, ep.d, nl, 1.0f);
    double kl = 0;
    for (int f = 0; f < t; f++)
        for (size_t i = 0; i < zd * n; i++) {
            const float *mu = e.d + (size_t)f * 2 * zd * n;
            float lv = mu[zd * n + i], lvc = lv < LV_MIN ? LV_MIN : lv > LV_MAX ? LV_MAX : lv;
            size_t j = (size_t)f * zd * n + i;
            z.d[j] = mu[i] + (lc->sample ? expf(0.5f * lvc) * ep.d[j] : 0.0f);
            kl += 0.5 * ((double)mu[i] * mu[i] + exp(lvc) - 1.0 - lvc);
        }
    vt r = whole_fwd(m->dec, m->ndec, P, &z, da); /* [T, 3, H, W], owned by da */
    pp_vae_losses o = {0};
    vt dr = pp_vt_new(T, 3, H, W);
    recon_loss(lc, &r, &x, dr.d, &o);
    o.kl = (float)(kl / nl);
    o.loss = lc->w_l1 * o.wl1 + lc->w_mse * o.wmse + lc->w_edge * o.edge + lc->w_kl * o.kl;
    if (rec) fm_to_cf(rec, r.d, 3, T, N, 0);
    if (dvideo) { /* the video is also the target: d/dx of a function of (rec - x) is -d/drec */
        vt nd = pp_vt_new(T, 3, H, W);
        for (size_t i = 0; i < vt_numel(&nd); i++) nd.d[i] = -dr.d[i];
        fm_to_cf(dvideo, nd.d, 3, T, N, 1);
        pp_vt_free(&nd);
    }
    vt dz = whole_bwd(m->dec, m->ndec, P, G, da, dr, enc_bwd);
    acts_free(m->dec, m->ndec, da);
    if (enc_bwd) encoder_backward(m, P, G, lc, ea, &e, &dz, &ep, dvideo, T, N);
    else pp_vt_free(&e); /* a frozen encoder: its output was ours, nothing flows into it */
    pp_vt_free(&dz), pp_vt_free(&z), pp_vt_free(&ep), pp_vt_free(&x);
    if (out) *out = o;
    return 0;
}
