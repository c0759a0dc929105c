/* vae_units.c - forward and backward of the VAE's units (vae_impl.h): causal conv,
 * residual block, attention, the resamplers and the head. One forward serves the
 * chunked streaming passes (with the causal caches) and the whole-clip training
 * pass (no cache: the clip's history is zero), so the two cannot drift apart. */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/ops.h"
#include "wan/vae_impl.h"

/* ------------------------------------------------------------------ memory */

static _Thread_local long g_live, g_peak;

void pp_vae_mem_track(long delta) { /* passes may run side by side (a training step's slots) */
#pragma omp critical
    {
        g_live += delta;
        if (g_live > g_peak) g_peak = g_live;
    }
}
size_t pp_vae_mem_now(void) { return g_live > 0 ? (size_t)g_live : 0; }
size_t pp_vae_mem_peak(void) { return g_peak > 0 ? (size_t)g_peak : 0; }
void pp_vae_mem_peak_reset(void) { g_peak = g_live; }

void pp_vae_buffers_release(void) { pp_conv_scratch_free(); }

vt pp_vt_new(int t, int c, int h, int w) {
    vt x = {NULL, t, c, h, w};
    size_t n = vt_numel(&x);
    if (n) {
        x.d = pp_alloc_floats(n);
        pp_vae_mem_track((long)(n * sizeof(float)));
    }
    return x;
}

static vt vt_zeros(int t, int c, int h, int w) {
    vt x = pp_vt_new(t, c, h, w);
    if (x.d) memset(x.d, 0, vt_numel(&x) * sizeof(float));
    return x;
}

void pp_vt_free(vt *x) {
    if (x->d) {
        pp_vae_mem_track(-(long)(vt_numel(x) * sizeof(float)));
        pp_free_aligned(x->d);
    }
    x->d = NULL;
    x->t = 0;
}

/* frames [from, from + n) of x, borrowed */
static vt vt_view(const vt *x, int from, int n) {
    vt v = *x;
    v.t = n;
    v.d = x->d && n > 0 ? x->d + vt_frame(x) * from : NULL;
    return v;
}

static float *track_alloc(size_t n) {
    pp_vae_mem_track((long)(n * sizeof(float)));
    return pp_alloc_floats(n);
}

static void track_free(float *p, size_t n) {
    if (!p) return;
    pp_vae_mem_track(-(long)(n * sizeof(float)));
    pp_free_aligned(p);
}

/* ------------------------------------------------------------------ causal conv */

static pp_conv_shape cshape(const vae_conv *c, int h, int w) {
    pp_conv_shape s = {.cin = c->cin, .cout = c->cout, .kt = c->kt, .kh = c->k, .kw = c->k,
                       .st = c->st, .mode = c->mode, .h = h, .w = w};
    return s;
}

/* the input stream of a conv: pad frames of history (the cache's frames, zeros
 * for the rest) then the frames of x */
static const float **stream_of(const vt *x, int pad, const vae_cache *cache) {
    const float **list = pp_malloc((size_t)(pad + x->t + 1) * sizeof *list);
    int nc = cache ? cache->n : 0, i = 0;
    for (; i < pad - nc; i++) list[i] = NULL;
    for (int q = 0; q < nc; q++) list[i++] = cache->buf + vt_frame(x) * q;
    for (int f = 0; f < x->t; f++) list[i++] = x->d + vt_frame(x) * f;
    return list;
}

/* y = conv(stream); the cache, when given, then holds the stream's last pad frames */
static vt cconv(const vae_conv *c, const float *P, const vt *x, int pad, vae_cache *cache) {
    pp_conv_shape s = cshape(c, x->h, x->w);
    int ho, wo, nin = pad + x->t;
    pp_conv_check(&s, &ho, &wo);
    vt y = pp_vt_new(pp_conv_out_frames(&s, nin), c->cout, ho, wo);
    if (y.t > 0) {
        const float **list = stream_of(x, pad, cache);
        pp_conv_forward(y.d, list, nin, P + c->w, P + c->b, &s);
        free(list);
    }
    if (cache && pad > 0) {
        size_t fs = vt_frame(x);
        if (!cache->buf) cache->buf = track_alloc(cache->cap = fs * pad);
        int total = cache->n + x->t, m = total < pad ? total : pad;
        for (int q = 0; q < m; q++) { /* source index >= q: copying upwards is safe */
            int idx = total - m + q;
            const float *src = idx < cache->n ? cache->buf + fs * idx : x->d + fs * (idx - cache->n);
            memmove(cache->buf + fs * q, src, fs * sizeof(float));
        }
        cache->n = m;
    }
    return y;
}

