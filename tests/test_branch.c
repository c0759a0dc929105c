/* test_branch.c - the physical branch's own layers and losses (src/branch/):
 * forward against naive double-precision references, backward against central
 * differences, top-k selection, masks, balance-loss values, determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "branch/branch.h"
#include "base/common.h"
#include "nn/params.h"
#include "base/rng.h"
#include "test.h"

/* ================================================================ helpers */

static float *bt_randn(size_t n, uint64_t seed, float std) {
    pp_rng r;
    pp_rng_seed(&r, seed);
    float *x = pp_alloc_floats(n);
    pp_rng_fill_normal(&r, x, n, std);
    return x;
}

static double bt_dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Central differences of loss(ctx) w.r.t. x [n] at up to `ns` spread elements
 * against the analytic gradient g: returns ||num - g|| / ||num|| over them. */
static double bt_fd(double (*loss)(void *), void *ctx, float *x, const float *g, size_t n, int ns,
                    float eps) {
    size_t step = n > (size_t)ns ? n / (size_t)ns : 1;
    double num2 = 0, diff2 = 0;
    for (size_t i = step / 2; i < n; i += step) {
        float save = x[i];
        x[i] = save + eps;
        double lp = loss(ctx);
        x[i] = save - eps;
        double lm = loss(ctx);
        x[i] = save;
        double num = (lp - lm) / (2.0 * (double)eps);
        num2 += num * num;
        diff2 += (num - g[i]) * (num - g[i]);
    }
    return num2 > 1e-20 ? sqrt(diff2 / num2) : sqrt(diff2);
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }
static double gelu_ref(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
static void softmax_ref(double *p, const double *z, int n) {
    double mx = z[0], s = 0;
    for (int i = 1; i < n; i++) mx = fmax(mx, z[i]);
    for (int i = 0; i < n; i++) s += (p[i] = exp(z[i] - mx));
    for (int i = 0; i < n; i++) p[i] /= s;
}
/* y[o] = W[o,:] . x + b[o] in double; W [out,in] */
static void linear_ref(double *y, const double *x, const float *W, const float *b, int in, int out) {
    for (int o = 0; o < out; o++) {
        double s = b ? b[o] : 0.0;
        for (int i = 0; i < in; i++) s += (double)W[(size_t)o * in + i] * x[i];
        y[o] = s;
    }
}

/* ================================================================ trilinear */

/* 1D linear interpolation along one axis of a [outer, n_in, inner] array, align_corners=false */
static void interp1_ref(double *dst, const double *src, int outer, int nin, int nout, int inner) {
    for (int o = 0; o < outer; o++)
        for (int d = 0; d < nout; d++) {
            double s = ((double)d + 0.5) * nin / nout - 0.5;
            if (s < 0) s = 0;
            int i0 = (int)floor(s);
            if (i0 > nin - 1) i0 = nin - 1;
            int i1 = i0 + 1 < nin ? i0 + 1 : nin - 1;
            double l = s - i0;
            for (int c = 0; c < inner; c++)
                dst[((size_t)o * nout + d) * inner + c] =
                    (1 - l) * src[((size_t)o * nin + i0) * inner + c] +
                    l * src[((size_t)o * nin + i1) * inner + c];
        }
}

/* separable reference: w, then h, then f */
static void trilinear_ref(double *dst, const float *src, int E, int C, int sf, int sh, int sw, int df,
                          int dh, int dw) {
    size_t n0 = (size_t)E * sf * sh * sw * C;
    double *a = malloc(sizeof(double) * n0), *b = malloc(sizeof(double) * (size_t)E * sf * sh * dw * C);
    double *c2 = malloc(sizeof(double) * (size_t)E * sf * dh * dw * C);
    for (size_t i = 0; i < n0; i++) a[i] = src[i];
    interp1_ref(b, a, E * sf * sh, sw, dw, C);
    interp1_ref(c2, b, E * sf, sh, dh, dw * C);
    interp1_ref(dst, c2, E, sf, df, dh * dw * C);
    free(a), free(b), free(c2);
}

TEST(branch_trilinear_known_values) {
    float src[4] = {0, 1, 2, 3}, up[4], down[2];
    pp_trilinear_forward(up, src, 1, 1, 1, 1, 2, 1, 1, 4); /* [0,1] -> 4 */
    CHECK_NEAR(up[0], 0.0, 1e-7);
    CHECK_NEAR(up[1], 0.25, 1e-7);
    CHECK_NEAR(up[2], 0.75, 1e-7);
    CHECK_NEAR(up[3], 1.0, 1e-7);
    pp_trilinear_forward(down, src, 1, 1, 1, 4, 1, 1, 2, 1); /* along h: 4 -> 2 */
    CHECK_NEAR(down[0], 0.5, 1e-7);
    CHECK_NEAR(down[1], 2.5, 1e-7);
}

TEST(branch_trilinear_matches_separable_ref_and_identity) {
    int E = 2, C = 3, sf = 2, sh = 3, sw = 4;
    int grids[3][3] = {{3, 2, 5}, {1, 5, 2}, {2, 3, 4}};
    size_t ns = (size_t)E * sf * sh * sw * C;
    float *src = bt_randn(ns, 1, 1.0f);
    for (int g = 0; g < 3; g++) {
        int df = grids[g][0], dh = grids[g][1], dw = grids[g][2];
        size_t nd = (size_t)E * df * dh * dw * C;
        float *dst = pp_alloc_floats(nd);
        double *ref = malloc(sizeof(double) * nd);
        pp_trilinear_forward(dst, src, E, C, sf, sh, sw, df, dh, dw);
        trilinear_ref(ref, src, E, C, sf, sh, sw, df, dh, dw);
        double err = 0;
        for (size_t i = 0; i < nd; i++) err = fmax(err, fabs(dst[i] - ref[i]));
        CHECK_MSG(err < 1e-5, "grid %d: max err %g", g, err);
        if (g == 2) CHECK(memcmp(dst, src, ns * sizeof(float)) == 0); /* same grid: identity */
        pp_free_aligned(dst);
        free(ref);
    }
    pp_free_aligned(src);
}

/* the backward is the forward's adjoint: <A x, y> = <x, A^T y>, and it accumulates */
TEST(branch_trilinear_backward_is_adjoint) {
    int E = 3, C = 70, sf = 2, sh = 3, sw = 4, df = 3, dh = 5, dw = 2; /* C > one chunk */
    size_t ns = (size_t)E * sf * sh * sw * C, nd = (size_t)E * df * dh * dw * C;
    float *x = bt_randn(ns, 2, 1.0f), *y = bt_randn(nd, 3, 1.0f), *ax = pp_alloc_floats(nd);
    float *aty = pp_zalloc_floats(ns);
    pp_trilinear_forward(ax, x, E, C, sf, sh, sw, df, dh, dw);
    pp_trilinear_backward(aty, y, E, C, sf, sh, sw, df, dh, dw);
    double l = bt_dot(ax, y, nd), r = bt_dot(x, aty, ns);
    CHECK_NEAR(l, r, 1e-4 * fabs(l) + 1e-4);
    pp_trilinear_backward(aty, y, E, C, sf, sh, sw, df, dh, dw);
    CHECK_NEAR(bt_dot(x, aty, ns), 2 * r, 1e-4 * fabs(r) + 1e-4);
    pp_free_aligned(x), pp_free_aligned(y), pp_free_aligned(ax), pp_free_aligned(aty);
}

/* ================================================================ SEB */

typedef struct {
    pp_seb m;
    pp_params t;
    pp_seb_acts a;
    float *P, *G, *x, *pooled, *out, *R, *S; /* R: dL/dout, S: dL/drho */
    int B, gf, gh, gw, N;
} seb_case;

static void seb_setup(seb_case *s, int gf, int gh, int gw) {
    memset(s, 0, sizeof *s);
    pp_seb_cfg cfg = {.E = 3, .C = 5, .text_dim = 6, .hidden = 7, .gf0 = 2, .gh0 = 3, .gw0 = 4};
    CHECK(pp_seb_declare(&s->m, &s->t, &cfg) == 0);
    s->P = pp_zalloc_floats(s->t.total);
    s->G = pp_zalloc_floats(s->t.total);
    pp_rng r;
    pp_rng_seed(&r, 11);
    pp_seb_init(&s->m, s->P, &r);
    /* larger maps than the init's 0.02 so the router's gradient is well above noise */
    pp_rng_fill_normal(&r, s->P + s->m.basis, (size_t)3 * 24 * 5, 0.5f);
    s->B = 2, s->gf = gf, s->gh = gh, s->gw = gw, s->N = gf * gh * gw;
    size_t nx = (size_t)s->B * s->N * cfg.C;
    s->x = bt_randn(nx, 12, 1.0f);
    s->pooled = bt_randn((size_t)s->B * cfg.text_dim, 13, 1.0f);
    s->out = pp_alloc_floats(nx);
    s->R = bt_randn(nx, 14, 1.0f);
    s->S = bt_randn((size_t)s->B * cfg.E, 15, 1.0f);
}

static void seb_teardown(seb_case *s) {
    pp_seb_acts_free(&s->a);
    pp_params_free(&s->t);
    pp_free_aligned(s->P), pp_free_aligned(s->G), pp_free_aligned(s->x);
    pp_free_aligned(s->pooled), pp_free_aligned(s->out), pp_free_aligned(s->R);
    pp_free_aligned(s->S);
}

/* L = sum(out * R) + sum(rho_s * S) */
static double seb_loss(void *ctx) {
    seb_case *s = ctx;
    pp_seb_forward(&s->m, s->P, &s->a, s->out, s->x, s->pooled, s->B, s->gf, s->gh, s->gw);
    size_t nx = (size_t)s->B * s->N * s->m.cfg.C;
    return bt_dot(s->out, s->R, nx) + bt_dot(s->a.rho, s->S, (size_t)s->B * s->m.cfg.E);
}

static void seb_forward_ref_check(seb_case *s) {
    const pp_seb_cfg *c = &s->m.cfg;
    int C = c->C, E = c->E, N = s->N;
    double *maps = malloc(sizeof(double) * (size_t)E * N * C);
    trilinear_ref(maps, s->P + s->m.basis, E, C, c->gf0, c->gh0, c->gw0, s->gf, s->gh, s->gw);
    seb_loss(s);
    double err = 0, rerr = 0;
    for (int b = 0; b < s->B; b++) {
        double pin[16], h[16], z[16], rho[16];
        for (int i = 0; i < c->text_dim; i++) pin[i] = s->pooled[b * c->text_dim + i];
        linear_ref(h, pin, s->P + s->m.r0w, s->P + s->m.r0b, c->text_dim, c->hidden);
        for (int i = 0; i < c->hidden; i++) h[i] = h[i] * sigm(h[i]);
        linear_ref(z, h, s->P + s->m.r2w, s->P + s->m.r2b, c->hidden, E);
        softmax_ref(rho, z, E);
        for (int e = 0; e < E; e++) rerr = fmax(rerr, fabs(rho[e] - s->a.rho[b * E + e]));
        for (size_t j = 0; j < (size_t)N * C; j++) {
            double v = s->x[(size_t)b * N * C + j];
            for (int e = 0; e < E; e++) v += rho[e] * maps[(size_t)e * N * C + j];
            err = fmax(err, fabs(v - s->out[(size_t)b * N * C + j]));
        }
    }
    CHECK_MSG(rerr < 1e-6, "rho_s max err %g", rerr);
    CHECK_MSG(err < 1e-5, "SEB out max err %g", err);
    free(maps);
}

static void seb_grad_check(int gf, int gh, int gw) {
    seb_case s;
    seb_setup(&s, gf, gh, gw);
    seb_forward_ref_check(&s);
    const pp_seb_cfg *c = &s.m.cfg;
    size_t nx = (size_t)s.B * s.N * c->C, np = (size_t)s.B * c->text_dim;
    float *dx = pp_zalloc_floats(nx), *dp = pp_zalloc_floats(np);
    seb_loss(&s);
    pp_seb_backward(&s.m, s.P, s.G, &s.a, dx, dp, s.R, s.S, s.pooled);
    CHECK(pp_rel_err(dx, s.R, nx) < 1e-7); /* the residual path */
    double e;
    CHECK_MSG((e = bt_fd(seb_loss, &s, s.pooled, dp, np, 12, 1e-2f)) < 1e-2, "dpooled %g", e);
    const size_t offs[5] = {s.m.basis, s.m.r0w, s.m.r0b, s.m.r2w, s.m.r2b};
    const char *names[5] = {"basis", "r0w", "r0b", "r2w", "r2b"};
    for (int i = 0; i < 5; i++) {
        const pp_param *p = &s.t.p[i];
        CHECK(p->offset == offs[i]);
        e = bt_fd(seb_loss, &s, s.P + p->offset, s.G + p->offset, p->numel, 24, 1e-2f);
        CHECK_MSG(e < 1e-2, "grid %dx%dx%d %s: fd err %g", gf, gh, gw, names[i], e);
    }
    pp_free_aligned(dx), pp_free_aligned(dp);
    seb_teardown(&s);
}

TEST(branch_seb_forward_and_grad_reference_grid) { seb_grad_check(2, 3, 4); }
TEST(branch_seb_forward_and_grad_resampled_grid) { seb_grad_check(3, 2, 5); }

TEST(branch_seb_backward_accumulates_and_null_grads) {
    seb_case s;
    seb_setup(&s, 3, 2, 5);
    seb_loss(&s);
    pp_seb_backward(&s.m, s.P, s.G, &s.a, NULL, NULL, s.R, NULL, s.pooled);
    float *g1 = pp_alloc_floats(s.t.total);
    memcpy(g1, s.G, sizeof(float) * s.t.total);
    pp_seb_backward(&s.m, s.P, s.G, &s.a, NULL, NULL, s.R, NULL, s.pooled);
    for (size_t i = 0; i < s.t.total; i++) g1[i] *= 2.0f;
    CHECK(pp_rel_err(s.G, g1, s.t.total) < 1e-6);
    pp_seb_backward(&s.m, s.P, NULL, &s.a, NULL, NULL, s.R, NULL, s.pooled); /* no crash */
    pp_free_aligned(g1);
    seb_teardown(&s);
}

/* ================================================================ REB */

typedef struct {
    pp_reb m;
    pp_params t;
    pp_reb_acts a;
    float *P, *G, *x, *out, *R, *S;
    int T, *sel0, flips;
} reb_case;

static void reb_setup(reb_case *s, int renorm) {
    memset(s, 0, sizeof *s);
    pp_reb_cfg cfg = {.E = 5, .C = 6, .top_k = 2, .renorm = renorm};
    CHECK(pp_reb_declare(&s->m, &s->t, &cfg) == 0);
    s->P = pp_zalloc_floats(s->t.total);
    s->G = pp_zalloc_floats(s->t.total);
    pp_rng r;
    pp_rng_seed(&r, 21);
    pp_reb_init(&s->m, s->P, &r);
    s->T = 10;
    size_t nx = (size_t)s->T * cfg.C;
    s->x = bt_randn(nx, 22, 1.0f);
    s->out = pp_alloc_floats(nx);
    s->R = bt_randn(nx, 23, 1.0f);
    s->S = bt_randn((size_t)s->T * cfg.E, 24, 1.0f);
}

static void reb_teardown(reb_case *s) {
    pp_reb_acts_free(&s->a);
    pp_params_free(&s->t);
    pp_free_aligned(s->P), pp_free_aligned(s->G), pp_free_aligned(s->x);
    pp_free_aligned(s->out), pp_free_aligned(s->R), pp_free_aligned(s->S);
    free(s->sel0);
}

/* L = sum(out * R) + sum(rho_r * S); counts selections that differ from sel0 */
static double reb_loss(void *ctx) {
    reb_case *s = ctx;
    const pp_reb_cfg *c = &s->m.cfg;
    pp_reb_forward(&s->m, s->P, &s->a, s->out, s->x, s->T);
    size_t tk = (size_t)s->T * c->top_k;
    if (s->sel0 && memcmp(s->sel0, s->a.sel, tk * sizeof(int))) s->flips++;
    return bt_dot(s->out, s->R, (size_t)s->T * c->C) + bt_dot(s->a.rho, s->S, (size_t)s->T * c->E);
}

/* naive per-token reference of rho, selection and output */
static void reb_forward_ref_check(reb_case *s) {
    const pp_reb_cfg *c = &s->m.cfg;
    int C = c->C, E = c->E, k = c->top_k;
    reb_loss(s);
    double err = 0;
    int selbad = 0;
    for (int t = 0; t < s->T; t++) {
        double xi[16], z[16], rho[16], y[16], o[16] = {0};
        for (int i = 0; i < C; i++) xi[i] = s->x[t * C + i];
        linear_ref(z, xi, s->P + s->m.rw, s->P + s->m.rb, C, E);
        softmax_ref(rho, z, E);
        int used[16] = {0};
        double sum = 0;
        int sel[16];
        for (int j = 0; j < k; j++) { /* argmax of the rest, first index on ties */
            int best = -1;
            for (int e = 0; e < E; e++)
                if (!used[e] && (best < 0 || rho[e] > rho[best])) best = e;
            used[best] = 1, sel[j] = best, sum += rho[best];
            selbad |= s->a.sel[t * k + j] != best;
        }
        for (int j = 0; j < k; j++) {
            double g = c->renorm ? rho[sel[j]] / sum : rho[sel[j]];
            linear_ref(y, xi, s->P + s->m.ew[sel[j]], s->P + s->m.eb[sel[j]], C, C);
            for (int i = 0; i < C; i++) o[i] += g * y[i];
        }
        for (int i = 0; i < C; i++) err = fmax(err, fabs(o[i] - s->out[t * C + i]));
    }
    CHECK(!selbad);
    CHECK_MSG(err < 1e-5, "REB out max err %g", err);
}

static void reb_grad_check(int renorm) {
    reb_case s;
    reb_setup(&s, renorm);
    reb_forward_ref_check(&s);
    const pp_reb_cfg *c = &s.m.cfg;
    size_t nx = (size_t)s.T * c->C, tk = (size_t)s.T * c->top_k;
    float *dx = pp_zalloc_floats(nx);
    reb_loss(&s);
    s.sel0 = pp_malloc(tk * sizeof(int));
    memcpy(s.sel0, s.a.sel, tk * sizeof(int));
    int used[PP_REB_MAX_EXPERTS] = {0};
    for (size_t i = 0; i < tk; i++) used[s.sel0[i]] = 1;
    pp_reb_backward(&s.m, s.P, s.G, &s.a, dx, s.R, s.S, s.x);
    const float eps = 2e-3f;
    double e;
    CHECK_MSG((e = bt_fd(reb_loss, &s, s.x, dx, nx, 30, eps)) < 1e-2, "dx %g", e);
    for (int i = 0; i < s.t.n; i++) {
        const pp_param *p = &s.t.p[i];
        if (i >= 2 && !used[(i - 2) / 2]) { /* an expert no token chose has no gradient */
            double n2 = bt_dot(s.G + p->offset, s.G + p->offset, p->numel);
            CHECK(n2 == 0.0);
            continue;
        }
        e = bt_fd(reb_loss, &s, s.P + p->offset, s.G + p->offset, p->numel, 24, eps);
        CHECK_MSG(e < 1e-2, "renorm %d %s: fd err %g", renorm, p->name, e);
    }
    CHECK_MSG(s.flips == 0, "%d perturbations changed the top-k selection", s.flips);
    pp_free_aligned(dx);
    reb_teardown(&s);
}

TEST(branch_reb_forward_and_grad_topk) { reb_grad_check(0); }
TEST(branch_reb_forward_and_grad_topk_renorm) { reb_grad_check(1); }

TEST(branch_reb_topk_ties_lower_index) {
    float p[5] = {0.2f, 0.3f, 0.3f, 0.1f, 0.1f};
    int sel[4];
    pp_topk_row(sel, p, 5, 3);
    CHECK(sel[0] == 1 && sel[1] == 2 && sel[2] == 0);
    float u[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    pp_topk_row(sel, u, 4, 4);
    CHECK(sel[0] == 0 && sel[1] == 1 && sel[2] == 2 && sel[3] == 3);
}

/* grouping: every (token, slot) is in its expert's rows, rows sorted by token */
TEST(branch_reb_grouping_consistent) {
    reb_case s;
    reb_setup(&s, 0);
    reb_loss(&s);
    const pp_reb_cfg *c = &s.m.cfg;
    int k = c->top_k, ok = 1, total = 0;
    for (int e = 0; e < c->E; e++) {
        total += s.a.count[e];
        for (int r = s.a.start[e]; r < s.a.start[e + 1]; r++)
            ok &= r == s.a.start[e] || s.a.tok[r] > s.a.tok[r - 1];
    }
    for (int t = 0; t < s.T; t++)
        for (int j = 0; j < k; j++) {
            int e = s.a.sel[t * k + j], r = s.a.pos[t * k + j];
            ok &= r >= s.a.start[e] && r < s.a.start[e + 1] && s.a.tok[r] == t;
            ok &= memcmp(s.a.xg + (size_t)r * c->C, s.x + (size_t)t * c->C, c->C * sizeof(float)) == 0;
        }
    CHECK(ok);
    CHECK(total == s.T * k);
    reb_teardown(&s);
}

TEST(branch_reb_seb_deterministic) {
    float *o1, *g1;
    size_t n, ng;
    for (int rep = 0; rep < 2; rep++) {
        reb_case s;
        reb_setup(&s, 0);
        n = (size_t)s.T * s.m.cfg.C, ng = s.t.total;
        float *dx = pp_zalloc_floats(n);
        reb_loss(&s);
        pp_reb_backward(&s.m, s.P, s.G, &s.a, dx, s.R, s.S, s.x);
        if (rep == 0) {
            o1 = pp_alloc_floats(n), g1 = pp_alloc_floats(ng);
            memcpy(o1, s.out, n * sizeof(float)), memcpy(g1, s.G, ng * sizeof(float));
        } else {
            CHECK(memcmp(o1, s.out, n * sizeof(float)) == 0);
            CHECK(memcmp(g1, s.G, ng * sizeof(float)) == 0);
        }
        pp_free_aligned(dx);
        reb_teardown(&s);
    }
    pp_free_aligned(o1), pp_free_aligned(g1);
    for (int rep = 0; rep < 2; rep++) {
        seb_case s;
        seb_setup(&s, 3, 2, 5);
        n = (size_t)s.B * s.N * s.m.cfg.C, ng = s.t.total;
        seb_loss(&s);
        pp_seb_backward(&s.m, s.P, s.G, &s.a, NULL, NULL, s.R, s.S, s.pooled);
        if (rep == 0) {
            o1 = pp_alloc_floats(n), g1 = pp_alloc_floats(ng);
            memcpy(o1, s.out, n * sizeof(float)), memcpy(g1, s.G, ng * sizeof(float));
        } else {
            CHECK(memcmp(o1, s.out, n * sizeof(float)) == 0);
            CHECK(memcmp(g1, s.G, ng * sizeof(float)) == 0);
        }
        seb_teardown(&s);
    }
    pp_free_aligned(o1), pp_free_aligned(g1);
}

/* ================================================================ losses */

typedef struct {
    pp_align m;
    pp_params t;
    float *P, *G, *rho_s, *q, *rho_r, *Q, *labels;
    int B, N;
} align_case;

static void softmax_rows(float *x, int M, int C) {
    for (int i = 0; i < M; i++) {
        double z[64], p[64];
        for (int j = 0; j < C; j++) z[j] = x[i * C + j];
        softmax_ref(p, z, C);
        for (int j = 0; j < C; j++) x[i * C + j] = (float)p[j];
    }
}

static void align_setup(align_case *s, int squared, int fine_sum) {
    memset(s, 0, sizeof *s);
    pp_align_cfg cfg = {.E_s = 4, .E_r = 5, .fine_hidden = 8, .coarse_squared = squared,
                        .fine_sum = fine_sum, .coarse = 1, .fine = 1};
    CHECK(pp_align_declare(&s->m, &s->t, &cfg) == 0);
    s->P = pp_zalloc_floats(s->t.total);
    s->G = pp_zalloc_floats(s->t.total);
    pp_rng r;
    pp_rng_seed(&r, 31);
    pp_align_init_coarse(&s->m, s->P, &r);
    pp_align_init_fine(&s->m, s->P, &r);
    s->B = 4, s->N = 6;
    s->rho_s = bt_randn((size_t)s->B * 4, 32, 1.0f);
    softmax_rows(s->rho_s, s->B, 4);
    s->q = pp_zalloc_floats((size_t)s->B * PP_NCAT);
    int on[4][3] = {{0, 3, 11}, {3, 4, -1}, {0, 1, 3}, {12, -1, -1}};
    for (int b = 0; b < s->B; b++)
        for (int j = 0; j < 3; j++)
            if (on[b][j] >= 0) s->q[b * PP_NCAT + on[b][j]] = 1.0f;
    s->labels = s->q;
    int T = s->B * s->N;
    s->rho_r = bt_randn((size_t)T * 5, 33, 1.0f);
    softmax_rows(s->rho_r, T, 5);
    s->Q = bt_randn((size_t)T * PP_NCAT, 34, 0.5f);
}

static void align_teardown(align_case *s) {
    pp_params_free(&s->t);
    pp_free_aligned(s->P), pp_free_aligned(s->G), pp_free_aligned(s->rho_s);
    pp_free_aligned(s->q), pp_free_aligned(s->rho_r), pp_free_aligned(s->Q);
}

static double coarse_loss_fd(void *ctx) {
    align_case *s = ctx;
    return pp_coarse_loss(&s->m, s->P, NULL, NULL, s->rho_s, s->q, s->B, 1.0f);
}

static double cos_ref(const double *a, const double *b) {
    double d = 0, na = 0, nb = 0;
    for (int c = 0; c < PP_NCAT; c++) d += a[c] * b[c], na += a[c] * a[c], nb += b[c] * b[c];
    return d / (fmax(sqrt(na), 1e-8) * fmax(sqrt(nb), 1e-8));
}

static void coarse_case(int squared) {
    align_case s;
    align_setup(&s, squared, 0);
    /* reference value */
    double qh[4][PP_NCAT], qd[4][PP_NCAT], ref = 0;
    for (int b = 0; b < s.B; b++) {
        double r[4];
        for (int e = 0; e < 4; e++) r[e] = s.rho_s[b * 4 + e];
        linear_ref(qh[b], r, s.P + s.m.cw, s.P + s.m.cb, 4, PP_NCAT);
        for (int c = 0; c < PP_NCAT; c++) qd[b][c] = s.q[b * PP_NCAT + c];
    }
    for (int i = 0; i < s.B; i++)
        for (int j = i + 1; j < s.B; j++) {
            double d = cos_ref(qh[i], qh[j]) - cos_ref(qd[i], qd[j]);
            ref += squared ? d * d : fabs(d);
        }
    float *drho = pp_zalloc_floats((size_t)s.B * 4);
    float L = pp_coarse_loss(&s.m, s.P, s.G, drho, s.rho_s, s.q, s.B, 1.0f);
    CHECK_NEAR(L, ref, 1e-5 * fabs(ref) + 1e-6);
    double e;
    CHECK_MSG((e = bt_fd(coarse_loss_fd, &s, s.rho_s, drho, (size_t)s.B * 4, 16, 1e-3f)) < 1e-2,
              "drho_s %g", e);
    CHECK_MSG((e = bt_fd(coarse_loss_fd, &s, s.P + s.m.cw, s.G + s.m.cw, (size_t)PP_NCAT * 4, 30,
                         1e-3f)) < 1e-2, "dW %g", e);
    CHECK_MSG((e = bt_fd(coarse_loss_fd, &s, s.P + s.m.cb, s.G + s.m.cb, PP_NCAT, 17, 1e-3f)) < 1e-2,
              "db %g", e);
    /* dloss scales the gradients */
    float *drho2 = pp_zalloc_floats((size_t)s.B * 4);
    pp_coarse_loss(&s.m, s.P, NULL, drho2, s.rho_s, s.q, s.B, 0.1f);
    for (int i = 0; i < s.B * 4; i++) drho[i] *= 0.1f;
    CHECK(pp_rel_err(drho2, drho, (size_t)s.B * 4) < 1e-6);
    pp_free_aligned(drho), pp_free_aligned(drho2);
    align_teardown(&s);
}

TEST(branch_coarse_loss_value_and_grad_l1) { coarse_case(0); }
TEST(branch_coarse_loss_value_and_grad_squared) { coarse_case(1); }

TEST(branch_coarse_loss_edge_cases) {
    align_case s;
    align_setup(&s, 0, 0);
    float *drho = pp_zalloc_floats((size_t)s.B * 4);
    CHECK(pp_coarse_loss(&s.m, s.P, s.G, drho, s.rho_s, s.q, 1, 1.0f) == 0.0f); /* B = 1 */
    double g2 = bt_dot(drho, drho, 4) + bt_dot(s.G, s.G, s.t.total);
    CHECK(g2 == 0.0);
    /* a video with no category: its Q row is 0, everything stays finite */
    memset(s.q + PP_NCAT, 0, PP_NCAT * sizeof(float));
    float L = pp_coarse_loss(&s.m, s.P, s.G, drho, s.rho_s, s.q, s.B, 1.0f);
    CHECK(isfinite(L) && L > 0);
    int fin = 1;
    for (size_t i = 0; i < s.t.total; i++) fin &= isfinite(s.G[i]);
    for (int i = 0; i < s.B * 4; i++) fin &= isfinite(drho[i]);
    CHECK(fin);
    /* identical label vectors and identical routings: P = Q = 1, loss 0 */
    for (int b = 1; b < s.B; b++) {
        memcpy(s.q + b * PP_NCAT, s.q, PP_NCAT * sizeof(float));
        memcpy(s.rho_s + b * 4, s.rho_s, 4 * sizeof(float));
    }
    CHECK_NEAR(pp_coarse_loss(&s.m, s.P, NULL, NULL, s.rho_s, s.q, s.B, 1.0f), 0.0, 1e-5);
    pp_free_aligned(drho);
    align_teardown(&s);
}

static double fine_loss_fd(void *ctx) {
    align_case *s = ctx;
    return pp_fine_align_loss(&s->m, s->P, NULL, NULL, s->rho_r, s->Q, s->labels, s->B, s->N, 1.0f);
}

TEST(branch_fine_align_mask) {
    align_case s;
    align_setup(&s, 0, 0);
    int T = s.B * s.N;
    unsigned char *mask = malloc((size_t)T * PP_NCAT);
    s.Q[0] = 0.0f; /* token 0, category 0 (labelled): Q = 0 is not > 0 */
    size_t cnt = pp_fine_mask(mask, s.Q, s.labels, s.B, s.N), ref = 0;
    int ok = 1;
    for (int b = 0; b < s.B; b++)
        for (int n = 0; n < s.N; n++)
            for (int c = 0; c < PP_NCAT; c++) {
                size_t i = ((size_t)b * s.N + n) * PP_NCAT + c;
                int want = s.q[b * PP_NCAT + c] == 1.0f && s.Q[i] > 0;
                ok &= mask[i] == want;
                ref += want;
            }
    CHECK(ok && mask[0] == 0);
    CHECK(cnt == ref && cnt > 0);
    /* only masked entries count: changing Q elsewhere changes nothing */
    float L0 = pp_fine_align_loss(&s.m, s.P, NULL, NULL, s.rho_r, s.Q, s.labels, s.B, s.N, 1.0f);
    for (size_t i = 0; i < (size_t)T * PP_NCAT; i++)
        if (!mask[i] && s.Q[i] <= 0) s.Q[i] = -5.0f; /* still masked out */
    s.Q[PP_NCAT + 5] = 7.0f; /* token 1, category 5: absent from video 0's labels */
    float L1 = pp_fine_align_loss(&s.m, s.P, NULL, NULL, s.rho_r, s.Q, s.labels, s.B, s.N, 1.0f);
    CHECK(L0 == L1);
    /* reference value: mean of the masked squared errors */
    float *pr = pp_alloc_floats((size_t)T * PP_NCAT);
    pp_fine_predict(&s.m, s.P, pr, s.rho_r, T);
    double sum = 0;
    for (size_t i = 0; i < (size_t)T * PP_NCAT; i++)
        if (mask[i]) sum += ((double)pr[i] - s.Q[i]) * ((double)pr[i] - s.Q[i]);
    CHECK_NEAR(L0, sum / cnt, 1e-5 * sum / cnt);
    /* nothing labelled: 0 and no gradient */
    float *none = pp_zalloc_floats((size_t)s.B * PP_NCAT), *dr = pp_zalloc_floats((size_t)T * 5);
    CHECK(pp_fine_align_loss(&s.m, s.P, s.G, dr, s.rho_r, s.Q, none, s.B, s.N, 1.0f) == 0.0f);
    CHECK(bt_dot(dr, dr, (size_t)T * 5) == 0.0 && bt_dot(s.G, s.G, s.t.total) == 0.0);
    pp_free_aligned(pr), pp_free_aligned(none), pp_free_aligned(dr);
    free(mask);
    align_teardown(&s);
}

/* MLP forward against a double reference and the sum / mean normalisations */
TEST(branch_fine_align_predict_and_norm) {
    align_case s, t;
    align_setup(&s, 0, 0);
    align_setup(&t, 0, 1);
    int T = s.B * s.N;
    float *pr = pp_alloc_floats((size_t)T * PP_NCAT);
    pp_fine_predict(&s.m, s.P, pr, s.rho_r, T);
    double err = 0;
    for (int i = 0; i < T; i++) {
        double r[8], h[8], o[PP_NCAT];
        for (int e = 0; e < 5; e++) r[e] = s.rho_r[i * 5 + e];
        linear_ref(h, r, s.P + s.m.f0w, s.P + s.m.f0b, 5, 8);
        for (int j = 0; j < 8; j++) h[j] = gelu_ref(h[j]);
        linear_ref(o, h, s.P + s.m.f2w, s.P + s.m.f2b, 8, PP_NCAT);
        for (int c = 0; c < PP_NCAT; c++) err = fmax(err, fabs(o[c] - pr[i * PP_NCAT + c]));
    }
    CHECK_MSG(err < 1e-5, "fine MLP max err %g", err);
    unsigned char *mask = malloc((size_t)T * PP_NCAT);
    size_t cnt = pp_fine_mask(mask, s.Q, s.labels, s.B, s.N);
    float Lm = pp_fine_align_loss(&s.m, s.P, NULL, NULL, s.rho_r, s.Q, s.labels, s.B, s.N, 1.0f);
    float Ls = pp_fine_align_loss(&t.m, t.P, NULL, NULL, t.rho_r, t.Q, t.labels, t.B, t.N, 1.0f);
    CHECK_NEAR(Ls, Lm * (double)cnt, 1e-5 * Ls);
    free(mask);
    pp_free_aligned(pr);
    align_teardown(&s), align_teardown(&t);
}

static void fine_grad_case(int fine_sum) {
    align_case s;
    align_setup(&s, 0, fine_sum);
    int T = s.B * s.N;
    float *dr = pp_zalloc_floats((size_t)T * 5);
    pp_fine_align_loss(&s.m, s.P, s.G, dr, s.rho_r, s.Q, s.labels, s.B, s.N, 1.0f);
    double e;
    CHECK_MSG((e = bt_fd(fine_loss_fd, &s, s.rho_r, dr, (size_t)T * 5, 30, 1e-3f)) < 1e-2,
              "drho_r %g", e);
    const size_t offs[4] = {s.m.f0w, s.m.f0b, s.m.f2w, s.m.f2b};
    const size_t ns[4] = {8 * 5, 8, (size_t)PP_NCAT * 8, PP_NCAT};
    for (int i = 0; i < 4; i++) {
        e = bt_fd(fine_loss_fd, &s, s.P + offs[i], s.G + offs[i], ns[i], 24, 1e-3f);
        CHECK_MSG(e < 1e-2, "fine param %d: fd err %g", i, e);
    }
    pp_free_aligned(dr);
    align_teardown(&s);
}

TEST(branch_fine_align_grad_mean) { fine_grad_case(0); }
TEST(branch_fine_align_grad_sum) { fine_grad_case(1); }

TEST(branch_balance_loss_values_and_grad) {
    int T = 12, E = 4, k = 2;
    float *rho = pp_alloc_floats((size_t)T * E), *dr = pp_zalloc_floats((size_t)T * E);
    int *sel = malloc(sizeof(int) * T * k);
    for (int i = 0; i < T * E; i++) rho[i] = 0.25f;
    for (int t = 0; t < T; t++) sel[t * k] = t % E, sel[t * k + 1] = (t + 1) % E; /* balanced */
    CHECK_NEAR(pp_balance_loss(NULL, rho, sel, T, E, k, 1.0f), 1.0, 1e-6);
    for (int t = 0; t < T; t++) sel[t * k] = 0, sel[t * k + 1] = 1; /* uniform rho: still 1 */
    CHECK_NEAR(pp_balance_loss(NULL, rho, sel, T, E, k, 1.0f), 1.0, 1e-6);
    for (int t = 0; t < T; t++) /* collapsed onto experts 0, 1 */
        rho[t * E] = 0.5f, rho[t * E + 1] = 0.5f, rho[t * E + 2] = 0.0f, rho[t * E + 3] = 0.0f;
    CHECK_NEAR(pp_balance_loss(NULL, rho, sel, T, E, k, 1.0f), 2.0, 1e-6); /* E * 2 * 0.5 * 0.5 */
    /* gradient: d/drho[t,i] = dloss * E * f_i / T (f constant) */
    float *r = bt_randn((size_t)T * E, 41, 1.0f);
    softmax_rows(r, T, E);
    for (int t = 0; t < T; t++) pp_topk_row(sel + t * k, r + t * E, E, k);
    pp_balance_loss(dr, r, sel, T, E, k, 0.01f);
    double maxe = 0;
    for (int i = 0; i < T * E; i += 5) {
        float save = r[i];
        r[i] = save + 1e-2f;
        double lp = pp_balance_loss(NULL, r, sel, T, E, k, 1.0f);
        r[i] = save - 1e-2f;
        double lm = pp_balance_loss(NULL, r, sel, T, E, k, 1.0f);
        r[i] = save;
        maxe = fmax(maxe, fabs(0.01 * (lp - lm) / 2e-2 - dr[i]));
    }
    CHECK_MSG(maxe < 1e-6, "balance grad max err %g", maxe);
    pp_free_aligned(rho), pp_free_aligned(dr), pp_free_aligned(r);
    free(sel);
}

/* ================================================================ whole: declare + chain */

/* The branch's own layers, declared as the assembled model does: SEB, REB, heads. */
typedef struct {
    pp_seb seb;
    pp_reb reb;
    pp_align align;
} branch_parts;

static int parts_declare(branch_parts *m, pp_params *t, int C, int text_dim, int gf, int gh, int gw,
                         const pp_branch_cfg *c) {
    pp_seb_cfg sc = {.E = c->E_s, .C = C, .text_dim = text_dim, .hidden = c->seb_hidden ? c->seb_hidden : C,
                     .gf0 = gf, .gh0 = gh, .gw0 = gw};
    pp_reb_cfg rc = {.E = c->E_r, .C = C, .top_k = c->top_k, .renorm = c->reb_renorm};
    pp_align_cfg ac = {.E_s = c->E_s, .E_r = c->E_r, .fine_hidden = c->fine_hidden, .coarse = 1, .fine = 1};
    return pp_seb_declare(&m->seb, t, &sc) || pp_reb_declare(&m->reb, t, &rc) ||
                   pp_align_declare(&m->align, t, &ac)
               ? -1
               : 0;
}

static void parts_init(const branch_parts *m, float *P, pp_rng *r) {
    pp_seb_init(&m->seb, P, r);
    pp_reb_init(&m->reb, P, r);
    pp_align_init_coarse(&m->align, P, r);
    pp_align_init_fine(&m->align, P, r);
}

TEST(branch_declare_names_and_bad_config) {
    pp_branch_cfg c = pp_branch_defaults();
    c.E_r = 3;
    pp_params t = {0};
    branch_parts m;
    CHECK(parts_declare(&m, &t, 16, 12, 2, 3, 4, &c) == 0);
    const pp_param *p = pp_params_find(&t, "branch.seb.basis");
    CHECK(p && p->ndim == 3 && p->shape[0] == 8 && p->shape[1] == 24 && p->shape[2] == 16);
    p = pp_params_find(&t, "branch.seb.router.0.weight");
    CHECK(p && p->shape[0] == 16 && p->shape[1] == 12);
    CHECK((p = pp_params_find(&t, "branch.seb.router.2.bias")) && p->shape[0] == 8);
    CHECK((p = pp_params_find(&t, "branch.reb.router.weight")) && p->shape[0] == 3);
    CHECK((p = pp_params_find(&t, "branch.reb.experts.2.weight")) && p->shape[0] == 16);
    CHECK(pp_params_find(&t, "branch.reb.experts.3.weight") == NULL);
    CHECK((p = pp_params_find(&t, "branch.align.coarse.weight")) && p->shape[0] == 17 &&
          p->shape[1] == 8);
    CHECK((p = pp_params_find(&t, "branch.align.fine.0.weight")) && p->shape[0] == 64 &&
          p->shape[1] == 3);
    CHECK((p = pp_params_find(&t, "branch.align.fine.2.bias")) && p->shape[0] == 17);
    CHECK(m.reb.ew[2] == pp_params_find(&t, "branch.reb.experts.2.weight")->offset);
    /* init is deterministic for a seed */
    float *P1 = pp_zalloc_floats(t.total), *P2 = pp_zalloc_floats(t.total);
    pp_rng r1, r2;
    pp_rng_seed(&r1, 5), pp_rng_seed(&r2, 5);
    parts_init(&m, P1, &r1), parts_init(&m, P2, &r2);
    CHECK(memcmp(P1, P2, t.total * sizeof(float)) == 0);
    pp_free_aligned(P1), pp_free_aligned(P2);
    pp_params_free(&t);
    c.top_k = 4; /* > E_r */
    CHECK(parts_declare(&m, &t, 16, 12, 2, 3, 4, &c) != 0);
    CHECK(strstr(pp_lasterr(), "top_k") != NULL);
    pp_params_free(&t);
}

/* REB -> fine-align + balance -> REB backward: the losses' drho_r reach x and the router */
typedef struct {
    branch_parts m;
    pp_params t;
    pp_reb_acts a;
    float *P, *x, *out, *R, *Q, *labels;
    int B, N;
} chain_case;

static double chain_loss(void *ctx) {
    chain_case *s = ctx;
    int T = s->B * s->N, C = s->m.reb.cfg.C;
    pp_reb_forward(&s->m.reb, s->P, &s->a, s->out, s->x, T);
    double L = bt_dot(s->out, s->R, (size_t)T * C);
    L += 0.02 * pp_fine_align_loss(&s->m.align, s->P, NULL, NULL, s->a.rho, s->Q, s->labels, s->B,
                                   s->N, 1.0f);
    L += 0.01 * pp_balance_loss(NULL, s->a.rho, s->a.sel, T, s->m.reb.cfg.E, s->m.reb.cfg.top_k, 1.0f);
    return L;
}

TEST(branch_reb_with_losses_grad) {
    chain_case s;
    memset(&s, 0, sizeof s);
    pp_branch_cfg c = pp_branch_defaults();
    c.E_s = 3, c.E_r = 4, c.fine_hidden = 7, c.seb_hidden = 4;
    CHECK(parts_declare(&s.m, &s.t, 6, 5, 1, 2, 2, &c) == 0);
    s.P = pp_zalloc_floats(s.t.total);
    float *G = pp_zalloc_floats(s.t.total);
    pp_rng r;
    pp_rng_seed(&r, 51);
    parts_init(&s.m, s.P, &r);
    s.B = 2, s.N = 4;
    int T = 8;
    s.x = bt_randn((size_t)T * 6, 52, 1.0f);
    s.out = pp_alloc_floats((size_t)T * 6);
    s.R = bt_randn((size_t)T * 6, 53, 0.1f);
    s.Q = bt_randn((size_t)T * PP_NCAT, 54, 1.0f);
    s.labels = pp_zalloc_floats(2 * PP_NCAT);
    for (int cc = 0; cc < PP_NCAT; cc += 2) s.labels[cc] = 1.0f, s.labels[PP_NCAT + cc + 1] = 1.0f;
    chain_loss(&s);
    float *drho = pp_zalloc_floats((size_t)T * 4), *dx = pp_zalloc_floats((size_t)T * 6);
    pp_fine_align_loss(&s.m.align, s.P, G, drho, s.a.rho, s.Q, s.labels, s.B, s.N, 0.02f);
    pp_balance_loss(drho, s.a.rho, s.a.sel, T, 4, 2, 0.01f);
    pp_reb_backward(&s.m.reb, s.P, G, &s.a, dx, s.R, drho, s.x);
    double e;
    CHECK_MSG((e = bt_fd(chain_loss, &s, s.x, dx, (size_t)T * 6, 24, 2e-3f)) < 1e-2, "dx %g", e);
    CHECK_MSG((e = bt_fd(chain_loss, &s, s.P + s.m.reb.rw, G + s.m.reb.rw, 24, 24, 2e-3f)) < 1e-2,
              "router %g", e);
    CHECK_MSG((e = bt_fd(chain_loss, &s, s.P + s.m.align.f0w, G + s.m.align.f0w, 28, 28, 2e-3f)) <
                  1e-2, "fine.0 %g", e);
    pp_reb_acts_free(&s.a);
    pp_params_free(&s.t);
    pp_free_aligned(s.P), pp_free_aligned(G), pp_free_aligned(s.x), pp_free_aligned(s.out);
    pp_free_aligned(s.R), pp_free_aligned(s.Q), pp_free_aligned(s.labels);
    pp_free_aligned(drho), pp_free_aligned(dx);
}
