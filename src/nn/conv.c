/* conv.c - causal 3D convolution over frame lists (see conv.h): geometry, frame
 * preparation, the forward (direct kernel or column tiles + sgemm) and the
 * backward (column tiles + sgemm). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include "nn/conv.h"
#include "nn/conv_impl.h"
#include "nn/ops_util.h"

/* ------------------------------------------------------------------ geometry */

/* A prepared frame holds the K1 = cin*kh*kw shifted views of one input frame:
 * view (ci,kh,kw) starts at rowoff[.] and output position (y, x) is element
 * p = y*wp + x of every view. Positions with x >= wo are computed and dropped;
 * np = (ho-1)*wp + wo positions are computed (no view reads past its frame). */
typedef struct {
    int ho, wo, wp, np, K1, K;
    int raw;      /* 1: the input frame itself is the prepared frame (1x1 SAME) */
    size_t fsz;   /* floats per prepared frame */
    int *rowoff;  /* [K1] */
} geom;

int pp_conv_check(const pp_conv_shape *s, int *ho, int *wo) {
    if (s->cin < 1 || s->cout < 1 || s->h < 1 || s->w < 1 || s->kt < 1 || s->kt > 8)
        PP_FAIL("conv: channels, kernel and frame size must be positive (cin %d, cout %d, kt %d, %dx%d)",
                s->cin, s->cout, s->kt, s->h, s->w);
    if (s->kh != s->kw || (s->kh != 1 && s->kh != 3))
        PP_FAIL("conv: spatial kernel %dx%d (1x1 or 3x3 only)", s->kh, s->kw);
    if (s->st != 1 && s->st != 2) PP_FAIL("conv: time stride %d (1 or 2 only)", s->st);
    int h = s->h, w = s->w;
    switch (s->mode) {
    case PP_CONV_SAME: break;
    case PP_CONV_DOWN2:
        if (s->kh != 3 || h % 2 || w % 2)
            PP_FAIL("conv: the stride-2 downsampler needs a 3x3 kernel and even sizes (%dx%d)", h, w);
        h /= 2, w /= 2;
        break;
    case PP_CONV_UP2:
        if (s->kh != 3) PP_FAIL("conv: the upsampler needs a 3x3 kernel");
        h *= 2, w *= 2;
        break;
    default: PP_FAIL("conv: unknown mode %d", (int)s->mode);
    }
    /* offsets into a prepared frame are ints: bound it (and the input frame) */
    size_t prep = s->mode == PP_CONV_DOWN2 ? (size_t)4 * (h + 1) * (w + 1) : (size_t)(h + 2) * (w + 2);
    if (prep * s->cin >= ((size_t)1 << 31) || (size_t)s->h * s->w * s->cin >= ((size_t)1 << 31))
        PP_FAIL("conv: frame of %d channels at %dx%d is too large", s->cin, s->w, s->h);
    if (ho) *ho = h;
    if (wo) *wo = w;
    return 0;
}

int pp_conv_out_frames(const pp_conv_shape *s, int nin) {
    return nin < s->kt ? 0 : (nin - s->kt) / s->st + 1;
}

static void geom_make(geom *g, const pp_conv_shape *s) {
    pp_conv_check(s, &g->ho, &g->wo);
    int k = s->kh, hp = 0;
    g->raw = k == 1 && s->mode == PP_CONV_SAME;
    if (g->raw) g->wp = s->w, hp = s->h;
    else if (s->mode == PP_CONV_DOWN2) g->wp = g->wo + 1, hp = g->ho + 1; /* one phase plane */
    else g->wp = g->wo + 2, hp = g->ho + 2;
    size_t plane = (size_t)hp * g->wp;
    g->fsz = plane * s->cin * (s->mode == PP_CONV_DOWN2 ? 4 : 1);
    g->np = (g->ho - 1) * g->wp + g->wo;
    g->K1 = s->cin * k * k;
    g->K = g->K1 * s->kt;
    g->rowoff = pp_malloc((size_t)g->K1 * sizeof(int));
    for (int ci = 0; ci < s->cin; ci++)
        for (int y = 0; y < k; y++)
            for (int x = 0; x < k; x++) {
                size_t o;
                if (s->mode == PP_CONV_DOWN2) /* phase plane (y%2, x%2), shifted by (y/2, x/2) */
                    o = (size_t)((y % 2) * 2 + x % 2) * s->cin * plane + ci * plane +
                        (size_t)(y / 2) * g->wp + x / 2;
                else
                    o = ci * plane + (size_t)y * g->wp + x;
                g->rowoff[(ci * k + y) * k + x] = (int)o;
            }
}