/* backward of cconv over a whole clip (zero history): dx (.d may be NULL) += ... */
static void cconv_bwd(const vae_conv *c, const float *P, float *G, const vt *x, int pad, const vt *dy,
                      vt *dx) {
    if (dy->t <= 0) return;
    pp_conv_shape s = cshape(c, x->h, x->w);
    const float **list = stream_of(x, pad, NULL);
    float **dl = NULL;
    if (dx && dx->d) {
        dl = pp_calloc((size_t)(pad + x->t), sizeof *dl);
        for (int f = 0; f < x->t; f++) dl[pad + f] = dx->d + vt_frame(dx) * f;
    }
    pp_conv_backward(dl, G + c->w, G + c->b, dy->d, list, pad + x->t, P + c->w, &s);
    free(list);
    free(dl);
}

static void add_into(float *y, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > ((size_t)1 << 16))
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

/* ------------------------------------------------------------------ residual block */

static vt chnorm_silu(const vt *x, const float *gamma, float *rn, int silu) {
    vt y = pp_vt_new(x->t, x->c, x->h, x->w);
    pp_chnorm_forward(y.d, rn, x->d, gamma, NULL, x->t, x->c, x->h * x->w, silu);
    return y;
}

static vt res_fwd(const pp_vae_unit *u, const float *P, const vt *x, vae_state *st, vae_acts *a) {
    vt h = *x;
    if (u->has_sc) h = cconv(&u->sc, P, x, 0, NULL);
    vt a1 = chnorm_silu(x, P + u->g1, NULL, 1);
    vt c1 = cconv(&u->c1, P, &a1, 2, st ? &st->cc[0] : NULL);
    pp_vt_free(&a1);
    vt a2;
    if (a) {
        a->c1 = c1;
        a2 = chnorm_silu(&c1, P + u->g2, NULL, 1);
    } else { /* in place */
        pp_chnorm_forward(c1.d, NULL, c1.d, P + u->g2, NULL, c1.t, c1.c, c1.h * c1.w, 1);
        a2 = c1;
    }
    vt y = cconv(&u->c2, P, &a2, 2, st ? &st->cc[1] : NULL);
    pp_vt_free(&a2);
    add_into(y.d, h.d, vt_numel(&y));
    if (u->has_sc) pp_vt_free(&h);
    return y;
}

static void res_bwd(const pp_vae_unit *u, const float *P, float *G, const vae_acts *a, const vt *dy,
                    vt *dx) {
    const vt *x = &a->in, *c1 = &a->c1;
    int N = c1->h * c1->w;
    float *rn2 = pp_alloc_floats((size_t)c1->t * N), *rn1 = pp_alloc_floats((size_t)x->t * N);
    vt a2 = chnorm_silu(c1, P + u->g2, rn2, 1), da2 = vt_zeros(a2.t, a2.c, a2.h, a2.w);
    cconv_bwd(&u->c2, P, G, &a2, 2, dy, &da2);
    pp_vt_free(&a2);
    vt dc1 = vt_zeros(c1->t, c1->c, c1->h, c1->w);
    pp_chnorm_backward(dc1.d, G + u->g2, NULL, da2.d, c1->d, rn2, P + u->g2, NULL, c1->t, c1->c, N, 1);
    pp_vt_free(&da2);
    vt a1 = chnorm_silu(x, P + u->g1, rn1, 1), da1 = vt_zeros(a1.t, a1.c, a1.h, a1.w);
    cconv_bwd(&u->c1, P, G, &a1, 2, &dc1, &da1);
    pp_vt_free(&a1), pp_vt_free(&dc1);
    pp_chnorm_backward(dx->d, G + u->g1, NULL, da1.d, x->d, rn1, P + u->g1, NULL, x->t, x->c, N, 1);
    pp_vt_free(&da1);
    if (u->has_sc) cconv_bwd(&u->sc, P, G, x, 0, dy, dx);
    else if (dx->d) add_into(dx->d, dy->d, vt_numel(dy));
    pp_free_aligned(rn1), pp_free_aligned(rn2);
}

