/* scheduler.c - see scheduler.h; the formulas are in docs/SAMPLERS.md.
 *
 * The schedules reproduce diffusers' / Wan's float64 (numpy) and float32 (torch)
 * arithmetic operation by operation, one rounding per statement (so that no
 * compiler may fuse a multiply-add), because the model sees trunc(1000 sigma): a
 * last-bit difference could move a timestep by one. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "wan/scheduler.h"

#define MAX_STEPS 10000
#define MAX_ORDER 3

struct pp_sched {
    pp_sched_config c;
    size_t n;
    float *sig;   /* [steps + 1], sig[steps] = 0 */
    float *t;     /* [steps] */
    double *lam;  /* UniPC: [steps] log(1 - sigma) - log(sigma) */
    int next;     /* the step pp_sched_step expects */
    /* UniPC state */
    float *hist[MAX_ORDER]; /* x0 predictions, hist[0] the newest (from step next - 1) */
    int nhist;              /* diffusers' lower_order_nums: valid entries of hist */
    int last_order;         /* order of the last predictor (the next corrector's order) */
    float *last;            /* the sample the last predictor started from */
    float *m;               /* scratch: this step's x0 prediction */
};

/* ---- schedules */

/* numpy.linspace(start, stop, num)[i] for i < num - 1 (the end point is not used). */
static double np_linspace(double start, double stop, int num, int i) {
    if (num < 2) return start;
    double delta = stop - start;
    double step = delta / (double)(num - 1);
    double y = (double)i * step;
    return y + start;
}

/* shift * u / (1 + (shift - 1) * u), float64 (numpy) */
static double shifted64(double shift, double u) {
    double a = shift * u;
    double b = (shift - 1.0) * u;
    double d = 1.0 + b;
    return a / d;
}

/* the same in float32 (torch float32 tensor op python scalar) */
static float shifted32(float shift, float u) {
    float a = shift * u;
    float sm1 = (float)((double)shift - 1.0);
    float b = sm1 * u;
    float d = 1.0f + b;
    return a / d;
}

static double trunc_t(double sigma) {
    double t = sigma * 1000.0;
    return (double)(int64_t)t;
}

static void build_sigmas(pp_sched *s) {
    int N = s->c.steps;
    float S = s->c.shift;
    double S64 = (double)S;
    switch (s->c.sigmas) {
    case PP_SIGMAS_FLOW:
        for (int i = 0; i < N; i++) {
            float u = 1.0f - (float)i / (float)N;
            float a = S * u;
            float b = (S - 1.0f) * u;
            float d = 1.0f + b;
            s->sig[i] = a / d;
            s->t[i] = 1000.0f * s->sig[i];
        }
        break;
    case PP_SIGMAS_UNIPC:
        for (int i = 0; i < N; i++) {
            double sg = shifted64(S64, np_linspace(1.0, 1.0 / 1000.0, N + 1, i));
            if (i == 0 && fabs(sg - 1.0) < 1e-6) sg -= 1e-6;
            s->t[i] = (float)trunc_t(sg);
            s->sig[i] = (float)sg;
        }
        break;
    case PP_SIGMAS_WAN: {
        double smax = (double)(float)(1.0 - 0.001); /* 1 - alphas[0] of the float32 training table */
        for (int i = 0; i < N; i++) {
            double sg = shifted64(S64, np_linspace(smax, 0.0, N + 1, i));
            s->t[i] = (float)trunc_t(sg);
            s->sig[i] = (float)sg;
        }
        break;
    }
    case PP_SIGMAS_FM_EULER: {
        /* the training table's ends: shifted32(1) and shifted32(1/1000), as float32 */
        double smax = (double)shifted32(S, 1.0f), smin = (double)shifted32(S, 1.0f / 1000.0f);
        double t0 = smax * 1000.0, t1 = smin * 1000.0;
        for (int i = 0; i < N; i++) {
            double ts = N == 1 ? t0 : (i == N - 1 ? t1 : np_linspace(t0, t1, N, i));
            double u = ts / 1000.0;
            s->sig[i] = (float)shifted64(S64, u);
            s->t[i] = s->sig[i] * 1000.0f;
        }
        break;
    }
    default: break;
    }
    s->sig[N] = 0.0f;
}