/* Prepares channels [c0, c1) of one input frame x [cin, h, w] (NULL: zeros) into dst. */
static void prep_channels(float *dst, const float *x, const pp_conv_shape *s, const geom *g, int c0,
                          int c1) {
    int h = s->h, w = s->w, wp = g->wp;
    if (s->mode == PP_CONV_DOWN2) {
        int hq = g->ho + 1;
        size_t plane = (size_t)hq * wp;
        for (int q = 0; q < 4; q++) {
            int a = q / 2, b = q % 2;
            for (int ci = c0; ci < c1; ci++) {
                float *d = dst + ((size_t)q * s->cin + ci) * plane;
                memset(d, 0, plane * sizeof(float));
                if (!x) continue;
                const float *src = x + (size_t)ci * h * w;
                for (int i = 0; i < hq && 2 * i + a < h; i++)
                    for (int j = 0; j < wp && 2 * j + b < w; j++)
                        d[(size_t)i * wp + j] = src[(size_t)(2 * i + a) * w + 2 * j + b];
            }
        }
        return;
    }
    int up = s->mode == PP_CONV_UP2, hp = g->ho + 2;
    size_t plane = (size_t)hp * wp;
    for (int ci = c0; ci < c1; ci++) {
        float *d = dst + ci * plane;
        memset(d, 0, plane * sizeof(float));
        if (!x) continue;
        const float *src = x + (size_t)ci * h * w;
        for (int y = 0; y < g->ho; y++) {
            float *row = d + (size_t)(y + 1) * wp + 1;
            if (up) {
                const float *sr = src + (size_t)(y / 2) * w;
                for (int xx = 0; xx < w; xx++) row[2 * xx] = row[2 * xx + 1] = sr[xx];
            } else {
                memcpy(row, src + (size_t)y * w, (size_t)w * sizeof(float));
            }
        }
    }
}

/* din [cin,h,w] += the gradient held in the prepared layout dp (the adjoint of prep_channels) */
static void unprep_channels(float *din, const float *dp, const pp_conv_shape *s, const geom *g, int c0,
                            int c1) {
    int h = s->h, w = s->w, wp = g->wp;
    if (s->mode == PP_CONV_DOWN2) {
        size_t plane = (size_t)(g->ho + 1) * wp;
        for (int q = 0; q < 4; q++) {
            int a = q / 2, b = q % 2;
            for (int ci = c0; ci < c1; ci++) {
                const float *d = dp + ((size_t)q * s->cin + ci) * plane;
                float *dst = din + (size_t)ci * h * w;
                for (int i = 0; 2 * i + a < h; i++)
                    for (int j = 0; 2 * j + b < w; j++)
                        dst[(size_t)(2 * i + a) * w + 2 * j + b] += d[(size_t)i * wp + j];
            }
        }
        return;
    }
    int up = s->mode == PP_CONV_UP2;
    size_t plane = (size_t)(g->ho + 2) * wp;
    for (int ci = c0; ci < c1; ci++) {
        const float *d = dp + ci * plane;
        float *dst = din + (size_t)ci * h * w;
        for (int y = 0; y < g->ho; y++) {
            const float *row = d + (size_t)(y + 1) * wp + 1;
            float *dr = dst + (size_t)(up ? y / 2 : y) * w;
            if (up)
                for (int xx = 0; xx < w; xx++) dr[xx] += row[2 * xx] + row[2 * xx + 1];
            else
                for (int xx = 0; xx < w; xx++) dr[xx] += row[xx];
        }
    }
}

/* out frame [cout, ho, wo] rows co0.. (nco of them) from tmp [nco][ldt] at positions
 * [p0, p0+n); adds bias[co] when bias is not NULL */