/* ------------------------------------------------------------------ attention (per frame, one head) */

static vt attn_fwd(const pp_vae_unit *u, const float *P, const vt *x, vae_acts *a) {
    int T = x->t, C = x->c, N = x->h * x->w;
    size_t n = (size_t)T * N * C;
    vt xn = chnorm_silu(x, P + u->g1, NULL, 0);
    float *xt = track_alloc(n), *q = track_alloc(n), *k = track_alloc(n), *v = track_alloc(n);
    float *o = track_alloc(n), *lse = track_alloc((size_t)T * N);
    pp_frames_to_tokens(xt, xn.d, T, C, N);
    pp_vt_free(&xn);
    const float *W = P + u->qkv.w, *b = P + u->qkv.b; /* to_qkv [3C, C]: q, k, v rows */
    pp_linear_forward(q, xt, W, b, T * N, C, C);
    pp_linear_forward(k, xt, W + (size_t)C * C, b + C, T * N, C, C);
    pp_linear_forward(v, xt, W + 2 * (size_t)C * C, b + 2 * C, T * N, C, C);
    pp_attention_forward(o, lse, q, k, v, T, N, N, 1, C);
    pp_linear_forward(xt, o, P + u->proj.w, P + u->proj.b, T * N, C, C);
    vt y = pp_vt_new(T, C, x->h, x->w);
    pp_tokens_to_frames(y.d, xt, T, C, N);
    add_into(y.d, x->d, vt_numel(&y));
    track_free(xt, n);
    if (a) {
        a->q = q, a->k = k, a->v = v, a->o = o, a->lse = lse;
    } else {
        track_free(q, n), track_free(k, n), track_free(v, n), track_free(o, n);
        track_free(lse, (size_t)T * N);
    }
    return y;
}

static void attn_bwd(const pp_vae_unit *u, const float *P, float *G, const vae_acts *a, const vt *dy,
                     vt *dx) {
    const vt *x = &a->in;
    int T = x->t, C = x->c, N = x->h * x->w, M = T * N;
    size_t n = (size_t)M * C, cc = (size_t)C * C;
    float *dyt = pp_alloc_floats(n), *dO = pp_zalloc_floats(n), *dq = pp_zalloc_floats(n);
    float *dk = pp_zalloc_floats(n), *dv = pp_zalloc_floats(n), *xt = pp_alloc_floats(n);
    float *dxt = pp_zalloc_floats(n), *rn = pp_alloc_floats((size_t)M);
    pp_frames_to_tokens(dyt, dy->d, T, C, N);
    pp_linear_backward(dO, G + u->proj.w, G + u->proj.b, dyt, a->o, P + u->proj.w, M, C, C);
    pp_attention_backward(dq, dk, dv, dO, a->q, a->k, a->v, a->o, a->lse, T, N, N, 1, C);
    vt xn = chnorm_silu(x, P + u->g1, rn, 0);
    pp_frames_to_tokens(xt, xn.d, T, C, N);
    const float *W = P + u->qkv.w;
    float *GW = G + u->qkv.w, *Gb = G + u->qkv.b;
    pp_linear_backward(dxt, GW, Gb, dq, xt, W, M, C, C);
    pp_linear_backward(dxt, GW + cc, Gb + C, dk, xt, W + cc, M, C, C);
    pp_linear_backward(dxt, GW + 2 * cc, Gb + 2 * C, dv, xt, W + 2 * cc, M, C, C);
    pp_tokens_to_frames(xn.d, dxt, T, C, N); /* xn now holds d/d(normed x) */
    pp_chnorm_backward(dx->d, G + u->g1, NULL, xn.d, x->d, rn, P + u->g1, NULL, T, C, N, 0);
    if (dx->d) add_into(dx->d, dy->d, n);
    pp_vt_free(&xn);
    pp_free_aligned(dyt), pp_free_aligned(dO), pp_free_aligned(dq), pp_free_aligned(dk);
    pp_free_aligned(dv), pp_free_aligned(xt), pp_free_aligned(dxt), pp_free_aligned(rn);
}