/* ---- UniPC */

/* Solves A x = b (p x p, p <= 3) by Gaussian elimination with partial pivoting. */
static void solve_small(int p, double A[MAX_ORDER][MAX_ORDER], double *b, double *x) {
    for (int c = 0; c < p; c++) {
        int piv = c;
        for (int r = c + 1; r < p; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c])) piv = r;
        if (piv != c) {
            for (int k = 0; k < p; k++) {
                double t = A[c][k];
                A[c][k] = A[piv][k];
                A[piv][k] = t;
            }
            double t = b[c];
            b[c] = b[piv];
            b[piv] = t;
        }
        for (int r = c + 1; r < p; r++) {
            double f = A[r][c] / A[c][c];
            for (int k = c; k < p; k++) A[r][k] -= f * A[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = p - 1; r >= 0; r--) {
        double acc = b[r];
        for (int k = r + 1; k < p; k++) acc -= A[r][k] * x[k];
        x[r] = acc / A[r][r];
    }
}

/* One UniP (corrector = 0) or UniC (corrector = 1) update of order p, in data
 * prediction form, from sigma index s0 to sigma index s0 + 1:
 *   out = (sigma_t / sigma_s0) x - alpha_t (e^{-h} - 1) m0 - alpha_t B(h) sum_k rho_k D_k,
 *   D_k = (m_k - m0) / r_k for the older predictions m_k (sigma index s0 - k),
 *   and for UniC also D = m_t - m0 (the new prediction at sigma_t).
 * m0 = hist[0]; the UniC's m_t is mt. */
static void unipc_update(const pp_sched *s, int s0, int p, int corrector, const float *x, const float *mt,
                         float *out) {
    int t = s0 + 1;
    double sig_t = s->sig[t], sig_s0 = s->sig[s0];
    double alpha_t = 1.0 - sig_t;
    const float *m0 = s->hist[0];
    size_t n = s->n;
    if (sig_t == 0.0) { /* the limit h -> inf: x_t = x0 prediction (only order 1 reaches here) */
        memcpy(out, corrector ? mt : m0, n * sizeof(float));
        return;
    }
    double h = s->lam[t] - s->lam[s0], hh = -h;
    double h_phi_1 = expm1(hh);
    double B = s->c.bh == PP_UNIPC_BH1 ? hh : expm1(hh);
    double rk[MAX_ORDER], rho[MAX_ORDER] = {0};
    int nd = p - 1; /* older predictions used */
    for (int k = 1; k <= nd; k++) rk[k - 1] = (s->lam[s0 - k] - s->lam[s0]) / h;
    rk[nd] = 1.0;
    double b[MAX_ORDER], R[MAX_ORDER][MAX_ORDER];
    double h_phi_k = h_phi_1 / hh - 1.0, fact = 1.0;
    for (int j = 1; j <= p; j++) {
        for (int c = 0; c < p; c++) R[j - 1][c] = pow(rk[c], j - 1);
        b[j - 1] = h_phi_k * fact / B;
        fact *= j + 1;
        h_phi_k = h_phi_k / hh - 1.0 / fact;
    }
    int nrho; /* rho[0..nrho-1] weigh D_1..D_nd, then (UniC) D_t */
    if (!corrector) {
        nrho = nd;
        if (p == 2) {
            rho[0] = 0.5;
        } else if (p == 3) {
            double A[MAX_ORDER][MAX_ORDER] = {{R[0][0], R[0][1]}, {R[1][0], R[1][1]}}, bb[2] = {b[0], b[1]};
            solve_small(2, A, bb, rho);
        }
    } else {
        nrho = p;
        if (p == 1) {
            rho[0] = 0.5;
        } else {
            double bb[MAX_ORDER] = {b[0], b[1], b[2]};
            solve_small(p, R, bb, rho);
        }
    }
    double a = sig_t / sig_s0, c0 = alpha_t * h_phi_1, cb = alpha_t * B;
    double w[MAX_ORDER] = {0}; /* rho_k / r_k for the older predictions */
    for (int k = 0; k < nd && k < nrho; k++) w[k] = rho[k] / rk[k];
    double wt = corrector ? rho[p - 1] : 0.0;
    const float *m1 = nd >= 1 ? s->hist[1] : NULL, *m2 = nd >= 2 ? s->hist[2] : NULL;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t j = 0; j < n; j++) {
        double mj = m0[j], res = 0.0;
        if (m1) res += w[0] * ((double)m1[j] - mj);
        if (m2) res += w[1] * ((double)m2[j] - mj);
        if (corrector) res += wt * ((double)mt[j] - mj);
        out[j] = (float)(a * (double)x[j] - c0 * mj - cb * res);
    }
}