static void store_tile(float *out, const float *tmp, int ldt, int co0, int nco, int p0, int n,
                       const geom *g, const float *bias) {
    size_t fo = (size_t)g->ho * g->wo;
    for (int y = p0 / g->wp; y < g->ho && y * g->wp < p0 + n; y++) {
        int x0 = p0 - y * g->wp, x1 = p0 + n - y * g->wp;
        x0 = x0 < 0 ? 0 : x0, x1 = x1 > g->wo ? g->wo : x1;
        if (x1 <= x0) continue;
        for (int r = 0; r < nco; r++) {
            const float *t = tmp + (size_t)r * ldt + (y * g->wp + x0 - p0);
            float *o = out + (size_t)(co0 + r) * fo + (size_t)y * g->wo + x0;
            if (bias) {
                float bb = bias[co0 + r];
                for (int x = 0; x < x1 - x0; x++) o[x] = t[x] + bb;
            } else {
                memcpy(o, t, (size_t)(x1 - x0) * sizeof(float));
            }
        }
    }
}

/* W [cout, cin, kt, kh, kw] -> Wr [cout, K] with k in (kt, ci, kh, kw) order */
static void reorder_weights(float *Wr, const float *W, const pp_conv_shape *s) {
    int kk = s->kh * s->kw, K = s->cin * s->kt * kk;
    for (int co = 0; co < s->cout; co++)
        for (int ci = 0; ci < s->cin; ci++)
            for (int t = 0; t < s->kt; t++)
                memcpy(Wr + (size_t)co * K + ((size_t)t * s->cin + ci) * kk,
                       W + (((size_t)co * s->cin + ci) * s->kt + t) * kk, (size_t)kk * sizeof(float));
}

/* the frames [j*st, j*st + kt) of output frame j: leading NULLs are skipped (kt0),
 * later NULLs read zprep; sets the prepared-frame pointer of each kt */
typedef struct {
    int kt0;
    const float *frame[8];
} window;

/* ------------------------------------------------------------------ forward */

/* Prepared frames of the forward: when the whole stream fits PREP_BUDGET floats
 * every frame is prepared at once and all output frames' tiles form one parallel
 * loop; otherwise they live in a ring of kt slots (stream frame i in slot i % kt,
 * prepared when first needed) and output frames are done one after another. */
#define PREP_BUDGET ((size_t)1 << 25) /* 128 MB */

typedef struct {
    const pp_conv_shape *s;
    geom g;
    const float *const *in;
    int nin, To, nslot;
    float *ring, *zprep;    /* [nslot][fsz]; one zero frame when a NULL follows a real frame */
    int slot_of[8];         /* ring: stream index held by each slot, -1 none */
    int *prep_idx, nprep;   /* stream indices to prepare next */
    const float **rows;     /* [To][K] views of each output frame (ring: [1][K]) */
    int *kt0;               /* [To] leading zero frames of each window */
} fwd_plan;

/* views of output frame j into rows (one thread); in ring mode also which frames to prepare */
static void fwd_plan_frame(fwd_plan *f, int j, const float **rows, int *kt0) {
    const pp_conv_shape *s = f->s;
    int lead = 1, all = f->nslot == f->nin;
    *kt0 = 0;
    for (int t = 0; t < s->kt; t++) {
        int i = j * s->st + t;
        const float *x = f->in[i], *pf;
        if (!x && lead) {
            *kt0 = t + 1;
            continue;
        }
        lead = 0;
        if (!x) pf = f->zprep;
        else if (f->g.raw) pf = x;
        else {
            int slot = all ? i : i % s->kt;
            if (!all && f->slot_of[slot] != i) {
                f->slot_of[slot] = i;
                f->prep_idx[f->nprep++] = i;
            }
            pf = f->ring + (size_t)slot * f->g.fsz;
        }
        for (int r = 0; r < f->g.K1; r++) rows[t * f->g.K1 + r] = pf + f->g.rowoff[r];
    }
}

/* ceil(a / b) */
static inline int cdiv(int a, int b) { return (a + b - 1) / b; }