/* ------------------------------------------------------------------ resamplers */

/* Down: the stride-2 conv per frame, then (3D) time_conv with stride 2 over the
 * stream of those frames. The very first frame passes through unchanged (the
 * reference only caches it); later output frames read frames 2j-2, 2j-1, 2j. */
static vt down_fwd(const pp_vae_unit *u, const float *P, const vt *x, vae_state *st, vae_acts *a) {
    vt s = cconv(&u->c1, P, x, 0, NULL);
    if (!u->temporal) return s;
    int first = !st || !st->seen;
    size_t fs = vt_frame(&s);
    vae_cache last = {st && st->seen ? st->last : NULL, st && st->seen ? 1 : 0, fs};
    vt y;
    if (first) {
        vt rest = cconv(&u->tc, P, &s, 0, NULL); /* stream = s itself */
        y = pp_vt_new(1 + rest.t, s.c, s.h, s.w);
        memcpy(y.d, s.d, fs * sizeof(float));
        if (rest.t) memcpy(y.d + fs, rest.d, vt_numel(&rest) * sizeof(float));
        pp_vt_free(&rest);
    } else {
        y = cconv(&u->tc, P, &s, 1, &last); /* stream = the last frame, then s */
    }
    if (st) {
        if (!st->last) st->last = track_alloc(st->last_n = fs);
        memcpy(st->last, s.d + fs * (s.t - 1), fs * sizeof(float));
        st->seen = 1;
    }
    if (a) a->c1 = s;
    else pp_vt_free(&s);
    return y;
}

static void down_bwd(const pp_vae_unit *u, const float *P, float *G, const vae_acts *a, const vt *dy,
                     vt *dx) {
    if (!u->temporal) {
        cconv_bwd(&u->c1, P, G, &a->in, 0, dy, dx);
        return;
    }
    const vt *s = &a->c1;
    vt ds = vt_zeros(s->t, s->c, s->h, s->w), dyr = vt_view(dy, 1, dy->t - 1);
    memcpy(ds.d, dy->d, vt_frame(s) * sizeof(float));
    cconv_bwd(&u->tc, P, G, s, 0, &dyr, &ds);
    cconv_bwd(&u->c1, P, G, &a->in, 0, &ds, dx);
    pp_vt_free(&ds);
}

/* Up: (3D) time_conv to 2C channels over the stream of frames after the first
 * (zero history), each output frame's two halves becoming two frames - in the
 * frame-major layout [t,2C,h,w] already is [2t,C,h,w]; the first frame passes
 * through. Then the 2x nearest upsampling and 3x3 conv to C/2 channels. */
static vt up_fwd(const pp_vae_unit *u, const float *P, const vt *x, vae_state *st, vae_acts *a) {
    vt uin = *x;
    int own = 0;
    if (u->temporal) {
        int first = !st || !st->seen;
        size_t fs = vt_frame(x);
        vae_cache *cache = st ? &st->cc[0] : NULL;
        if (first) {
            vt rest = vt_view(x, 1, x->t - 1);
            vt r = cconv(&u->tc, P, &rest, 2, cache);
            uin = pp_vt_new(1 + 2 * r.t, x->c, x->h, x->w);
            memcpy(uin.d, x->d, fs * sizeof(float));
            if (r.t) memcpy(uin.d + fs, r.d, vt_numel(&r) * sizeof(float));
            pp_vt_free(&r);
        } else {
            uin = cconv(&u->tc, P, x, 2, cache);
            uin.t *= 2, uin.c /= 2;
        }
        own = 1;
        if (st) st->seen = 1;
    }
    vt y = cconv(&u->c1, P, &uin, 0, NULL);
    if (a && own) a->c1 = uin;
    else if (own) pp_vt_free(&uin);
    return y;
}