static int unipc_step(pp_sched *s, int i, const float *v, float *x) {
    size_t n = s->n;
    int order = s->c.order, N = s->c.steps;
    double sg = s->sig[i];
    float *m = s->m;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t j = 0; j < n; j++) m[j] = (float)((double)x[j] - sg * (double)v[j]);
    /* corrector: re-derive x_i from the sample the last predictor started from */
    if (i > 0) unipc_update(s, i - 1, s->last_order, 1, s->last, m, x);
    /* push m as the newest prediction */
    float *oldest = s->hist[order - 1];
    for (int k = order - 1; k > 0; k--) s->hist[k] = s->hist[k - 1];
    s->hist[0] = m;
    s->m = oldest;
    int p = order;
    if (N - i < p) p = N - i;         /* lower_order_final */
    if (s->nhist + 1 < p) p = s->nhist + 1; /* warm-up */
    s->last_order = p;
    memcpy(s->last, x, n * sizeof(float));
    unipc_update(s, i, p, 0, s->last, NULL, x);
    if (s->nhist < order) s->nhist++;
    return 0;
}

/* ---- public */

static const char *kind_name(pp_sched_kind k) { return k == PP_SCHED_UNIPC ? "UniPC" : "Euler"; }

pp_sched *pp_sched_new(const pp_sched_config *cfg, size_t n) {
    if (!cfg) {
        pp_seterr("scheduler: no configuration");
        return NULL;
    }
    pp_sched_config c = *cfg;
    if (c.kind != PP_SCHED_EULER && c.kind != PP_SCHED_UNIPC) {
        pp_seterr("scheduler: unknown kind %d (use Euler or UniPC)", (int)c.kind);
        return NULL;
    }
    if (c.steps < 1 || c.steps > MAX_STEPS) {
        pp_seterr("scheduler: %d steps, must be in [1, %d]", c.steps, MAX_STEPS);
        return NULL;
    }
    if (!(c.shift > 0.0f) || !isfinite(c.shift)) {
        pp_seterr("scheduler: shift %g must be a finite number > 0", (double)c.shift);
        return NULL;
    }
    if (c.kind == PP_SCHED_UNIPC && (c.order < 1 || c.order > MAX_ORDER)) {
        pp_seterr("scheduler: UniPC order %d must be 1, 2 or 3", c.order);
        return NULL;
    }
    if (c.kind == PP_SCHED_EULER && (c.order < 0 || c.order > 1)) {
        pp_seterr("scheduler: Euler is first order, order %d must be 0 or 1", c.order);
        return NULL;
    }
    if (c.bh != PP_UNIPC_BH1 && c.bh != PP_UNIPC_BH2) {
        pp_seterr("scheduler: unknown UniPC variant %d (use bh1 or bh2)", (int)c.bh);
        return NULL;
    }
    if (c.sigmas == PP_SIGMAS_DEFAULT) c.sigmas = c.kind == PP_SCHED_UNIPC ? PP_SIGMAS_UNIPC : PP_SIGMAS_FLOW;
    if (c.sigmas < PP_SIGMAS_FLOW || c.sigmas > PP_SIGMAS_FM_EULER) {
        pp_seterr("scheduler: unknown sigma schedule %d", (int)c.sigmas);
        return NULL;
    }
    if (c.kind == PP_SCHED_UNIPC && c.sigmas != PP_SIGMAS_UNIPC && c.sigmas != PP_SIGMAS_WAN) {
        pp_seterr("scheduler: UniPC needs sigma_0 < 1: use the unipc or wan sigma schedule");
        return NULL;
    }
    if (n < 1) {
        pp_seterr("scheduler: a sample must have at least one float");
        return NULL;
    }
    if (c.kind == PP_SCHED_EULER) c.order = 1;
    pp_sched *s = pp_calloc(1, sizeof *s);
    s->c = c;
    s->n = n;
    s->sig = pp_malloc((size_t)(c.steps + 1) * sizeof(float));
    s->t = pp_malloc((size_t)c.steps * sizeof(float));
    build_sigmas(s);
    if (c.kind == PP_SCHED_UNIPC) {
        for (int i = 0; i < c.steps; i++) {
            if (!(s->sig[i] > s->sig[i + 1])) {
                pp_seterr("scheduler: %d steps with shift %g give equal float sigmas at step %d (use fewer steps)",
                          c.steps, (double)c.shift, i);
                pp_sched_free(s);
                return NULL;
            }
        }
        s->lam = pp_malloc((size_t)c.steps * sizeof(double));
        for (int i = 0; i < c.steps; i++) {
            double sg = s->sig[i];
            s->lam[i] = log(1.0 - sg) - log(sg);
        }
        for (int k = 0; k < c.order; k++) s->hist[k] = pp_alloc_floats(n);
        s->m = pp_alloc_floats(n);
        s->last = pp_alloc_floats(n);
    }
    pp_sched_reset(s);
    return s;
}