/* columns per sgemm tile: the column tile [K, nb] stays around 1 MB */
static int blas_tile(int K, int np) {
    int nb = (1 << 18) / (K > 0 ? K : 1);
    nb = nb < 32 ? 32 : nb > 1024 ? 1024 : nb & ~15;
    return nb < np ? nb : np;
}

typedef struct {
    int direct, MR, ncb, nb, ntile;
    const float *A, *bias, *Wr, *b; /* direct: packed blocks + padded bias; sgemm: [cout][K] + bias */
} fwd_kern;

/* one tile of output positions of frame j: all output channels */
static void fwd_tile(const fwd_plan *f, const fwd_kern *kn, float *out, const float *const *rows,
                     int kt0, int tile, float *tmp) {
    const pp_conv_shape *s = f->s;
    const geom *g = &f->g;
    int K = g->K, k0 = kt0 * g->K1, Ke = K - k0, nb = kn->nb;
    int p0 = tile * nb, n = g->np - p0 < nb ? g->np - p0 : nb;
    if (kn->direct) {
        for (int cb = 0; cb < kn->ncb; cb++) {
            pp_conv_kernel(tmp, kn->A + ((size_t)cb * K + k0) * kn->MR, rows + k0, Ke, p0, n,
                           kn->bias + cb * kn->MR);
            int nco = s->cout - cb * kn->MR < kn->MR ? s->cout - cb * kn->MR : kn->MR;
            store_tile(out, tmp, nb, cb * kn->MR, nco, p0, n, g, NULL);
        }
        return;
    }
    float *col = tmp + (size_t)s->cout * nb;
    if (Ke == 0) memset(tmp, 0, (size_t)s->cout * nb * sizeof(float));
    for (int k = 0; k < Ke; k++)
        memcpy(col + (size_t)k * nb, rows[k0 + k] + p0, (size_t)n * sizeof(float));
    if (Ke > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, n, Ke, 1.0f, kn->Wr + k0, K, col,
                    nb, 0.0f, tmp, nb);
    store_tile(out, tmp, nb, 0, s->cout, p0, n, g, kn->b);
}

/* the forward's kept scratch, per calling thread: 0 prepared frames, 1 Wr, 2 A */
static _Thread_local struct {
    float *p;
    size_t n;
} g_keep[3];

static float *keep_get(int slot, size_t n) {
    if (g_keep[slot].n < n) {
        pp_free_aligned(g_keep[slot].p);
        g_keep[slot].p = pp_alloc_floats(n);
        g_keep[slot].n = n;
    }
    return g_keep[slot].p;
}

void pp_conv_scratch_free(void) {
    for (int i = 0; i < 3; i++) {
        pp_free_aligned(g_keep[i].p);
        g_keep[i].p = NULL, g_keep[i].n = 0;
    }
}