static void up_bwd(const pp_vae_unit *u, const float *P, float *G, const vae_acts *a, const vt *dy,
                   vt *dx) {
    if (!u->temporal) {
        cconv_bwd(&u->c1, P, G, &a->in, 0, dy, dx);
        return;
    }
    const vt *x = &a->in, *ui = &a->c1;
    vt du = vt_zeros(ui->t, ui->c, ui->h, ui->w);
    cconv_bwd(&u->c1, P, G, ui, 0, dy, &du);
    if (dx->d) add_into(dx->d, du.d, vt_frame(x));
    vt xr = vt_view(x, 1, x->t - 1), dxr = vt_view(dx, 1, x->t - 1), dur = vt_view(&du, 1, du.t - 1);
    dur.t /= 2, dur.c *= 2;
    cconv_bwd(&u->tc, P, G, &xr, 2, &dur, &dxr);
    pp_vt_free(&du);
}

/* ------------------------------------------------------------------ dispatch */

vt pp_vae_unit_forward(const pp_vae_unit *u, const float *P, const vt *x, vae_state *st, vae_acts *a) {
    vt y;
    switch (u->kind) {
    case VU_RES: y = res_fwd(u, P, x, st, a); break;
    case VU_ATTN: y = attn_fwd(u, P, x, a); break;
    case VU_DOWN: y = down_fwd(u, P, x, st, a); break;
    case VU_UP: y = up_fwd(u, P, x, st, a); break;
    case VU_HEAD: {
        vt h = chnorm_silu(x, P + u->g1, NULL, 1);
        y = cconv(&u->c1, P, &h, 2, st ? &st->cc[0] : NULL);
        pp_vt_free(&h);
        break;
    }
    default: y = cconv(&u->c1, P, x, 2 * (u->c1.kt / 2), st ? &st->cc[0] : NULL); break;
    }
    if (a) a->in = *x, a->out = y;
    return y;
}

void pp_vae_unit_backward(const pp_vae_unit *u, const float *P, float *G, const vae_acts *a,
                       const vt *dy, vt *dx) {
    switch (u->kind) {
    case VU_RES: res_bwd(u, P, G, a, dy, dx); break;
    case VU_ATTN: attn_bwd(u, P, G, a, dy, dx); break;
    case VU_DOWN: down_bwd(u, P, G, a, dy, dx); break;
    case VU_UP: up_bwd(u, P, G, a, dy, dx); break;
    case VU_HEAD: {
        const vt *x = &a->in;
        int N = x->h * x->w;
        float *rn = pp_alloc_floats((size_t)x->t * N);
        vt h = chnorm_silu(x, P + u->g1, rn, 1), dh = vt_zeros(h.t, h.c, h.h, h.w);
        cconv_bwd(&u->c1, P, G, &h, 2, dy, &dh);
        pp_chnorm_backward(dx->d, G + u->g1, NULL, dh.d, x->d, rn, P + u->g1, NULL, x->t, x->c, N, 1);
        pp_vt_free(&h), pp_vt_free(&dh);
        pp_free_aligned(rn);
        break;
    }
    default: cconv_bwd(&u->c1, P, G, &a->in, 2 * (u->c1.kt / 2), dy, dx); break;
    }
}

void pp_vae_state_free(vae_state *s) {
    for (int i = 0; i < 2; i++) track_free(s->cc[i].buf, s->cc[i].cap);
    track_free(s->last, s->last_n);
    memset(s, 0, sizeof *s);
}

void pp_vae_acts_free(const pp_vae_unit *u, vae_acts *a) {
    pp_vt_free(&a->out);
    pp_vt_free(&a->c1);
    if (u->kind == VU_ATTN && a->q) {
        size_t n = vt_numel(&a->in);
        track_free(a->q, n), track_free(a->k, n), track_free(a->v, n), track_free(a->o, n);
        track_free(a->lse, (size_t)a->in.t * a->in.h * a->in.w);
    }
    memset(a, 0, sizeof *a);
}
