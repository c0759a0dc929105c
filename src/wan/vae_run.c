/* vae_run.c - chunked streaming encode and decode with the causal caches, and the
 * whole-video calls built on them (vae.h). */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "wan/vae_impl.h"

/* [C,T,N] <-> frame t's [C,N] */
static void gather_frame(float *dst, const float *src, int C, int T, size_t N, int t) {
    for (int c = 0; c < C; c++) memcpy(dst + c * N, src + ((size_t)c * T + t) * N, N * sizeof(float));
}

static void scatter_frame(float *dst, const float *src, int C, int T, size_t N, int t) {
    for (int c = 0; c < C; c++) memcpy(dst + ((size_t)c * T + t) * N, src + c * N, N * sizeof(float));
}

/* one chunk through a list of units; frees each intermediate (not x) */
static vt run_units(const pp_vae_unit *u, int n, const float *P, const vt *x, vae_state *st) {
    vt cur = *x;
    for (int i = 0; i < n; i++) {
        vt y = pp_vae_unit_forward(&u[i], P, &cur, &st[i], NULL);
        if (i > 0) pp_vt_free(&cur);
        cur = y;
    }
    return cur;
}

/* ------------------------------------------------------------------ encoder */

struct pp_vae_enc {
    const pp_vae *m;
    const float *P;
    int H, W, pushed;
    vae_state *st;
    size_t base, peak;
};

pp_vae_enc *pp_vae_enc_new(const pp_vae *m, const float *P, int H, int W) {
    if (pp_vae_check_video(m, 1, H, W)) return NULL;
    pp_vae_enc *e = pp_calloc(1, sizeof *e);
    e->m = m, e->P = P, e->H = H, e->W = W;
    e->st = pp_calloc((size_t)m->nenc, sizeof *e->st);
    e->base = pp_vae_mem_now();
    return e;
}

void pp_vae_enc_free(pp_vae_enc *e) {
    if (!e) return;
    for (int i = 0; i < e->m->nenc; i++) pp_vae_state_free(&e->st[i]);
    free(e->st);
    free(e);
    pp_vae_buffers_release();
}

size_t pp_vae_enc_peak_bytes(const pp_vae_enc *e) { return e->peak; }

int pp_vae_enc_push(pp_vae_enc *e, const float *frames, int n, float *z, float *logvar, int *nout) {
    const pp_vae *m = e->m;
    int want = e->pushed ? 4 : 1, zd = m->cfg.z_dim;
    *nout = 0;
    if (n != want)
        PP_FAIL("vae encoder: %s takes %d frame%s, got %d", e->pushed ? "every push after the first" : "the first push",
                want, want > 1 ? "s" : "", n);
    vt x = pp_vt_new(n, 3, e->H, e->W);
    memcpy(x.d, frames, vt_numel(&x) * sizeof(float));
    pp_vae_mem_peak_reset();
    vt y = run_units(m->enc, m->nenc, e->P, &x, e->st);
    size_t now = pp_vae_mem_peak() - e->base;
    e->peak = now > e->peak ? now : e->peak;
    pp_vt_free(&x);
    size_t N = (size_t)y.h * y.w;
    for (int f = 0; f < y.t; f++) {
        const float *mu = y.d + vt_frame(&y) * f, *lv = mu + zd * N;
        float *zo = z + (size_t)f * zd * N;
        for (int c = 0; c < zd; c++) {
            float mean = m->cfg.latent_mean[c], inv = 1.0f / m->cfg.latent_std[c];
            for (size_t q = 0; q < N; q++) zo[c * N + q] = (mu[c * N + q] - mean) * inv;
        }
        if (logvar) memcpy(logvar + (size_t)f * zd * N, lv, zd * N * sizeof(float));
    }
    *nout = y.t;
    pp_vt_free(&y);
    e->pushed++;
    return 0;
}

/* ------------------------------------------------------------------ decoder */

struct pp_vae_dec {
    const pp_vae *m;
    const float *P;
    int h, w;
    vae_state *st;
    size_t base, peak;
};

pp_vae_dec *pp_vae_dec_new(const pp_vae *m, const float *P, int h, int w) {
    if (pp_vae_check_latent(m, m->cfg.z_dim, 1, h, w)) return NULL;
    pp_vae_dec *d = pp_calloc(1, sizeof *d);
    d->m = m, d->P = P, d->h = h, d->w = w;
    d->st = pp_calloc((size_t)m->ndec, sizeof *d->st);
    d->base = pp_vae_mem_now();
    return d;
}