void pp_conv_forward(float *out, const float *const *in, int nin, const float *W, const float *b,
                     const pp_conv_shape *s) {
    fwd_plan f = {.s = s, .in = in, .nin = nin, .To = pp_conv_out_frames(s, nin)};
    if (f.To <= 0) return;
    geom_make(&f.g, s);
    geom *g = &f.g;
    fwd_kern kn = {.direct = pp_conv_nt > 0 && !pp_ops_portable, .b = b};
    kn.MR = kn.direct ? pp_conv_mr : 1;
    kn.ncb = cdiv(s->cout, kn.MR);
    int K = g->K, all = g->raw || g->fsz * nin <= PREP_BUDGET;
    size_t fo = (size_t)g->ho * g->wo * s->cout;
    /* weights: direct = [ncb][K][MR] blocks (zero rows past cout); sgemm = [cout][K] */
    float *Wr = keep_get(1, (size_t)s->cout * K), *A = NULL, *bias = NULL;
    reorder_weights(Wr, W, s);
    if (kn.direct) {
        A = keep_get(2, (size_t)kn.ncb * K * kn.MR);
        memset(A, 0, (size_t)kn.ncb * K * kn.MR * sizeof(float));
        bias = pp_zalloc_floats((size_t)kn.ncb * kn.MR);
        for (int co = 0; co < s->cout; co++) {
            for (int k = 0; k < K; k++)
                A[((size_t)(co / kn.MR) * K + k) * kn.MR + co % kn.MR] = Wr[(size_t)co * K + k];
            bias[co] = b ? b[co] : 0.0f;
        }
    }
    kn.A = A, kn.bias = bias, kn.Wr = Wr;
    f.nslot = all ? nin : s->kt;
    if (!g->raw) f.ring = keep_get(0, (size_t)f.nslot * g->fsz);
    for (int t = 0; t < 8; t++) f.slot_of[t] = -1;
    int need_z = 0;
    for (int i = 1; i < nin; i++) need_z |= !in[i] && in[i - 1];
    if (need_z) f.zprep = pp_zalloc_floats(g->fsz + (size_t)g->wp * 4);
    f.prep_idx = pp_malloc((size_t)nin * sizeof(int));
    f.kt0 = pp_malloc((size_t)f.To * sizeof(int));
    f.rows = pp_malloc((size_t)K * (all ? f.To : 1) * sizeof *f.rows);
    if (all) {
        for (int j = 0; j < f.To; j++) fwd_plan_frame(&f, j, f.rows + (size_t)j * K, &f.kt0[j]);
        for (int i = 0; i < nin && !g->raw; i++)
            if (in[i]) f.prep_idx[f.nprep++] = i;
    }
    kn.nb = kn.direct ? pp_conv_nt : blas_tile(K, g->np);
    kn.ntile = cdiv(g->np, kn.nb);
    size_t tmp_sz = (size_t)(kn.direct ? kn.MR : s->cout) * kn.nb + (kn.direct ? 0 : (size_t)K * kn.nb);
    float *scratch = pp_alloc_floats(tmp_sz * pp_nthreads());
    /* a tile's sgemm must run inside an active region from OpenBLAS's own threading
     * size (4 x 65536 multiply-adds, base/threads.h) down: outside one it splits the
     * product by the thread count, and kernels such as Haswell round the pieces
     * differently, so the bytes would depend on the thread count */
    double work = 2.0 * s->cout * K * g->np * f.To;
#pragma omp parallel if (work > (double)PP_PAR_MIN)
    {
        float *tmp = scratch + tmp_sz * pp_tid();
        for (int j = 0; j < (all ? 1 : f.To); j++) {
            if (!all) {
#pragma omp single
                {
                    f.nprep = 0;
                    fwd_plan_frame(&f, j, f.rows, &f.kt0[j]);
                }
            }
#pragma omp for schedule(static)
            for (int it = 0; it < f.nprep * s->cin; it++) {
                int i = f.prep_idx[it / s->cin], ci = it % s->cin;
                prep_channels(f.ring + (size_t)(all ? i : i % s->kt) * g->fsz, in[i], s, g, ci, ci + 1);
            }
            int j0 = all ? 0 : j, nj = all ? f.To : 1;
#pragma omp for schedule(dynamic)
            for (int task = 0; task < nj * kn.ntile; task++) {
                int jj = j0 + task / kn.ntile;
                fwd_tile(&f, &kn, out + fo * jj, f.rows + (all ? (size_t)jj * K : 0), f.kt0[jj],
                         task % kn.ntile, tmp);
            }
        }
    }
    pp_free_aligned(scratch), pp_free_aligned(bias), pp_free_aligned(f.zprep);
    free(f.rows), free(f.kt0), free(f.prep_idx), free(g->rowoff);
}

/* ------------------------------------------------------------------ backward */

/* d/d(input) of a stride-1 SAME conv is itself one: the kernel transposed in
 * channels and flipped in time and space, over dout's frames in reverse causal
 * order (stream frame m holds dout frame m - (kt-1)). Run by the forward's direct
 * kernel into a scratch [nin - i0, cin, h, w], then added to din. */
