/* loop.c - the run loop every trainer shares (train.h): steps, the live progress
 * line, the CSV log, checkpoints at the cadence / the time limit / the end, and
 * the loss-curve plot after each checkpoint. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "io/plot.h"
#include "train/train.h"

/* "1h02m" / "3m07s" */
static const char *hms(double sec, char *buf, size_t cap) {
    long s = isfinite(sec) && sec > 0 ? (long)(sec + 0.5) : 0;
    if (s >= 3600) snprintf(buf, cap, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    return buf;
}

/* terms smoothed with an EMA (0.95) over the steps that were not skipped */
typedef struct {
    double v[PP_TRAIN_MAX_TERMS];
    int init;
} smoothed;

static void smooth(smoothed *s, const pp_train_terms *t) {
    if (!isfinite(t->value[0])) return;
    double a = s->init ? 0.95 : 0.0;
    for (int i = 0; i < t->n; i++) s->v[i] = a * s->v[i] + (1 - a) * t->value[i];
    s->init = 1;
}

static void progress(const pp_train_state *st, const pp_train_terms *t, const smoothed *sm, double sps,
                     double eta) {
    fprintf(stderr, "\rstep %ld/%ld", st->step, st->cfg.steps);
    for (int i = 0; i < t->n; i++)
        if (t->shown >> i & 1) fprintf(stderr, "  %s %.4f", t->name[i], sm->v[i]);
    char buf[32];
    fprintf(stderr, "  |g| %.3f  lr %.2e  %.1f samples/s  ETA %s   ", st->last_norm, pp_adamw_lr(&st->opt), sps,
            hms(eta, buf, sizeof buf));
}

/* ---- the log */

static int write_header(FILE *f, const pp_train_terms *t) {
    int bad = fprintf(f, "step") < 0;
    for (int i = 0; i < t->n; i++) bad |= fprintf(f, ",%s", i ? t->name[i] : "loss") < 0;
    bad |= fprintf(f, ",grad_norm,lr,samples_per_s\n") < 0;
    return bad ? -1 : 0;
}

/* A resumed run keeps the rows of the steps it resumes from (a run killed after its
 * last checkpoint logged steps that will be taken again) and appends to them. */
static int trim_log(const char *path, long step) {
    char *data;
    size_t len;
    if (pp_read_file(path, &data, &len)) return -1;
    size_t keep = 0;
    for (size_t i = 0; i < len;) { /* the header, then rows whose step <= step */
        char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) + 1 : len;
        char *tail;
        long s = strtol(data + i, &tail, 10);
        if (i == 0 || (tail != data + i && s <= step)) keep = end;
        else break;
        i = end;
    }
    int rc = pp_write_file_atomic(path, data, keep);
    free(data);
    return rc;
}

/* NULL + error when the log cannot be opened or its header not written */
static FILE *open_log(const pp_train_state *st, const pp_train_terms *t) {
    const char *path = st->cfg.log_path;
    FILE *f = st->step ? fopen(path, "r") : NULL;
    int resume = f && fgetc(f) != EOF;
    if (f) fclose(f);
    if (resume && trim_log(path, st->step)) return NULL;
    f = fopen(path, resume ? "a" : "w");
    if (!f) {
        pp_seterr("%s: cannot open the log for writing: %s", path, strerror(errno));
        return NULL;
    }
    if (!resume && (write_header(f, t) || fflush(f))) {
        fclose(f);
        pp_seterr("%s: cannot write the log: %s", path, strerror(errno));
        return NULL;
    }
    return f;
}

static int log_row(FILE *f, const char *path, long step, const pp_train_terms *t, double norm, float lr,
                   double sps) {
    int bad = fprintf(f, "%ld", step) < 0;
    for (int i = 0; i < t->n; i++) bad |= fprintf(f, ",%.6f", t->value[i]) < 0;
    bad |= fprintf(f, ",%.6f,%.6g,%.3f\n", norm, lr, sps) < 0;
    if (bad || fflush(f)) PP_FAIL("%s: cannot write the log: %s", path, strerror(errno));
    return 0;
}

static int checkpoint(const pp_train_hooks *h) {
    const pp_train_config *c = &h->state->cfg;
    int rc = h->save(h->self, c->ckpt_path);
    if (!rc && c->plot_path && c->log_path) rc = pp_plot_loss_csv(c->log_path, c->plot_path);
    return rc;
}

/* ---- the loop */

typedef struct {
    double t0, tlast;
    long s0;
} clock_state;

/* One step, its progress line and log row; a checkpoint when one is due.
 * *stop is set at the time limit. */
static int one_step(const pp_train_hooks *h, FILE *log, smoothed *sm, clock_state *ck, int *stop) {
    pp_train_state *st = h->state;
    const pp_train_config *c = &st->cfg;
    pp_train_terms t = h->terms;
    for (int i = 0; i < t.n; i++) t.value[i] = NAN;
    float lr = pp_adamw_lr(&st->opt);
    if (h->step(h->self, &t)) return -1;
    double now = pp_now(), sps = c->batch / fmax(now - ck->tlast, 1e-9);
    ck->tlast = now;
    smooth(sm, &t);
    double rate = (st->step - ck->s0) / fmax(now - ck->t0, 1e-9), eta = (c->steps - st->step) / fmax(rate, 1e-9);
    if (!c->quiet) progress(st, &t, sm, sps, eta);
    if (log && log_row(log, c->log_path, st->step, &t, st->last_norm, lr, sps)) return -1;
    if (c->max_skips > 0 && st->skips_in_a_row >= c->max_skips)
        PP_FAIL("step %ld: %d steps in a row had a non-finite loss or gradient, so training stops (the last "
                "checkpoint is kept; a lower --lr may help)",
                st->step, st->skips_in_a_row);
    *stop = c->time_limit > 0 && now - ck->t0 > c->time_limit;
    int due = (c->ckpt_every > 0 && st->step % c->ckpt_every == 0) || *stop || st->step == c->steps;
    return c->ckpt_path && due ? checkpoint(h) : 0;
}

int pp_train_run(const pp_train_hooks *h) {
    pp_train_state *st = h->state;
    const pp_train_config *c = &st->cfg;
    FILE *log = NULL;
    if (c->log_path && st->step < c->steps && !(log = open_log(st, &h->terms))) return -1;
    clock_state ck = {.t0 = pp_now(), .tlast = pp_now(), .s0 = st->step};
    smoothed sm = {0};
    int rc = 0, stop = 0;
    while (!rc && !stop && st->step < c->steps) rc = one_step(h, log, &sm, &ck, &stop);
    if (!c->quiet) fprintf(stderr, "\n");
    if (log && fclose(log) && !rc) rc = -1, pp_seterr("%s: cannot write the log: %s", c->log_path, strerror(errno));
    return rc;
}
