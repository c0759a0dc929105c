/* plot.c - the loss-curve PNG of a training log (plot.h).
 *
 * Reads the CSV's "step" and "loss" columns and the one after "loss", smooths
 * each with an EMA (0.98), and draws them on a log-scaled y axis: total loss
 * blue, the first term red (on top), labelled grid lines at each power of ten and
 * at 2x, 5x; the last step is written bottom right. 640x320, white background. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "io/font.h"
#include "io/plot.h"
#include "io/video.h"

#define PW 640
#define PH 320
#define MARGIN 24
#define CSV_COLS 16 /* columns of the log read (step, loss and the one after it must be among them) */

typedef struct {
    int n, cap;
    float *step, *loss, *diff;
} curve;

static int column(const char *header, const char *name) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", header);
    int i = 0;
    for (char *tok = strtok(buf, ",\n\r"); tok; tok = strtok(NULL, ",\n\r"), i++)
        if (!strcmp(tok, name)) return i;
    return -1;
}

static void push(curve *c, float s, float l, float d) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->step = pp_realloc(c->step, (size_t)c->cap * sizeof(float));
        c->loss = pp_realloc(c->loss, (size_t)c->cap * sizeof(float));
        c->diff = pp_realloc(c->diff, (size_t)c->cap * sizeof(float));
    }
    c->step[c->n] = s, c->loss[c->n] = l, c->diff[c->n] = d, c->n++;
}

static int read_csv(const char *path, curve *c) {
    FILE *f = fopen(path, "r");
    if (!f) PP_FAIL("%s: cannot open the training log", path);
    char line[1024];
    int cs = -1, cl = -1, cd = -1;
    if (fgets(line, sizeof line, f)) cs = column(line, "step"), cl = column(line, "loss"), cd = cl >= 0 && column(line, "grad_norm") != cl + 1 ? cl + 1 : -1;
    if (cs < 0 || cl < 0 || cs >= CSV_COLS || cl >= CSV_COLS) {
        fclose(f);
        PP_FAIL("%s: not a training log (no step/loss columns among the first %d)", path, CSV_COLS);
    }
    if (cd >= CSV_COLS) cd = -1;
    while (fgets(line, sizeof line, f)) {
        float v[CSV_COLS] = {0};
        int i = 0;
        for (char *tok = strtok(line, ",\n\r"); tok && i < CSV_COLS; tok = strtok(NULL, ",\n\r")) v[i++] = strtof(tok, NULL);
        if (i > cl && i > cs && isfinite(v[cl]) && v[cl] > 0 && isfinite(v[cs]))
            push(c, v[cs], v[cl], cd >= 0 && cd < i ? v[cd] : NAN);
    }
    fclose(f);
    return 0;
}

static void ema(float *y, int n) {
    float a = NAN;
    for (int i = 0; i < n; i++) {
        if (isfinite(y[i])) a = isfinite(a) ? 0.98f * a + 0.02f * y[i] : y[i];
        y[i] = a;
    }
}

static void dot(uint8_t *img, int x, int y, const uint8_t c[3]) {
    if (x < 0 || x >= PW || y < 0 || y >= PH) return;
    memcpy(img + ((size_t)y * PW + x) * 3, c, 3);
}

/* y pixel of value v on the log axis [lo, hi] */
static int ypix(float v, double lo, double hi) {
    double u = (log10(v) - lo) / (hi - lo);
    return (int)lround(PH - MARGIN - u * (PH - 2 * MARGIN));
}

static void draw_curve(uint8_t *img, const curve *c, const float *y, double lo, double hi, const uint8_t col[3]) {
    float s0 = c->step[0], s1 = c->step[c->n - 1] > s0 ? c->step[c->n - 1] : s0 + 1;
    int px = -1, py = 0;
    for (int i = 0; i < c->n; i++) {
        if (!(y[i] > 0)) continue;
        int x = MARGIN + (int)lround((c->step[i] - s0) / (s1 - s0) * (PW - 2 * MARGIN)), yy = ypix(y[i], lo, hi);
        if (px >= 0) /* a vertical run joins consecutive points */
            for (int k = py < yy ? py : yy; k <= (py < yy ? yy : py); k++) dot(img, x, k, col);
        dot(img, x, yy, col), dot(img, x, yy + 1, col);
        px = x, py = yy;
    }
}

/* Text at (x, y) = top-left, each font pixel drawn as 2x2. */
static void text(uint8_t *img, int x, int y, const char *s, const uint8_t col[3]) {
    pp_font_draw(img, PW, PH, x, y, s, 2, col);
}

static void draw_grid(uint8_t *img, double lo, double hi) {
    static const uint8_t grid[3] = {225, 225, 225}, axis[3] = {120, 120, 120};
    for (int e = (int)floor(lo); e <= (int)ceil(hi); e++)
        for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
            float v = m * powf(10.0f, (float)e);
            int y = ypix(v, lo, hi);
            for (int x = MARGIN; x < PW - MARGIN; x++) dot(img, x, y, m == 1 ? axis : grid);
            char lab[16];
            snprintf(lab, sizeof lab, "%g", v);
            if (y > 14 && y < PH - MARGIN) text(img, MARGIN + 4, y - 12, lab, axis);
        }
    for (int y = MARGIN; y < PH - MARGIN; y++) dot(img, MARGIN, y, axis);
}

int pp_plot_loss_csv(const char *csv_path, const char *png_path) {
    curve c = {0};
    int rc = read_csv(csv_path, &c);
    if (!rc && c.n < 2) rc = -1, pp_seterr("%s: fewer than two logged steps to plot", csv_path);
    pp_video v = {0};
    if (!rc) rc = pp_video_alloc(&v, 1, PH, PW, 1);
    if (!rc) {
        ema(c.loss, c.n), ema(c.diff, c.n);
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < c.n; i++)
            for (int k = 0; k < 2; k++) {
                float y = k ? c.diff[i] : c.loss[i];
                if (y > 0) lo = fmin(lo, log10(y)), hi = fmax(hi, log10(y));
            }
        if (hi - lo < 0.1) lo -= 0.05, hi += 0.05;
        memset(v.rgb, 255, (size_t)PW * PH * 3);
        static const uint8_t blue[3] = {40, 90, 200}, red[3] = {210, 50, 40};
        draw_grid(v.rgb, lo, hi);
        draw_curve(v.rgb, &c, c.loss, lo, hi, blue);
        draw_curve(v.rgb, &c, c.diff, lo, hi, red);
        char lab[32]; /* the last step, bottom right */
        snprintf(lab, sizeof lab, "%.0f", c.step[c.n - 1]);
        text(v.rgb, PW - MARGIN - 8 * (int)strlen(lab), PH - MARGIN + 6, lab, (const uint8_t[3]){120, 120, 120});
        rc = pp_video_write(&v, png_path, 1);
    }
    pp_video_free(&v);
    free(c.step), free(c.loss), free(c.diff);
    return rc;
}