static void backward_dx_direct(float *const *din, const float *dout, int To, int nin, const float *W,
                               const pp_conv_shape *s) {
    int i0 = 0, kt = s->kt, k = s->kh, kk = k * k;
    while (i0 < nin && !din[i0]) i0++;
    if (i0 == nin) return;
    pp_conv_shape t = *s;
    t.cin = s->cout, t.cout = s->cin;
    size_t fo = (size_t)s->cout * s->h * s->w, fi = (size_t)s->cin * s->h * s->w;
    float *Wt = pp_alloc_floats((size_t)s->cin * s->cout * kt * kk);
    for (int co = 0; co < s->cout; co++)
        for (int ci = 0; ci < s->cin; ci++)
            for (int q = 0; q < kt; q++)
                for (int r = 0; r < kk; r++)
                    Wt[(((size_t)ci * s->cout + co) * kt + q) * kk + r] =
                        W[(((size_t)co * s->cin + ci) * kt + (kt - 1 - q)) * kk + (kk - 1 - r)];
    int L = nin - i0 + kt - 1;
    const float **list = pp_malloc((size_t)L * sizeof *list);
    for (int m = 0; m < L; m++) {
        int j = i0 + m - (kt - 1);
        list[m] = j >= 0 && j < To ? dout + fo * j : NULL;
    }
    float *tmp = pp_alloc_floats(fi * (nin - i0));
    pp_conv_forward(tmp, list, L, Wt, NULL, &t);
#pragma omp parallel for schedule(static) if (fi * (nin - i0) > PP_PAR_MIN)
    for (int i = i0; i < nin; i++)
        if (din[i]) {
            const float *src = tmp + fi * (i - i0);
            float *d = din[i];
#pragma omp simd
            for (size_t q = 0; q < fi; q++) d[q] += src[q];
        }
    free(list);
    pp_free_aligned(tmp), pp_free_aligned(Wt);
}

