/* fit.c - small least-squares fits used by the checks.
 *
 * Joint segment fit: a track cut into segments (between bounces or contacts) is
 * modelled as p(t) = p_s + v_s (t - t_s) + a (t - t_s)^2 / 2 per segment s, with one
 * acceleration a shared by all segments (the physics: the same gravity in every
 * flight). Solved by normal equations with partial pivoting. */
#include <math.h>
#include <string.h>

#include "eval/eval_impl.h"

/* Solve A x = b (n x n, row major) in place; 0 ok, -1 singular. */
int pp_ev_solve(double *A, double *b, int n) {
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[piv * n + c])) piv = r;
        if (fabs(A[piv * n + c]) < 1e-12) return -1;
        if (piv != c) {
            for (int k = 0; k < n; k++) {
                double t = A[c * n + k]; A[c * n + k] = A[piv * n + k]; A[piv * n + k] = t;
            }
            double t = b[c]; b[c] = b[piv]; b[piv] = t;
        }
        for (int r = c + 1; r < n; r++) {
            double m = A[r * n + c] / A[c * n + c];
            for (int k = c; k < n; k++) A[r * n + k] -= m * A[c * n + k];
            b[r] -= m * b[c];
        }
    }
    for (int c = n - 1; c >= 0; c--) {
        double s = b[c];
        for (int k = c + 1; k < n; k++) s -= A[c * n + k] * b[k];
        b[c] = s / A[c * n + c];
    }
    return 0;
}

/* Design row of sample (segment s, time tau) for the joint fit; `accel` adds the shared term. */
static void design_row(double *row, int n, int s, double tau, int accel) {
    memset(row, 0, sizeof(double) * (size_t)n);
    row[2 * s] = 1.0;
    row[2 * s + 1] = tau;
    if (accel) row[n - 1] = 0.5 * tau * tau;
}

/* Fits one axis. seg[i] < 0 excludes sample i. Returns 0, fills fit; -1 if too few points. */
int pp_ev_joint_fit(const double *t, const double *p, const int *seg, int n, int nseg, int accel, ev_fit *fit) {
    int np = 2 * nseg + (accel ? 1 : 0);
    double A[EV_MAX_SEG * 2 + 1][EV_MAX_SEG * 2 + 1], b[EV_MAX_SEG * 2 + 1], row[EV_MAX_SEG * 2 + 1];
    memset(A, 0, sizeof A);
    memset(b, 0, sizeof b);
    memset(fit, 0, sizeof *fit);
    if (nseg < 1 || nseg > EV_MAX_SEG) return -1;
    int used = 0;
    for (int i = 0; i < n; i++) {
        if (seg[i] < 0) continue;
        if (fit->npts[seg[i]]++ == 0) fit->t0[seg[i]] = t[i];
        design_row(row, np, seg[i], t[i] - fit->t0[seg[i]], accel);
        for (int r = 0; r < np; r++) {
            for (int c = 0; c < np; c++) A[r][c] += row[r] * row[c];
            b[r] += row[r] * p[i];
        }
        used++;
    }
    for (int s = 0; s < nseg; s++)
        if (fit->npts[s] < 2) { /* pin an under-determined segment's velocity to 0 */
            A[2 * s + 1][2 * s + 1] += 1.0;
            if (fit->npts[s] == 0) A[2 * s][2 * s] += 1.0;
        }
    if (used < np) return -1;
    double M[(EV_MAX_SEG * 2 + 1) * (EV_MAX_SEG * 2 + 1)];
    for (int r = 0; r < np; r++)
        for (int c = 0; c < np; c++) M[r * np + c] = A[r][c];
    if (pp_ev_solve(M, b, np)) return -1;
    for (int s = 0; s < nseg; s++) {
        fit->p[s] = b[2 * s];
        fit->v[s] = b[2 * s + 1];
    }
    fit->a = accel ? b[np - 1] : 0.0;
    fit->nseg = nseg;
    fit->max_res = 0;
    for (int i = 0; i < n; i++) {
        if (seg[i] < 0) continue;
        double r = fabs(p[i] - pp_ev_fit_eval(fit, seg[i], t[i]));
        fit->max_res = r > fit->max_res ? r : fit->max_res;
    }
    return 0;
}

double pp_ev_fit_eval(const ev_fit *f, int s, double t) {
    double tau = t - f->t0[s];
    return f->p[s] + f->v[s] * tau + 0.5 * f->a * tau * tau;
}

double pp_ev_fit_vel(const ev_fit *f, int s, double t) { return f->v[s] + f->a * (t - f->t0[s]); }

/* Ordinary least-squares line through (x, y): slope (NaN with < 2 points). */
double pp_ev_slope(const double *x, const double *y, int n) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) continue;
        sx += x[i]; sy += y[i]; sxx += x[i] * x[i]; sxy += x[i] * y[i];
        m++;
    }
    double den = m * sxx - sx * sx;
    if (m < 2 || fabs(den) < 1e-12) return NAN;
    return (m * sxy - sx * sy) / den;
}