void pp_vae_dec_free(pp_vae_dec *d) {
    if (!d) return;
    for (int i = 0; i < d->m->ndec; i++) pp_vae_state_free(&d->st[i]);
    free(d->st);
    free(d);
    pp_vae_buffers_release();
}

size_t pp_vae_dec_peak_bytes(const pp_vae_dec *d) { return d->peak; }

int pp_vae_dec_push(pp_vae_dec *d, const float *z, float *frames, int *nout) {
    const pp_vae *m = d->m;
    int zd = m->cfg.z_dim;
    size_t N = (size_t)d->h * d->w;
    vt x = pp_vt_new(1, zd, d->h, d->w);
    for (int c = 0; c < zd; c++) { /* denormalise: mu = z * std + mean */
        float s = m->cfg.latent_std[c], mean = m->cfg.latent_mean[c];
        for (size_t q = 0; q < N; q++) x.d[c * N + q] = z[c * N + q] * s + mean;
    }
    pp_vae_mem_peak_reset();
    vt y = run_units(m->dec, m->ndec, d->P, &x, d->st);
    size_t now = pp_vae_mem_peak() - d->base;
    d->peak = now > d->peak ? now : d->peak;
    pp_vt_free(&x);
    size_t n = vt_numel(&y);
    for (size_t i = 0; i < n; i++) {
        float v = y.d[i];
        frames[i] = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
    }
    *nout = y.t;
    pp_vt_free(&y);
    return 0;
}

void pp_vae_release_buffers(void) { pp_vae_buffers_release(); }

/* ------------------------------------------------------------------ whole videos */

int pp_vae_encode(const pp_vae *m, const float *P, const float *video, int T, int H, int W, float *z,
                  float *logvar) {
    if (pp_vae_check_video(m, T, H, W)) return -1;
    pp_vae_enc *e = pp_vae_enc_new(m, P, H, W);
    if (!e) return -1;
    int t = pp_vae_latent_frames(m, T), zd = m->cfg.z_dim, per = 4 >> m->nt;
    size_t N = (size_t)H * W, n = (size_t)(H / m->sdown) * (W / m->sdown);
    float *chunk = pp_alloc_floats(4 * 3 * N), *zc = pp_alloc_floats(per * zd * n);
    float *lc = logvar ? pp_alloc_floats(per * zd * n) : NULL;
    int rc = 0, f = 0, lat = 0;
    while (f < T && !rc) {
        int k = f == 0 ? 1 : 4, got;
        for (int i = 0; i < k; i++) gather_frame(chunk + (size_t)i * 3 * N, video, 3, T, N, f + i);
        rc = pp_vae_enc_push(e, chunk, k, zc, lc, &got);
        for (int i = 0; i < got && !rc; i++, lat++) {
            scatter_frame(z, zc + (size_t)i * zd * n, zd, t, n, lat);
            if (logvar) scatter_frame(logvar, lc + (size_t)i * zd * n, zd, t, n, lat);
        }
        f += k;
    }
    pp_free_aligned(chunk), pp_free_aligned(zc), pp_free_aligned(lc);
    pp_vae_enc_free(e);
    return rc;
}

int pp_vae_decode(const pp_vae *m, const float *P, const float *z, int C, int t, int h, int w,
                  float *video) {
    if (pp_vae_check_latent(m, C, t, h, w)) return -1;
    pp_vae_dec *d = pp_vae_dec_new(m, P, h, w);
    if (!d) return -1;
    int T = pp_vae_video_frames(m, t), per = 1 << m->nt;
    size_t n = (size_t)h * w, N = n * m->sdown * m->sdown;
    float *zf = pp_alloc_floats(C * n), *out = pp_alloc_floats((size_t)per * 3 * N);
    int rc = 0, f = 0;
    for (int i = 0; i < t && !rc; i++) {
        int got;
        gather_frame(zf, z, C, t, n, i);
        rc = pp_vae_dec_push(d, zf, out, &got);
        for (int k = 0; k < got && !rc; k++, f++) scatter_frame(video, out + (size_t)k * 3 * N, 3, T, N, f);
    }
    pp_free_aligned(zf), pp_free_aligned(out);
    pp_vae_dec_free(d);
    return rc;
}