void pp_conv_backward(float *const *din, float *dW, float *db, const float *dout,
                      const float *const *in, int nin, const float *W, const pp_conv_shape *s) {
    int To = pp_conv_out_frames(s, nin);
    if (To <= 0) return;
    geom g;
    geom_make(&g, s);
    int K = g.K, K1 = g.K1, cout = s->cout;
    size_t fo = (size_t)g.ho * g.wo, ffo = fo * cout;
    if (db) /* per channel, in frame then position order */
        for (int co = 0; co < cout; co++) {
            float acc = 0;
            for (int j = 0; j < To; j++) {
                const float *d = dout + ffo * j + fo * co;
                float part = 0;
#pragma omp simd reduction(+ : part)
                for (size_t q = 0; q < fo; q++) part += d[q];
                acc += part;
            }
            db[co] += acc;
        }
    int want_dx = 0;
    for (int i = 0; din && i < nin; i++) want_dx |= din[i] != NULL;
    if (want_dx && s->st == 1 && s->mode == PP_CONV_SAME && pp_conv_nt > 0 && !pp_ops_portable) {
        backward_dx_direct(din, dout, To, nin, W, s);
        want_dx = 0;
    }
    if (!dW && !want_dx) {
        free(g.rowoff);
        return;
    }
    /* prepared inputs (for dW) and gradients in the prepared layout (for dx), per stream frame */
    float *prep = NULL, *dprep = NULL;
    const float **pf = pp_calloc((size_t)nin, sizeof *pf);
    float **dpf = pp_calloc((size_t)nin, sizeof *dpf);
    float *zprep = pp_zalloc_floats(g.fsz);
    if (dW && !g.raw) prep = pp_alloc_floats(g.fsz * nin);
    if (want_dx && !g.raw) dprep = pp_zalloc_floats(g.fsz * nin);
    for (int i = 0; i < nin; i++) {
        pf[i] = !in[i] ? zprep : g.raw ? in[i] : prep ? prep + g.fsz * i : NULL;
        if (want_dx && din[i]) dpf[i] = g.raw ? din[i] : dprep + g.fsz * i;
    }
    float *Wr = pp_alloc_floats((size_t)cout * K), *dWr = dW ? pp_zalloc_floats((size_t)cout * K) : NULL;
    reorder_weights(Wr, W, s);
    int nb = blas_tile(K, g.np), ntile = cdiv(g.np, nb), KP = 64, nkp = cdiv(K, KP);
    float *col = pp_alloc_floats((size_t)K * nb), *dcol = pp_alloc_floats((size_t)K * nb);
    float *doutp = pp_alloc_floats((size_t)cout * g.np);
    double work = 4.0 * cout * K * g.np * To; /* inside a region from small sizes on: see the forward */
#pragma omp parallel if (work > (double)PP_PAR_MIN)
    {
        if (prep) {
#pragma omp for schedule(static)
            for (int it = 0; it < nin * s->cin; it++)
                if (in[it / s->cin])
                    prep_channels(prep + g.fsz * (it / s->cin), in[it / s->cin], s, &g, it % s->cin,
                                  it % s->cin + 1);
        }
        for (int j = 0; j < To; j++) {
            int base = j * s->st, kt0 = 0;
            while (kt0 < s->kt && !in[base + kt0]) kt0++;
            int k0 = kt0 * K1;
            /* dout of frame j in the flattened position layout (zeros where x >= wo) */
#pragma omp for schedule(static)
            for (int co = 0; co < cout; co++) {
                float *d = doutp + (size_t)co * g.np;
                memset(d, 0, (size_t)g.np * sizeof(float));
                for (int y = 0; y < g.ho; y++)
                    memcpy(d + (size_t)y * g.wp, dout + ffo * j + fo * co + (size_t)y * g.wo,
                           (size_t)g.wo * sizeof(float));
            }
            for (int tile = 0; tile < ntile && k0 < K; tile++) {
                int p0 = tile * nb, n = g.np - p0 < nb ? g.np - p0 : nb;
                if (dW) {
#pragma omp for schedule(static)
                    for (int k = k0; k < K; k++)
                        memcpy(col + (size_t)k * nb, pf[base + k / K1] + g.rowoff[k % K1] + p0,
                               (size_t)n * sizeof(float));
                }
                /* dW[:, panel] += doutp[:, tile] col[panel, tile]^T; dcol[panel] = Wr[:, panel]^T doutp[:, tile] */
#pragma omp for schedule(dynamic)
                for (int kp = k0 / KP; kp < nkp; kp++) {
                    int a = kp * KP > k0 ? kp * KP : k0, e = (kp + 1) * KP < K ? (kp + 1) * KP : K;
                    if (dW)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cout, e - a, n, 1.0f,
                                    doutp + p0, g.np, col + (size_t)a * nb, nb, 1.0f, dWr + a, K);
                    if (want_dx)
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, e - a, n, cout, 1.0f, Wr + a,
                                    K, doutp + p0, g.np, 0.0f, dcol + (size_t)a * nb, nb);
                }
                if (want_dx) { /* scatter: each input channel's views add into its own planes */
#pragma omp for schedule(static)
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int t = kt0; t < s->kt; t++) {
                            float *d = dpf[base + t];
                            if (!d) continue;
                            int kk = s->kh * s->kw;
                            for (int r = ci * kk; r < (ci + 1) * kk; r++) {
                                float *dst = d + g.rowoff[r] + p0;
                                const float *src = dcol + ((size_t)t * K1 + r) * nb;
#pragma omp simd
                                for (int q = 0; q < n; q++) dst[q] += src[q];
                            }
                        }
                }
            }
        }
        if (dprep) {
#pragma omp for schedule(static)
            for (int it = 0; it < nin * s->cin; it++)
                if (din[it / s->cin])
                    unprep_channels(din[it / s->cin], dprep + g.fsz * (it / s->cin), s, &g, it % s->cin,
                                    it % s->cin + 1);
        }
    }
    if (dW) { /* back to [cout, cin, kt, kh, kw] */
        int kk = s->kh * s->kw;
        for (int co = 0; co < cout; co++)
            for (int t = 0; t < s->kt; t++)
                for (int ci = 0; ci < s->cin; ci++) {
                    const float *src = dWr + (size_t)co * K + ((size_t)t * s->cin + ci) * kk;
                    float *dst = dW + (((size_t)co * s->cin + ci) * s->kt + t) * kk;
                    for (int q = 0; q < kk; q++) dst[q] += src[q];
                }
    }
    pp_free_aligned(prep), pp_free_aligned(dprep), pp_free_aligned(zprep), pp_free_aligned(Wr);
    pp_free_aligned(dWr), pp_free_aligned(col), pp_free_aligned(dcol), pp_free_aligned(doutp);
    free(pf), free(dpf), free(g.rowoff);
}