void pp_sched_free(pp_sched *s) {
    if (!s) return;
    free(s->sig), free(s->t), free(s->lam);
    for (int k = 0; k < MAX_ORDER; k++) pp_free_aligned(s->hist[k]);
    pp_free_aligned(s->m), pp_free_aligned(s->last);
    free(s);
}

void pp_sched_reset(pp_sched *s) {
    s->next = 0;
    s->nhist = 0;
    s->last_order = 0;
}

int pp_sched_steps(const pp_sched *s) { return s->c.steps; }

float pp_sched_t(const pp_sched *s, int i) { return i >= 0 && i < s->c.steps ? s->t[i] : NAN; }

float pp_sched_sigma(const pp_sched *s, int i) { return i >= 0 && i <= s->c.steps ? s->sig[i] : NAN; }

int pp_sched_step(pp_sched *s, int i, const float *v, float *x) {
    if (!s || !v || !x) PP_FAIL("scheduler step: missing scheduler, prediction or sample");
    if (s->next >= s->c.steps)
        PP_FAIL("%s step %d: all %d steps are done (reset the scheduler to run again)", kind_name(s->c.kind), i,
                s->c.steps);
    if (i != s->next)
        PP_FAIL("%s step %d out of order: step %d of %d comes next", kind_name(s->c.kind), i, s->next, s->c.steps);
    if (s->c.kind == PP_SCHED_EULER) {
        float dt = s->sig[i + 1] - s->sig[i];
        size_t n = s->n;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t j = 0; j < n; j++) x[j] = x[j] + dt * v[j];
    } else {
        unipc_step(s, i, v, x);
    }
    s->next++;
    return 0;
}

int pp_sched_kind_parse(const char *s, pp_sched_kind *out) {
    if (s && !strcmp(s, "euler")) *out = PP_SCHED_EULER;
    else if (s && !strcmp(s, "unipc")) *out = PP_SCHED_UNIPC;
    else PP_FAIL("unknown sampler '%s' (use euler or unipc)", s ? s : "");
    return 0;
}

int pp_sigmas_kind_parse(const char *s, pp_sigmas_kind *out) {
    static const char *names[] = {"default", "flow", "unipc", "wan", "fm-euler"};
    for (int k = 0; s && k < 5; k++)
        if (!strcmp(s, names[k])) {
            *out = (pp_sigmas_kind)k;
            return 0;
        }
    PP_FAIL("unknown sigma schedule '%s' (use default, flow, unipc, wan or fm-euler)", s ? s : "");
}

int pp_unipc_bh_parse(const char *s, pp_unipc_bh *out) {
    if (s && !strcmp(s, "bh2")) *out = PP_UNIPC_BH2;
    else if (s && !strcmp(s, "bh1")) *out = PP_UNIPC_BH1;
    else PP_FAIL("unknown UniPC variant '%s' (use bh1 or bh2)", s ? s : "");
    return 0;
}
